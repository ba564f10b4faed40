"""The nemesis: a real hactl cluster in network namespaces (3 nodes, or 2 + a witness) driven
through a randomized, seeded schedule of faults for a bounded time, with a checker that samples
every namespace all along and judges the whole history (docs/nemesis.md).

Faults (in waves of one or two at once, touching different things, each wave healed before
the next):
  kill       SIGKILL of an agent (its guard lives on), restarted after the fault's duration
  pause      SIGSTOP of the coordinator's agent, SIGCONT after the duration: it wakes up still
             believing it is coordinator
  link       the node's switch port down, then up
  partition  one node cut off from all others (nft drop rules in every namespace)
  oneway     an asymmetric block: one node's datagrams to another dropped, or a node that
             hears nobody while everyone hears it (nft, in the receiving namespaces)
  loss       10-40 % of the node's frames dropped; in, out or both ways
  delay      20-150 ms of delay, with jitter (so reordering); in, out or both ways
  duplicate  10-50 % of the node's frames sent twice; in, out or both ways
             (these three by a netem-like relay in the switch namespace: the kernel here has
             no sch_netem)
  hang       the resource agent of `app` hangs on a node (its monitor blocks until healed)
A wall-clock step is not a fault here: hactl reads CLOCK_MONOTONIC only, which no wall-clock
step moves; clock drift is covered by tests/sim.

The checker samples, in each node's namespace, every few milliseconds, with CLOCK_MONOTONIC
(one clock for all namespaces): whether the namespace holds the VIP (netlink), the Stateful
instance's own state file and whether `app` runs (its own state file); and every agent's
`hactl status --json` twice a second. It reports:
  - the VIP held by two nodes at one instant; more than PROMOTED_MAX Stateful masters at one
    instant; `app` (a plain primitive) running on two nodes at one instant (the "sandwich"
    rule, see first_samples_inside());
  - after the last fault is healed, the cluster not converged within CONVERGE_BOUND_S seconds
    (one coordinator agreed by all; the VIP on the promoted instance's node, promoted_max
    masters and slaves elsewhere; `app` on one node; every agent's status saying the same);
  - a resource that moved, or became active, more often than its bound (flap_bound(),
    restart_bound());
  - a disruption: in a wave of one fault that kills, stops, cuts off or partitions the
    coordinator's node of a converged cluster, anything that ran on another node when it began (the VIP, a Stateful
    instance or its master role, app) stopped before DISRUPTION_GRACE_S after the heal: the
    other nodes stayed connected to a majority, and a change of coordinator alone must cost
    them nothing (taken_down()).
It also prints, without judging it, the longest time each resource ran nowhere.
Every failure prints the seed, the command that reproduces the schedule, the event history
(faults, observed changes, statuses) and the agents' logs.

Usage (root): python3 tests/integration/nemesis.py [--seed N] [--duration SECONDS]
    [--topology 3|2w] [--faults kill,pause,...] [--inject-violation] [--history]
    [--plan 'KIND[/OPTION]@TARGET:SECONDS[+OFFSET]&...;...'] [--app-timeouts MON,STOP]
Exit code: 0 pass, 1 a violation (or, with --inject-violation, the injected ones not caught),
2 the harness itself failed (a fault could not be applied, an exception).
"""

import argparse
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import SUBNET, Cluster, run  # noqa: E402

VIP = f"{SUBNET}.100"
PROMOTED_MAX = 1
FAULT_KINDS = ("kill", "pause", "link", "partition", "oneway", "loss", "delay", "duplicate",
               "hang")
# How often each kind is drawn (relative).
FAULT_WEIGHTS = {"kill": 3, "pause": 2, "link": 2, "partition": 3, "oneway": 2, "loss": 2,
                 "delay": 2, "duplicate": 1, "hang": 2}
FAULT_MIN_S, FAULT_MAX_S = 0.5, 8.0
PLAN_GAP_S = 5.0
PLAN_ITEM = re.compile(r"(?P<kind>[a-z]+)(?:/(?P<option>[\w.-]+))?@(?P<target>[\w-]+)"
                       r":(?P<seconds>[\d.]+)(?:\+(?P<offset>[\d.]+))?")

# The sampler: one sample of a namespace every SAMPLE_PERIOD_S; two samples further apart than
# MAX_GAP_S (a starved sampler) are not taken to show anything about the time between them.
SAMPLE_PERIOD_S = 0.004
MAX_GAP_S = 0.05
STATUS_PERIOD_S = 0.5
# After the last heal, at default timing (heartbeat 100 ms, node_timeout 300 ms): the
# worst case is `app` banned on every node it may run on (migration_threshold reached on each
# by hung monitors), which lasts until its failure_timeout (15 s) after the last failure, then
# a start; plus an election, takeover delays (db 0.9 + 2 + 5 s with its demote, app 0.9 +
# 3 s) and a few monitor intervals. 30 s covers that with room; the cluster must then stay
# converged for STABLE_S.
CONVERGE_BOUND_S = 30.0
STABLE_S = 3.0
# Flap bounds per resource, FLAP_BASE + FLAP_PER_FAULT per fault executed for moves (the
# resource becomes active on a node other than the one where it was last active), and
# RESTART_BASE + RESTART_PER_FAULT per fault for activations (moves and restarts in place: a
# node that loses its lease stops everything and starts it again when it has one, which a lossy
# or slow link can make happen several times in one fault). See docs/nemesis.md for how these
# were chosen from measured runs.
FLAP_BASE, FLAP_PER_FAULT = 2, 2
RESTART_BASE, RESTART_PER_FAULT = 4, 4
# How long after a coordinator fault's heal the other nodes are still watched for disruption.
DISRUPTION_GRACE_S = 3.0
# The faults that hit one node as a whole, after which the disruption rule applies when that
# node was the coordinator.
DISRUPTION_KINDS = ("kill", "pause", "link", "partition")

APP_SCRIPT = """#!/bin/sh
# The nemesis's plain resource (exec class): runs while /run/hactl/app.running exists (the
# node's private /run). Its status (monitor) hangs while /run/hactl/app.hang exists: the
# "hung resource agent" fault. Bounded: gives up hanging after 30 s.
run=/run/hactl/app.running
hang=/run/hactl/app.hang
case "$1" in
  start) touch "$run" ;;
  stop) rm -f "$run" ;;
  status)
    i=0
    while [ -f "$hang" ] && [ "$i" -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    [ -f "$run" ] || exit 3 ;;
  *) exit 3 ;;
esac
exit 0
"""


