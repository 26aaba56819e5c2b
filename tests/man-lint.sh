#!/bin/sh
# SPDX-License-Identifier: BSD-3-Clause
# make check test: the man pages are clean and complete.
#  1. mandoc -Tlint -W warning prints nothing for vhostd.8, vhostd.json.5
#     and vhostctl.8;
#  2. every option letter of vhostd's getopt string, and every "--long" mode
#     main() tests for, has an ".It Fl" entry in vhostd.8;
#  3. every key the configuration code accepts (the allowed-key arrays that
#     src/*.c and devices/*.c pass to cfg_check_keys) has an ".It Ic" entry
#     in vhostd.json.5, and every device type (".name" of a device's ops
#     table) has an ".Ss" subsection there;
#  4. every option letter of vhostctl's getopt string has an ".It Fl" entry
#     in vhostctl.8, every command of its command table an ".It Cm" entry,
#     and every command of the control protocol (ctl_cmd.c's ctl_cmds[])
#     is one of those;
# so that a flag, key, device type or command added without its
# documentation fails.
# Exit status: 0 pass, 1 fail, 77 skip (no mandoc).  Automake sets $srcdir;
# by hand it defaults to the directory above this script.
set -u

srcdir=${srcdir:-$(dirname "$0")/..}
MANDOC=${MANDOC:-mandoc}
man8=$srcdir/man/vhostd.8
man5=$srcdir/man/vhostd.json.5
ctl8=$srcdir/man/vhostctl.8
main_c=$srcdir/src/vhostd.c
ctl_c=$srcdir/src/vhostctl.c
cmd_c=$srcdir/src/ctl_cmd.c
fail=0

err() {
	echo "man-lint: $*" >&2
	fail=1
}

for f in "$man8" "$man5" "$ctl8" "$main_c" "$ctl_c" "$cmd_c"; do
	if [ ! -r "$f" ]; then
		echo "man-lint: cannot read $f (srcdir=$srcdir)" >&2
		exit 1
	fi
done

# 1. mandoc lint.
if ! command -v "$MANDOC" >/dev/null 2>&1; then
	echo "man-lint: SKIP: $MANDOC not found (Debian package: mandoc)"
	exit 77
fi
for f in "$man8" "$man5" "$ctl8"; do
	out=$("$MANDOC" -Tlint -W warning "$f" 2>&1)
	if [ -n "$out" ]; then
		printf '%s\n' "$out" >&2
		err "$f is not lint-clean"
	fi
done

# A source file as one line, comments removed, so that declarations and
# calls that span lines can be matched.
flat() {
	tr '\n\t' '  ' < "$1" | sed 's:/\*\([^*]\|\*[^/]\)*\*/: :g'
}

# 2. Options.  The getopt string is the literal after "argv," in the call.
optstring=$(flat "$main_c" |
    grep -o 'getopt[[:space:]]*([^,]*,[^,]*,[[:space:]]*"[^"]*"' |
    sed 's/.*"\([^"]*\)"$/\1/' | head -n 1)
if [ -z "$optstring" ]; then
	err "no getopt string found in $main_c"
fi
letters=$(printf '%s' "$optstring" | tr -d ':+-' | sed 's/./& /g')
for l in $letters; do
	grep -q "^\.It Fl $l\( \|$\)" "$man8" ||
	    err "option -$l (getopt \"$optstring\") has no '.It Fl $l' in vhostd.8"
done
longopts=$(grep -o '"--[a-z][a-z-]*"' "$main_c" | tr -d '"' | sed 's/^--//' |
    sort -u)
for o in $longopts; do
	grep -q "^\.It Fl \\\\-$o\( \|$\)" "$man8" ||
	    err "mode --$o has no '.It Fl \\-$o' in vhostd.8"
done

