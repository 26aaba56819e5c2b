/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Sandboxing of main and of workers: seccomp allow-lists built from the
 * text policies in policy/ (compiled into the binary), capabilities,
 * rlimits, user switch, no-new-privs.
 *
 * Policy language, one rule per line, each with a comment saying why:
 *
 *	# a full-line comment
 *	read				# kicks, calls, IPC
 *	mmap arg2 & PROT_EXEC == 0	# guest memory, malloc: never executable
 *	ioctl arg1 == I2C_RDWR		# the one transfer ioctl i2c uses
 *	socket arg0 == AF_UNIX arg1 == SOCK_STREAM	# conditions AND
 *	@include common			# another policy's rules
 *
 * A condition is `argN OP VALUE` (OP one of == != < <= > >=) or
 * `argN & MASK == VALUE`; VALUE and MASK are integers or known symbolic
 * constants.  Several lines for one syscall allow it when any matches.
 * Anything else, and a rule without a comment, is an error naming the
 * policy file and line.
 */
#ifndef VHOSTD_SANDBOX_H
#define VHOSTD_SANDBOX_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum sandbox_mode {
	SANDBOX_KILL,		/* a forbidden syscall kills the process */
	SANDBOX_LOG,		/* it is reported and fails with ENOSYS */
};

/*
 * Called from the SIGSYS handler when the filter traps a syscall: nr and
 * its name (a static string, "?" if unknown).  Must be async-signal-safe.
 * In SANDBOX_KILL mode the process dies of SIGSYS right after it returns.
 */
typedef void (*sandbox_report_fn)(long nr, const char *name);

/* The policy texts compiled in from policy/<name>.policy. */
struct sandbox_policy {
	const char	*name;		/* "common", "main", "rng", ... */
	const char	*text;
};
extern const struct sandbox_policy sandbox_policies[];	/* NULL-terminated */

/*
 * Parses policy `name` (and what it includes) and checks every rule with
 * libseccomp, without loading anything.  For vhostd -n.  Returns 0, or -1
 * with a message in err ("policy/rng.policy:12: unknown system call ...").
 */
int	sandbox_policy_check(const char *name, char *err, size_t errlen);

/*
 * Loads policy `name` as this process's seccomp filter: default action
 * trap, SIGSYS handler reporting through `report` and then killing the
 * process (SANDBOX_KILL) or failing the call with ENOSYS (SANDBOX_LOG).
 * Sets no-new-privs first.  Returns 0 or -1 with a message in err.
 */
int	sandbox_seccomp_load(const char *name, enum sandbox_mode mode,
	    sandbox_report_fn report, char *err, size_t errlen);

struct sandbox_creds {
	bool		 change;	/* switch to uid/gid (we are root) */
	uid_t		 uid;
	gid_t		 gid;
	const char	*user;		/* for initgroups(): keep its groups;
					   NULL: drop every supplementary group */
};

/*
 * The lockdown of a worker, in this order, before it reads one byte from
 * guest memory or the front-end: close every fd but 0-2 and `keep`;
 * rlimits (RLIMIT_NPROC 0, RLIMIT_FSIZE 0, RLIMIT_CORE 0, RLIMIT_NOFILE
 * nofile); the user switch of `creds`; every capability dropped and the
 * bounding set cleared (libcap-ng); no-new-privs; the seccomp filter of
 * policy `policy` (which @includes common).  Returns 0 or -1 with a
 * message in err; the caller must then exit.
 */
int	sandbox_lockdown_worker(const int *keep, unsigned nkeep,
	    unsigned long nofile, const struct sandbox_creds *creds,
	    const char *policy, enum sandbox_mode mode,
	    sandbox_report_fn report, char *err, size_t errlen);

/*
 * The lockdown of main once its sockets are bound and host resources
 * open: the user switch of `creds` (keeping `user`'s supplementary
 * groups), no capabilities, no-new-privs, and policy "main".
 */
int	sandbox_lockdown_main(const struct sandbox_creds *creds,
	    enum sandbox_mode mode, sandbox_report_fn report, char *err,
	    size_t errlen);

/* The name of syscall nr on this architecture, or "?" (signal-safe once
 * sandbox_seccomp_load has run). */
const char *sandbox_syscall_name(long nr);

/* True in a --enable-test-hooks build run with VHOSTD_TEST_VALGRIND=1
 * (tests/valgrind.sh): no filter is loaded, and main lets a worker it
 * stops exit by itself, so that valgrind checks the worker's leaks. */
bool	sandbox_test_valgrind(void);

#endif
