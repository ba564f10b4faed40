"""No false failovers under load (keepalived #211): a 3-node cluster at
default timing (heartbeat 100ms, node_timeout 300ms) running a vip + ocf:heartbeat:Dummy group
keeps its coordinator, its term and its group where they are while stress-ng saturates the CPU
and the disk, first from the coordinator's namespace, then from the group holder's (the group
is moved off the coordinator first if it landed there), with every agent's state directory on
a filesystem whose fsync takes HACTL_LOAD_FSYNC_MS (a FUSE passthrough, slowfs.py) and the disk
stress writing to the filesystem under it, where the agents' logs also go.

The agents' run directories (lease file, lock) are on a tmpfs, as /run is on a real host.

Judged: no term change, no election, stepdown, coordinator change, node down, quorum loss or
lapsed lease in any agent's event history or status samples (every second); no start, stop,
promote or demote anywhere and the group on the same node throughout. Reported: the longest
gap between two datagrams from one node to another as seen on the wire (the switch's ports,
kernel timestamps), heartbeats counted missed by the agents (metrics), CPU busy, stolen and load
average, disk throughput and utilisation, fsyncs that reached the state directories, each
agent's time waiting for a CPU (schedstat), and every stretch of 20 ms or more in which an
agent's loop thread was not waiting in epoll, with what it was doing (an observer process at
SCHED_FIFO 1 samples /proc every 2 ms: running, waiting for a CPU, or blocked in which system
call, with the kernel function when in the disk).

HACTL_LOAD_SECONDS (default 120) is the time under stress, split between the two phases;
HACTL_LOAD_FSYNC_MS (default 1000) the fsync delay; HACTL_LOAD_KEEP=1 keeps the artefacts
(agents' logs, stress-ng output, wire and fsync records) in the printed directory, which is
also kept when the test fails. For diagnosis only: HACTL_LOAD_STRESS=cpu|disk|both,
HACTL_LOAD_RUN_TMPFS=0 (run directories on the stressed filesystem). The agents run at their
default priority (SCHED_RR 10 for the loop thread and the guard, hactl-agent(8)); the printed
summary shows what their loop threads got. Needs root, stress-ng (Debian
package), and for the slow fsync /dev/fuse and python3-fusepy (without them the test says so
and runs with the disk stress only).
Run as root: python3 tests/integration/test_load.py
"""

import atexit
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import ClusterTestCase, cannot_run, main, run  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
SYSTEM_PYTHON = "/usr/bin/python3"  # where Debian's python3-fusepy is importable
LOAD_SECONDS = int(os.environ.get("HACTL_LOAD_SECONDS", "120"))
FSYNC_MS = int(os.environ.get("HACTL_LOAD_FSYNC_MS", "1000"))
# For diagnosis: "cpu", "disk" or "both" (the test); run directories on tmpfs as /run is (1,
# the test) or on the stressed filesystem (0).
STRESS = os.environ.get("HACTL_LOAD_STRESS", "both")
RUN_TMPFS = os.environ.get("HACTL_LOAD_RUN_TMPFS", "1") == "1"
# For diagnosis: run each agent's loop thread at SCHED_RR priority N with SCHED_RESET_ON_FORK
# (what corosync does, and what this test shows the agent needs); 0 (the test): as shipped.
NODE_TIMEOUT_S = 0.3
HEARTBEAT_S = 0.1

GROUP = """
resources:
  - id: web-ip
    type: vip
    params: {address: 10.213.0.100/24, interface: eth0}
    ops: {monitor: {interval: 500ms, timeout: 5s}}
  - id: web-app
    type: ocf:heartbeat:Dummy
    params: {state: /run/hactl/web-app.state}
    ops: {monitor: {interval: 1s, timeout: 5s}, stop: {timeout: 2s}}
groups:
  - id: web
    members: [web-ip, web-app]
"""
RESOURCES = ("web-ip", "web-app")

# Event kinds that are an election or a membership change: none may appear under load.
ELECTION_KINDS = {"election_started", "became_coordinator", "stepped_down", "coordinator_changed",
                  "node_down", "node_up", "quorum_lost", "quorum_gained", "node_restarted",
                  "became_follower", "conductor_started", "conductor_stopped"}
