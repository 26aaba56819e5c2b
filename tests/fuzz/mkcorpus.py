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

# ---- fuzz_vsock (rx 0, tx 1, event 2; operation 6 is main and the host) ----
REQUEST, RESPONSE, RST, SHUTDOWN, RW, CREDIT_UPDATE, CREDIT_REQUEST = range(1, 8)
STREAM, SEQPACKET = 1, 2
EOM = 1
SHUT_RCV, SHUT_SEND = 1, 2
FSTREAM, FSEQ = 1 << 2, 1 << 3      # VIRTIO_VSOCK_F_* via the features byte

class Guest:
    """A guest driver of CID cid: packets on tx, buffers on rx, each in
    its own part of guest memory (tx in region 0, rx in region 1)."""
    def __init__(self, cid):
        self.cid, self.txoff, self.rxoff = cid, 0, 0

    def pkt(self, sport, dcid, dport, op, typ=STREAM, data=b"", flags=0,
            buf_alloc=65536, fwd=0, plen=None, src=None):
        """One packet on tx, run; plen: payload bytes beyond those given
        (whatever guest memory holds there)."""
        ln = len(data) if plen is None else plen
        hdr = struct.pack("<QQIIIHHIII", self.cid if src is None else src,
                          dcid, sport, dport, ln, typ, op, flags, buf_alloc,
                          fwd)
        body = hdr + data
        size = 44 + ln
        if self.txoff + size > 0xffff:
            self.txoff = 0      # tx buffers are done with once run
        off = self.txoff
        self.txoff += (size + 63) & ~63
        return post(1, [(0, off, size, body[:min(size, 256)].ljust(
            min(size, 256), b"\0"))]) + RUN(1)

    def rx(self, n, size):
        """n device-writable buffers of size bytes on rx, run."""
        out = b""
        for _ in range(n):
            out += post(0, [(W | 1, self.rxoff, size, b"")])
            self.rxoff += (size + 63) & ~63
        return out + RUN(0)

def u32(v):
    return struct.pack("<I", v)

DISPATCH = bytes([4])
def RESULT(flags, err=None):
    return bytes([6, 0, flags]) + (bytes([err]) if flags & 3 == 2 else b"")

def INCOMING(flags, lport, pport, pcid=0, typ=None, greet=None, glen=None):
    out = bytes([6, 1, flags])
    if flags & 3 == 3:
        out += bytes([typ])
    if flags & 8:
        out += bytes([len(greet) if glen is None else glen]) + greet[:24]
    return out + u32(lport) + u32(pport) + bytes([pcid])

