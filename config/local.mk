# SPDX-License-Identifier: BSD-3-Clause
EXTRA_DIST += config/README config/demo.json config/vhostd.example.json \
	config/demo.sh config/demo-guest.sh \
	config/shared-hw.json config/shared-sim.json