# 3. Configuration keys.  An accepted-key array is one whose name is passed
# to cfg_check_keys(), or whose name ends in "keys"; its keys are the string
# literals between its "= {" and "}".
nkeys=0
keys_seen=""
for c in "$srcdir"/src/*.c "$srcdir"/devices/*.c; do
	[ -r "$c" ] || continue
	text=$(flat "$c")
	names=$( {
		printf '%s\n' "$text" |
		    grep -o 'cfg_check_keys[[:space:]]*([^;()]*)' |
		    sed 's/)[^)]*$//; s/.*,[[:space:]]*//; s/[[:space:]]*$//'
		printf '%s\n' "$text" |
		    grep -o '[A-Za-z_][A-Za-z_0-9]*keys[[:space:]]*\[[^]]*\][[:space:]]*=' |
		    sed 's/[[:space:]]*\[.*//'
	} | grep '^[A-Za-z_][A-Za-z_0-9]*$' | sort -u)
	for n in $names; do
		arr=$(printf '%s\n' "$text" |
		    grep -o "[^A-Za-z_0-9]$n[[:space:]]*\[[^]]*\][[:space:]]*=[[:space:]]*{[^}]*}")
		[ -n "$arr" ] || continue	# a parameter, not an array
		for k in $(printf '%s\n' "$arr" | grep -o '"[^"]*"' | tr -d '"'); do
			nkeys=$((nkeys + 1))
			case " $keys_seen " in *" $k "*) continue ;; esac
			keys_seen="$keys_seen $k"
			grep -q "^\.It Ic $k\( \|$\)" "$man5" ||
			    err "key \"$k\" ($c: $n) has no '.It Ic $k' in vhostd.json.5"
		done
	done
done
for k in runtime_dir devices id type socket; do
	case " $keys_seen " in
	*" $k "*) ;;
	*) err "key \"$k\" not found in the sources: this script's grep is broken" ;;
	esac
done
for c in "$srcdir"/devices/*.c; do
	[ -r "$c" ] || continue
	for t in $(flat "$c" | grep -o '\.name[[:space:]]*=[[:space:]]*"[^"]*"' |
	    sed 's/.*"\([^"]*\)"$/\1/'); do
		grep -q "^\.Ss $t$" "$man5" ||
		    err "device type \"$t\" ($c) has no '.Ss $t' in vhostd.json.5"
	done
done

# 4. vhostctl: options, commands, and the protocol's commands.
ctlopts=$(flat "$ctl_c" |
    grep -o 'getopt_long[[:space:]]*([^,]*,[^,]*,[[:space:]]*"[^"]*"' |
    sed 's/.*"\([^"]*\)"$/\1/' | head -n 1)
if [ -z "$ctlopts" ]; then
	err "no getopt_long string found in $ctl_c"
fi
for l in $(printf '%s' "$ctlopts" | tr -d ':+-' | sed 's/./& /g'); do
	grep -q "^\.It Fl $l\( \|$\)" "$ctl8" ||
	    err "vhostctl option -$l has no '.It Fl $l' in vhostctl.8"
done
ctlcmds=$(flat "$ctl_c" | grep -o '{ "[a-z][a-z-]*", "[^"]*", run_' |
    sed 's/^{ "\([^"]*\)".*/\1/')
if [ -z "$ctlcmds" ]; then
	err "no command table found in $ctl_c"
fi
for c in $ctlcmds; do
	grep -q "^\.It Cm $c\( \|$\)" "$ctl8" ||
	    err "vhostctl command $c has no '.It Cm $c' in vhostctl.8"
done
for c in $(flat "$cmd_c" | grep -o '\.name = "[a-z-]*"' |
    sed 's/.*"\([^"]*\)"/\1/'); do
	case " $(echo $ctlcmds) " in
	*" $c "*) ;;
	*) err "protocol command $c ($cmd_c) is not a vhostctl command" ;;
	esac
done

if [ "$fail" = 0 ]; then
	echo "man-lint: OK (options: $optstring${longopts:+, --$longopts};" \
	    "keys:$keys_seen; vhostctl: $ctlopts," $ctlcmds")"
fi
exit "$fail"
