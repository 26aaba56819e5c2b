# SPDX-License-Identifier: BSD-3-Clause
dist_man_MANS += man/vhostd.8 man/vhostd.json.5
