#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Writes the hand-made seed corpora of tests/fuzz/corpus (run from
tests/fuzz; the files are committed, this only documents how they were
made and remakes them).  The formats are those of each target's header
comment.  Found inputs that reproduce a fixed bug go in by hand, named
regress-<what>."""
import os
import struct

def put(target, name, data):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)

# ---- fuzz_vu ----
GET_FEATURES, SET_FEATURES, SET_OWNER, RESET_OWNER, SET_MEM_TABLE = 1, 2, 3, 4, 5
SET_VRING_NUM, SET_VRING_ADDR, SET_VRING_BASE, GET_VRING_BASE = 8, 9, 10, 11
SET_VRING_KICK, SET_VRING_CALL, SET_VRING_ERR = 12, 13, 14
GET_PF, SET_PF, GET_QUEUE_NUM, SET_VRING_ENABLE = 15, 16, 17, 18
SET_BACKEND_REQ_FD, GET_CONFIG, SET_CONFIG, RESET_DEVICE = 21, 24, 25, 34
GET_MAX_MEM_SLOTS, ADD_MEM_REG, REM_MEM_REG, SET_STATUS, GET_STATUS = 36, 37, 38, 39, 40
NEED_REPLY = 8
PF_ALL = (1 << 0) | (1 << 3) | (1 << 5) | (1 << 9) | (1 << 13) | (1 << 15) | (1 << 16)
FEATURES = (1 << 32) | (1 << 28) | (1 << 29) | (1 << 30)
MEMFD, EVENTFD, DEVNULL = 0, 2, 3
S4K, S64K, S1M, S0 = 0, 1, 2, 3
UVA = 0x7f0000000000

def rec(req, payload=b"", fds=(), size=S1M, flags=0, split=False, cut=None,
        hsize=None):
    ctl = len(fds)
    for i, k in enumerate(fds):
        ctl |= k << (2 + 2 * i)
    opt = size | (4 if split else 0) | (8 if cut is not None else 0)
    out = bytes([ctl, opt])
    if cut is not None:
        out += bytes([cut])
    out += struct.pack("<III", req, 1 | flags,
                       len(payload) if hsize is None else hsize)
    return out + payload

def u64(v):
    return struct.pack("<Q", v)

def state(i, n):
    return struct.pack("<II", i, n)

def region(gpa, size, uva, off=0):
    return struct.pack("<QQQQ", gpa, size, uva, off)

def addr(i, desc, used, avail, flags=0):
    return struct.pack("<IIQQQQ", i, flags, desc, used, avail, 0)

def cfg(off, size):
    return struct.pack("<III", off, size, 0)

hello = (rec(GET_FEATURES) + rec(GET_PF) + rec(SET_PF, u64(PF_ALL)) +
         rec(GET_QUEUE_NUM) + rec(GET_MAX_MEM_SLOTS) + rec(SET_OWNER) +
         rec(SET_FEATURES, u64(FEATURES), flags=NEED_REPLY))
ring = (rec(SET_VRING_NUM, state(0, 256), flags=NEED_REPLY) +
        rec(SET_VRING_BASE, state(0, 0)) +
        rec(SET_VRING_ADDR, addr(0, UVA, UVA + 0x2000, UVA + 0x1000)) +
        rec(SET_VRING_KICK, u64(0), fds=[EVENTFD]) +
        rec(SET_VRING_CALL, u64(0), fds=[EVENTFD]) +
        rec(SET_VRING_ERR, u64(0), fds=[EVENTFD]) +
        rec(SET_VRING_ENABLE, state(0, 1), flags=NEED_REPLY))
memtab = rec(SET_MEM_TABLE, struct.pack("<II", 1, 0) +
             region(0, 1 << 20, UVA), fds=[MEMFD], flags=NEED_REPLY)
put("fuzz_vu", "qemu-boot", hello + memtab + ring +
    rec(SET_STATUS, u64(0xf), flags=NEED_REPLY) + rec(GET_STATUS) +
    rec(GET_CONFIG, cfg(0, 0)) + rec(GET_VRING_BASE, state(0, 0)))
put("fuzz_vu", "qemu-reset", hello + memtab + ring +
    rec(RESET_DEVICE, flags=NEED_REPLY) + ring + rec(RESET_OWNER))
put("fuzz_vu", "mem-slots", hello +
    rec(ADD_MEM_REG, u64(0) + region(0, 0x10000, UVA), fds=[MEMFD], size=S64K,
        flags=NEED_REPLY) +
    rec(ADD_MEM_REG, u64(0) + region(0x10000, 0x1000, UVA + 0x10000), fds=[MEMFD],
        size=S4K, flags=NEED_REPLY) +
    ring +
    rec(REM_MEM_REG, u64(0) + region(0x10000, 0x1000, UVA + 0x10000),
        flags=NEED_REPLY) +
    rec(REM_MEM_REG, u64(0) + region(0, 0x10000, UVA), flags=NEED_REPLY))
put("fuzz_vu", "mem-table-2", hello +
    rec(SET_MEM_TABLE, struct.pack("<II", 2, 0) + region(0, 0x1000, UVA) +
        region(0x100000, 0x1000, UVA + 0x100000, 0x1000), fds=[MEMFD, MEMFD],
        size=S64K, flags=NEED_REPLY) + ring +
    rec(SET_MEM_TABLE, struct.pack("<II", 1, 0) + region(0, 0x1000, UVA),
        fds=[MEMFD], size=S4K, flags=NEED_REPLY))
put("fuzz_vu", "backend-req", hello + rec(SET_BACKEND_REQ_FD, fds=[EVENTFD]) +
    rec(SET_CONFIG, cfg(0, 4) + b"abcd", flags=NEED_REPLY))
put("fuzz_vu", "split-and-nofd", hello +
    rec(SET_VRING_CALL, u64(0x100), split=True, flags=NEED_REPLY) +
    rec(SET_VRING_KICK, u64(0), fds=[EVENTFD], split=True) +
    rec(GET_VRING_BASE, state(0, 0), split=True))
put("fuzz_vu", "legacy-no-pf", rec(GET_FEATURES) + rec(SET_OWNER) +
    rec(SET_FEATURES, u64(1 << 32)) + memtab + ring + rec(GET_VRING_BASE, state(0, 0)))
put("fuzz_vu", "short-payload", hello + rec(SET_FEATURES, u64(FEATURES), cut=3))
put("fuzz_vu", "bad-fd-kind", hello +
    rec(SET_MEM_TABLE, struct.pack("<II", 1, 0) + region(0, 0x1000, UVA),
        fds=[DEVNULL], flags=NEED_REPLY))

# ---- fuzz_virtq ----
def vq_input(regions, rings, qexp, flags, last, desc, avail, blob):
    out = bytes([len(regions) - 1])
    for size, place, extra in regions:
        out += struct.pack("<I", size - 1) + bytes([place]) + extra
    out += bytes([qexp])
    for r, mode, off in rings:
        out += bytes([r, mode]) + struct.pack("<I", off)
    out += bytes([flags]) + struct.pack("<HHH", last, len(desc), len(avail))
    return out + desc + avail + blob

def d(addr, ln, fl=0, nxt=0):
    return struct.pack("<QIHH", addr, ln, fl, nxt)

def av(idx, heads, flags=0):
    return struct.pack("<HH", flags, idx) + b"".join(struct.pack("<H", h) for h in heads)

NEXT, WRITE, INDIRECT = 1, 2, 4
EV, IND = 1, 2
IOV = lambda n: (n - 1) << 2
rings1 = [(0, 0, 0x1000), (0, 0, 0x2000), (0, 0, 0x3000)]
simple = (d(0x8000, 64, NEXT, 1) + d(0x9000, 128, WRITE) +
          d(0x100, 48, INDIRECT) + d(0xa000, 16, WRITE))
put("fuzz_virtq", "one-region", vq_input([(0x10000, 0, b"")], rings1, 3,
    EV | IND | IOV(16), 0, simple, av(3, [0, 2, 3]),
    b"\0" * 0x100 + d(0xb000, 8, NEXT, 1) + d(0xc000, 8, NEXT | WRITE, 2) +
    d(0xd000, 8, WRITE)))
put("fuzz_virtq", "split-buffer", vq_input(
    [(0x10000, 0, b""), (0x10000, 0, b"")], rings1, 2, IOV(8), 0,
    d(0xff00, 0x200, NEXT, 1) + d(0x1ff00, 0x200, WRITE), av(1, [0]), b""))
put("fuzz_virtq", "hole", vq_input(
    [(0x10000, 0, b""), (0x4000, 4, bytes([16]))], rings1, 2, IOV(8), 0,
    d(0xfff0, 0x20, 0) + d(0x20000, 0x10, WRITE), av(2, [0, 1]), b""))
put("fuzz_virtq", "top-of-memory", vq_input(
    [(0x10000, 0, b""), (0x1000, 7, b"")],
    [(0, 1, 0), (1, 1, 0), (0, 1, 0)], 4, EV | IOV(4), 0xfffe,
    d(2**64 - 0x800, 0x800, WRITE) + d(2**64 - 0x10, 0x20, 0),
    av(0, [0, 1]), b""))
put("fuzz_virtq", "wrap-and-loop", vq_input([(0x10000, 0, b"")], rings1, 1,
    IND | IOV(2), 0xffff, d(0x8000, 1, NEXT, 1) + d(0x8000, 1, NEXT, 0),
    av(1, [0, 0, 0]), b""))
put("fuzz_virtq", "gpa-given", vq_input(
    [(0x8000, 6, struct.pack("<Q", 0x123456789000)),
     (0x8000, 6, struct.pack("<Q", 0x123456789000 - 0x8000))],
    rings1[:1] + [(1, 0, 0x1000), (1, 0, 0x2000)], 2, IOV(64), 0,
    d(0x123456788ff0, 0x20, WRITE), av(1, [0]), b""))

# ---- fuzz_ipc ----
def ipc(sel, payload):
    put("fuzz_ipc", "seed-%02d" % ipc.n, bytes([sel]) + payload)
    ipc.n += 1
ipc.n = 0
ipc(0, struct.pack("<IIiI", 1, 2, 1234, 0))             # HELLO
ipc(8 | 1, struct.pack("<IIII", 6, 0, 1, 1))            # VRING_FD with fd
ipc(8 | 3, struct.pack("<IIIIQQQII", 5, 0, 256, 0, 0, 0, 0, 7, 0))  # VRING_START
ipc(2, struct.pack("<II", 4, 2) + b"\0" * (32 * 32))    # MEM_TABLE, 2 fds
ipc(0, struct.pack("<IIII", 9, 0, 7, 0))                # VRING_BASE
ipc(0, struct.pack("<Ii", 11, 4) + b"worker says hi".ljust(512, b"\0"))  # LOG
ipc(0, struct.pack("<IIq", 12, 0, 59) + b"execve".ljust(32, b"\0"))      # SECCOMP
ipc(4, struct.pack("<II", 10, 0))                        # RESET + 40 fds
ipc(0, b"")

# ---- fuzz_rng ----
def rng(cfg, feat, ops):
    return bytes([cfg, feat]) + ops

def post(q, descs):
    out = bytes([0, q, len(descs) - 1])
    for sel, off, ln, data in descs:
        out += bytes([sel]) + struct.pack("<HH", off, ln) + data
    return out

RUN = lambda q=0: bytes([3, q])
W = 8
put("fuzz_rng", "getrandom", rng(0, 0, post(0, [(W, 0, 64, b"")]) + RUN() +
    post(0, [(0, 0x100, 4, b"abcd"), (W | 1, 0x200, 512, b"")]) + RUN()))
put("fuzz_rng", "ratelimit", rng(1, 1, (post(0, [(W, 0, 100, b"")]) * 3) + RUN() +
    bytes([4]) + RUN()))
put("fuzz_rng", "file-indirect", rng(2, 3, post(0, [(W | 16, 0, 32, b""),
    (W | 1, 0x40, 32, b"")]) + RUN() + bytes([5]) + post(0, [(W, 0, 8, b"")]) + RUN()))
put("fuzz_rng", "file-ratelimit", rng(3, 1, post(0, [(W, 0, 300, b"")]) + RUN() +
    bytes([4]) + RUN()))
put("fuzz_rng", "fifo-held", rng(4, 0, post(0, [(W, 0, 16, b"")]) + RUN() +
    bytes([6, 7]) + b"x" * 8 + RUN() + bytes([5]) + bytes([6, 40]) + b"y" * 41 +
    post(0, [(W, 0, 16, b"")]) + RUN()))
put("fuzz_rng", "rewrite-slot", rng(0, 0, post(0, [(W, 0, 16, b"")]) +
    bytes([7, 0, 0]) + d(0x1000, 16, WRITE) + RUN()))

# ---- fuzz_config ----
def conf(name, text):
    put("fuzz_config", name, text.encode())

for f in ("demo.json", "vhostd.example.json"):
    with open(os.path.join("..", "..", "config", f)) as src:
        conf(f, src.read())
conf("minimal", '{"devices": [{"id": "a", "type": "rng", "socket": "/a.sock"}]}')
conf("all-top", '{"runtime_dir": "/run/x", "log_level": "debug", "user": "root",'
     ' "group": "root", "seccomp": "log", "devices": []}')
conf("rng-keys", '{"devices": [{"id": "r", "type": "rng", "socket": "r.sock",'
     ' "source": "/dev/urandom", "max_bytes": 1024, "period_ms": 10,'
     ' "socket_mode": "0600", "socket_owner": 0, "socket_group": "root",'
     ' "allow_uids": [0, "root"], "allow_gids": ["root", 1]}]}')
conf("errors", '{"devices": [{"id": "a", "type": "rng", "socket": "/a"},\n'
     '  {"id": "a", "type": "gpu", "socket": "/a", "bogus": 1}],\n "x": [1, {"y": null}]}')
conf("syntax", '{"devices": [{"id": "a", "type": "rng",\n "socket": "/a"]}')
conf("unicode", '{"devices": [{"id": "\\u00e9\\ud83d\\ude00", "type": "rng", "socket": "/\\u0000"}]}')
conf("numbers", '{"log_level": 3, "devices": [{"id": "n", "type": "rng", "socket": "/n",'
     ' "max_bytes": 1e3, "period_ms": -1, "allow_uids": [4294967295, 18446744073709551616]}]}')

# ---- fuzz_gpio (sim chip; requestq 0, eventq 1) ----
def greq(typ, line, value):
    return struct.pack("<HHI", typ, line, value)

IRQF = 1 << 2           # VIRTIO_GPIO_F_IRQ via the features byte
def gpio_req(off, typ, line, value, resp=2):
    return post(0, [(0, off, 8, greq(typ, line, value)), (W | 1, off, resp, b"")]) + RUN(0)

def gpio_irq(off, line):
    return post(1, [(0, off, 2, struct.pack("<H", line)), (W | 1, off, 1, b"")]) + RUN(1)

OUTSIDE = lambda line, level: bytes([6, line | (64 if level else 0)])
put("fuzz_gpio", "names-and-values", rng(1, 0, gpio_req(0x0, 1, 0, 0, 64) +
    gpio_req(0x100, 2, 1, 0) + gpio_req(0x200, 3, 1, 1) +
    gpio_req(0x300, 5, 1, 1) + gpio_req(0x400, 4, 1, 0) +
    gpio_req(0x500, 3, 2, 2) + gpio_req(0x600, 4, 2, 0)))
put("fuzz_gpio", "irq-rising", rng(0, IRQF | 1, gpio_req(0x0, 3, 2, 2) +
    gpio_req(0x100, 6, 2, 1) + gpio_irq(0x200, 2) + OUTSIDE(2, 1) +
    OUTSIDE(2, 0) + gpio_irq(0x300, 2) + OUTSIDE(2, 1)))
put("fuzz_gpio", "irq-level-reset", rng(2, IRQF | 2, gpio_req(0x0, 3, 40, 2) +
    gpio_req(0x100, 6, 40, 4) + OUTSIDE(40, 1) + gpio_irq(0x200, 40) +
    bytes([5]) + gpio_irq(0x300, 40) + gpio_req(0x400, 6, 40, 0)))
put("fuzz_gpio", "bad-requests", rng(0, IRQF, gpio_req(0x0, 9, 0, 0) +
    gpio_req(0x100, 3, 99, 1) + gpio_req(0x200, 6, 0, 77) +
    post(0, [(0, 0x300, 3, b"abc")]) + RUN(0) + gpio_irq(0x400, 1) + gpio_irq(0x500, 1)))

# ---- fuzz_i2c (sim bus) ----
def i2c(off, addr, flags, data=b"", rd=0):
    descs = [(0, off, 8, struct.pack("<HHI", addr << 1, 0, flags))]
    if data:
        descs.append((1, off, len(data), data))
    if rd:
        descs.append((W | 1, off + 0x40, rd, b""))
    descs.append((W | 1, off + 0x80, 1, b""))
    return post(0, descs) + RUN(0)

ZL = 1 << 2
put("fuzz_i2c", "eeprom", rng(0, ZL, i2c(0x0, 0x50, 1, b"\x10") +
    i2c(0x100, 0x50, 2, rd=4) + i2c(0x200, 0x50, 0, b"\x00abcdefg") +
    i2c(0x300, 0x50, 0, b"\x00") + i2c(0x400, 0x50, 2, rd=8) +
    i2c(0x500, 0x51, 0) + i2c(0x600, 0x52, 2, rd=1)))
put("fuzz_i2c", "lm75", rng(1, 1 | ZL, i2c(0x0, 72, 1, b"\x00") +
    i2c(0x100, 72, 2, rd=2) + i2c(0x200, 73, 0, b"\x01\x60") +
    i2c(0x300, 74, 2, rd=2) + i2c(0x400, 74, 0, b"\x03\x50\x00")))
put("fuzz_i2c", "mapped", rng(2, 2 | ZL, i2c(0x0, 0x20, 0, b"\x00xy") +
    i2c(0x100, 0x20, 2, rd=2) + i2c(0x200, 80, 2, rd=1) + bytes([5]) +
    i2c(0x300, 0x50, 0)))
