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
    coordinator's node of a converged cluster, anything that ran on another node when it began
    (the VIP, a Stateful instance or its master role, app) stopped before DISRUPTION_GRACE_S
    after the heal: the other nodes stayed connected to a majority, and a change of
    coordinator alone must cost them nothing (taken_down()).
It also prints, without judging it, the longest time each resource ran nowhere.

With --db pgsql, `db` is Debian's PostgreSQL 15 under the unchanged ocf:heartbeat:pgsql agent,
a synchronous promotable clone (test_pgsql.PgNodes) with fencing (fence_netns, replication.py),
and a client writes numbered rows through the VIP all along. A probe in each node's postgres
(its Unix socket, every PG_PERIOD_S) says whether it is a primary and whether it acknowledges a
commit; the checker adds: two primaries accepting writes at one instant (the sandwich rule over
acknowledged probe commits), and, after the last heal, every acknowledged row (the client's and
the probes') on the final primary. A fenced node is powered on again between waves, with the
manual step pgsql asks for where it was the primary (docs/nemesis.md, "PostgreSQL").
Every failure prints the seed, the command that reproduces the schedule, the event history
(faults, observed changes, statuses) and the agents' logs.

Usage (root): python3 tests/integration/nemesis.py [--seed N] [--duration SECONDS]
    [--topology 3|2w] [--db stateful|pgsql] [--faults kill,pause,...] [--inject-violation]
    [--history]
    [--plan 'KIND[/OPTION]@TARGET:SECONDS[+OFFSET]&...;...'] [--app-timeouts MON,STOP]
Exit code: 0 pass, 1 a violation (or, with --inject-violation, the injected ones not caught),
2 the harness itself failed (a fault could not be applied, an exception).
"""

import argparse
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import replication  # noqa: E402
import test_pgsql  # noqa: E402
from netns import SUBNET, Cluster, run  # noqa: E402

VIP = f"{SUBNET}.100"
MS = 1_000_000  # a millisecond in the samplers' nanoseconds


def env_seed(default):
    """A CI test's seed: HACTL_NEMESIS_SEED if set (one seed for all its runs), else default."""
    return int(os.environ.get("HACTL_NEMESIS_SEED", default))


PROMOTED_MAX = 1
FAULT_KINDS = ("kill", "pause", "link", "partition", "oneway", "loss", "delay", "duplicate",
               "hang")
# How often each kind is drawn (relative).
FAULT_WEIGHTS = {"kill": 3, "pause": 2, "link": 2, "partition": 3, "oneway": 2, "loss": 2,
                 "delay": 2, "duplicate": 1, "hang": 2}
# Only in a --plan, never drawn: `tcp`, every TCP segment between the node and the others
# dropped both ways, its UDP (hactl) untouched: a path-MTU or firewall black hole, which cuts
# postgres's replication and the client but not the cluster's membership.
PLAN_ONLY_KINDS = ("tcp",)
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

DBS = ("stateful", "pgsql")
# --db pgsql. The probe in each node's postgres: one sample every PG_PERIOD_S (a role query,
# and on a primary a probe row committed), a commit not acknowledged within PG_WAIT_S is
# "blocked" (and waited for again by the next samples); two samples further apart than
# PG_MAX_GAP_S show nothing about the time between them.
PG_PERIOD_S = 0.05
PG_WAIT_S = 0.25
PG_MAX_GAP_S = 1.0
# After the last heal, the worst case seen: a pgsql start that cannot succeed holds every
# promotion for its timeout (60 s: docs/nemesis.md, PostgreSQL finding 4), then nothing is
# promotable and the operator waits PG_STALL_S (30 s) to start the last primary again, pgsql
# needs three monitors 2 s apart to promote it, the other standby cannot follow and gets a
# fresh copy after PG_LAG_S (15 s), and pgsql takes a few monitors to call it synchronous:
# about 130 s. See docs/nemesis.md for the times measured.
PG_CONVERGE_BOUND_S = 150.0
# A standby that has not streamed from the primary for this long, though its agent runs, gets
# the operator's fresh copy (tend()).
PG_LAG_S = 15.0
# No primary for this long, every node up with quorum and no standby with a positive promotion
# score (pgsql promotes none whose data may be stale): the operator starts the last primary
# again, its lock removed and its data kept (tend()).
PG_STALL_S = 30.0
# The roles the probe reports (PG_SAMPLER); "slow" and "error" say nothing about the role.
PG_PRIMARY = ("write", "blocked")
PG_RUNNING = ("standby", "write", "blocked")
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


def pgsql_resources_yaml(names, app_script, monitor_timeout=2.0, stop_timeout=3.0):
    """--db pgsql: test_pgsql's resources (the pgsql clone, the vip that follows its promoted
    instance, the orders), with `app` as above beside them. Fencing is added by
    replication.write_config."""
    pg = test_pgsql.resources(list(names))
    at = pg.index("\nclones:\n")
    return pg[:at] + f"""
  - id: app
    type: exec:{app_script}
    ops: {{monitor: {{interval: 1s, timeout: {monitor_timeout:g}s}}, start: {{timeout: 3s}},
          stop: {{timeout: {stop_timeout:g}s}}}}
    meta: {{migration_threshold: 2, failure_timeout: 15s}}""" + pg[at:]


# ---------------------------------------------------------------------------- sampling

# Runs in a node's namespace (ip netns exec, the host's mount namespace: the node's private
# /run is read at its host path). Each sample is bracketed by two CLOCK_MONOTONIC readings
# (b, e): what it saw was true at some instant in [b, e]. Consecutive samples with the same
# value form a run, printed as "FLAG VALUE B1 E1 B2 E2" (first and last sample) when the value
# changes (FLAG v for the new run), after a gap longer than max_gap (g), and every `flush`
# seconds (the next run then starts at the last sample printed: c). VALUE is
# "VIP,DBSTATE,APP": 1/0, the state file's word ("-": no file), 1/0.
# With four more arguments (--db pgsql, where a fence kills every process in the node's
# namespace), it runs outside the namespaces with its netlink socket opened inside (argv[8],
# /run/netns/NS), and VALUE gains ",OFF": 1 while the node is powered off, i.e. the fence agent's
# log (argv[9]) has more "end"s of an off or reboot of the node's plug (argv[10]) than the
# harness has booted it since (the count in argv[11]). OFF is read first in each sample: the
# harness removes what a reboot loses (the VIP, /run/hactl) before it counts a boot.
# What both samplers share (prepended to each script): a run-length fold of samples. A run is
# [FLAG, VALUE, B1, E1, B2, E2]; emit() prints one, fold() takes one sample (value v, seen from
# `since` or b to e) and returns the run under way and when it was last printed. The scripts
# define max_gap and flush (nanoseconds) before they sample.
RUN_FOLD = r"""
def emit(r):
    sys.stdout.write("%s %s %d %d %d %d\n" % tuple(r))
    sys.stdout.flush()

def fold(cur, last_flush, v, since, b, e):
    if cur is None:
        return ["g", v, since, e, b, e], b
    if b - cur[4] > max_gap:
        emit(cur)
        return ["g", v, since, e, b, e], b
    if v != cur[1]:
        emit(cur)
        return ["v", v, since, e, b, e], b
    if b - last_flush > flush:
        emit(cur)
        cur, last_flush = ["c", v, cur[4], cur[5], cur[4], cur[5]], b
    cur[4], cur[5] = b, e
    return cur, last_flush
"""

SAMPLER = RUN_FOLD + r"""
import os, signal, socket, struct, sys, time
vip = socket.inet_aton(sys.argv[1])
db, app = sys.argv[2], sys.argv[3]
period, max_gap, flush = float(sys.argv[4]), int(float(sys.argv[5]) * 1e9), \
    int(float(sys.argv[6]) * 1e9)
deadline = time.monotonic_ns() + int(float(sys.argv[7]) * 1e9)
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
outside = len(sys.argv) > 8
if outside:
    import ctypes, json
    libc = ctypes.CDLL(None, use_errno=True)
    home, there = os.open("/proc/self/ns/net", os.O_RDONLY), os.open(sys.argv[8], os.O_RDONLY)
    if libc.setns(there, 0x40000000) != 0:  # CLONE_NEWNET
        raise OSError(ctypes.get_errno(), "setns " + sys.argv[8])
nl = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, 0)
nl.bind((0, 0))
if outside:
    if libc.setns(home, 0x40000000) != 0:
        raise OSError(ctypes.get_errno(), "setns back")
    os.close(home)
    os.close(there)
seq = 0
power = {"pos": 0, "rest": b"", "offs": 0, "boots": 0, "key": None}

def powered_off():
    try:
        size = os.stat(sys.argv[9]).st_size
    except OSError:
        size = 0
    if size > power["pos"]:
        with open(sys.argv[9], "rb") as f:
            f.seek(power["pos"])
            lines = (power["rest"] + f.read(size - power["pos"])).split(b"\n")
        power["pos"] = size
        power["rest"] = lines.pop()
        for line in lines:
            try:
                ev = json.loads(line)
                a = ev["args"]
            except (ValueError, KeyError, TypeError):
                continue
            if ev.get("event") == "end" and a.get("plug") == sys.argv[10] and \
                    a.get("action") in ("off", "reboot"):
                power["offs"] += 1
    try:
        st = os.stat(sys.argv[11])
        key = (st.st_ino, st.st_mtime_ns, st.st_size)
    except OSError:
        key = None
    if key != power["key"]:
        power["key"] = key
        try:
            with open(sys.argv[11]) as f:
                power["boots"] = int(f.read().strip() or 0)
        except (OSError, ValueError):
            pass
    return power["offs"] > power["boots"]

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

cur = None
last_flush = 0
while not stop and time.monotonic_ns() < deadline:
    b = time.monotonic_ns()
    if outside:
        off = powered_off()
        v = "%d,%s,%d,%d" % (has_vip(), word(db), os.path.exists(app), off)
    else:
        v = "%d,%s,%d" % (has_vip(), word(db), os.path.exists(app))
    e = time.monotonic_ns()
    cur, last_flush = fold(cur, last_flush, v, b, b, e)
    time.sleep(max(0.0, period - (time.monotonic_ns() - b) / 1e9))
if cur is not None:
    emit(cur)
"""


class Run:
    """A run of consecutive samples of one namespace with one value."""
    __slots__ = ("flag", "vip", "db", "app", "off", "b1", "e1", "b2", "e2")

    def __init__(self, flag, value, b1, e1, b2, e2):
        self.flag = flag
        vip, self.db, app, *off = value.split(",")
        self.vip, self.app, self.off = vip == "1", app == "1", off == ["1"]
        self.b1, self.e1, self.b2, self.e2 = b1, e1, b2, e2

    @classmethod
    def parse(cls, line):
        f = line.split()
        return cls(f[0], f[1], *(int(x) for x in f[2:6]))


class NodeSampler:
    """The sampler process of one namespace and the runs it printed. With `power` (the fence
    agent's log, the node's plug, the file counting the harness's boots of it: --db pgsql), it
    runs outside the namespace, which a fence empties, and reports whether the node is off."""

    def __init__(self, cluster, name, deadline_s, power=None):
        node = cluster.nodes[name]
        self.name = name
        self.runs = []
        self.lock = threading.Lock()
        hactl_run = os.path.join(node.run_dir, "hactl")
        args = [VIP, os.path.join(hactl_run, "db.state"), os.path.join(hactl_run, "app.running"),
                str(SAMPLE_PERIOD_S), str(MAX_GAP_S), "0.25", str(deadline_s)]
        cmd = ["ip", "netns", "exec", node.ns, "python3", "-c", SAMPLER] + args
        if power is not None:
            cmd = ["python3", "-c", SAMPLER] + args + [f"/run/netns/{node.ns}", *power]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True)
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