# A lease that ran out: with no_quorum_policy stop, a node holding resources stops them all.
LEASE_KINDS = {"lease_lapsed", "lease_back", "vip_guard_deadline", "guard_stops_resources"}
MOVE_ACTIONS = {"start", "stop", "promote", "demote"}

# A sniffer in the switch namespace: one packet socket per switch port, frames coming in from
# the node (sent by it), UDP to the agents' port; prints "realtime_ns sender_index dst_ip" with
# the kernel's receive timestamp, so its own scheduling under load does not matter.
SNIFFER = r"""
import select, socket, struct, sys, time
ports, deadline = sys.argv[1].split(","), time.monotonic() + float(sys.argv[2])
SO_TIMESTAMPNS, PACKET_OUTGOING = 35, 4
socks = {}
for i, p in enumerate(ports):
    # ETH_P_ALL: a tap for one protocol only sees a bridge port's frames after the bridge took
    # them (never).
    s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))
    s.bind((p, 3))
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    socks[s] = i
print("ready", flush=True)
while time.monotonic() < deadline:
    for s in select.select(list(socks), [], [], 1.0)[0]:
        data, anc, _flags, addr = s.recvmsg(256, 64)
        if addr[1] != 0x0800 or addr[2] == PACKET_OUTGOING or len(data) < 28 or data[9] != 17:
            continue
        ihl = (data[0] & 15) * 4
        if len(data) < ihl + 4 or struct.unpack("!H", data[ihl + 2:ihl + 4])[0] != 5405:
            continue
        t = time.time_ns()
        for level, kind, payload in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= 16:
                sec, nsec = struct.unpack("qq", payload[:16])
                t = sec * 1_000_000_000 + nsec
        print(t, socks[s], socket.inet_ntoa(data[16:20]), flush=True)
"""

METRICS_GET = ("import urllib.request;"
               "print(urllib.request.urlopen('http://127.0.0.1:9405/metrics', timeout=5)"
               ".read().decode())")

def scrape_metrics(c, name):
    """Node `name`'s Prometheus samples, from inside its namespace: {"name{labels}": value}."""
    r = c.nodes[name].exec("python3", "-c", METRICS_GET, check=False, timeout=15)
    out = {}
    for line in r.stdout.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        key, value = line.rsplit(" ", 1)
        try:
            out[key] = float(value)
        except ValueError:
            pass
    return out


_live = []  # (kind, object) to undo at exit whatever happened: processes and mounts


def _undo_all():
    for kind, obj in reversed(list(_live)):
        try:
            if kind == "proc":
                _end_process(obj)
            elif kind == "mount":
                subprocess.run(["umount", "-l", obj], capture_output=True, timeout=10)
        except Exception:  # noqa: BLE001 (best effort at exit)
            pass
    _live.clear()


atexit.register(_undo_all)


def _end_process(proc, grace=10):
    """Ends a process this test started, by its PID (and its own process group, which it
    leads: start_new_session), SIGTERM first."""
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=grace)
        except (OSError, subprocess.TimeoutExpired):
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # stress-ng's workers, if any are left
    except OSError:
        pass
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        pass


def _start(cmd, out_path):
    out = open(out_path, "w")
    proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            start_new_session=True)
    out.close()
    _live.append(("proc", proc))
    return proc


def fuse_available():
    if not os.path.exists("/dev/fuse"):
        return "no /dev/fuse"
    r = subprocess.run([SYSTEM_PYTHON, "-c", "import fusepy"], capture_output=True, timeout=30) \
        if os.access(SYSTEM_PYTHON, os.X_OK) else None
    if r is None or r.returncode != 0:
        return "python3-fusepy is not installed (apt-get install python3-fusepy)"
    return None