def resources_yaml(app_script, monitor_timeout=2.0, stop_timeout=3.0):
    """vip (follows the promoted db instance), db (ocf:heartbeat:Stateful, promotable clone,
    promoted_max PROMOTED_MAX) and app (exec, whose monitor the hang fault blocks; it moves
    after 2 failures on a node and may come back 15 s after the last one)."""
    return f"""
resources:
  - id: vip
    type: vip
    params: {{address: {VIP}/24, interface: eth0}}
    ops: {{monitor: {{interval: 500ms, timeout: 5s}}}}
  - id: db
    type: ocf:heartbeat:Stateful
    params: {{state: /run/hactl/db.state}}
    ops: {{monitor: {{interval: 2s, timeout: 10s}}, start: {{timeout: 5s}},
          stop: {{timeout: 2s}}, promote: {{timeout: 5s}}, demote: {{timeout: 5s}}}}
  - id: app
    type: exec:{app_script}
    ops: {{monitor: {{interval: 1s, timeout: {monitor_timeout:g}s}}, start: {{timeout: 3s}},
          stop: {{timeout: {stop_timeout:g}s}}}}
    meta: {{migration_threshold: 2, failure_timeout: 15s}}
clones:
  - id: db-clone
    resource: db
    promotable: true
    promoted_max: {PROMOTED_MAX}
constraints:
  colocation:
    - {{resource: vip, with: db-clone, score: inf, with_role: promoted}}
  order:
    - {{first: db-clone, first_action: promote, then: vip}}
"""


# ---------------------------------------------------------------------------- sampling

# Runs in a node's namespace (ip netns exec, the host's mount namespace: the node's private
# /run is read at its host path). Each sample is bracketed by two CLOCK_MONOTONIC readings
# (b, e): what it saw was true at some instant in [b, e]. Consecutive samples with the same
# value form a run, printed as "FLAG VALUE B1 E1 B2 E2" (first and last sample) when the value
# changes (FLAG v for the new run), after a gap longer than max_gap (g), and every `flush`
# seconds (the next run then starts at the last sample printed: c). VALUE is
# "VIP,DBSTATE,APP": 1/0, the state file's word ("-": no file), 1/0.
SAMPLER = r"""
import os, signal, socket, struct, sys, time
vip = socket.inet_aton(sys.argv[1])
db, app = sys.argv[2], sys.argv[3]
period, max_gap, flush = float(sys.argv[4]), int(float(sys.argv[5]) * 1e9), \
    int(float(sys.argv[6]) * 1e9)
deadline = time.monotonic_ns() + int(float(sys.argv[7]) * 1e9)
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
nl.bind((0, 0))
seq = 0

def has_vip():
    global seq
    seq += 1
    # RTM_GETADDR (22), NLM_F_REQUEST | NLM_F_DUMP, ifaddrmsg for AF_INET
    nl.send(struct.pack("=LHHLL", 24, 22, 0x301, seq, 0) + struct.pack("=BBBBI", 2, 0, 0, 0, 0))
    found = False
    while True:
        data = nl.recv(65536)
        off = 0
        while off + 16 <= len(data):
            ln, typ = struct.unpack_from("=LH", data, off)
            if ln < 16:
                return found
            if typ == 3:  # NLMSG_DONE
                return found
            if typ == 2:  # NLMSG_ERROR
                raise OSError("netlink error")
            if typ == 20:  # RTM_NEWADDR: ifaddrmsg (8 bytes), then attributes
                a, end = off + 24, off + ln
                while a + 4 <= end:
                    alen, atype = struct.unpack_from("=HH", data, a)
                    if alen < 4:
                        break
                    if atype == 2 and data[a + 4:a + 8] == vip:  # IFA_LOCAL
                        found = True
                    a += (alen + 3) & ~3
            off += (ln + 3) & ~3

def word(path):
    try:
        with open(path) as f:
            w = "".join(ch for ch in f.read().strip() if ch.isalnum())
        return w or "empty"
    except OSError:
        return "-"

def emit(r):
    sys.stdout.write("%s %s %d %d %d %d\n" % tuple(r))
    sys.stdout.flush()

cur = None
last_flush = 0
while not stop and time.monotonic_ns() < deadline:
    b = time.monotonic_ns()
    v = "%d,%s,%d" % (has_vip(), word(db), os.path.exists(app))
    e = time.monotonic_ns()
    if cur is None:
        cur, last_flush = ["g", v, b, e, b, e], b
    elif b - cur[4] > max_gap:
        emit(cur)
        cur, last_flush = ["g", v, b, e, b, e], b
    elif v != cur[1]:
        emit(cur)
        cur, last_flush = ["v", v, b, e, b, e], b
    else:
        if b - last_flush > flush:
            emit(cur)
            cur, last_flush = ["c", v, cur[4], cur[5], cur[4], cur[5]], b
        cur[4], cur[5] = b, e
    time.sleep(max(0.0, period - (time.monotonic_ns() - b) / 1e9))
if cur is not None:
    emit(cur)
"""


class Run:
    """A run of consecutive samples of one namespace with one value."""
    __slots__ = ("flag", "vip", "db", "app", "b1", "e1", "b2", "e2")

    def __init__(self, flag, value, b1, e1, b2, e2):
        self.flag = flag
        vip, self.db, app = value.split(",")
        self.vip, self.app = vip == "1", app == "1"
        self.b1, self.e1, self.b2, self.e2 = b1, e1, b2, e2

    @classmethod
    def parse(cls, line):
        f = line.split()
        return cls(f[0], f[1], *(int(x) for x in f[2:6]))


