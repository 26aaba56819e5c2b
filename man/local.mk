# SPDX-License-Identifier: BSD-3-Clause
dist_man_MANS += man/vhostd.8 man/vhostd.json.5 man/vhostctl.8

# The pages lint clean and document every option, config key and device
# type the code has (skipped, status 77, without mandoc).
TESTS += tests/man-lint.sh
dist_check_SCRIPTS += tests/man-lint.sh