class SlowFsyncDir:
    """A FUSE passthrough (slowfs.py) at `mount` over `backing`, slow fsync while switched on."""

    def __init__(self, workdir, delay_ms, open_ms=0):
        self.backing = os.path.join(workdir, "state-backing")
        self.mount = os.path.join(workdir, "state")
        self.switch = os.path.join(workdir, "slow-fsync-on")
        self.log = os.path.join(workdir, "slowfs.log")
        os.makedirs(self.backing)
        os.makedirs(self.mount)
        self.proc = _start([SYSTEM_PYTHON, os.path.join(HERE, "slowfs.py"), self.backing,
                            self.mount, str(delay_ms), self.switch, str(open_ms)], self.log)
        _live.append(("mount", self.mount))
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not self.mounted():
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        if not self.mounted():
            self.close()
            raise RuntimeError("slowfs did not mount:\n" + self.read_log())

    def mounted(self):
        with open("/proc/self/mounts") as f:
            return any(line.split()[1] == self.mount for line in f)

    def slow(self, on):
        if on:
            open(self.switch, "w").close()
        elif os.path.exists(self.switch):
            os.unlink(self.switch)

    def read_log(self):
        try:
            with open(self.log) as f:
                return f.read()
        except OSError:
            return ""

    def fsyncs(self):
        """[(monotonic start, path, seconds, slow)] so far."""
        out = []
        for line in self.read_log().splitlines():
            p = line.split()
            if len(p) == 5 and p[0] == "fsync":
                out.append((float(p[1]), p[2], float(p[3]), p[4] == "slow=1"))
        return out

    def slow_opens(self):
        """[(monotonic start, path, seconds)] of the opens slowed so far (open_ms)."""
        out = []
        for line in self.read_log().splitlines():
            p = line.split()
            if len(p) == 5 and p[0] == "open":
                out.append((float(p[1]), p[2], float(p[3])))
        return out

    def close(self):
        if self.mounted():
            run("umount", "-l", self.mount, check=False)
        _end_process(self.proc)


class Wire:
    """Every datagram between the agents, with the kernel's time, from the switch namespace."""

    def __init__(self, cluster, path, seconds):
        self.names = list(cluster.nodes)
        self.ip_to_name = {n.ip: name for name, n in cluster.nodes.items()}
        self.path = path
        ports = ",".join(cluster.nodes[n].switch_port for n in self.names)
        self.proc = _start(["ip", "netns", "exec", cluster.switch, "python3", "-c", SNIFFER, ports,
                            str(seconds)], path)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and "ready" not in self._text():
            if self.proc.poll() is not None:
                raise RuntimeError("the sniffer failed:\n" + self._text())
            time.sleep(0.05)

    def _text(self):
        with open(self.path) as f:
            return f.read()

    def close(self):
        _end_process(self.proc, grace=5)

    def gaps(self, t0, t1):
        """{(src, dst): (longest gap in s, gaps > 1.5 heartbeats, datagrams)} in [t0, t1]
        (realtime seconds), the window's edges counting as datagrams."""
        times = {}
        for line in self._text().splitlines():
            p = line.split()
            if len(p) != 3 or not p[0].isdigit():
                continue
            t = int(p[0]) / 1e9
            if t0 <= t <= t1 and p[2] in self.ip_to_name:
                times.setdefault((self.names[int(p[1])], self.ip_to_name[p[2]]), []).append(t)
        self.top = sorted(((y - x, a, b, x) for (a, b), ts in times.items()
                           for x, y in zip(ts, ts[1:])), reverse=True)[:6]
        out = {}
        for a in self.names:
            for b in self.names:
                if a == b:
                    continue
                ts = [t0] + times.get((a, b), []) + [t1]
                g = [y - x for x, y in zip(ts, ts[1:])]
                out[(a, b)] = (max(g), sum(1 for x in g if x > 1.5 * HEARTBEAT_S), len(ts) - 2)
        return out