def HWRITE(slot, data=b"", big=None):
    if big is not None:
        return bytes([6, 2, slot, 128 | (big // 512 - 1)])
    return bytes([6, 2, slot, len(data)]) + data

HDRAIN = lambda slot: bytes([6, 3, slot])
HSHUT = lambda slot: bytes([6, 4, slot])
HCLOSE = lambda slot: bytes([6, 5, slot])
def RAW(op, data, sel):
    return bytes([6, 6, op, len(data)]) + data + bytes([sel])
SENDFAIL = lambda n: bytes([6, 7, n])
TIMERS = bytes([6, 8])
QUEUE = lambda q: bytes([6, 9, q])

# A guest connect to host port 5000, answered with a socket; bytes both
# ways, credit, the host's EOF, the guest's close.
g = Guest(3)
put("fuzz_vsock", "connect-host-rw", bytes([0, FSTREAM]) + g.rx(4, 1024) +
    g.pkt(1234, 2, 5000, REQUEST) + RESULT(0) + DISPATCH +
    g.pkt(1234, 2, 5000, RW, data=b"hello, host") + HDRAIN(0) +
    HWRITE(0, b"hello, guest") + DISPATCH + g.rx(2, 4096) +
    g.pkt(1234, 2, 5000, CREDIT_UPDATE, fwd=12) +
    g.pkt(1234, 2, 5000, CREDIT_REQUEST, fwd=12) +
    HWRITE(0, big=2048) + DISPATCH + g.rx(2, 2048) + HSHUT(0) + DISPATCH +
    g.pkt(1234, 2, 5000, SHUTDOWN, flags=SHUT_RCV | SHUT_SEND) + RUN(0) +
    DISPATCH)

# A host connection to guest port 80, accepted; a SEQPACKET one the guest
# resets; one more; one over max_connections (2); a sibling connect.
g = Guest(5)
put("fuzz_vsock", "incoming-accept", bytes([1, FSTREAM | FSEQ | 1]) +
    g.rx(6, 512) + INCOMING(0, 80, 1024) + DISPATCH +
    g.pkt(80, 2, 1024, RESPONSE, buf_alloc=4096) + HDRAIN(0) +
    HWRITE(0, b"ping") + DISPATCH +
    g.pkt(80, 2, 1024, RW, data=b"pong", buf_alloc=4096, fwd=4) +
    HDRAIN(0) +
    INCOMING(1 | 8, 81, 1025, greet=b"OK 1025\n") + DISPATCH +
    g.pkt(81, 2, 1025, RST, typ=SEQPACKET) +
    INCOMING(0, 82, 1026) + INCOMING(0, 83, 1027) + g.rx(4, 512) +
    g.pkt(82, 2, 1026, RESPONSE) + g.pkt(80, 2, 1024, RST) +
    g.pkt(7, 4, 9000, REQUEST) + RESULT(16) + g.rx(2, 512) +
    g.pkt(7, 4, 9000, RW, data=b"to a sibling") + HDRAIN(4) +
    g.pkt(7, 4, 9000, RST) + g.pkt(82, 2, 1026, RST))

# SEQPACKET both ways: a message in two parts, host messages split over
# small rx buffers, an empty host message (EOF), shutdowns.
g = Guest(0xfffffffe)
put("fuzz_vsock", "seqpacket", bytes([2, FSTREAM | FSEQ]) + g.rx(6, 1024) +
    g.pkt(4000, 2, 7000, REQUEST, typ=SEQPACKET) + RESULT(0) + DISPATCH +
    g.pkt(4000, 2, 7000, RW, typ=SEQPACKET, data=b"part1") +
    g.pkt(4000, 2, 7000, RW, typ=SEQPACKET, data=b"part2", flags=EOM) +
    g.pkt(4000, 2, 7000, RW, typ=SEQPACKET, data=b"m2", flags=EOM) +
    g.pkt(4000, 2, 7000, RW, typ=SEQPACKET, flags=EOM) + HDRAIN(0) +
    HWRITE(0, b"hello") + DISPATCH + HWRITE(0, big=2048) + DISPATCH +
    g.rx(4, 1024) + DISPATCH +
    g.pkt(4000, 2, 7000, CREDIT_UPDATE, typ=SEQPACKET, fwd=2053) +
    HWRITE(0) + DISPATCH + g.rx(2, 256) +
    g.pkt(4000, 2, 7000, SHUTDOWN, typ=SEQPACKET, flags=SHUT_RCV) +
    g.pkt(4000, 2, 7000, RW, typ=SEQPACKET, data=b"last", flags=EOM) +
    g.pkt(4000, 2, 7000, SHUTDOWN, typ=SEQPACKET, flags=SHUT_SEND) +
    HDRAIN(0) + RUN(0) + DISPATCH)

# Credit both ways over 4 KiB buffers and a host socket that fills up:
# the guest's small buf_alloc stalls the host's bytes, the host's not
# reading stalls the guest's, a send beyond credit is reset.
g = Guest(5)
put("fuzz_vsock", "flow-control", bytes([1, FSTREAM]) + g.rx(4, 512) +
    g.pkt(1, 2, 2, REQUEST, buf_alloc=1024) + RESULT(16) + DISPATCH +
    HWRITE(0, big=4096) + DISPATCH + g.rx(4, 512) + DISPATCH +
    g.pkt(1, 2, 2, CREDIT_UPDATE, buf_alloc=1024, fwd=1024) + DISPATCH +
    g.rx(4, 512) + g.pkt(1, 2, 2, RW, plen=4000, buf_alloc=1024,
                         fwd=2048) +
    g.pkt(1, 2, 2, RW, plen=4000, buf_alloc=1024, fwd=2048) +
    g.pkt(1, 2, 2, CREDIT_REQUEST, buf_alloc=1024, fwd=2048) + RUN(0) +
    HDRAIN(0) + DISPATCH + HDRAIN(0) + DISPATCH + g.rx(2, 512) +
    g.pkt(1, 2, 2, RW, plen=4096, buf_alloc=1024, fwd=2048) +
    g.pkt(1, 2, 2, RW, plen=4096, buf_alloc=1024, fwd=2048) + RUN(0) +
    DISPATCH)

# Refusals and main's odd answers: max_connections 1, a connect error, a
# wrong id, INCOMINGs of a type not offered, a bad greeting, no fd,
# raw messages, a failed send to main, the accept timeout, rx stopped,
# bad packets.
g = Guest(3)
put("fuzz_vsock", "refusals", bytes([3, FSTREAM]) + g.rx(8, 128) +
    g.pkt(10, 2, 100, REQUEST) + g.pkt(11, 2, 101, REQUEST) +
    RESULT(2, 111) + g.pkt(12, 2, 102, REQUEST) + RESULT(4 | 32) +
    RESULT(8 | 32) + RESULT(0) + RESULT(3) +
    INCOMING(1, 90, 2000) + INCOMING(8, 91, 2001, greet=b"x" * 24, glen=200) +
    INCOMING(3, 92, 2002, typ=9) + INCOMING(32, 93, 2003) +
    RAW(2, b"short", 1) + RAW(9, b"", 0) + RAW(4, b"\0" * 16, 3) +
    RAW(3, struct.pack("<QIIQII", 777, 94, 2004, 2, STREAM, 3) +
        b"OK\n".ljust(24, b"\0"), 1) +
    g.pkt(12, 2, 102, RST) + SENDFAIL(1) + g.pkt(13, 2, 103, REQUEST) +
    g.rx(4, 128) + INCOMING(0, 95, 2005) + TIMERS + g.rx(4, 128) +
    QUEUE(0) + INCOMING(0, 96, 2006) + QUEUE(0) + g.rx(4, 128) +
    g.pkt(14, 2, 104, RW, src=4) + g.pkt(14, 2, 104, RW, plen=200) +
    g.pkt(14, 2, 104, 99) + g.pkt(14, 2, 104, REQUEST, typ=SEQPACKET) +
    g.pkt(14, 2, 104, RESPONSE) + g.pkt(14, 3, 104, REQUEST) +
    g.pkt(14, 2, 0xffffffff, REQUEST) + RUN(0))

# The guest closes with bytes the host does not read: the drain timeout;
# a REQUEST left unanswered at reset; the event queue's buffers held.
g = Guest(5)
put("fuzz_vsock", "drain-timeout", bytes([1, FSTREAM | 2]) + g.rx(4, 256) +
    post(2, [(W | 1, 0x8000, 8, b"")]) + RUN(2) +
    g.pkt(20, 2, 200, REQUEST) + RESULT(16) + DISPATCH +
    g.pkt(20, 2, 200, RW, plen=3000) + g.pkt(20, 2, 200, RW, plen=1000) +
    g.pkt(20, 2, 200, SHUTDOWN, flags=SHUT_RCV | SHUT_SEND) + DISPATCH +
    TIMERS + g.rx(2, 256) + g.pkt(21, 2, 201, REQUEST) + bytes([5]) +
    g.rx(2, 256) + g.pkt(22, 2, 202, REQUEST) + RESULT(0) + HCLOSE(0) +
    HCLOSE(1) + g.pkt(22, 2, 202, RW, data=b"into a closed socket") +
    RUN(0))

# The stream ring wraps: the host takes part of what waits, the guest
# sends more than is left at the ring's end (64 KiB buffers, small host
# socket buffers).  A SEQPACKET message larger than its host socket
# takes; a connect error that comes with an fd.
g = Guest(0xfffffffe)
put("fuzz_vsock", "ring-wrap", bytes([2, FSTREAM | FSEQ]) + g.rx(4, 256) +
    g.pkt(30, 2, 300, REQUEST) + RESULT(16) + DISPATCH +
    g.pkt(30, 2, 300, RW, plen=10000) + HDRAIN(0) + DISPATCH +
    g.pkt(30, 2, 300, RW, plen=62000) +
    (HDRAIN(0) + DISPATCH) * 16 + g.rx(4, 256) +
    g.pkt(33, 2, 303, REQUEST, typ=SEQPACKET) + RESULT(16) + DISPATCH +
    g.pkt(33, 2, 303, RW, typ=SEQPACKET, plen=8000, flags=EOM) +
    g.pkt(34, 2, 304, REQUEST) + RESULT(2 | 64, 0) + RUN(0))

# The same for SEQPACKET messages (4 KiB buffers), then more whole
# messages than the ring keeps count of.
g = Guest(5)
msg = lambda n, port=31: g.pkt(port, 2, 270 + port, RW, typ=SEQPACKET,
                               plen=n, flags=EOM)
put("fuzz_vsock", "seqpacket-ring-wrap", bytes([1, FSTREAM | FSEQ]) +
    g.rx(4, 256) + g.pkt(31, 2, 301, REQUEST, typ=SEQPACKET) + RESULT(16) +
    DISPATCH + b"".join(msg(1000) for _ in range(6)) + HDRAIN(0) +
    DISPATCH + b"".join(msg(1000) for _ in range(2)) +
    (HDRAIN(0) + DISPATCH) * 8)
g = Guest(5)
put("fuzz_vsock", "seqpacket-queue-full", bytes([1, FSTREAM | FSEQ]) +
    g.rx(4, 256) + g.pkt(32, 2, 302, REQUEST, typ=SEQPACKET) + RESULT(16) +
    DISPATCH + b"".join(msg(0, 32) for _ in range(72)) + RUN(0))