class NodeSampler:
    """The sampler process of one namespace and the runs it printed."""

    def __init__(self, cluster, name, deadline_s):
        node = cluster.nodes[name]
        self.name = name
        self.runs = []
        self.lock = threading.Lock()
        hactl_run = os.path.join(node.run_dir, "hactl")
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", node.ns, "python3", "-c", SAMPLER, VIP,
             os.path.join(hactl_run, "db.state"), os.path.join(hactl_run, "app.running"),
             str(SAMPLE_PERIOD_S), str(MAX_GAP_S), "0.25", str(deadline_s)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                r = Run.parse(line)
            except (ValueError, IndexError):
                continue
            with self.lock:
                self.runs.append(r)

    def latest(self):
        with self.lock:
            return self.runs[-1] if self.runs else None

    def snapshot(self):
        with self.lock:
            return list(self.runs)

    def close(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self.thread.join(timeout=5)
        self.proc.stdout.close()
        err = self.proc.stderr.read()
        self.proc.stderr.close()
        return err


# ---------------------------------------------------------------------------- the checker
# Pure functions over the runs of every node ({node: [Run]}), so that they can be tested on
# made-up histories (test_nemesis.py).

def spans(runs, prop):
    """The intervals [lo, hi] (ns) during which `prop` certainly held on one node: from the
    end of the first sample of a stretch of consecutive samples where it held to the start of
    the last one. A stretch continues across runs that follow each other without a gap
    (flags c and v); a gap (flag g) ends it. Each span comes with the window [b, e] of its
    first sample. Returns [(b, e, lo, hi)]."""
    out = []
    cur = None
    for r in runs:
        held = prop(r)
        if held and cur is not None and r.flag in ("c", "v"):
            cur[3] = max(cur[3], r.b2)
            continue
        if cur is not None:
            out.append(tuple(cur))
            cur = None
        if held:
            cur = [r.b1, r.e1, r.e1, r.b2]
    if cur is not None:
        out.append(tuple(cur))
    return out


def first_samples_inside(runs_by_node, prop, limit):
    """The "sandwich" rule: a violation is a sample in which node X saw `prop`, taken strictly
    inside spans of at least `limit` other nodes that saw it too: more than `limit` nodes at
    once. Returns [(t_ns, x, [others])], one per stretch of X (its first sample).

    Sound: a span [lo, hi] of node Y is bounded by two samples of Y that both saw `prop`, with
    no sample in between that did not, and consecutive samples at most MAX_GAP_S (50 ms) apart.
    Y could only have lost `prop` in between by losing it and getting it back within 50 ms: a
    VIP or a promotion that goes away and comes back needs the cluster to stop it, decide
    again and start it (report rounds of the agents, an OCF action of tens of ms for
    Stateful), not a few ms; and the harness never makes a namespace drop the VIP or a state
    file by hand. CLOCK_MONOTONIC is one clock for all network namespaces (no time namespace
    is used), so times from different samplers compare. Complete, up to the microseconds a
    sample takes: if more than `limit` spans overlap, the first sample of the one that
    started last lies inside all the others."""
    all_spans = {n: spans(r, prop) for n, r in runs_by_node.items()}
    out = []
    for x, xs in all_spans.items():
        for b, e, _lo, _hi in xs:
            others = [y for y, ys in all_spans.items() if y != x and
                      any(lo < b and e < hi for _b, _e, lo, hi in ys)]
            if len(others) >= limit:
                out.append((b, x, others))
    return sorted(out)


def transitions(runs, prop):
    """[(t_ns, held)]: the samples at which `prop` changed on one node (the first run's value
    is not a change)."""
    out = []
    last = None
    for r in runs:
        held = prop(r)
        if last is not None and held != last:
            out.append((r.b1, held))
        last = held
    return out


def moves(runs_by_node, prop, since_ns, initial=None):
    """(activations, moves) after since_ns: how often `prop` became true on a node, and how
    often on a node other than the one where it was last true (a move)."""
    events = sorted((t, n) for n, runs in runs_by_node.items()
                    for t, held in transitions(runs, prop) if held)
    last, acts, mv = initial, 0, 0
    for t, n in events:
        if t < since_ns:
            last = n
            continue
        acts += 1
        if last is not None and n != last:
            mv += 1
        last = n
    return acts, mv


def longest_outage(runs_by_node, prop, since_ns, until_ns):
    """(seconds, from_ns): the longest time in [since, until] during which no node's samples
    saw `prop` (availability, reported, not judged)."""
    held = sorted((r.b1, r.e2) for runs in runs_by_node.values() for r in runs if prop(r))
    worst, at, cursor = 0, since_ns, since_ns
    for a, b in held:
        if b < cursor:
            continue
        if a > cursor and a - cursor > worst:
            worst, at = a - cursor, cursor
        cursor = max(cursor, b)
    if until_ns > cursor and until_ns - cursor > worst:
        worst, at = until_ns - cursor, cursor
    return worst / 1e9, at


def flap_bound(faults):
    return FLAP_BASE + FLAP_PER_FAULT * faults


def restart_bound(faults):
    return RESTART_BASE + RESTART_PER_FAULT * faults


# What must not be taken from a node that stayed connected (the disruption rule): each
# property, true in the sample at the fault's start, must stay true.
KEPT = {
    "vip": lambda r: r.vip,
    "db running": lambda r: r.db in ("master", "slave"),
    "db master": lambda r: r.db == "master",
    "app": lambda r: r.app,
}


def taken_down(runs, prop, start_ns, end_ns):
    """The first sample in [start_ns, end_ns] where `prop` is false, on a node whose sample
    running at start_ns showed it true; None when it was not true then or stayed true."""
    at_start = None
    for r in runs:
        if r.b1 > start_ns:
            break
        at_start = r
    if at_start is None or not prop(at_start):
        return None
    for r in runs:
        if r.b1 > end_ns:
            break
        if r.e2 >= start_ns and not prop(r):
            return max(r.b1, start_ns)
    return None


RULES = {
    # name: (property of a sample, most nodes allowed at once, what a violation means)
    "vip": (lambda r: r.vip, 1, f"the VIP {VIP} held by two nodes at once"),
    "promoted": (lambda r: r.db == "master", PROMOTED_MAX,
                 f"more than promoted_max={PROMOTED_MAX} Stateful masters at once"),
    "app": (lambda r: r.app, 1, "app (a plain primitive) running on two nodes at once"),
}


# ---------------------------------------------------------------------------- faults

RELAY = r"""
import heapq, random, select, signal, socket, sys, time
# A netem stand-in (this kernel has no sch_netem): forwards every frame between the node's
# switch port (a) and a veth into the bridge (b), impairing the directions asked for.
a, b, dirs = sys.argv[1], sys.argv[2], sys.argv[3]
loss, delay, jitter, dup = (float(x) for x in sys.argv[4:8])
rng = random.Random(int(sys.argv[8]))
deadline = time.monotonic() + float(sys.argv[9])
def stop(*_):
    raise SystemExit(0)
signal.signal(signal.SIGTERM, stop)

def sock(dev):
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))  # ETH_P_ALL
    s.bind((dev, 0))
    s.setblocking(False)
    return s

def plain(frame):
    # A frame from a veth may carry an unfinished UDP checksum (checksum offload: the kernel
    # would complete it on a real NIC); sent on as it is, the receiver drops it. IPv4 UDP
    # allows "no checksum" (0): hactl's datagrams are authenticated anyway.
    if len(frame) >= 42 and frame[12:14] == b"\x08\x00" and frame[23] == 17:
        o = 14 + (frame[14] & 15) * 4 + 6
        if len(frame) >= o + 2:
            return frame[:o] + b"\0\0" + frame[o + 2:]
    return frame

sa, sb = sock(a), sock(b)
print("ready", flush=True)
heap, seq = [], 0
while time.monotonic() < deadline:
    now = time.monotonic()
    wait = min(0.05, max(0.0, heap[0][0] - now)) if heap else 0.05
    for s in select.select([sa, sb], [], [], wait)[0]:
        for _ in range(256):
            try:
                frame, addr = s.recvfrom(65535)
            except BlockingIOError:
                break
            if addr[2] == 4:  # PACKET_OUTGOING: our own sends
                continue
            out = sb if s is sa else sa
            frame = plain(frame)
            now = time.monotonic()
            if (s is sa and "out" in dirs) or (s is sb and "in" in dirs):
                if rng.random() < loss:
                    continue
                for _copy in range(2 if rng.random() < dup else 1):
                    seq += 1
                    d = max(0.0, delay + rng.uniform(-jitter, jitter))
                    heapq.heappush(heap, (now + d, seq, out, frame))
            else:
                seq += 1
                heapq.heappush(heap, (now, seq, out, frame))
    now = time.monotonic()
    while heap and heap[0][0] <= now:
        _t, _n, out, frame = heapq.heappop(heap)
        try:
            out.send(frame)
        except OSError:
            pass
"""


class Fault:
    """One fault of a wave. Its parameters are drawn from the schedule's random generator when
    it is planned (always the same draws, whatever happens at run time); its target is
    resolved when it starts, from a role ("the coordinator", "where app runs") when it has
    one, else from the node drawn."""

    def __init__(self, nem, fid, kind, rng):
        self.nem, self.fid, self.kind = nem, fid, kind
        self.duration = round(rng.uniform(FAULT_MIN_S, FAULT_MAX_S), 2)
        names = list(nem.cluster.nodes)
        self.pick = rng.randrange(len(names))
        self.pick2 = rng.randrange(len(names) - 1)
        self.role = rng.choice(("coordinator", "vip", "app", "any"))
        self.variant = rng.random()
        self.seed = rng.randrange(1 << 30)
        self.p1, self.p2 = rng.random(), rng.random()
        self.target = None
        self.detail = ""
        self.undo = []
        # A fault of a --plan: its target (a node, or coordinator, vip, app, master) and its
        # option (oneway: deaf or to-NODE; loss, duplicate: percent; delay: ms; [-in|-out]).
        self.forced = None
        self.option = None

    # -- targets
    def candidates(self):
        """Nodes this fault may hit, in order of preference."""
        c = self.nem.cluster
        names = list(c.nodes)
        eligible = [n for n in names if not c.nodes[n].witness]
        first = names[self.pick]
        if self.forced is not None:
            who = {"coordinator": self.nem.coordinator, "vip": lambda: self.nem.observed_holder(
                "vip"), "app": lambda: self.nem.observed_holder("app"),
                "master": self.nem.observed_master}.get(self.forced, lambda: self.forced)()
            return [who] if who in names else []
        if self.kind == "pause":
            pref = [self.nem.coordinator()] + [eligible[self.pick % len(eligible)]]
        elif self.kind == "hang":
            pref = ([self.nem.observed_holder("app")] if self.p1 < 0.8 else []) + \
                [eligible[self.pick % len(eligible)]]
        elif self.role in ("coordinator", "vip", "app"):
            who = (self.nem.coordinator() if self.role == "coordinator"
                   else self.nem.observed_holder(self.role))
            pref = [who, first]
        else:
            pref = [first]
        pool = eligible if self.kind == "hang" else names
        rest = pool[pool.index(first) if first in pool else 0:] + pool
        out = []
        for n in pref + rest:
            if n is not None and n in pool and n not in out:
                out.append(n)
        return out

    def claims(self, target):
        k = self.kind
        if k in ("kill", "pause"):
            return {("agent", target)}
        if k in ("link", "loss", "delay", "duplicate"):
            return {("port", target)}
        if k == "hang":
            return {("hang", target)}
        return {("nft", self.fid)}

    # -- acting
    def start(self):
        getattr(self, "_start_" + self.kind)()

    def heal(self):
        """Undoes everything start() did, last first, even when one step fails."""
        errors = []
        while self.undo:
            fn = self.undo.pop()
            try:
                fn()
            except Exception as e:  # noqa: BLE001 (the first is raised after the rest ran)
                errors.append(e)
        if errors:
            raise errors[0]

    def describe(self):
        return f"#{self.fid} {self.kind} {self.target} {self.detail}".rstrip()

    def _start_kill(self):
        c, n = self.nem.cluster, self.target
        self.nem.note_guard(n)
        c.kill(n)
        self.detail = f"(SIGKILL, restart after {self.duration}s)"
        self.undo.append(lambda: c.start(n))

    def _start_pause(self):
        c, n = self.nem.cluster, self.target
        was = self.nem.coordinator()
        c.kill(n, signal.SIGSTOP)
        self.nem.paused.add(n)
        self.detail = f"(SIGSTOP for {self.duration}s; coordinator was {was})"

        def cont():
            c.kill(n, signal.SIGCONT)
            self.nem.paused.discard(n)
        self.undo.append(cont)

    def _start_link(self):
        c, n = self.nem.cluster, self.target
        c.link_down(n)
        self.undo.append(lambda: c.link_up(n))

    def _nft_drop(self, ns_name, sources):
        table = f"nemesis{self.fid}"
        cmds = [f"add table inet {table}",
                f"add chain inet {table} input {{ type filter hook input priority -10 ; }}"]
        cmds += [f"add rule inet {table} input ip saddr {src} drop" for src in sources]
        node = self.nem.cluster.nodes[ns_name]
        self.undo.append(lambda: node.exec("nft", f"delete table inet {table}", check=False))
        for cmd in cmds:
            node.exec("nft", cmd)

    def _start_partition(self):
        c, n = self.nem.cluster, self.target
        others = [m for m in c.nodes if m != n]
        self._nft_drop(n, [c.nodes[m].ip for m in others])
        for m in others:
            self._nft_drop(m, [c.nodes[n].ip])
        self.detail = f"alone | {' '.join(others)}"

    def _start_oneway(self):
        c, n = self.nem.cluster, self.target
        others = [m for m in c.nodes if m != n]
        deaf = self.option == "deaf" if self.option else self.variant >= 0.6
        if not deaf:
            dst = others[self.pick2 % len(others)]
            if self.option and self.option.startswith("to-"):
                dst = self.option[3:]
            self._nft_drop(dst, [c.nodes[n].ip])
            self.detail = f"-> {dst} dropped (one way)"
        else:
            self._nft_drop(n, [c.nodes[m].ip for m in others])
            self.detail = "hears nobody, is heard by all"

    def _start_impair(self, loss, delay, jitter, dup):
        c, n = self.nem.cluster, self.target
        node = c.nodes[n]
        dirs = ("out", "in", "out,in")[int(self.variant * 3)]
        if self.option:
            dirs = {"in": "in", "out": "out"}.get(self.option.partition("-")[2], "out,in")
        port, veth = node.switch_port, f"nm{node.index}"
        sw = c.switch
        run("ip", "-n", sw, "link", "add", veth, "type", "veth", "peer", "name", veth + "b")
        self.undo.append(lambda: run("ip", "-n", sw, "link", "del", veth, check=False))
        run("ip", "-n", sw, "link", "set", veth + "b", "master", "br0")
        run("ip", "-n", sw, "link", "set", veth + "b", "up")
        run("ip", "-n", sw, "link", "set", veth, "up")
        proc = subprocess.Popen(
            ["ip", "netns", "exec", sw, "python3", "-c", RELAY, port, veth, dirs, str(loss),
             str(delay), str(jitter), str(dup), str(self.seed), str(self.duration + 30)],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.nem.own_procs.append(proc)

        def stop_relay():
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
            proc.stdout.close()
        self.undo.append(stop_relay)
        if proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the impairment relay did not start")
        run("ip", "-n", sw, "link", "set", port, "nomaster")
        self.undo.append(lambda: run("ip", "-n", sw, "link", "set", port, "master", "br0"))
        parts = []
        if loss:
            parts.append(f"loss {loss * 100:.0f}%")
        if delay:
            parts.append(f"delay {delay * 1000:.0f}ms +-{jitter * 1000:.0f}ms")
        if dup:
            parts.append(f"duplicate {dup * 100:.0f}%")
        self.detail = f"{', '.join(parts)} ({dirs.replace(',', '+')})"

    def _amount(self):
        return float(self.option.partition("-")[0]) if self.option else None

    def _start_loss(self):
        loss = self._amount() / 100 if self.option else round(0.10 + 0.30 * self.p1, 2)
        self._start_impair(loss, 0.0, 0.0, 0.0)

    def _start_delay(self):
        delay = self._amount() / 1000 if self.option else round(0.020 + 0.130 * self.p1, 3)
        self._start_impair(0.0, delay, 0.0 if self.option else round(delay * 0.3 * self.p2, 3),
                           0.0)

    def _start_duplicate(self):
        dup = self._amount() / 100 if self.option else round(0.10 + 0.40 * self.p1, 2)
        self._start_impair(0.0, 0.0, 0.0, dup)

    def _start_hang(self):
        node = self.nem.cluster.nodes[self.target]
        flag = os.path.join(node.run_dir, "hactl", "app.hang")
        with open(flag, "w"):
            pass
        self.detail = "(app's monitor hangs)"

        def unhang():
            try:
                os.unlink(flag)
            except FileNotFoundError:
                pass
        self.undo.append(unhang)


# ---------------------------------------------------------------------------- the nemesis

class Result:
    def __init__(self):
        self.violations = []  # (t_s, rule, text)
        self.harness_errors = []
        self.faults = []  # descriptions of the faults executed
        self.counts = {}
        self.outages = {}  # rule: (longest seconds with no node, from s)
        self.injected = []  # (rule, t_from_s, t_to_s)
        self.caught = []
        self.converged_after = None
        self.passed = False


class Nemesis:
    def __init__(self, seed, duration, topology="3", kinds=FAULT_KINDS, inject=False,
                 out=sys.stdout, verbose=True, show_history=False, plan=None,
                 app_timeouts=(2.0, 3.0)):
        self.seed, self.duration, self.topology = seed, duration, topology
        self.kinds = list(kinds)
        self.inject = inject
        self.out = out
        self.verbose = verbose
        self.show_history = show_history
        self.plan_text = plan
        self.plan = parse_plan(plan) if plan else None
        if self.plan:
            self.duration = sum(max(o + d for _k, _o, _t, d, o in w) for w in self.plan) + \
                PLAN_GAP_S * (len(self.plan) - 1)
        self.app_timeouts = app_timeouts
        self.rng = random.Random(seed)
        self.history = []  # (t_ns, text)
        self.hlock = threading.Lock()
        self.paused = set()
        self.own_procs = []
        self.guard_pids = []
        self.views = {}
        self.samplers = {}
        self.coordinator_faults = []  # faults of the disruption rule (single, on the coordinator)
        self.result = Result()
        self.cluster = None
        self.t0 = None
        self.stop = threading.Event()

    # -- output
    def say(self, text):
        print(text, file=self.out, flush=True)

    def event(self, text, t_ns=None, echo=False):
        t_ns = time.monotonic_ns() if t_ns is None else t_ns
        with self.hlock:
            self.history.append((t_ns, text))
        if echo and self.verbose:
            self.say(f"[{self.rel(t_ns):8.3f}] {text}")

    def rel(self, t_ns):
        return (t_ns - self.t0) / 1e9

    def command(self):
        args = ["python3", "tests/integration/nemesis.py", "--seed", str(self.seed),
                "--duration", f"{self.duration:g}", "--topology",
                self.topology]
        if list(self.kinds) != list(FAULT_KINDS):
            args += ["--faults", ",".join(self.kinds)]
        if self.inject:
            args.append("--inject-violation")
        if self.plan_text:
            args = args[:2] + ["--seed", str(self.seed), "--topology", self.topology, "--plan",
                               f"'{self.plan_text}'"]
        if self.app_timeouts != (2.0, 3.0):
            args += ["--app-timeouts", "%g,%g" % self.app_timeouts]
        return " ".join(args)

    # -- observing
    def coordinator(self):
        coords = [v.get("coordinator") for n, v in self.views.items()
                  if v and v.get("quorum") and n not in self.paused]
        coords = [c for c in coords if c]
        return max(set(coords), key=coords.count) if coords else None

    def observed_holder(self, what):
        """Where the VIP or app runs now, from the samplers (None: nowhere or several)."""
        held = []
        for n, s in self.samplers.items():
            r = s.latest()
            if r is not None and (r.vip if what == "vip" else r.app):
                held.append(n)
        return held[0] if len(held) == 1 else None

    def note_guard(self, name):
        """Remember the agent's children (its guard) before it is killed: they outlive it for
        a while, and are killed at the end if still there."""
        node = self.cluster.nodes[name]
        if self.cluster.alive(name):
            for pid in Cluster._children(node.proc.pid):
                self.guard_pids.append(pid)

    def _poll_status(self):
        c = self.cluster
        last = {}
        deadline = time.monotonic() + self.duration + 300
        while not self.stop.is_set() and time.monotonic() < deadline:
            began = time.monotonic()
            for n in c.nodes:
                if n in self.paused or not c.alive(n):
                    self.views[n] = None
                    continue
                try:
                    v = c.status(n, timeout=1)
                except Exception:  # noqa: BLE001 (a garbled answer is no view)
                    v = None
                self.views[n] = v
                summary = self.summarize(v)
                if summary != last.get(n):
                    last[n] = summary
                    self.event(f"status {n}: {summary}")
            self.stop.wait(max(0.0, STATUS_PERIOD_S - (time.monotonic() - began)))

    @staticmethod
    def summarize(v):
        if v is None:
            return "no answer"
        s = (f"{v['role']} term {v['term']} coordinator {v['coordinator']} "
             f"{'quorum' if v['quorum'] else 'NO QUORUM'}")
        if v["role"] == "coordinator":
            res = []
            for r in v.get("resources", []):
                res.append(f"{r['id']}={r['state']}@{','.join(r['nodes']) or '-'}")
            s += "; sees " + " ".join(res)
            if v.get("scheduler", {}).get("waiting_for"):
                s += f"; waiting for {v['scheduler']['waiting_for']}"
        return s

    # -- running
    def run(self):
        """Runs the whole thing; returns a Result (also printed)."""
        names, witnesses = (("n1", "n2", "n3"), ()) if self.topology == "3" else \
            (("n1", "n2", "w"), ("w",))
        c = Cluster(names=names, witnesses=witnesses)
        self.cluster = c
        script = os.path.join(c.tmp, "app.sh")
        with open(script, "w") as f:
            f.write(APP_SCRIPT)
        os.chmod(script, 0o755)
        c.resources_yaml = resources_yaml(script, *self.app_timeouts)
        self.t0 = time.monotonic_ns()
        self.say(f"nemesis: seed {self.seed}, {self.duration} s, topology {self.topology}, "
                 f"faults {','.join(self.kinds)}")
        self.say(f"nemesis: reproduce with: {self.command()}")
        try:
            with c:
                try:
                    self.run_in(c)
                except Exception:  # noqa: BLE001 (reported with the seed and the history)
                    self.result.harness_errors.append(traceback.format_exc())
                    self.stop.set()
                    self.result.passed = False
                    self.report()
                    c.dump_logs(80)
        finally:
            self.stop.set()
            self.cleanup()
        return self.result

    def run_in(self, c):
        for n in c.nodes:
            self.samplers[n] = NodeSampler(c, n, self.duration + 300)
        c.start_all()
        poller = threading.Thread(target=self._poll_status, daemon=True)
        poller.start()
        self.event("agents started", echo=True)
        ok, why = self.wait_converged(60)
        if not ok:
            self.result.violations.append(
                (self.rel(time.monotonic_ns()), "converge",
                 f"the cluster did not settle within 60 s of its start: {why}"))
        else:
            self.event("settled: faults begin", echo=True)
            self.faults_from = time.monotonic_ns()
            self.initial = {k: self.observed_holder(k) for k in ("vip", "app")}
            self.initial["promoted"] = self.observed_master()
            self.schedule()
            self.event("last fault healed", echo=True)
            self.healed_at = time.monotonic_ns()
            ok, why = self.wait_converged(CONVERGE_BOUND_S)
            if ok:
                self.result.converged_after = self.converged_at_s
                self.event(f"converged {self.converged_at_s:.1f} s after the last heal",
                           echo=True)
            else:
                self.result.violations.append(
                    (self.rel(time.monotonic_ns()), "converge",
                     f"not converged within {CONVERGE_BOUND_S:.0f} s of the last heal: {why}"))
        self.stop.set()
        poller.join(timeout=10)
        for s in self.samplers.values():
            err = s.close()
            if err.strip():
                self.result.harness_errors.append(f"sampler {s.name}: {err.strip()}")
        self.analyze()
        self.report()
        if not self.result.passed:
            c.dump_logs(80)

    def cleanup(self):
        for s in self.samplers.values():
            if s.proc.poll() is None:
                s.close()
        for p in self.own_procs:
            if p.poll() is None:
                p.kill()
                p.wait(timeout=5)
        # The guards of agents we killed: gone by themselves after their lease deadline and
        # grace; any left (only our own: same config path on the command line) are killed.
        for pid in self.guard_pids:
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    mine = self.cluster.config.encode() in f.read()
            except OSError:
                continue
            if mine:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass

    def schedule(self):
        """Waves of one or two faults until the duration is spent; each wave healed entirely
        before the next. The draws never depend on what happens at run time."""
        if self.plan:
            return self.run_plan()
        end = time.monotonic() + self.duration
        weights = [FAULT_WEIGHTS[k] for k in self.kinds]
        fid = 0
        injected = False
        wave_no = 0
        while time.monotonic() < end and wave_no < 10000:
            wave_no += 1
            two = self.rng.random() < 0.3
            plan = []
            for i in range(2 if two else 1):
                fid += 1
                kind = self.rng.choices(self.kinds, weights)[0]
                f = Fault(self, fid, kind, self.rng)
                offset = 0.0 if i == 0 else round(self.rng.uniform(0, plan[0][1].duration), 2)
                left = end - time.monotonic() - offset
                f.duration = round(max(0.3, min(f.duration, left)), 2)
                plan.append((offset, f))
            gap = self.rng.uniform(1.0, 5.0) if self.rng.random() < 0.85 else \
                self.rng.uniform(10.0, 20.0)
            self.wave(plan)
            if self.inject and not injected and time.monotonic() > end - self.duration / 2:
                injected = True
                self.inject_violation()
            if time.monotonic() >= end:
                break
            self.stop.wait(min(gap, max(0.0, end - time.monotonic())))

    def run_plan(self):
        """The faults of --plan, wave after wave, PLAN_GAP_S apart."""
        fid = 0
        for i, wave in enumerate(self.plan):
            plan = []
            for kind, option, target, seconds, offset in wave:
                fid += 1
                f = Fault(self, fid, kind, random.Random(self.seed * 1000 + fid))
                f.forced, f.option, f.duration = target, option, seconds
                plan.append((offset, f))
            self.wave(plan)
            if i + 1 < len(self.plan):
                self.stop.wait(PLAN_GAP_S)

    def wave(self, plan):
        began = time.monotonic()
        pending = list(plan)
        active = []  # (heal at, fault)
        claimed = set()
        limit = began + max(o + f.duration for o, f in plan) + 10
        try:
            while (pending or active) and time.monotonic() < limit:
                now = time.monotonic()
                for offset, f in list(pending):
                    if now - began >= offset:
                        pending.remove((offset, f))
                        target = next((n for n in f.candidates()
                                       if not (f.claims(n) & claimed)), None)
                        if target is None:
                            self.event(f"#{f.fid} {f.kind}: skipped (nothing free to hit)",
                                       echo=True)
                            continue
                        f.target = target
                        # The disruption rule: a lone fault on the coordinator's node, from a
                        # converged cluster (nothing else moving for reasons of its own).
                        f.coordinator_hit = (len(plan) == 1 and f.kind in DISRUPTION_KINDS
                                             and target == self.coordinator()
                                             and self.converged()[0])
                        f.started_ns = time.monotonic_ns()
                        try:
                            f.start()
                        except Exception as e:  # noqa: BLE001
                            self.result.harness_errors.append(f"{f.describe()}: start: {e!r}")
                            self.event(f"HARNESS ERROR starting {f.describe()}: {e!r}",
                                       echo=True)
                            self.heal(f)
                            continue
                        claimed |= f.claims(target)
                        if f.coordinator_hit:
                            self.coordinator_faults.append(f)
                        active.append((time.monotonic() + f.duration, f))
                        self.result.faults.append(f"{f.kind} {target}")
                        self.event(f"FAULT {f.describe()} for {f.duration}s", echo=True)
                for at, f in list(active):
                    if time.monotonic() >= at:
                        active.remove((at, f))
                        claimed -= f.claims(f.target)
                        self.heal(f)
                time.sleep(0.02)
        finally:
            for _at, f in active:
                self.heal(f)

    def heal(self, f):
        f.healed_ns = time.monotonic_ns()
        try:
            f.heal()
            self.event(f"HEAL  {f.describe()}", echo=True)
        except Exception as e:  # noqa: BLE001
            self.result.harness_errors.append(f"{f.describe()}: heal: {e!r}")
            self.event(f"HARNESS ERROR healing {f.describe()}: {e!r}", echo=True)

    def inject_violation(self):
        """The self-test: the VIP added by hand in a namespace that does not hold it, and a
        slave's state file saying "master", each for 0.3 s; the checker must report both."""
        c = self.cluster
        # On a settled cluster, so that there is a holder and a master to overlap with.
        ok, why = self.wait_converged(CONVERGE_BOUND_S)
        if not ok:
            raise RuntimeError(f"cannot inject: the cluster did not settle ({why})")
        holder = self.observed_holder("vip")
        other = next((n for n in c.nodes if n != holder and n not in self.paused), None)
        node = c.nodes[other]
        t1 = time.monotonic_ns()
        node.exec("ip", "addr", "add", f"{VIP}/32", "dev", "eth0")
        self.event(f"INJECT the VIP added by hand on {other} (holder: {holder})", echo=True)
        time.sleep(0.3)
        node.exec("ip", "addr", "del", f"{VIP}/32", "dev", "eth0")
        t2 = time.monotonic_ns()
        self.event(f"INJECT the VIP removed from {other}", echo=True)
        self.result.injected.append(("vip", self.rel(t1), self.rel(t2)))
        master = self.observed_master()
        slave = next((n for n in c.nodes if n != master and not c.nodes[n].witness), None)
        if master and slave:
            path = os.path.join(c.nodes[slave].run_dir, "hactl", "db.state")
            try:
                with open(path) as f:
                    before = f.read()
            except OSError:
                before = None
            t1 = time.monotonic_ns()
            with open(path, "w") as f:
                f.write("master\n")
            self.event(f"INJECT {slave}'s db.state says master (master: {master})", echo=True)
            time.sleep(0.3)
            try:
                with open(path) as f:
                    still = f.read() == "master\n"
            except OSError:
                still = False
            if still:
                if before is None:
                    os.unlink(path)
                else:
                    with open(path, "w") as f:
                        f.write(before)
            t2 = time.monotonic_ns()
            self.event(f"INJECT {slave}'s db.state restored", echo=True)
            self.result.injected.append(("promoted", self.rel(t1), self.rel(t2)))

    def observed_master(self):
        masters = [n for n, s in self.samplers.items()
                   if s.latest() is not None and s.latest().db == "master"]
        return masters[0] if len(masters) == 1 else None

    # -- convergence
    def wait_converged(self, bound):
        began = time.monotonic()
        since = None
        why = "never checked"
        deadline = began + bound + STABLE_S + 5
        while time.monotonic() < deadline:
            ok, why = self.converged()
            now = time.monotonic()
            if ok:
                since = since or now
                if now - since >= STABLE_S:
                    self.converged_at_s = since - began
                    return since - began <= bound, "converged late" if since - began > bound \
                        else ""
            else:
                since = None
                if now - began > bound:
                    break
            time.sleep(0.25)
        return False, why

    def converged(self):
        c = self.cluster
        eligible = [n for n in c.nodes if not c.nodes[n].witness]
        views = {n: c.status(n, timeout=2) for n in c.nodes}
        if any(v is None for v in views.values()):
            return False, "no status from " + ",".join(n for n, v in views.items() if v is None)
        coords = {v["coordinator"] for v in views.values()}
        if len(coords) != 1 or None in coords or not all(v["quorum"] for v in views.values()):
            return False, "coordinators " + ", ".join(
                f"{n}:{v['coordinator']}{'' if v['quorum'] else ' (no quorum)'}"
                for n, v in views.items())
        now = time.monotonic_ns()
        latest = {n: s.latest() for n, s in self.samplers.items()}
        if any(r is None or now - r.e2 > 1e9 for r in latest.values()):
            return False, "samplers not current"
        vip = [n for n, r in latest.items() if r.vip]
        masters = [n for n, r in latest.items() if r.db == "master"]
        slaves = [n for n, r in latest.items() if r.db == "slave"]
        app = [n for n, r in latest.items() if r.app]
        seen = f"observed vip@{vip} masters@{masters} slaves@{slaves} app@{app}"
        if len(vip) != 1 or len(masters) != PROMOTED_MAX or vip != masters[:1] or \
                sorted(masters + slaves) != sorted(eligible) or len(app) != 1 or \
                app[0] not in eligible:
            return False, seen
        for n, v in views.items():
            res = {r["id"]: r for r in v.get("resources", [])}
            want = {"vip": ("started", vip), "app": ("started", app),
                    "db": ("promoted", sorted(eligible))}
            for rid, (state, nodes) in want.items():
                r = res.get(rid)
                if r is None or r["state"] != state or \
                        sorted(r["nodes"]) != nodes:
                    return False, f"{n}'s status: {rid} {r and (r['state'], r['nodes'])}; {seen}"
        return True, ""

    # -- judging
    def analyze(self):
        res = self.result
        runs = {n: s.snapshot() for n, s in self.samplers.items()}
        # The observed changes, into the history.
        for n, rs in runs.items():
            last = None
            for r in rs:
                if last is not None:
                    diffs = []
                    if r.vip != last.vip:
                        diffs.append("vip " + ("added" if r.vip else "removed"))
                    if r.db != last.db:
                        diffs.append(f"db {last.db} -> {r.db}")
                    if r.app != last.app:
                        diffs.append("app " + ("started" if r.app else "stopped"))
                    if diffs:
                        self.event(f"observed {n}: {', '.join(diffs)}", r.b1)
                    if r.flag == "g" and r.b1 - last.e2 > MAX_GAP_S * 1e9:
                        self.event(f"observed {n}: sampling gap of "
                                   f"{(r.b1 - last.e2) / 1e6:.0f} ms", r.b1)
                last = r
        since = getattr(self, "faults_from", None)
        for rule, (prop, limit, text) in RULES.items():
            for t, x, others in first_samples_inside(runs, prop, limit):
                res.violations.append((self.rel(t), rule,
                                       f"{text}: {x} while {', '.join(others)} held it"))
        if since is not None:
            for rule, (prop, _limit, _text) in RULES.items():
                secs, at = longest_outage(runs, prop, since, self.healed_at)
                res.outages[rule] = (secs, self.rel(at))
        for f in self.coordinator_faults:
            end = getattr(f, "healed_ns", time.monotonic_ns()) + int(DISRUPTION_GRACE_S * 1e9)
            for n, rs in runs.items():
                if n == f.target:
                    continue
                for what, prop in KEPT.items():
                    t = taken_down(rs, prop, f.started_ns, end)
                    if t is not None:
                        res.violations.append((self.rel(t), "disruption",
                                               f"{what} taken from {n}, which stayed connected, "
                                               f"during {f.describe()} of the coordinator"))
        nfaults = len(res.faults)
        bound = flap_bound(nfaults)
        if since is not None:
            for rule, (prop, _limit, _text) in RULES.items():
                acts, mv = moves(runs, prop, since, self.initial.get(rule))
                res.counts[rule] = (acts, mv)
                if mv > bound:
                    res.violations.append(
                        (self.rel(time.monotonic_ns()), "flap",
                         f"{rule} moved {mv} times (activations {acts}), bound "
                         f"{bound} = {FLAP_BASE} + {FLAP_PER_FAULT} x {nfaults} faults"))
                if acts > restart_bound(nfaults):
                    res.violations.append(
                        (self.rel(time.monotonic_ns()), "flap",
                         f"{rule} became active {acts} times (moves {mv}), bound "
                         f"{restart_bound(nfaults)} = {RESTART_BASE} + {RESTART_PER_FAULT} x "
                         f"{nfaults} faults"))
        if self.inject:
            for rule, a, b in res.injected:
                hit = [v for v in res.violations if v[1] == rule and a - 0.05 <= v[0] <= b]
                if hit:
                    res.caught.append(rule)
            expected = {r for r, _a, _b in res.injected}
            unexpected = [v for v in res.violations
                          if not any(v[1] == r and a - 0.05 <= v[0] <= b + 1.0
                                     for r, a, b in res.injected)]
            res.passed = expected == set(res.caught) and not unexpected and \
                not res.harness_errors
        else:
            res.passed = not res.violations and not res.harness_errors

    def print_history(self):
        self.say("nemesis: event history (seconds from start):")
        with self.hlock:
            events = sorted(self.history)
        for t, text in events:
            self.say(f"  [{self.rel(t):8.3f}] {text}")

    def report(self):
        res = self.result
        counts = ", ".join(f"{k} {a} activations / {m} moves" for k, (a, m) in res.counts.items())
        self.say(f"nemesis: {len(res.faults)} faults executed; {counts}; bounds "
                 f"{flap_bound(len(res.faults))} moves, {restart_bound(len(res.faults))} "
                 f"activations")
        self.say(f"nemesis: disruption rule watched {len(self.coordinator_faults)} lone "
                 f"fault(s) on the coordinator of a converged cluster: " +
                 (", ".join(f.describe() for f in self.coordinator_faults) or "none"))
        if res.outages:
            self.say("nemesis: longest time with no node (availability, not judged): " +
                     ", ".join(f"{k} {s:.1f} s from {t:.1f}" for k, (s, t) in res.outages.items()))
        if res.converged_after is not None:
            self.say(f"nemesis: converged {res.converged_after:.1f} s after the last heal "
                     f"(bound {CONVERGE_BOUND_S:.0f} s)")
        if self.inject:
            self.say(f"nemesis: injected {[r for r, _a, _b in res.injected]}, the checker "
                     f"caught {res.caught}")
        for t, rule, text in res.violations:
            self.say(f"VIOLATION [{t:8.3f}] {rule}: {text}")
        for e in res.harness_errors:
            self.say(f"HARNESS ERROR: {e}")
        if res.passed:
            if self.show_history:
                self.print_history()
            self.say(f"nemesis: PASS (seed {self.seed})")
            return
        self.say(f"nemesis: FAIL: seed {self.seed}")
        self.say(f"nemesis: reproduce with: {self.command()}")
        self.print_history()
        self.say(f"nemesis: FAIL: seed {self.seed}; reproduce with: {self.command()}")


def parse_plan(text):
    """--plan: waves separated by ";", the faults of a wave by "&"; a fault is
    KIND[/OPTION]@TARGET:SECONDS[+OFFSET], TARGET a node or coordinator, vip, app, master.
    E.g. "hang@app:12&partition@app:8+1.5;oneway/deaf@vip:30" -> [[(kind, option, target,
    seconds, offset)]]."""
    waves = []
    for wave in text.split(";"):
        faults = []
        for item in wave.split("&"):
            m = PLAN_ITEM.fullmatch(item.strip())
            if not m or m["kind"] not in FAULT_KINDS:
                raise ValueError(f"bad --plan item {item.strip()!r} (KIND[/OPTION]@TARGET:"
                                 f"SECONDS[+OFFSET], KIND one of {','.join(FAULT_KINDS)})")
            faults.append((m["kind"], m["option"], m["target"], float(m["seconds"]),
                           float(m["offset"] or 0)))
        waves.append(faults)
    return waves


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=None, help="the schedule's seed (default: random)")
    p.add_argument("--duration", type=float, default=120.0,
                   help="seconds of faults (default 120)")
    p.add_argument("--topology", choices=("3", "2w"), default="3",
                   help="3 nodes, or 2 nodes + a witness (default 3)")
    p.add_argument("--faults", default=",".join(FAULT_KINDS),
                   help="comma-separated fault kinds (default: all: %(default)s)")
    p.add_argument("--inject-violation", action="store_true",
                   help="self-test: add the VIP by hand on a second node and a second master "
                        "mid-run; passes only if the checker reports both")
    p.add_argument("--quiet", action="store_true",
                   help="no live fault log (the history is still printed on a failure)")
    p.add_argument("--plan", default=None,
                   help="a fixed schedule instead of a random one (see parse_plan), e.g. "
                        "'oneway/deaf@vip:30' or 'hang@app:12&partition@app:8+1.5'")
    p.add_argument("--app-timeouts", default="2,3",
                   help="app's monitor and stop timeouts in seconds (default 2,3)")
    p.add_argument("--history", action="store_true",
                   help="print the event history even when the run passes")
    a = p.parse_args(argv)
    kinds = [k for k in a.faults.split(",") if k]
    bad = [k for k in kinds if k not in FAULT_KINDS]
    if bad or not kinds:
        p.error(f"unknown fault kind(s) {bad}; known: {','.join(FAULT_KINDS)}")
    a.kinds = kinds
    try:
        a.plan and parse_plan(a.plan)
        a.app_timeouts = tuple(float(x) for x in a.app_timeouts.split(","))
        assert len(a.app_timeouts) == 2 and min(a.app_timeouts) > 0
    except (ValueError, AssertionError) as e:
        p.error(str(e) or "--app-timeouts: MONITOR,STOP seconds")
    if a.seed is None:
        a.seed = random.SystemRandom().randrange(1, 1 << 31)
    if a.duration <= 0 or a.duration > 24 * 3600:
        p.error("--duration must be in (0, 86400]")
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        print("nemesis: needs root (network namespaces)", file=sys.stderr)
        return 2
    nem = Nemesis(a.seed, a.duration, a.topology, a.kinds, a.inject_violation,
                  verbose=not a.quiet, show_history=a.history, plan=a.plan,
                  app_timeouts=a.app_timeouts)
    res = nem.run()
    if res.harness_errors:
        return 2
    return 0 if res.passed else 1


if __name__ == "__main__":
    sys.exit(main())