# --db pgsql: the probe of one node's postgres, run outside the namespaces with Debian's python
# (psycopg2), through the node's Unix socket (its private /run/postgresql at its host path): so
# it sees the node's own postgres whatever the network faults do, and a fence, which kills every
# process in the namespace, does not kill it. One asynchronous connection, kept while it works.
# Each sample, bracketed by CLOCK_MONOTONIC readings: `select pg_is_in_recovery()`, and on a
# primary a probe row committed (`insert into hactl_probe`, autocommit, synchronous_commit as
# the server has it). The sample's ROLE: down (no connection), error (a query failed), slow (no
# answer within `wait`), standby, write (the probe's commit was acknowledged within the sample's
# window), blocked (not acknowledged within `wait`: the next samples wait for that same commit,
# and never send another; its acknowledgement, when it comes, is a write sample whose window
# starts at the previous sample's start). Runs printed as SAMPLER does ("FLAG ROLE B1 E1 B2
# E2"), and each acknowledged probe as "a N B E" (row N of this node, acknowledged within
# [B, E]). A commit whose wait is cancelled can be reported as committed by PostgreSQL (with a
# warning): the probe never cancels one, it only stops waiting when it stops.
PG_SAMPLER = RUN_FOLD + r"""
import select, signal, sys, time
import psycopg2
from psycopg2 import extensions
node, sockdir = sys.argv[1], sys.argv[2]
period, wait = float(sys.argv[3]), float(sys.argv[4])
max_gap, flush = int(float(sys.argv[5]) * 1e9), int(float(sys.argv[6]) * 1e9)
deadline = time.monotonic_ns() + int(float(sys.argv[7]) * 1e9)
stop = []
signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
st = {"conn": None, "cur": None, "pending": None, "n": 0}

def drive(until):
    conn = st["conn"]
    while True:
        state = conn.poll()
        if state == extensions.POLL_OK:
            return True
        left = until - time.monotonic()
        if left <= 0:
            return False
        if state == extensions.POLL_READ:
            select.select([conn.fileno()], [], [], left)
        else:
            select.select([], [conn.fileno()], [], left)

def close():
    if st["conn"] is not None:
        try:
            st["conn"].close()
        except Exception:
            pass
    st.update(conn=None, cur=None, pending=None)

def sample():
    until = time.monotonic() + wait
    try:
        if st["conn"] is None:
            st["conn"] = psycopg2.connect(host=sockdir, port=5432, user="postgres",
                                          dbname="postgres", async_=1,
                                          application_name="hactl-nemesis-probe")
            if not drive(until):
                close()
                return "down", None
            st["cur"] = st["conn"].cursor()
        cur = st["cur"]
        if st["pending"] is None:
            cur.execute("select pg_is_in_recovery()")
            st["pending"] = "role"
        if st["pending"] == "role":
            if not drive(until):
                return "slow", None
            st["pending"] = None
            if cur.fetchone()[0]:
                return "standby", None
            st["n"] += 1
            cur.execute("insert into hactl_probe (node, n) values (%s, %s)", (node, st["n"]))
            st["pending"] = "probe"
        if not drive(until):
            return "blocked", None
        st["pending"] = None
        return "write", st["n"]
    except psycopg2.OperationalError:
        close()
        return "down", None
    except psycopg2.Error:
        close()
        return "error", None

cur = None
last_flush = 0
prev_b = None
while not stop and time.monotonic_ns() < deadline:
    b = time.monotonic_ns()
    carried = st["pending"] == "probe"
    v, n = sample()
    e = time.monotonic_ns()
    since = prev_b if carried and prev_b is not None else b
    prev_b = b
    if n is not None:
        sys.stdout.write("a %d %d %d\n" % (n, since, e))
        sys.stdout.flush()
    cur, last_flush = fold(cur, last_flush, v, since, b, e)
    time.sleep(max(0.0, period - (time.monotonic_ns() - b) / 1e9))
if cur is not None:
    emit(cur)
close()
"""


class PgRun:
    """A run of consecutive probe samples of one node's postgres with one ROLE."""
    __slots__ = ("flag", "role", "b1", "e1", "b2", "e2")

    def __init__(self, flag, role, b1, e1, b2, e2):
        self.flag, self.role = flag, role
        self.b1, self.e1, self.b2, self.e2 = b1, e1, b2, e2

    @classmethod
    def parse(cls, line):
        f = line.split()
        return cls(f[0], f[1], *(int(x) for x in f[2:6]))


def settled(runs):
    """Runs whose "slow" and "error" samples (they say nothing about the role) take the role of
    the run before: for counting moves and for the disruption rule, where a probe that was slow
    once on a loaded machine must not count as a stop. Not for the rules on writes."""
    out, last = [], "down"
    for r in runs:
        role = last if r.role in ("slow", "error") else r.role
        out.append(PgRun(r.flag, role, r.b1, r.e1, r.b2, r.e2))
        last = role
    return out


