# SPDX-License-Identifier: BSD-3-Clause
# Benchmarks (tests/bench/README): programs that print figures; no test
# asserts a time.  Built by `make`; `make bench` runs the standard set.
