# SPDX-License-Identifier: BSD-3-Clause
# Guest side of tests/e2e/i2c.sh, run by the guest's /init as
# /e2e/tests/i2c, against one vhost-user-i2c-pci device served by vhostd
# with a sim bus: a 24c02 EEPROM at 0x50 and an LM75 at host address 0x49,
# which the guest sees at 0x48 (42.0 degrees C). Uses i2ctest (i2c-dev).
set -f
fail=0
pass() { echo "E2E-CHECK PASS $*"; }
flunk() { echo "E2E-CHECK FAIL $*"; fail=1; }
# expect DESCRIPTION RC CMD...: run CMD, its output in $got (echoed)
expect() {
	desc=$1 want=$2
	shift 2
	got=$("$@" 2>&1)
	rc=$?
	echo "$got" | sed 's/^/    /'
	[ "$rc" = "$want" ] && return 0
	flunk "$desc: '$*' exited $rc, not $want"
	return 1
}
has() { # DESCRIPTION PATTERN
	if echo "$got" | grep -Eq "$2"; then
		pass "$1"
	else
		flunk "$1: no line matching '$2'"
	fi
}
b='-b i2c_virtio*'

expect "i2ctest buses" 0 i2ctest buses &&
	has "the virtio adapter is listed" '^bus=[0-9]+ name=i2c_virtio at virtio bus [0-9]+$'
expect "funcs" 0 i2ctest $b funcs &&
	has "I2C_FUNC_I2C and SMBus emulation" ' i2c=1 .*smbus-quick=1 '
expect "probe" 0 i2ctest $b probe &&
	has "probe finds exactly 0x48 and 0x50 (read byte at 0x50, quick at 0x48)" ' found=0x48,0x50 busy=-$'
expect "probe with quick writes" 0 i2ctest $b -p quick probe &&
	has "zero-length writes find 0x48 and 0x50" ' found=0x48,0x50 busy=-$'
expect "probe with reads" 0 i2ctest $b -p read probe &&
	has "1-byte reads find 0x48 and 0x50" ' found=0x48,0x50 busy=-$'

# The EEPROM: a one-byte write sets the address; writes wrap in 8-byte pages.
expect "EEPROM starts erased" 0 i2ctest $b wr 0x50 0x00 -- 8 &&
	has "bytes 0-7 are ff" '^wr addr=0x50 mode=i2c wlen=1 rlen=8 wdata=00 rdata=ff ff ff ff ff ff ff ff$'
expect "EEPROM write" 0 i2ctest $b write 0x50 0x00 0x11 0x22 0x33 &&
	has "a 4-byte write" '^write addr=0x50 mode=i2c len=4 data=00 11 22 33$'
expect "EEPROM page wrap write" 0 i2ctest $b write 0x50 0x06 0x0a 0x0b 0x0c 0x0d
expect "EEPROM read back" 0 i2ctest $b wr 0x50 0x00 -- 8 &&
	has "written bytes, page wrap at 8" ' rdata=0c 0d 33 ff ff ff 0a 0b$'
expect "EEPROM current-address read" 0 i2ctest $b read 0x50 2 &&
	has "a plain read continues at address 8" '^read addr=0x50 mode=i2c len=2 data=ff ff$'
expect "EEPROM whole read" 0 i2ctest $b wr 0x50 0x00 -- 256 &&
	has "256 bytes in one message" ' rlen=256 .*rdata=0c 0d 33 ff '
expect "EEPROM read wraps at 256" 0 i2ctest $b wr 0x50 0xff -- 3 &&
	has "address 0xff then 0, 1" ' rdata=ff 0c 0d$'
expect "SMBus read byte data" 0 i2ctest $b -m smbus wr 0x50 0x01 -- 1 &&
	has "SMBus emulation over virtio" '^wr addr=0x50 mode=smbus .* rdata=0d$'
expect "SMBus I2C block read" 0 i2ctest $b -m smbus wr 0x50 0x00 -- 3 &&
	has "I2C block read over virtio" ' rdata=0c 0d 33$'

# The LM75 at guest address 0x48 (host 0x49): registers 0 to 3.
expect "LM75 temperature" 0 i2ctest $b wr 0x48 0x00 -- 2 &&
	has "42.0 C is 2a 00" ' rdata=2a 00$'
expect "LM75 T_HYST" 0 i2ctest $b wr 0x48 0x02 -- 2 && has "T_HYST 75 C" ' rdata=4b 00$'
expect "LM75 T_OS" 0 i2ctest $b wr 0x48 0x03 -- 2 && has "T_OS 80 C" ' rdata=50 00$'
expect "LM75 configuration write" 0 i2ctest $b write 0x48 0x01 0x02
expect "LM75 configuration read" 0 i2ctest $b wr 0x48 0x01 -- 1 && has "configuration 02" ' rdata=02$'

# Addresses the device was not given fail like an absent device.
expect "absent address 0x51" 2 i2ctest $b read 0x51 1 &&
	has "0x51: xfer-error" '^xfer-error op=read addr=0x51 mode=i2c '
expect "host address 0x49 is not the guest's" 2 i2ctest $b wr 0x49 0x00 -- 2 &&
	has "0x49: xfer-error" '^xfer-error op=wr addr=0x49 '
expect "zero-length write to 0x51" 2 i2ctest $b write 0x51 &&
	has "quick write to an absent address fails" '^xfer-error op=write addr=0x51 '
expect "the bus still works after errors" 0 i2ctest $b wr 0x50 0x00 -- 1 &&
	has "EEPROM byte 0 still 0c" ' rdata=0c$'
exit $fail