STALL_WATCH = r"""
import os, sys, time
names, pids = sys.argv[1].split(","), [int(p) for p in sys.argv[2].split(",")]
deadline, interval = time.monotonic() + float(sys.argv[3]), 0.002
NAMES = {0: "read", 1: "write", 3: "close", 7: "poll", 17: "pread64", 18: "pwrite64",
         20: "writev", 44: "sendto", 46: "sendmsg", 56: "clone", 57: "fork", 58: "vfork",
         59: "execve", 61: "wait4", 74: "fsync", 75: "fdatasync", 82: "rename", 202: "futex",
         257: "openat", 435: "clone3", 230: "clock_nanosleep", 35: "nanosleep"}
IDLE = {"232", "281", "441"}  # epoll_wait, epoll_pwait, epoll_pwait2: the loop waiting
SKIP = ("schedule", "io_schedule", "__schedule", "bit_wait", "out_of_line_wait", "__wait_on",
        "wait_on_bit", "rwsem_down", "__mutex_lock", "mutex_lock", "down_read", "down_write",
        "__cond_resched", "__x64_sys", "do_syscall", "entry_SYSCALL", "ksys_", "x64_sys_call",
        "__do_sys", "do_sys", "syscall_exit", "exit_to_user", "irqentry", "asm_")
def read(path):
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""
def label(pid, state, sc):
    if state == "R":
        return "running (user space)" if sc.startswith("running") else \
            "running in syscall " + NAMES.get(int(sc.split()[0]), sc.split()[0])
    nr = sc.split()[0] if sc else "?"
    what = NAMES.get(int(nr), nr) if nr.isdigit() else nr
    if what in ("read", "write", "pwrite64", "fsync", "close", "wait4") and len(sc.split()) > 1:
        try:
            what += "(" + os.readlink(f"/proc/{pid}/fd/{int(sc.split()[1], 16)}") + ")"
        except (OSError, ValueError):
            pass
    if state == "D":
        frames = [x.split("] ", 1)[-1].split("+")[0]
                  for x in read(f"/proc/{pid}/task/{pid}/stack").splitlines()]
        frames = [x for x in frames if not x.startswith(SKIP)]
        return f"D in {what}: " + " < ".join(frames[:3])
    return f"{state} in {what}"
run = {n: None for n in names}  # name -> [start, last, {label: samples}]
last_sample = time.monotonic()
worst_sampler_gap = 0.0
def schedstat(pid):
    v = read(f"/proc/{pid}/task/{pid}/schedstat").split()
    return (int(v[0]) / 1e9, int(v[1]) / 1e9) if len(v) >= 2 else (0.0, 0.0)
def end(n, now, pid):
    r = run[n]
    if r and r[1] - r[0] >= 0.02:
        top = max(r[2].items(), key=lambda kv: kv[1])[0]
        ran, waited = [b - a for a, b in zip(r[3], schedstat(pid))]
        print(f"stall {n} {r[1] - r[0]:.3f} {r[0]:.3f} {top}; on a CPU {ran * 1000:.0f} ms, "
              f"waiting for one {waited * 1000:.0f} ms", flush=True)
    run[n] = None
while time.monotonic() < deadline:
    now = time.monotonic()
    worst_sampler_gap = max(worst_sampler_gap, now - last_sample)
    last_sample = now
    for n, pid in zip(names, pids):
        stat = read(f"/proc/{pid}/task/{pid}/stat")
        if not stat:
            continue
        state = stat.rsplit(")", 1)[1].split()[0]
        sc = read(f"/proc/{pid}/task/{pid}/syscall").strip()
        busy = state == "R" or (sc.split()[:1] and sc.split()[0] not in IDLE)
        if not busy:
            end(n, now, pid)
            continue
        r = run[n] or [now, now, {}, schedstat(pid)]
        lab = label(pid, state, sc)
        r[1] = now
        r[2][lab] = r[2].get(lab, 0) + 1
        run[n] = r
    time.sleep(interval)
    print(f"sampler_gap {worst_sampler_gap:.3f}", flush=True) if int(now) != int(time.monotonic()) else None
"""


class StallWatch:
    """Samples each agent's loop thread (its main thread) every 2 ms from a process of its own
    at a real-time priority (so that the load does not starve the observer): a stretch of 20 ms
    or more in which the loop was not waiting in epoll (running, runnable, or blocked in another
    system call: in the disk (D, with the kernel function), a pipe, a lock) is printed with its
    length and what it was mostly doing."""

    def __init__(self, pids, path, seconds):
        self.path = path
        cmd = ["python3", "-c", STALL_WATCH, ",".join(pids), ",".join(str(p) for p in
                                                                       pids.values()),
               str(seconds)]
        if shutil.which("chrt"):
            cmd = ["chrt", "-f", "1"] + cmd
        self.proc = _start(cmd, path)

    @staticmethod
    def run_delay(pid):
        try:
            with open(f"/proc/{pid}/task/{pid}/schedstat") as f:
                return int(f.read().split()[1]) / 1e9
        except (OSError, IndexError, ValueError):
            return 0.0

    def close(self):
        _end_process(self.proc, grace=5)

    def stalls(self):
        """[(name, seconds, monotonic start, what)], and the sampler's own longest gap."""
        out, gap = [], 0.0
        try:
            with open(self.path) as f:
                for line in f:
                    p = line.split(" ", 4)
                    if p[0] == "stall" and len(p) == 5:
                        out.append((p[1], float(p[2]), float(p[3]), p[4].strip()))
                    elif p[0] == "sampler_gap":
                        gap = max(gap, float(p[1]))
        except OSError:
            pass
        return out, gap