class PgSampler:
    """The probe process of one node's postgres (PG_SAMPLER): its runs and acknowledged probe
    rows."""

    def __init__(self, cluster, name, deadline_s):
        node = cluster.nodes[name]
        self.name = name
        self.runs = []
        self.acks = []  # (n, b, e): probe row n acknowledged within [b, e]
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            [replication.SYSTEM_PYTHON, "-c", PG_SAMPLER, name,
             os.path.join(node.run_dir, "postgresql"), str(PG_PERIOD_S), str(PG_WAIT_S),
             str(PG_MAX_GAP_S), "0.25", str(deadline_s)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                if line.startswith("a "):
                    ack = tuple(int(x) for x in line.split()[1:4])
                    with self.lock:
                        self.acks.append(ack)
                    continue
                r = PgRun.parse(line)
            except (ValueError, IndexError):
                continue
            with self.lock:
                self.runs.append(r)

    latest = NodeSampler.latest
    snapshot = NodeSampler.snapshot
    close = NodeSampler.close

    def acked(self):
        with self.lock:
            return list(self.acks)


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

# --db pgsql. Each rule reads the runs of one kind of sampler: "node" (NodeSampler) or "pg"
# (PgSampler). A node that is powered off (fenced, not yet booted again by the harness) holds
# nothing: its namespace keeps the VIP and /run/hactl/app.running, as a dead host's NIC and disk
# would, but nobody can reach them, and the boot removes them.
PG_RULES = {
    "vip": ("node", lambda r: r.vip and not r.off, 1,
            f"the VIP {VIP} held by two powered nodes at once"),
    "writes": ("pg", lambda r: r.role == "write", 1,
               "two postgres primaries accepting writes (a probe commit acknowledged) at once"),
    "app": ("node", lambda r: r.app and not r.off, 1,
            "app (a plain primitive) running on two powered nodes at once"),
}
# Moves and activations: of the VIP, of the primary role (postgres out of recovery), of app.
PG_MOVES = {
    "vip": ("node", PG_RULES["vip"][1]),
    "primary": ("pg", lambda r: r.role in PG_PRIMARY),
    "app": ("node", PG_RULES["app"][1]),
}
# The disruption rule.
PG_KEPT = {
    "vip": ("node", PG_RULES["vip"][1]),
    "postgres running": ("pg", lambda r: r.role in PG_RUNNING),
    "postgres primary": ("pg", lambda r: r.role in PG_PRIMARY),
    "app": ("node", PG_RULES["app"][1]),
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

# Run in a namespace (--db pgsql): checksum offload and segmentation offload off on the devices
# named, through the ethtool ioctl (no ethtool here). A veth hands on frames with unfinished TCP
# checksums and TCP super-frames of up to 64 KB (the kernel would finish and cut them on a real
# NIC); the relay above reads them with a packet socket, and the copies it sends are dropped (a
# bad checksum) or cannot be sent at all (larger than the MTU): TCP through a loss, delay or
# duplicate fault would be cut, not impaired. hactl's datagrams are UDP, whose checksum the
# relay clears; postgres's replication and the client are TCP. With these off, the kernel hands
# on finished frames of at most the MTU.
OFFLOAD_OFF = r"""
import ctypes, errno, fcntl, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for dev in sys.argv[1:]:
    # ETHTOOL_STXCSUM, ETHTOOL_STSO, ETHTOOL_SGSO, ETHTOOL_SGRO
    for cmd in (0x17, 0x1f, 0x24, 0x2c):
        value = ctypes.create_string_buffer(struct.pack("II", cmd, 0))
        try:
            fcntl.ioctl(s.fileno(), 0x8946, struct.pack("16sP", dev.encode(),
                                                        ctypes.addressof(value)))
        except OSError as e:
            if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):
                raise
"""


def offload_off(ns, *devs):
    run("ip", "netns", "exec", ns, "python3", "-c", OFFLOAD_OFF, *devs)


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
                "master": self.nem.observed_master,
                "sync": self.nem.observed_sync,
                "async": self.nem.observed_async}.get(self.forced, lambda: self.forced)()
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
        pool = [n for n in pool if not self.nem.is_off(n)]
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
        self.undo.append(lambda: self.nem.restart_agent(n))

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
        self.undo.append(lambda: self.nem.link_up(n))

    def _nft_drop(self, ns_name, sources, match=""):
        table = f"nemesis{self.fid}"
        cmds = [f"add table inet {table}",
                f"add chain inet {table} input {{ type filter hook input priority -10 ; }}"]
        cmds += [f"add rule inet {table} input {match}ip saddr {src} drop" for src in sources]
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

    def _start_tcp(self):
        c, n = self.nem.cluster, self.target
        others = [m for m in c.nodes if m != n]
        self._nft_drop(n, [c.nodes[m].ip for m in others] + [f"{c.subnet}.250"],
                       "meta l4proto tcp ")
        for m in others:
            self._nft_drop(m, [c.nodes[n].ip], "meta l4proto tcp ")
        self.detail = "TCP to and from the others dropped, UDP not"

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
        # --db pgsql
        self.rows = {}  # figures of the final check: acknowledged, lost, ...
        self.manual_steps = []  # (t_s, text): what the harness did as the operator
        self.notes = []  # findings printed, not judged


class PgCluster(Cluster):
    """--db pgsql: the pgsql agent starts postgres with pg_ctl, which daemonizes it: it
    outlives its agent, and would keep a deleted namespace alive. So the cleanup stops the
    agents first (nothing starts postgres again), then kills every process left in the
    namespaces this cluster created (all started by the nemesis or its agents: postgres, the
    client, relays), by PID, before the namespaces and the directory go."""

    def cleanup(self):
        if not self.cleaned:
            try:
                replication.stop_agents(self)
                for _attempt in range(10):
                    left = []
                    for ns in self.created_ns:
                        r = run("ip", "netns", "pids", ns, check=False)
                        left += [int(p) for p in r.stdout.split()]
                    if not left:
                        break
                    replication.kill(left)
                    time.sleep(0.2)
            except Exception:  # noqa: BLE001 (the namespaces must go whatever happened)
                traceback.print_exc()
        super().cleanup()


class Nemesis:
    def __init__(self, seed, duration, topology="3", kinds=FAULT_KINDS, inject=False,
                 out=sys.stdout, verbose=True, show_history=False, plan=None,
                 app_timeouts=(2.0, 3.0), db="stateful", keep=None):
        if db not in DBS:
            raise ValueError(f"db {db!r}: one of {DBS}")
        if db == "pgsql" and topology != "3":
            raise ValueError("--db pgsql runs on topology 3 (pgsql's node_list, 3 copies)")
        self.db = db
        self.keep = keep
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
        self.started = []  # start of every fault executed (ns), for the end of those windows
        self.result = Result()
        self.cluster = None
        self.t0 = None
        self.stop = threading.Event()
        # --db pgsql
        self.pg = None  # test_pgsql.PgNodes
        self.client = None  # replication.Client
        self.pg_samplers = {}
        self.boots = {}  # node: how often the harness booted it after a fence
        self.needs_copy = set()  # fenced or demoted primaries waiting for the manual step
        self.stuck_since = {}
        self.lag_since = {}
        self.lag_primary = None
        self.stall_since = None
        self.cleanup_at = {}
        self.fresh = set()  # nodes whose data the harness fixed: their failures are cleaned up
        self.touched = []  # (node, t_ns): the harness acted on it as the operator
        self.injected_row = None
        self.injected_primary = None  # (node, from_ns, to_ns)
        self.injected_losses = []  # violations that the injected second primary explains

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
        if self.db != "stateful":
            args += ["--db", self.db]
        return " ".join(args)

    # -- observing
    def coordinator(self):
        coords = [v.get("coordinator") for n, v in self.views.items()
                  if v and v.get("quorum") and n not in self.paused]
        coords = [c for c in coords if c]
        return max(set(coords), key=coords.count) if coords else None

    def observed_holder(self, what):
        """Where the VIP or app runs now, from the samplers (None: nowhere or several). A
        powered-off node holds nothing."""
        held = []
        for n, s in self.samplers.items():
            r = s.latest()
            if r is not None and not r.off and (r.vip if what == "vip" else r.app):
                held.append(n)
        return held[0] if len(held) == 1 else None

    def note_guard(self, name):
        """Remember the agent's children (its guard) before it is killed: they outlive it for
        a while, and are killed at the end if still there."""
        node = self.cluster.nodes[name]
        if self.cluster.alive(name):
            for pid in Cluster._children(node.proc.pid):
                self.guard_pids.append(pid)

    # -- --db pgsql: power, fencing and the operator's steps
    def plug(self, name):
        node = self.cluster.nodes[name]
        return f"{node.ns}/{node.switch_port}"

    def power_file(self, name):
        return os.path.join(self.cluster.tmp, f"boots-{name}")

    def fence_view(self):
        """{node: [offs, in_flight]}: how often the fence agent's log says the node was powered
        off (an off or reboot ended), and whether one has begun and not ended."""
        view = {n: [0, False] for n in self.cluster.nodes}
        by_plug = {self.plug(n): n for n in self.cluster.nodes}
        try:
            with open(os.path.join(self.cluster.tmp, "fence.log")) as f:
                lines = f.read().splitlines()
        except OSError:
            lines = []
        for line in lines:
            try:
                ev = json.loads(line)
                a = ev["args"]
            except (ValueError, KeyError, TypeError):
                continue  # a line being written
            n = by_plug.get(a.get("plug"))
            if n is None or a.get("action") not in ("off", "reboot"):
                continue
            view[n][1] = ev.get("event") == "begin"
            view[n][0] += ev.get("event") == "end"
        return view

    def is_off(self, name, view=None):
        """Fenced and not booted again since (--db pgsql; never with Stateful)."""
        if self.db != "pgsql":
            return False
        view = view or self.fence_view()
        return view[name][0] > self.boots.get(name, 0)

    def restart_agent(self, name):
        """The heal of a kill: its agent started again, unless its node was fenced meanwhile:
        then it is off, and tend() boots it."""
        if self.is_off(name):
            self.event(f"{name} was fenced: left off until the harness boots it", echo=True)
            return
        self.cluster.start(name)

    def link_up(self, name):
        if self.is_off(name):
            self.event(f"{name} was fenced: its port stays down until the harness boots it",
                       echo=True)
            return
        self.cluster.link_up(name)

    def step(self, text, node=None):
        """What the harness does as the operator, in the history and the report; the node it
        touched is left out of the disruption rule at that time."""
        self.result.manual_steps.append((self.rel(time.monotonic_ns()), text))
        if node is not None:
            self.touched.append((node, time.monotonic_ns()))
        self.event(f"OPERATOR {text}", echo=True)

    def boot(self, name):
        """A fenced node powered on again. First what a reboot loses: any process our heals
        started there, the VIP on its NIC and /run/hactl (as test_pair_fencing.boot; /run/pg
        stands for the disk and stays); then the boot counted (the samplers see the node on),
        its port up. Its agent is started by the caller, after the manual step if any."""
        c, node = self.cluster, self.cluster.nodes[name]
        if c.alive(name):
            c.kill(name)
        left = [int(p) for p in run("ip", "netns", "pids", node.ns, check=False).stdout.split()]
        replication.kill(left)
        run("ip", "-n", node.ns, "addr", "del", f"{VIP}/24", "dev", "eth0", check=False)
        run_hactl = os.path.join(node.run_dir, "hactl")
        for f in os.listdir(run_hactl):
            path = os.path.join(run_hactl, f)
            if os.path.isfile(path) and not os.path.islink(path):
                os.unlink(path)
        self.boots[name] = self.boots.get(name, 0) + 1
        tmp = self.power_file(name) + ".new"
        with open(tmp, "w") as f:
            f.write(f"{self.boots[name]}\n")
        os.replace(tmp, self.power_file(name))
        c.link_up(name)

    def manual_step(self, name, primary):
        """docs/replication.md, step 6, for a node whose postgres lost its primary role
        uncleanly (pgsql's lock file kept): its agent stopped, its data replaced by a fresh copy
        of the primary's, the lock removed, its agent started. Done again from the copy if it
        fails midway (needs_copy is cleared only at the end)."""
        c, pg = self.cluster, self.pg
        if c.alive(name):
            c.kill(name, signal.SIGTERM)
            self.step(f"{name}: agent stopped (SIGTERM) for the manual step", name)
        if pg.postmaster(name):
            # Its agent did not stop it (a standby that could not follow stops as it runs).
            pg.as_postgres(f"{test_pgsql.PGBIN}/pg_ctl", "-D", pg.data(name), "-m", "fast",
                           "-w", "stop", ns=c.nodes[name].ns)
            self.step(f"{name}: postgres stopped (pg_ctl stop -m fast)", name)
        began = time.monotonic()
        pg.fresh_copy(name, primary)
        locked = os.path.exists(pg.lock(name))
        if locked:
            os.unlink(pg.lock(name))
        self.needs_copy.discard(name)
        self.lag_since.pop(name, None)
        self.cleanup_at.pop(name, None)
        self.step(f"{name}: {'PGSQL.lock removed, ' if locked else ''}data copied afresh from "
                  f"{primary} (pg_basebackup, {time.monotonic() - began:.1f} s)", name)
        c.start(name)
        self.fresh.add(name)
        self.step(f"{name}: agent started", name)

    def stuck(self, name, primary):
        """A running node whose postgres is stopped with pgsql's lock kept, for 3 s, while
        another node is the primary: a primary demoted uncleanly (its instance cannot start
        until the operator steps in)."""
        c, pg = self.cluster, self.pg
        if name == primary or not c.alive(name) or pg.postmaster(name) or \
                not os.path.exists(pg.lock(name)):
            self.stuck_since.pop(name, None)
            return False
        since = self.stuck_since.setdefault(name, time.monotonic())
        return time.monotonic() - since >= 3

    def lagging(self, primary):
        """Nodes whose agent runs but whose postgres has not been streaming from the primary
        (pg_stat_replication there) at any check for PG_LAG_S: most often the asynchronous
        standby of a fenced primary, which had received WAL the promoted synchronous standby
        had not ("new timeline forked off current database system timeline before current
        recovery point"): it can follow no one, and pgsql's start of it waits for postgres
        until its timeout. The operator takes a fresh copy, as for the old primary."""
        c, pg = self.cluster, self.pg
        if primary != self.lag_primary:
            self.lag_since.clear()
            self.lag_primary = primary
        if primary is None:
            return []
        out = pg.sql(primary, "select application_name from pg_stat_replication "
                              "where state = 'streaming'")
        if out is None:
            return []
        streaming = set(out.split())
        late = []
        for n in c.nodes:
            if n == primary or n in streaming or n in self.needs_copy or not c.alive(n) or \
                    os.path.exists(pg.lock(n)):
                self.lag_since.pop(n, None)
                continue
            since = self.lag_since.setdefault(n, time.monotonic())
            if time.monotonic() - since >= PG_LAG_S:
                late.append(n)
        return late

    def last_primary(self, names):
        """Of `names`, the node whose postgres the probes saw out of recovery last."""
        seen = {}
        for n in names:
            for r in self.pg_samplers[n].snapshot():
                if r.role in PG_PRIMARY:
                    seen[n] = max(seen.get(n, 0), r.b2)
        return max(seen, key=seen.get) if seen else None

    def stalled(self, flight, off):
        """True once nothing can be promoted for PG_STALL_S: a node waits for the manual step,
        none is primary, no fence runs, no node is off, every node's agent runs (but those
        waiting for the manual step, which the harness has not started: the last primary may be
        one) and answers with quorum under one coordinator, and no standby has a positive
        promotion score (master-pgsql)."""
        c = self.cluster
        running = [n for n in c.nodes if c.alive(n)]
        views = [self.views.get(n) for n in running]
        quiet = self.needs_copy and not flight and not off and \
            self.observed_primary() is None and 2 * len(running) > len(c.nodes) and \
            set(c.nodes) - set(running) <= self.needs_copy and \
            all(v and v.get("quorum") for v in views) and \
            len({v["coordinator"] for v in views}) == 1
        if quiet:
            attrs = replication.attributes(self.cluster, views[0]["coordinator"])
            quiet = not any(test_pgsql.score(v) > 0 for (n, k), v in attrs.items()
                            if k == "master-pgsql" and n not in self.needs_copy)
        if not quiet:
            self.stall_since = None
            return False
        self.stall_since = self.stall_since or time.monotonic()
        return time.monotonic() - self.stall_since >= PG_STALL_S

    def restart_last_primary(self):
        """pgsql promotes no standby whose data may be stale (its data status neither
        STREAMING|SYNC nor LATEST: e.g. the synchronous standby was lost, then the primary
        lost its quorum). The last primary has every acknowledged write: the operator removes
        its lock and keeps its data; pgsql then starts it as a standby, finds its data the
        newest and promotes it, and the others follow it."""
        c, pg = self.cluster, self.pg
        n = self.last_primary(self.needs_copy)
        if n is None:
            return
        self.step(f"no primary and none promotable for {PG_STALL_S:.0f} s: {n}, the last "
                  f"primary, started again with its data (PGSQL.lock removed)", n)
        if os.path.exists(pg.lock(n)):
            os.unlink(pg.lock(n))
        self.needs_copy.discard(n)
        self.stall_since = None
        if not c.alive(n):
            c.start(n)
            self.step(f"{n}: agent started", n)
        # Its failures (a start refused by the lock) cleared, through an agent that answers.
        asked = next(m for m in [self.coordinator(), n] + list(c.nodes) if m and c.alive(m))
        r = c.hactl(asked, "resource", "cleanup", "pgsql", "--node", n)
        self.step(f"hactl resource cleanup pgsql --node {n} (on {asked}): exit {r.returncode}",
                  n)

    def tend(self, bound):
        """--db pgsql, after each wave (and while waiting for convergence): the operator. Boots
        every fenced node; where its postgres was the primary (pgsql's lock), or a running
        node's was demoted uncleanly, does the manual step once a primary accepts writes
        elsewhere; cleans up pgsql's failures on a node where its start failed meanwhile.
        Returns "" when nothing is left to do, else what is left after `bound` seconds."""
        c, pg = self.cluster, self.pg
        deadline = time.monotonic() + bound
        left = ""
        while True:
            view = self.fence_view()
            flight = [n for n in c.nodes if view[n][1]]
            off = [n for n in c.nodes if self.is_off(n, view)]
            primary = self.observed_primary(writing=True)
            stuck = [n for n in c.nodes if n not in off and n not in self.needs_copy and
                     self.stuck(n, primary)]
            late = [n for n in self.lagging(self.observed_primary()) if n not in off]
            self.cleanup_failed(primary)
            if not (flight or off or stuck or late or self.needs_copy):
                return ""
            left = (f"fences in flight {flight}, off {off}, waiting for a fresh copy "
                    f"{sorted(self.needs_copy | set(stuck) | set(late))}, primary {primary}")
            if time.monotonic() >= deadline:
                self.event(f"OPERATOR gave up after {bound:.0f} s: {left}", echo=True)
                return left
            if not flight:
                for n in off:
                    locked = os.path.exists(pg.lock(n))
                    self.boot(n)
                    self.step(f"{n} booted after its fence" +
                              (" (PGSQL.lock: it was the primary)" if locked else ""), n)
                    if locked:
                        self.needs_copy.add(n)
                    else:
                        c.start(n)
                for n in stuck:
                    self.step(f"{n}: postgres stopped with PGSQL.lock (demoted uncleanly): "
                              f"the manual step", n)
                    self.needs_copy.add(n)
                for n in late:
                    self.step(f"{n}: postgres not streaming from {primary} for "
                              f"{PG_LAG_S:.0f} s: a fresh copy", n)
                    self.needs_copy.add(n)
                if self.stalled(flight, off):
                    self.restart_last_primary()
                if primary is not None:
                    for n in sorted(self.needs_copy - {primary}):
                        try:
                            self.manual_step(n, primary)
                        except Exception as e:  # noqa: BLE001 (done again next time round)
                            why = (getattr(e, "stderr", None) or "").strip()[-300:]
                            self.event(f"OPERATOR manual step on {n} failed (done again): "
                                       f"{e!r} {why}", echo=True)
            time.sleep(0.5)

    def cleanup_failed(self, primary):
        """`hactl resource cleanup pgsql --node N` (docs/replication.md, "if it failed to start
        meanwhile") on a node whose data the harness has fixed (self.fresh), where the pgsql
        instance failed meanwhile (its lock, a copy under way), postgres does not run and no
        lock is left; at most once every 10 s per node. Never elsewhere: a start that failed
        for a reason of its own (data on a dead timeline) would only be tried again, and hold
        every promotion for pgsql's start timeout."""
        c, pg = self.cluster, self.pg
        for n in [n for n in self.fresh if pg.postmaster(n)]:
            self.fresh.discard(n)
        view = self.views.get(self.coordinator())
        if primary is None or not view:
            return
        res = {r["id"]: r for r in view.get("resources", [])}
        counts = res.get("pgsql", {}).get("fail_counts", {})
        for n, count in counts.items():
            if n not in self.fresh or not count or not c.alive(n) or pg.postmaster(n) or \
                    os.path.exists(pg.lock(n)) or n in self.needs_copy or \
                    time.monotonic() - self.cleanup_at.get(n, 0) < 10:
                continue
            self.cleanup_at[n] = time.monotonic()
            r = c.hactl(n, "resource", "cleanup", "pgsql", "--node", n)
            self.step(f"hactl resource cleanup pgsql --node {n} (fail count {count}): "
                      f"exit {r.returncode}", n)

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
        c = (PgCluster if self.db == "pgsql" else Cluster)(names=names, witnesses=witnesses)
        self.cluster = c
        script = os.path.join(c.tmp, "app.sh")
        with open(script, "w") as f:
            f.write(APP_SCRIPT)
        os.chmod(script, 0o755)
        if self.db == "pgsql":
            # The whole configuration is written once the cluster is set up (fencing names
            # its namespaces): run_in().
            c.resources_yaml = pgsql_resources_yaml(names, script, *self.app_timeouts)
        else:
            c.resources_yaml = resources_yaml(script, *self.app_timeouts)
        self.t0 = time.monotonic_ns()
        self.say(f"nemesis: seed {self.seed}, {self.duration} s, topology {self.topology}, "
                 f"db {self.db}, faults {','.join(self.kinds)}")
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
                    self.keep_logs()
        finally:
            self.stop.set()
            self.cleanup()
        return self.result

    def run_in(self, c):
        pgsql = self.db == "pgsql"
        if pgsql:
            self.pg = test_pgsql.PgNodes(c)
            replication.write_config(c, c.resources_yaml)
            self.pg.prepare()
            # TCP goes through the impairment relays intact (OFFLOAD_OFF).
            offload_off(c.switch, "br0")
            for node in c.nodes.values():
                offload_off(node.ns, "eth0")
        for n in c.nodes:
            power = (os.path.join(c.tmp, "fence.log"), self.plug(n), self.power_file(n)) \
                if pgsql else None
            self.samplers[n] = NodeSampler(c, n, self.duration + 600, power)
            if pgsql:
                self.pg_samplers[n] = PgSampler(c, n, self.duration + 600)
        c.start_all()
        poller = threading.Thread(target=self._poll_status, daemon=True)
        poller.start()
        self.event("agents started", echo=True)
        ok, why = self.start_pgsql() if pgsql else (True, "")
        if ok:
            ok, why = self.wait_converged(60)
        if not ok:
            self.result.violations.append(
                (self.rel(time.monotonic_ns()), "converge",
                 f"the cluster did not settle within 60 s of its start: {why}"))
        else:
            self.event("settled: faults begin", echo=True)
            self.faults_from = time.monotonic_ns()
            self.initial = {k: self.observed_holder(k) for k in ("vip", "app")}
            self.initial["promoted"] = self.initial["primary"] = self.observed_master()
            self.schedule()
            self.event("last fault healed", echo=True)
            self.healed_at = time.monotonic_ns()
            bound = PG_CONVERGE_BOUND_S if pgsql else CONVERGE_BOUND_S
            ok, why = self.wait_converged(bound)
            if ok:
                self.result.converged_after = self.converged_at_s
                self.event(f"converged {self.converged_at_s:.1f} s after the last heal",
                           echo=True)
            else:
                self.result.violations.append(
                    (self.rel(time.monotonic_ns()), "converge",
                     f"not converged within {bound:.0f} s of the last heal: {why}"))
        if pgsql:
            # No probe in flight from here: every acknowledged probe row is known.
            for s in self.pg_samplers.values():
                err = s.close()
                if err.strip():
                    self.result.harness_errors.append(f"probe {s.name}: {err.strip()}")
            if self.client is not None:
                self.client.close()
                self.check_rows()
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

    def keep_logs(self):
        """--keep-logs DIR: the agents' logs, the fence agent's, postgres's and the event
        history copied there before the cluster's directory goes."""
        if not self.keep:
            return
        c = self.cluster
        os.makedirs(self.keep, exist_ok=True)
        files = [(n.log_path, f"{n.name}.log") for n in c.nodes.values()]
        files += [(os.path.join(n.run_dir, "pg", "postgres.log"), f"{n.name}-postgres.log")
                  for n in c.nodes.values()]
        files += [(os.path.join(c.tmp, "fence.log"), "fence.log")]
        for src, name in files:
            try:
                shutil.copyfile(src, os.path.join(self.keep, name))
            except OSError:
                pass
        with self.hlock:
            events = sorted(self.history)
        with open(os.path.join(self.keep, "history.txt"), "w") as f:
            for t, text in events:
                f.write(f"[{self.rel(t):8.3f}] {text}\n")

    def start_pgsql(self):
        """--db pgsql, once the agents run: pgsql settled (test_pgsql's steady state), the
        probes' table, and the client writing through the VIP."""
        c, pg = self.cluster, self.pg
        try:
            primary = pg.wait_steady(timeout=120)
        except AssertionError:
            return False, f"pgsql did not settle within 120 s: {pg.steady_why()[1]}"
        if pg.sql(primary, "create table if not exists hactl_probe "
                           "(node text, n bigint, primary key (node, n))") is None:
            raise RuntimeError(f"cannot create hactl_probe on {primary}")
        self.client = replication.Client(c, "pgsql", deadline=self.duration + 900)
        deadline = time.monotonic() + 60
        while len(self.client.acked()) < 20 and time.monotonic() < deadline:
            time.sleep(0.1)
        if len(self.client.acked()) < 20:
            return False, "the client got no write acknowledged through the VIP in 60 s"
        self.event(f"pgsql settled: primary {primary}; the client writes through the VIP",
                   echo=True)
        return True, ""

    def check_rows(self):
        """--db pgsql, after the last heal and convergence, the client stopped and no probe in
        flight: every row acknowledged (the client's, through the VIP, and the probes', each on
        its own node) must be on the final primary."""
        res, pg = self.result, self.pg
        now = self.rel(time.monotonic_ns())
        acked = set(self.client.acked())
        probes = {(n, k): (b, e) for n, s in self.pg_samplers.items() for k, b, e in s.acked()}
        res.rows.update(acked=len(acked), failed=len(self.client.fails),
                        probes=len(probes))
        if hasattr(self, "faults_from"):
            res.rows["gap"] = self.client.longest_gap(self.faults_from / 1e9, time.monotonic())
        prims = pg.primaries()
        if len(prims) != 1:
            res.violations.append(
                (now, "lost", f"the acknowledged rows cannot be checked: primaries {prims}"))
            return
        final = prims[0]
        ids = pg.sql(final, "select id from hactl_acked")
        rows = pg.sql(final, "select node || ' ' || n from hactl_probe")
        if ids is None or rows is None:
            raise RuntimeError(f"cannot read the rows on the final primary {final}")
        on = {int(x) for x in ids.split()}
        lost = sorted(acked - on)
        on_probes = {(n, int(k)) for n, k in (line.split() for line in rows.splitlines())}
        lost_probes = sorted(k for k in probes if k not in on_probes)
        res.rows.update(final=final, lost=len(lost), lost_probes=len(lost_probes))
        self.lost_rows = lost
        if lost:
            res.violations.append((now, "lost", f"{len(lost)} of the {len(acked)} rows the "
                                                f"client got acknowledged are not on the final "
                                                f"primary {final}: {lost[:20]}"))
        for node in sorted({n for n, _k in lost_probes}):
            mine = [(k, probes[(n, k)]) for n, k in lost_probes if n == node]
            first, last = self.rel(mine[0][1][0]), self.rel(mine[-1][1][1])
            v = (now, "lost", f"{len(mine)} probe rows acknowledged by {node}'s postgres "
                              f"between {first:.3f} and {last:.3f} s are not on the final "
                              f"primary {final}")
            res.violations.append(v)
            inj = self.injected_primary
            if inj and inj[0] == node and all(inj[1] <= b and e <= inj[2]
                                              for _k, (b, e) in mine):
                self.injected_losses.append(v)
        self.event(f"rows: {len(acked)} acknowledged to the client, {len(lost)} of them "
                   f"missing on {final}; {len(probes)} probe rows acknowledged, "
                   f"{len(lost_probes)} missing", echo=True)

    def cleanup(self):
        if self.client is not None:
            self.client.close()
        for s in list(self.samplers.values()) + list(self.pg_samplers.values()):
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
            if self.db == "pgsql":
                self.tend(PG_CONVERGE_BOUND_S)
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
            if self.db == "pgsql":
                self.tend(PG_CONVERGE_BOUND_S)
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
                        self.started.append(f.started_ns)
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
        slave's state file saying "master", each for 0.3 s; the checker must report both.
        (--db pgsql: inject_pgsql().)"""
        c = self.cluster
        if self.db == "pgsql":
            self.inject_pgsql()
            return
        # On a settled cluster, so that there is a holder and a master to overlap with.
        ok, why = self.wait_converged(CONVERGE_BOUND_S)
        if not ok:
            raise RuntimeError(f"cannot inject: the cluster did not settle ({why})")
        holder = self.observed_holder("vip")
        other = next((n for n in c.nodes if n != holder and n not in self.paused), None)
        self.inject_vip(other, holder)
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

    def inject_vip(self, other, holder):
        """The VIP added by hand on `other` for 0.3 s, while `holder` holds it."""
        node = self.cluster.nodes[other]
        t1 = time.monotonic_ns()
        node.exec("ip", "addr", "add", f"{VIP}/32", "dev", "eth0")
        self.event(f"INJECT the VIP added by hand on {other} (holder: {holder})", echo=True)
        time.sleep(0.3)
        node.exec("ip", "addr", "del", f"{VIP}/32", "dev", "eth0")
        t2 = time.monotonic_ns()
        self.event(f"INJECT the VIP removed from {other}", echo=True)
        self.result.injected.append(("vip", self.rel(t1), self.rel(t2)))

    def inject_pgsql(self):
        """--db pgsql, the self-test: a second primary started by hand, the VIP added by hand
        on a second node, and an acknowledged row deleted; the checker must report the three
        (writes, vip, lost).

        The second primary: a standby that is not the synchronous one (so the real primary
        keeps committing), its node put in maintenance (hactl leaves its instance alone),
        promoted with pg_ctl; held until both primaries' probes have committed after the
        promotion, then stopped (immediate), its data copied afresh from the primary, the node
        back online. Its probe rows, acknowledged on a timeline the final primary never saw,
        are lost too: the end check must report them, and nothing else. The VIP is added on
        that node while its postgres is stopped: anywhere else, the standby there would take
        its own address for the primary's (primary_conninfo names the VIP)."""
        c, pg = self.cluster, self.pg
        ok, why = self.wait_converged(PG_CONVERGE_BOUND_S)
        if not ok:
            raise RuntimeError(f"cannot inject: the cluster did not settle ({why})")
        primary = self.observed_primary(writing=True)
        sync = pg.sync_standbys(primary)
        x = next(n for n in sorted(c.nodes) if n != primary and n not in sync)
        r = c.hactl(x, "node", "maintenance", x)
        if r.returncode != 0:
            raise RuntimeError(f"hactl node maintenance {x}: {r.stdout}{r.stderr}")
        c.wait_until(lambda: x in ((c.status(x) or {}).get("document", {})
                                   .get("maintenance", [])), 10, 0.1, f"{x} in maintenance")
        t1 = time.monotonic_ns()
        pg.as_postgres(f"{test_pgsql.PGBIN}/pg_ctl", "-D", pg.data(x), "-w", "promote",
                       ns=c.nodes[x].ns)
        self.event(f"INJECT {x}'s postgres promoted by hand (primary: {primary}, {x} in "
                   f"maintenance)", echo=True)

        def acked_since(n):
            return sum(1 for _k, b, _e in self.pg_samplers[n].acked() if b > t1)
        c.wait_until(lambda: acked_since(x) >= 5 and acked_since(primary) >= 5, 30, 0.05,
                     f"probe commits on both {x} and {primary}")
        pg.as_postgres(f"{test_pgsql.PGBIN}/pg_ctl", "-D", pg.data(x), "-m", "immediate",
                       "stop", ns=c.nodes[x].ns)
        t2 = time.monotonic_ns()
        self.event(f"INJECT {x}'s postgres stopped", echo=True)
        self.result.injected.append(("writes", self.rel(t1), self.rel(t2)))
        self.injected_primary = (x, t1, t2)
        self.inject_vip(x, primary)
        pg.fresh_copy(x, primary)
        self.fresh.add(x)
        r = c.hactl(x, "node", "online", x)
        if r.returncode != 0:
            raise RuntimeError(f"hactl node online {x}: {r.stdout}{r.stderr}")
        self.event(f"INJECT {x}'s data copied afresh from {primary}, {x} online again",
                   echo=True)
        # The row: one the client got acknowledged, deleted on the primary (and so everywhere).
        row = self.client.acked()[len(self.client.acked()) // 2]
        t = time.monotonic_ns()
        out = pg.sql(primary, f"delete from hactl_acked where id = {row} returning id")
        if not out or out.split()[0] != str(row):
            raise RuntimeError(f"cannot delete row {row} on {primary}")
        self.injected_row = row
        self.event(f"INJECT row {row}, acknowledged to the client, deleted on {primary}",
                   echo=True)
        self.result.injected.append(("lost", self.rel(t), self.rel(t)))

    def observed_master(self):
        """The Stateful master, or with --db pgsql the postgres primary (None: none or
        several), from the samplers."""
        if self.db == "pgsql":
            return self.observed_primary()
        masters = [n for n, s in self.samplers.items()
                   if s.latest() is not None and s.latest().db == "master"]
        return masters[0] if len(masters) == 1 else None

    def observed_sync(self):
        """--db pgsql: the primary's synchronous standby (pg_stat_replication), or None."""
        primary = self.observed_primary() if self.db == "pgsql" else None
        sync = self.pg.sync_standbys(primary) if primary else []
        return sync[0] if sync else None

    def observed_async(self):
        """--db pgsql: a standby streaming from the primary that is not its synchronous one."""
        primary = self.observed_primary() if self.db == "pgsql" else None
        if primary is None:
            return None
        rows = self.pg.sql(primary, "select application_name from pg_stat_replication "
                                    "where sync_state = 'async'")
        return (rows or "").split()[0] if rows else None

    def observed_primary(self, writing=False):
        """The one node whose postgres is out of recovery (and with `writing`, whose latest
        probe commit was acknowledged), from probes of the last 2 s; else None."""
        now = time.monotonic_ns()
        prim = []
        for n, s in self.pg_samplers.items():
            r = s.latest()
            if r is not None and now - r.e2 < 2e9 and \
                    (r.role == "write" if writing else r.role in PG_PRIMARY):
                prim.append(n)
        return prim[0] if len(prim) == 1 else None

    # -- convergence
    def wait_converged(self, bound):
        began = time.monotonic()
        since = None
        why = "never checked"
        deadline = began + bound + STABLE_S + 5
        while time.monotonic() < deadline:
            if self.db == "pgsql":
                left = self.tend(max(0.0, began + bound - time.monotonic()))
                if left:
                    why = f"the operator's steps not done: {left}"
                    break
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

    def agreed_views(self):
        """(every agent's status by node, "") when each answers, names the same coordinator and
        has quorum; else (None, why not)."""
        c = self.cluster
        views = {n: c.status(n, timeout=2) for n in c.nodes}
        if any(v is None for v in views.values()):
            return None, "no status from " + ",".join(n for n, v in views.items() if v is None)
        coords = {v["coordinator"] for v in views.values()}
        if len(coords) != 1 or None in coords or not all(v["quorum"] for v in views.values()):
            return None, "coordinators " + ", ".join(
                f"{n}:{v['coordinator']}{'' if v['quorum'] else ' (no quorum)'}"
                for n, v in views.items())
        return views, ""

    def converged(self):
        if self.db == "pgsql":
            return self.pg_converged()
        c = self.cluster
        eligible = [n for n in c.nodes if not c.nodes[n].witness]
        views, why = self.agreed_views()
        if views is None:
            return False, why
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

    def pg_converged(self):
        """--db pgsql: every agent answers, names the same coordinator and has quorum; no node
        is off; one primary, accepting writes, holds the VIP, and the others are standbys
        (probes); pgsql's steady state (test_pgsql.PgNodes.steady: both standbys streaming, one
        synchronous, pgsql saying so); app on one node; every agent's status says the same."""
        c, pg = self.cluster, self.pg
        views, why = self.agreed_views()
        if views is None:
            return False, why
        now = time.monotonic_ns()
        latest = {n: s.latest() for n, s in self.samplers.items()}
        roles = {n: s.latest() for n, s in self.pg_samplers.items()}
        if any(r is None or now - r.e2 > 1e9 for r in latest.values()) or \
                any(r is None or now - r.e2 > 2e9 for r in roles.values()):
            return False, "samplers not current"
        off = [n for n, r in latest.items() if r.off]
        vip = [n for n, r in latest.items() if r.vip and not r.off]
        app = [n for n, r in latest.items() if r.app and not r.off]
        roles = {n: r.role for n, r in roles.items()}
        prim = [n for n, r in roles.items() if r in PG_PRIMARY]
        seen = f"observed off@{off} vip@{vip} postgres {roles} app@{app}"
        if off or len(vip) != 1 or prim != vip or len(app) != 1 or \
                any(r != "standby" for n, r in roles.items() if n not in prim):
            return False, seen
        wrote = [e for _k, _b, e in self.pg_samplers[prim[0]].acked()[-1:]]
        if not wrote or now - wrote[0] > 2e9:
            return False, f"{prim[0]} acknowledged no probe commit for 2 s; {seen}"
        steady, why = pg.steady_why()
        if steady != prim[0]:
            return False, f"pgsql not steady: {why}"
        for n, v in views.items():
            res = {r["id"]: r for r in v.get("resources", [])}
            want = {"vip": ("started", vip), "app": ("started", app),
                    "pgsql": ("promoted", sorted(c.nodes))}
            for rid, (state, nodes) in want.items():
                r = res.get(rid)
                if r is None or r["state"] != state or sorted(r["nodes"]) != nodes:
                    return False, f"{n}'s status: {rid} {r and (r['state'], r['nodes'])}; {seen}"
        return True, ""

    # -- judging
    def rule_sets(self):
        """(rules, moves, kept, outages) of this mode, each rule with its sampler kind:
        {name: (source, prop, limit, text)}, {name: (source, prop)} x 3."""
        if self.db == "pgsql":
            outages = {k: PG_RULES[k][:2] for k in ("vip", "writes", "app")}
            return PG_RULES, PG_MOVES, PG_KEPT, outages
        rules = {k: ("node", *v) for k, v in RULES.items()}
        plain = {k: ("node", v[0]) for k, v in RULES.items()}
        return rules, plain, {k: ("node", p) for k, p in KEPT.items()}, plain

    def analyze(self):
        res = self.result
        runs = {n: s.snapshot() for n, s in self.samplers.items()}
        pg_runs = {n: s.snapshot() for n, s in self.pg_samplers.items()}
        raw = {"node": runs, "pg": pg_runs}
        steady = {"node": runs, "pg": {n: settled(rs) for n, rs in pg_runs.items()}}
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
                    if r.off != last.off:
                        diffs.append("powered " + ("off (fenced)" if r.off else "on"))
                    if diffs:
                        self.event(f"observed {n}: {', '.join(diffs)}", r.b1)
                    if r.flag == "g" and r.b1 - last.e2 > MAX_GAP_S * 1e9:
                        self.event(f"observed {n}: sampling gap of "
                                   f"{(r.b1 - last.e2) / 1e6:.0f} ms", r.b1)
                last = r
        for n, rs in pg_runs.items():
            last, blocked = None, None
            for r in rs:
                if last is not None and r.role != last.role:
                    if r.role == "blocked" and last.role == "write":
                        blocked = r.b1
                    elif r.role == "write" and last.role == "blocked" and blocked:
                        if r.b1 - blocked > 1e9:
                            self.event(f"observed {n}: postgres commits blocked for "
                                       f"{(r.b1 - blocked) / 1e9:.1f} s", blocked)
                        blocked = None
                    else:
                        blocked = None
                        self.event(f"observed {n}: postgres {last.role} -> {r.role}", r.b1)
                if last is not None and r.flag == "g" and r.b1 - last.e2 > PG_MAX_GAP_S * 1e9:
                    self.event(f"observed {n}: probe gap of {(r.b1 - last.e2) / 1e6:.0f} ms",
                               r.b1)
                last = r
        rules, moving, kept, outages = self.rule_sets()
        since = getattr(self, "faults_from", None)
        for rule, (src, prop, limit, text) in rules.items():
            for t, x, others in first_samples_inside(raw[src], prop, limit):
                res.violations.append((self.rel(t), rule,
                                       f"{text}: {x} while {', '.join(others)} held it"))
        if self.db == "pgsql":
            both = first_samples_inside(pg_runs, lambda r: r.role in PG_PRIMARY, 1)
            for t, x, others in both:
                res.notes.append(f"[{self.rel(t):8.3f}] two postgres out of recovery at once "
                                 f"(not judged: see the writes rule): {x} while "
                                 f"{', '.join(others)}")
        if since is not None:
            for rule, (src, prop) in outages.items():
                secs, at = longest_outage(raw[src], prop, since, self.healed_at)
                res.outages[rule] = (secs, self.rel(at))
        for f in self.coordinator_faults:
            end = getattr(f, "healed_ns", time.monotonic_ns()) + int(DISRUPTION_GRACE_S * 1e9)
            # Up to the next wave's first fault at the latest: what that one takes is its own.
            end = min([end] + [t for t in self.started if t > f.started_ns])
            for what, (src, prop) in kept.items():
                for n, rs in steady[src].items():
                    if n == f.target or any(m == n and f.started_ns <= t <= end
                                            for m, t in self.touched):
                        continue
                    t = taken_down(rs, prop, f.started_ns, end)
                    if t is not None:
                        res.violations.append((self.rel(t), "disruption",
                                               f"{what} taken from {n}, which stayed connected, "
                                               f"during {f.describe()} of the coordinator"))
        nfaults = len(res.faults)
        bound = flap_bound(nfaults)
        if since is not None:
            for rule, (src, prop) in moving.items():
                acts, mv = moves(steady[src], prop, since, self.initial.get(rule))
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
            lost_rows = getattr(self, "lost_rows", None)

            def caused(v, slack):
                """Whether violation v is what an injection made: at its time, or (the rows)
                the row deleted, or the probe rows the second primary acknowledged."""
                if v in self.injected_losses:
                    return True
                if v[1] == "lost" and "the client got" in v[2]:
                    return lost_rows == [self.injected_row]
                return any(v[1] == r and a - 0.05 <= v[0] <= b + slack
                           for r, a, b in res.injected)
            for rule, a, b in res.injected:
                if rule == "lost":
                    hit = self.injected_row in (lost_rows or [])
                else:
                    hit = any(v[1] == rule and a - 0.05 <= v[0] <= b for v in res.violations)
                if hit:
                    res.caught.append(rule)
            expected = {r for r, _a, _b in res.injected}
            unexpected = [v for v in res.violations if not caused(v, 1.0)]
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
        if self.db == "pgsql":
            r = res.rows
            if r:
                gap = f", longest time without one from the first fault on {r['gap']:.1f} s" \
                    if "gap" in r else ""
                self.say(f"nemesis: client: {r.get('acked', 0)} rows acknowledged through the "
                         f"VIP, {r.get('failed', 0)} attempts failed{gap}; on the final primary "
                         f"{r.get('final', '?')}: {r.get('lost', '?')} acknowledged rows "
                         f"missing; probes: {r.get('probes', 0)} rows acknowledged, "
                         f"{r.get('lost_probes', '?')} missing")
            fences = sum(v[0] for v in self.fence_view().values()) if self.cluster else 0
            self.say(f"nemesis: {fences} fence(s) of a node; the harness as the operator: " +
                     ("; ".join(f"[{t:.1f}] {text}" for t, text in res.manual_steps)
                      or "nothing"))
            for note in res.notes:
                self.say(f"nemesis: NOTE {note}")
        self.say(f"nemesis: disruption rule watched {len(self.coordinator_faults)} lone "
                 f"fault(s) on the coordinator of a converged cluster: " +
                 (", ".join(f.describe() for f in self.coordinator_faults) or "none"))
        if res.outages:
            self.say("nemesis: longest time with no node (availability, not judged): " +
                     ", ".join(f"{k} {s:.1f} s from {t:.1f}" for k, (s, t) in res.outages.items()))
        if res.converged_after is not None:
            bound = PG_CONVERGE_BOUND_S if self.db == "pgsql" else CONVERGE_BOUND_S
            self.say(f"nemesis: converged {res.converged_after:.1f} s after the last heal "
                     f"(bound {bound:.0f} s)")
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
    KIND[/OPTION]@TARGET:SECONDS[+OFFSET], TARGET a node or coordinator, vip, app, master (with
    --db pgsql: the primary), sync, async (--db pgsql: the synchronous standby, the other one).
    KIND tcp (in a plan only): the node's TCP to and from the others dropped, its UDP not.
    E.g. "hang@app:12&partition@app:8+1.5;oneway/deaf@vip:30" -> [[(kind, option, target,
    seconds, offset)]]."""
    waves = []
    for wave in text.split(";"):
        faults = []
        for item in wave.split("&"):
            m = PLAN_ITEM.fullmatch(item.strip())
            if not m or m["kind"] not in FAULT_KINDS + PLAN_ONLY_KINDS:
                raise ValueError(f"bad --plan item {item.strip()!r} (KIND[/OPTION]@TARGET:"
                                 f"SECONDS[+OFFSET], KIND one of "
                                 f"{','.join(FAULT_KINDS + PLAN_ONLY_KINDS)})")
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
    p.add_argument("--db", choices=DBS, default="stateful",
                   help="the promotable clone: Debian's Stateful (default), or PostgreSQL "
                        "under the pgsql agent in synchronous mode, with fencing and a client "
                        "(topology 3 only)")
    p.add_argument("--faults", default=",".join(FAULT_KINDS),
                   help="comma-separated fault kinds (default: all: %(default)s)")
    p.add_argument("--inject-violation", action="store_true",
                   help="self-test: add the VIP by hand on a second node and a second master "
                        "mid-run (--db pgsql: a second postgres primary and an acknowledged "
                        "row deleted); passes only if the checker reports exactly those")
    p.add_argument("--quiet", action="store_true",
                   help="no live fault log (the history is still printed on a failure)")
    p.add_argument("--plan", default=None,
                   help="a fixed schedule instead of a random one (see parse_plan), e.g. "
                        "'oneway/deaf@vip:30' or 'hang@app:12&partition@app:8+1.5'")
    p.add_argument("--app-timeouts", default="2,3",
                   help="app's monitor and stop timeouts in seconds (default 2,3)")
    p.add_argument("--keep-logs", metavar="DIR", default=None,
                   help="copy the agents', the fence agent's and postgres's logs and the event "
                        "history into DIR at the end")
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
    if a.db == "pgsql":
        if a.topology != "3":
            p.error("--db pgsql runs on topology 3")
        why = test_pgsql.missing()
        if why:
            p.error(f"--db pgsql: {why}")
    return a


def main(argv=None):
    a = parse_args(sys.argv[1:] if argv is None else argv)
    if os.geteuid() != 0:
        print("nemesis: needs root (network namespaces)", file=sys.stderr)
        return 2
    nem = Nemesis(a.seed, a.duration, a.topology, a.kinds, a.inject_violation,
                  verbose=not a.quiet, show_history=a.history, plan=a.plan,
                  app_timeouts=a.app_timeouts, db=a.db, keep=a.keep_logs)
    res = nem.run()
    if res.harness_errors:
        return 2
    return 0 if res.passed else 1


if __name__ == "__main__":
    sys.exit(main())