class Machine:
    """CPU and disk counters of the host, for the figures."""

    @staticmethod
    def cpu():
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        idle = v[3] + v[4]
        return sum(v[:8]), idle, v[7]  # total, idle + iowait, steal (by the hypervisor)

    @staticmethod
    def disk(dev):
        with open("/proc/diskstats") as f:
            for line in f:
                p = line.split()
                if p[2] == dev:
                    return int(p[9]) * 512, int(p[12])  # bytes written, ms doing I/O
        return 0, 0

    @staticmethod
    def device_of(path):
        st = os.stat(path)
        name = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)}"
        try:
            return os.path.basename(os.readlink(f"/sys/dev/block/{name}"))
        except OSError:
            return None

    @staticmethod
    def loadavg():
        with open("/proc/loadavg") as f:
            return f.read().split()[0]


class LoadTest(ClusterTestCase):
    log_lines = 120

    def setUp(self):
        if os.geteuid() != 0:
            cannot_run("needs root for network namespaces")
        if shutil.which("stress-ng") is None:
            cannot_run("stress-ng missing (Debian's stress-ng; scripts/setup.sh)")
        self.workdir = tempfile.mkdtemp(prefix="hactl-load-")
        self.keep = bool(os.environ.get("HACTL_LOAD_KEEP"))
        self.addCleanup(self._finish)
        self.slowfs = None
        why = fuse_available()
        if why:
            print(f"NOTE: no slow fsync ({why}); the state directories are on the stressed "
                  "filesystem without an extra fsync delay")
        else:
            self.slowfs = SlowFsyncDir(self.workdir, FSYNC_MS)
        self.wire = None
        self.stress = None
        self.c = None

    def _finish(self):
        # Runs last (registered first): the agents are dead by now (the cluster's cleanup).
        if self.c is not None:
            for name, text in self.c.final_logs.items():
                with open(os.path.join(self.workdir, f"{name}.log"), "w") as f:
                    f.write(text)
        if self.slowfs is not None:
            self.slowfs.close()
        shutil.rmtree(os.path.join(self.workdir, "stress"), ignore_errors=True)
        if self.keep or not getattr(self, "passed", False):
            print(f"artefacts kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def _stop_helpers(self):
        for p in (self.stress, self.wire and self.wire.proc):
            if p is not None:
                _end_process(p)

    # ------------------------------------------------------------------ observing
    def placements(self, status):
        return {r["id"]: (tuple(r.get("nodes") or ()), r.get("state"))
                for r in status.get("resources", []) if r["id"] in RESOURCES}

    def views(self):
        return {n: self.c.status(n, timeout=5) for n in self.c.nodes}

    @staticmethod
    def agent_policy(c):
        """The scheduling policy of each agent's main (loop) thread, from chrt."""
        out = set()
        for node in c.nodes.values():
            r = run("chrt", "-p", str(node.proc.pid), check=False)
            m = re.search(r"policy: (\S+)", r.stdout)
            p = re.search(r"priority: (\d+)", r.stdout)
            out.add(f"{m.group(1) if m else '?'} {p.group(1) if p else '?'}")
        return ", ".join(sorted(out))

    def settled(self):
        v = self.views()
        if any(s is None or not s.get("quorum") for s in v.values()):
            return None
        coords = {s["coordinator"] for s in v.values()}
        terms = {s["term"] for s in v.values()}
        places = [self.placements(s) for s in v.values()]
        if len(coords) != 1 or len(terms) != 1 or any(p != places[0] for p in places):
            return None
        holders = {p[0] for p in places[0].values()}
        if len(places[0]) != 2 or len(holders) != 1 or \
                any(state != "started" for _n, state in places[0].values()):
            return None
        (holder,) = holders
        if len(holder) != 1:
            return None
        return coords.pop(), holder[0], terms.pop()

    def metrics(self, name):
        return scrape_metrics(self.c, name)

    def events_since(self, name, seq):
        r = self.c.hactl(name, "events", "--json", "-n", "1000")
        out = []
        for line in r.stdout.splitlines():
            try:
                e = json.loads(line)
            except ValueError:
                continue
            if e.get("seq", 0) > seq:
                out.append(e)
        return out

    def last_seq(self, name):
        r = self.c.hactl(name, "events", "--json", "-n", "1")
        seqs = [json.loads(x).get("seq", 0) for x in r.stdout.splitlines() if x.startswith("{")]
        return max(seqs, default=0)

    # ------------------------------------------------------------------ load
    def run_stress(self, name, seconds):
        """stress-ng in `name`'s namespace for `seconds`: CPU (2 workers per core) and disk
        (sequential writes and a mix of I/O with fsyncs) on the filesystem holding the state
        backing store and the agents' logs. Returns its figures."""
        cores = os.cpu_count() or 2
        tmp = os.path.join(self.workdir, "stress")
        os.makedirs(tmp, exist_ok=True)
        log = os.path.join(self.workdir, f"stress-{name}.log")
        cmd = ["ip", "netns", "exec", self.c.nodes[name].ns, "stress-ng"]
        if STRESS in ("cpu", "both"):
            cmd += ["--cpu", str(2 * cores)]
        if STRESS in ("disk", "both"):
            cmd += ["--hdd", "2", "--hdd-bytes", "256m", "--iomix", "2", "--iomix-bytes", "128m"]
        cmd += ["--temp-path", tmp, "--timeout", f"{seconds}s", "--metrics-brief"]
        dev = Machine.device_of(tmp)
        cpu0, disk0, t0 = Machine.cpu(), Machine.disk(dev) if dev else (0, 0), time.monotonic()
        self.stress = _start(cmd, log)
        samples, bad = 0, []
        status_ms = []
        # Sampled every second while it runs; bounded by its own --timeout plus a margin.
        deadline = time.monotonic() + seconds + 30
        while self.stress.poll() is None and time.monotonic() < deadline:
            a = time.monotonic()
            v = self.views()
            status_ms.append((time.monotonic() - a) * 1000 / len(v))
            samples += 1
            for n, s in v.items():
                if s is None:
                    bad.append((round(time.monotonic() - t0, 1), n, "no status"))
                    continue
                now = (s["term"], s["coordinator"], bool(s["quorum"]), self.placements(s))
                if now != self.expected:
                    bad.append((round(time.monotonic() - t0, 1), n, now))
            time.sleep(max(0.0, 1.0 - (time.monotonic() - a)))
        ran = time.monotonic() - t0
        load = Machine.loadavg()
        cpu1, disk1 = Machine.cpu(), Machine.disk(dev) if dev else (0, 0)
        _end_process(self.stress)
        self.stress = None
        total, idle, steal = cpu1[0] - cpu0[0], cpu1[1] - cpu0[1], cpu1[2] - cpu0[2]
        with open(log) as f:
            tail = [x for x in f.read().splitlines() if "stress-ng" in x and "info" in x][-8:]
        return {
            "node": name, "seconds": ran, "samples": samples, "bad_samples": bad,
            "cpu_busy_pct": 100.0 * (total - idle) / total if total else 0.0,
            "cpu_steal_pct": 100.0 * steal / total if total else 0.0,
            "loadavg_1m": load, "disk": dev,
            "disk_write_mb_s": (disk1[0] - disk0[0]) / 1e6 / ran,
            "disk_util_pct": 100.0 * (disk1[1] - disk0[1]) / 1000 / ran,
            "status_ms_max": max(status_ms, default=0.0), "stress_tail": tail,
        }

    # ------------------------------------------------------------------ the test
    def test_no_election_and_no_move_under_cpu_and_disk_load(self):
        c = self.c = self.cluster(resources_yaml=GROUP)
        self.addCleanup(self._stop_helpers)
        if self.slowfs is not None:
            for name, node in c.nodes.items():
                node.state_dir = os.path.join(self.slowfs.mount, f"{name}-state")
        if RUN_TMPFS:
            # As /run is on a real host: the lease file the agent rewrites with every renewal.
            for node in c.nodes.values():
                run("mount", "-t", "tmpfs", "-o", "size=16m,mode=0755", "tmpfs", node.run_dir)
                _live.append(("mount", node.run_dir))
                self.addCleanup(run, "umount", "-l", node.run_dir, check=False)
                os.makedirs(os.path.join(node.run_dir, "hactl"), mode=0o755)
        c.start_all()
        coord, holder, term = c.wait_until(self.settled, 30, 0.2, "the cluster and group settled")
        if holder == coord:
            # The group on a node of its own, so that both roles are loaded in turn.
            other = sorted(n for n in c.nodes if n != coord)[0]
            self.assertEqual(c.hactl(coord, "resource", "move", "web", other).returncode, 0)
            c.wait_until(lambda: (self.settled() or (None, None))[1] == other, 30, 0.2,
                         "the group moved off the coordinator")
            self.assertEqual(c.hactl(coord, "resource", "clear", "web").returncode, 0)
        time.sleep(3)  # the move's and clear's traces settle
        coord, holder, term = c.wait_until(self.settled, 30, 0.2, "the cluster settled")
        status = c.status(coord)
        self.expected = (term, coord, True, self.placements(status))

        if self.slowfs is not None:
            self.slowfs.slow(True)
        fsyncs_before = len(self.slowfs.fsyncs()) if self.slowfs else 0
        seqs = {n: self.last_seq(n) for n in c.nodes}
        metrics0 = {n: self.metrics(n) for n in c.nodes}
        phases = [("coordinator", coord), ("group holder", holder)]
        per_phase = max(10, LOAD_SECONDS // len(phases))
        self.wire = Wire(c, os.path.join(self.workdir, "wire.txt"), LOAD_SECONDS + 120)
        pids = {n: c.nodes[n].proc.pid for n in c.nodes}
        self.stalls = StallWatch(pids, os.path.join(self.workdir, "stalls.txt"),
                                 LOAD_SECONDS + 120)
        self.addCleanup(self.stalls.close)
        print(f"\nsettled: coordinator {coord}, group on {holder}, term {term}; "
              f"{per_phase}s of stress-ng in each of {[n for _r, n in phases]}; slow fsync: "
              f"{f'{FSYNC_MS} ms' if self.slowfs else 'no'}; stress: {STRESS}; run directories on "
              f"{'tmpfs' if RUN_TMPFS else 'the stressed filesystem'}; agents' loop at "
              f"{self.agent_policy(c)}; artefacts: "
              f"{self.workdir}")

        results = []
        for role, name in phases:
            w0, d0 = time.time(), {n: StallWatch.run_delay(p) for n, p in pids.items()}
            r = self.run_stress(name, per_phase)
            r["role"], r["window"] = role, (w0, time.time())
            r["run_delay"] = {n: StallWatch.run_delay(p) - d0[n] for n, p in pids.items()}
            results.append(r)
        time.sleep(2)  # anything the load set off shows by now
        end = time.time()

        # ---------------------------------------------------------- figures
        self.wire.close()
        self.stalls.close()
        metrics1 = {n: self.metrics(n) for n in c.nodes}
        events = {n: self.events_since(n, seqs[n]) for n in c.nodes}
        fsyncs = self.slowfs.fsyncs()[fsyncs_before:] if self.slowfs else []
        for r in results:
            g = self.wire.gaps(*r["window"])
            worst = max(g.items(), key=lambda kv: kv[1][0])
            print(f"phase '{r['role']}' on {r['node']}: {r['seconds']:.0f}s, CPU busy "
                  f"{r['cpu_busy_pct']:.0f}% (stolen by the host {r['cpu_steal_pct']:.1f}%), load average {r['loadavg_1m']}, disk {r['disk']} "
                  f"{r['disk_write_mb_s']:.1f} MB/s written, {r['disk_util_pct']:.0f}% busy; "
                  f"longest datagram gap {worst[1][0] * 1000:.0f} ms ({worst[0][0]}->"
                  f"{worst[0][1]}), gaps over 150 ms: {sum(v[1] for v in g.values())}; "
                  f"status answered in {r['status_ms_max']:.0f} ms at worst; "
                  f"{r['samples']} samples, {len(r['bad_samples'])} off")
            print("    agents' time waiting for a CPU: " + ", ".join(
                f"{n} {v:.2f}s" for n, v in sorted(r["run_delay"].items())))
            for line in r["stress_tail"]:
                print("   ", line.split("] ", 1)[-1])
        whole = self.wire.gaps(results[0]["window"][0], end)
        print("longest gap between datagrams, whole run (ms): " + ", ".join(
            f"{a}->{b} {v[0] * 1000:.0f}" for (a, b), v in sorted(whole.items())))
        print("longest gaps: " + ", ".join(
            f"{a}->{b} {g * 1000:.0f} ms after "
            f"{time.strftime('%H:%M:%S', time.localtime(x))}.{int(x * 1000) % 1000:03d}"
            for g, a, b, x in self.wire.top))
        missed = {}
        for n in c.nodes:
            for key, value in metrics1[n].items():
                if key.startswith("hactl_heartbeats_missed_total"):
                    missed[f"{n} from {key.split(chr(34))[1]}"] = value - metrics0[n].get(key, 0)
        stalls, sampler_gap = self.stalls.stalls()
        print(f"agents' loops busy or blocked for 20 ms or more (sampled every 2 ms, the "
              f"sampler's longest gap {sampler_gap * 1000:.0f} ms): {len(stalls)}")
        for n, secs, _t, what in sorted(stalls, key=lambda x: -x[1])[:8]:
            print(f"    {n} {secs * 1000:.0f} ms, mostly {what}")
        print("heartbeats counted missed by the agents: " +
              ", ".join(f"{k} {v:.0f}" for k, v in sorted(missed.items())))
        kinds = {}
        for n, evs in events.items():
            for e in evs:
                kinds[e["kind"]] = kinds.get(e["kind"], 0) + 1
        print(f"events logged under load: {kinds or 'none'}")
        print(f"fsyncs in the state directories under load: {len(fsyncs)}" +
              (f", longest {max(f[2] for f in fsyncs):.2f}s: " +
               ", ".join(sorted({f[1] for f in fsyncs})) if fsyncs else ""))

        # ---------------------------------------------------------- judged
        elections = [(n, e["kind"], e.get("time")) for n, evs in events.items() for e in evs
                     if e["kind"] in ELECTION_KINDS]
        lapses = [(n, e["kind"], e.get("time"), e.get("action"), e.get("resources"))
                  for n, evs in events.items() for e in evs if e["kind"] in LEASE_KINDS]
        moves = [(n, e["kind"], e.get("resource"), e.get("action"), e.get("time"))
                 for n, evs in events.items() for e in evs
                 if e.get("action") in MOVE_ACTIONS and e["kind"] != "action_output"]
        def summary(items, first=4):
            counts = {}
            for it in items:
                counts[f"{it[0]} {it[1]}"] = counts.get(f"{it[0]} {it[1]}", 0) + 1
            return f"{len(items)} {counts}, first {items[:first]}"

        problems = []
        if lapses:
            problems.append(f"leases that ran out (the node stops what it runs): "
                            f"{summary(lapses)}")
        if elections:
            problems.append(f"elections or membership changes: {summary(elections)}")
        if moves:
            problems.append(f"resource actions (stops, starts): {summary(moves)}")
        for n in c.nodes:
            n0, n1 = (m[n].get("hactl_elections_total", 0) for m in (metrics0, metrics1))
            if n1 != n0:
                problems.append(f"{n} started {n1 - n0:.0f} election(s)")
        for r in results:
            if r["bad_samples"]:
                problems.append(f"phase '{r['role']}': {len(r['bad_samples'])} status samples "
                                f"differ from {self.expected}, first {r['bad_samples'][:3]}")
        for n in c.nodes:
            s = c.status(n)
            now = s and (s["term"], s["coordinator"], bool(s["quorum"]), self.placements(s))
            if now != self.expected:
                problems.append(f"{n} at the end: {now}")
        if not os.path.exists(os.path.join(c.nodes[holder].run_dir, "hactl", "web-app.state")):
            problems.append(f"Dummy no longer runs on {holder}")
        if c.holders("10.213.0.100") != [holder]:
            problems.append(f"the VIP is on {c.holders('10.213.0.100')}, not on {holder}")
        worst_gap = max(v[0] for v in whole.values())
        if worst_gap >= NODE_TIMEOUT_S:
            problems.append(f"a node went unheard for {worst_gap * 1000:.0f} ms")
        if problems:
            self.fail("under load:\n" + "\n".join(problems))
        self.passed = True


if __name__ == "__main__":
    main()
