"""VIP failover side by side: keepalived (Debian's package, VRRP) against hactl, in the same
netns topology as bench/vip_failover.py, in one run.

Topology (tests/integration/netns.py): a "switch" namespace with a bridge (10.213.0.250), node
namespaces (10.213.0.11, .12, .13) each with one veth link to the bridge and a private /run
(its own mount namespace). keepalived runs on two nodes (k1: state MASTER, priority 150; k2:
state BACKUP, priority 100; one vrrp_instance, virtual_router_id 51, VIP 10.213.0.100/24 on
eth0, unicast adverts: `unicast_src_ip` its own 10.213.0.x address, `unicast_peer` the other
router's, never the VRRP multicast group 224.0.0.18), started by this script inside the
namespaces with private pid files (`keepalived -n -l -D -G -P -f CONF -p /run/keepalived.pid -r
/run/keepalived_vrrp.pid`), never the system's service. hactl runs on three nodes with the vip
resource of bench/vip_failover.py, at default timing and in the fast profile; its trials are
bench/vip_failover.py's own `trial()`.

Client: netns.ArpClient in the switch namespace broadcasts an ARP request for the VIP every
5 ms and records every reply with its arrival time. Failover time: from the fault to the first
reply carrying the new holder's MAC.

Faults (TRIALS each):
  crash  the VIP holder's daemon dies by SIGKILL and its link is cut at the same instant (a dead
         host: its address, if left in the kernel, cannot answer). keepalived: SIGKILL to its
         whole process group (parent and VRRP child at once, so the child's clean-exit VIP
         removal never runs), then the holder's bridge port down; before it is started again,
         its VIP and pid files are deleted by hand (the host "rebooted", /run is tmpfs) and its
         link comes up. hactl: vip_failover.py's crash (SIGKILL of the agent, whose guard
         survives and removes the VIP; bridge port down; link up and agent restarted after).
  link   the holder's bridge port is set down; the daemon lives on.
keepalived's k1 preempts when it is back, so every keepalived trial faults k1 (the configured
MASTER) and k2 takes over; hactl trials fault whichever node holds the VIP. Configurations:
keepalived VRRPv2 advert_int 1 (the defaults), VRRPv3 advert_int 0.1, and VRRPv3 advert_int
0.02 (the interval of hactl's fast heartbeats); hactl default and fast.
Partition: nftables drop rules (inet family, input hook) in each namespace cut the VIP holder
from its peer(s), both ways, while the client (ARP, not IP) still reaches every node; for
PARTITION_SECONDS the kernel's add/delete of the VIP in every namespace (`ip monitor`) and the
client's replies are recorded; then the rules are removed and the time to one holder measured.
Idle cost: every daemon of one steady cluster per configuration over IDLE_SECONDS, all at once:
CPU seconds per minute (/proc/PID/task/*/schedstat, nanoseconds on CPU) and VmRSS.

hactl's steady-state check is vip_failover.steady_holder. (The figures in
docs/failover-comparison.md were taken with a copy of it that ignored a deposed coordinator's
stale scheduler.waiting_for, a bug since fixed in Conductor::tick.)

Traffic: only to 10.213.0.0/16 addresses in the namespaces this script creates. keepalived's
adverts are unicast IP to the peer router; its gratuitous ARPs (keepalived's default garp
settings, unchanged) and the client's ARP requests are ARP broadcasts on the private bridge,
not IP multicast. (The kernel's own link-local chatter on netns.py's topology, IPv6 DAD, MLD
and router solicitations to ff02:: and the bridge's IGMP join of 224.0.0.106, is not the
script's and also stays on the private bridge.)

Cleanup: netns.py's (atexit, SIGINT/SIGTERM, exceptions): every daemon by PID, every namespace,
the temp dir. Every wait is bounded. hactl binaries from HACTL_BIN_DIR (default build/bin).

Usage (root): python3 bench/keepalived_compare.py [TRIALS (20)] [--systems a,b] [--faults
crash,link] [--partition-seconds 10] [--idle-seconds 30] [--doc PATH] [--json PATH]
"""

import argparse
import contextlib
import datetime
import json
import math
import os
import platform
import random
import shutil
import signal
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import vip_failover as vf  # noqa: E402  (puts tests/integration on sys.path)
from idle_cost import rss_kib  # noqa: E402
import netns  # noqa: E402
from netns import AddressWatch, ArpClient, Cluster, run  # noqa: E402

VIP = vf.VIP
KEEPALIVED = shutil.which("keepalived") or "/usr/sbin/keepalived"

# name: (label, kind, parameters)
SYSTEMS = {
    "ka-v2": ("keepalived", "VRRPv2, advert_int 1 s (defaults)", ("ka", 2, 1.0)),
    "ka-v3": ("keepalived", "VRRPv3, advert_int 0.1 s", ("ka", 3, 0.1)),
    "ka-v3-20ms": ("keepalived", "VRRPv3, advert_int 0.02 s", ("ka", 3, 0.02)),
    "hactl-default": ("hactl", "default (heartbeat 100 ms, node_timeout 300 ms)",
                      ("hactl", "default")),
    "hactl-fast": ("hactl", "fast (heartbeat 20 ms, node_timeout 60 ms)", ("hactl", "fast")),
}
DEFAULT_SYSTEMS = "ka-v2,ka-v3,ka-v3-20ms,hactl-default,hactl-fast"
# hactl profile -> the keepalived configurations its figures are divided by
RATIO_PAIRS = [("hactl-default", "ka-v2"), ("hactl-default", "ka-v3"),
               ("hactl-fast", "ka-v3"), ("hactl-fast", "ka-v3-20ms")]


def log(msg):
    print(msg, flush=True)


def percentile(values, p):
    return vf.percentile(values, p)


# ---------------------------------------------------------------------------------- keepalived
def ka_config(router_id, state, priority, version, advert, src_ip, peer_ip):
    """keepalived.conf of one router: unicast VRRP adverts from its own 10.213.0.x address
    (unicast_src_ip) to the other router's (unicast_peer), never to the VRRP multicast group
    224.0.0.18 (nor an IGMP join of it). unicast_fault_no_peer: should the peer list ever be
    empty, the instance goes to FAULT instead of falling back to multicast. Gratuitous ARPs
    (keepalived's defaults) are ARP broadcasts on the private bridge, not IP multicast."""
    return f"""global_defs {{
    router_id {router_id}
    vrrp_version {version}
}}

vrrp_instance VI_1 {{
    state {state}
    interface eth0
    virtual_router_id 51
    priority {priority}
    advert_int {advert:g}
    unicast_src_ip {src_ip}
    unicast_peer {{
        {peer_ip}
    }}
    unicast_fault_no_peer
    virtual_ipaddress {{
        {VIP}/24 dev eth0
    }}
}}
"""


def proc_exe(pid):
    try:
        return os.path.basename(os.readlink(f"/proc/{pid}/exe"))
    except OSError:
        return None


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


class KaCluster(Cluster):
    """netns.Cluster's topology (switch, bridge, veths, private /run dirs) with keepalived in
    the node namespaces instead of hactl agents. k1 is the configured MASTER (priority 150),
    k2 the BACKUP (priority 100)."""

    PRIORITY = {"k1": ("MASTER", 150), "k2": ("BACKUP", 100)}

    def __init__(self, tag, version, advert):
        super().__init__(names=("k1", "k2"))
        # A prefix of our own, distinct from hactl clusters' hx<pid><n>.
        self.prefix = f"kc{os.getpid() % 100000}{tag}"
        self.switch = f"{self.prefix}-sw"
        for n in self.nodes.values():
            n.ns = f"{self.prefix}-{n.name}"
            n.ka_pids = set()  # every keepalived PID (parent, VRRP child) this cluster started
        self.version, self.advert = version, advert

    def setup(self):
        super().setup()  # namespaces, bridge, veths, run dirs (and an unused hactl key/config)
        for name, node in self.nodes.items():
            state, prio = self.PRIORITY[name]
            (peer,) = [n for n in self.nodes.values() if n is not node]
            node.ka_conf = os.path.join(self.tmp, f"{name}-keepalived.conf")
            with open(node.ka_conf, "w") as f:
                f.write(ka_config(name, state, prio, self.version, self.advert, node.ip, peer.ip))

    def start(self, name):
        node = self.nodes[name]
        assert node.proc is None or node.proc.poll() is not None, f"{name} already running"
        # A restart after a crash is a reboot: /run (tmpfs) is empty again. keepalived would
        # otherwise refuse to start while the crashed VRRP child's PID still exists (a zombie
        # until init reaps it).
        for f in ("keepalived.pid", "keepalived_vrrp.pid"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(node.run_dir, f))
        cmd = (f"mount --bind {node.run_dir} /run && exec {KEEPALIVED} -n -l -D -G -P "
               f"-f {node.ka_conf} -p /run/keepalived.pid -r /run/keepalived_vrrp.pid")
        logf = open(node.log_path, "a")
        # A session (and process group) of its own: the crash fault SIGKILLs exactly this group.
        node.proc = subprocess.Popen(
            ["ip", "netns", "exec", node.ns, "unshare", "--mount", "--propagation", "private",
             "sh", "-c", cmd], stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        logf.close()
        node.ka_pids.add(node.proc.pid)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if node.proc.poll() is not None:
                break
            if proc_exe(node.proc.pid) == "keepalived":
                kids = [p for p in children(node.proc.pid) if proc_exe(p) == "keepalived"]
                if kids:
                    node.ka_pids.update(kids)
                    # The crash fault relies on parent and child sharing our process group.
                    if any(os.getpgid(p) != node.proc.pid for p in kids):
                        raise RuntimeError(f"{name}: keepalived's VRRP child left its process "
                                           "group")
                    return node.proc.pid
            time.sleep(0.01)
        raise RuntimeError(f"{name}: keepalived did not start; log:\n" + self.log(name))

    def daemon_pids(self, name):
        node = self.nodes[name]
        if not self.alive(name):
            return []
        return [node.proc.pid] + [p for p in children(node.proc.pid) if proc_exe(p) == "keepalived"]

    def crash(self, name):
        """SIGKILL to the keepalived parent and its VRRP child at one instant (their process
        group), as a crash: no clean exit, the VIP stays in the kernel."""
        node = self.nodes[name]
        node.ka_pids.update(self.daemon_pids(name))
        os.killpg(node.proc.pid, signal.SIGKILL)  # the group this script created (leader alive)

    def reap(self, name):
        node = self.nodes[name]
        if node.proc is not None:
            node.proc.wait(timeout=10)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and any(proc_exe(p) == "keepalived"
                                                  for p in node.ka_pids - {node.proc.pid}):
            time.sleep(0.01)
        # Forget the dead, so that cleanup never signals a PID the system has given out again.
        node.ka_pids = {p for p in node.ka_pids if proc_exe(p) == "keepalived"}

    def _kill_tracked(self):
        for node in self.nodes.values():
            for pid in sorted(node.ka_pids):
                if proc_exe(pid) == "keepalived":
                    with contextlib.suppress(OSError):
                        os.kill(pid, signal.SIGKILL)

    def cleanup(self):
        if self.cleaned:
            return
        self._kill_tracked()
        super().cleanup()  # kills node.proc (waited), deletes the namespaces and the temp dir
        self._kill_tracked()


def ka_steady(c, master="k1", hold=0.5, timeout=30):
    """Both keepalived running and only `master` holding the VIP, unchanged for `hold` s."""
    deadline = time.monotonic() + timeout
    since = None
    while time.monotonic() < deadline:
        if all(c.alive(n) for n in c.nodes) and c.holders(VIP) == [master]:
            since = since or time.monotonic()
            if time.monotonic() - since >= hold:
                return master
        else:
            since = None
        time.sleep(0.05)
    raise RuntimeError(f"no steady keepalived master within {timeout} s (holders "
                       f"{c.holders(VIP)}, alive {[n for n in c.nodes if c.alive(n)]})")


def wait_new_holder(client, macs, others, start, timeout=20):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for n in others:
            t = client.wait_reply(macs[n], start, 0.02)
            if t is not None:
                return n, t
    return None


def ka_trial(c, fault):
    holder = ka_steady(c)
    # A random phase against the adverts (uniform over one interval), as a real fault has.
    time.sleep(0.1 + random.uniform(0, c.advert))
    others = [n for n in c.nodes if n != holder]
    macs = {n: c.mac(n) for n in c.nodes}
    with AddressWatch(c, VIP) as watch, ArpClient(c, VIP) as client:
        if not client.wait_reply(macs[holder], 0, 5):
            raise RuntimeError(f"the client gets no answer from the holder {holder}")
        start_wall, start = time.time(), time.monotonic()
        if fault == "crash":
            c.crash(holder)
        c.link_down(holder)
        answered = wait_new_holder(client, macs, others, start)
        if answered is None:
            raise RuntimeError(f"{fault}: no survivor answered for the VIP within 20 s")
        let_go = None
        if fault == "link":
            with contextlib.suppress(AssertionError):
                c.wait_until(lambda: holder not in c.holders(VIP), 5, 0.05, "the old holder")
            gone = [b for _, b in watch.intervals().get(holder, []) if b is not None]
            let_go = (min(gone) - start_wall) * 1000 if gone else None
        gap = watch.handover_gap(holder, answered[0])
        overlap = watch.longest_overlap() if fault == "link" else None
    if fault == "crash":
        c.reap(holder)
        # The crashed host "reboots": its stale VIP is gone before it is back on the bridge.
        run("ip", "-n", c.nodes[holder].ns, "addr", "del", f"{VIP}/24", "dev", "eth0",
            check=False)
        c.link_up(holder)
        c.start(holder)
    else:
        c.link_up(holder)
    return {"ms": (answered[1] - start) * 1000, "gap_ms": None if gap is None else gap * 1000,
            "overlap_ms": None if overlap is None else overlap * 1000, "let_go_ms": let_go}


# ---------------------------------------------------------------------------------- hactl
def hactl_trial(c, fault):
    ms, coordinator, gap, overlap, _verified = vf.trial(c, fault, VIP)
    return {"ms": ms, "gap_ms": None if gap is None else gap * 1000,
            "overlap_ms": overlap * 1000, "was_coordinator": coordinator}


def hactl_cluster(profile):
    heartbeat, timeout = vf.PROFILES[profile]
    return Cluster(heartbeat=heartbeat, node_timeout=timeout, resources_yaml=vf.resources(vf.VIP))


def hactl_steady(c, timeout=30):
    return c.wait_until(lambda: vf.steady_holder(c, VIP), timeout, 0.05, "a steady VIP holder")


# ---------------------------------------------------------------------------------- partition
def clipped(intervals, lo, hi):
    out = {}
    for n, spans in intervals.items():
        for a, b in spans:
            a, b = max(a, lo), min(b if b is not None else hi, hi)
            if b > a:
                out.setdefault(n, []).append((a, b))
    return out


def multi_holder_time(spans, lo, hi):
    """Seconds in [lo, hi] during which two or more nodes held the VIP, and the first such
    instant (None: never)."""
    events = sorted([(a, 1) for v in spans.values() for a, _ in v]
                    + [(b, -1) for v in spans.values() for _, b in v], key=lambda e: (e[0], e[1]))
    depth, last, total, first = 0, lo, 0.0, None
    for t, d in events:
        if depth >= 2:
            total += t - last
        depth += d
        last = t
        if depth >= 2 and first is None:
            first = t
    return total, first


def partition_trial(c, holder, seconds):
    """Cut `holder` off from every other node (nftables both ways; ARP from the client still
    reaches all) for `seconds`, recording the VIP in every namespace and the client's replies."""
    others = [n for n in c.nodes if n != holder]
    macs = {n: c.mac(n) for n in c.nodes}
    with AddressWatch(c, VIP) as watch, ArpClient(c, VIP) as client:
        if not client.wait_reply(macs[holder], 0, 5):
            raise RuntimeError(f"the client gets no answer from the holder {holder}")
        t0_wall, t0 = time.time(), time.monotonic()
        c.partition([holder], others)
        time.sleep(seconds)
        t1_wall, t1 = time.time(), time.monotonic()
        end_holders = c.holders(VIP)
        spans = clipped(watch.intervals(), t0_wall, t1_wall)
        both, first_both = multi_holder_time(spans, t0_wall, t1_wall)
        gone = [b for _, b in watch.intervals().get(holder, [])
                if b is not None and t0_wall < b <= t1_wall]
        added = sorted(a for n in others for a, _ in watch.intervals().get(n, [])
                       if t0_wall < a <= t1_wall)
        with client.cond:
            replies = [(t, m) for t, m in client.replies if t0 < t < t1]
        new_macs = {macs[n] for n in others}
        first_new = next((t for t, m in replies if m in new_macs), None)
        last_old = max((t for t, m in replies if m == macs[holder]), default=None)
        heal_wall = time.time()
        c.heal()
        # Time from the heal to one holder again (bounded).
        one_after = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if len(c.holders(VIP)) == 1:
                one_after = time.time() - heal_wall
                break
            time.sleep(0.02)
    rel = lambda t, base: None if t is None else (t - base) * 1000  # noqa: E731
    return {
        "seconds": seconds, "holder": holder,
        "new_holder_answer_ms": rel(first_new, t0),
        "new_holder_add_ms": rel(added[0], t0_wall) if added else None,
        "old_holder_let_go_ms": rel(min(gone), t0_wall) if gone else None,
        "old_holder_last_answer_ms": rel(last_old, t0),
        "both_held_s": both, "both_from_ms": rel(first_both, t0_wall),
        "client_heard_both_s": max(0.0, (last_old - first_new)) if first_new and last_old else 0.0,
        "holders_at_end": end_holders,
        "one_holder_after_heal_ms": None if one_after is None else one_after * 1000,
    }


# ---------------------------------------------------------------------------------- idle
def cpu_ns(pid):
    """Nanoseconds on a CPU of every thread of `pid` (None: gone)."""
    total = 0
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return None
    for tid in tids:
        with contextlib.suppress(OSError):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
    return total


def uss_kib(pid):
    """Unique set size: the pages only this process maps (Private_Clean + Private_Dirty). For a
    helper forked from the daemon (keepalived's VRRP child, hactl's guard), what it adds to the
    daemon's RSS on a host."""
    total = 0
    with open(f"/proc/{pid}/smaps_rollup") as f:
        for line in f:
            if line.startswith(("Private_Clean:", "Private_Dirty:")):
                total += int(line.split()[1])
    return total


def loadavg():
    with open("/proc/loadavg") as f:
        return f.read().split()[0]


def idle_costs(names, seconds, ka_tag_base):
    """All configurations at once, steady, for `seconds`: per daemon process, CPU s/min, RSS."""
    out = []
    with contextlib.ExitStack() as stack:
        clusters = {}
        for i, name in enumerate(names):
            kind = SYSTEMS[name][2]
            if kind[0] == "ka":
                c = KaCluster(f"{ka_tag_base}{i}", kind[1], kind[2])
            else:
                c = hactl_cluster(kind[1])
            stack.enter_context(c)
            c.start_all()
            clusters[name] = c
        procs = []  # (system, node, role, process, pid)
        for name, c in clusters.items():
            if isinstance(c, KaCluster):
                ka_steady(c)
                for n in c.nodes:
                    role = "master" if c.holders(VIP) == [n] else "backup"
                    pids = c.daemon_pids(n)
                    procs.append((name, n, role, "parent", pids[0]))
                    for p in pids[1:]:
                        procs.append((name, n, role, "VRRP child", p))
            else:
                holder = hactl_steady(c)
                coord = c.agreed_coordinator()
                for n in c.nodes:
                    role = ", ".join([r for r, who in (("coordinator", coord), ("VIP", holder))
                                      if who == n]) or "follower"
                    pid = c.nodes[n].proc.pid
                    procs.append((name, n, role, "agent", pid))
                    for p in children(pid):
                        if proc_exe(p) == "hactl-agent":  # the guard, a fork of the agent
                            procs.append((name, n, role, "guard", p))
        time.sleep(2)
        t0 = time.monotonic()
        c0 = {p[4]: cpu_ns(p[4]) for p in procs}
        time.sleep(seconds)
        t1 = time.monotonic()
        for system, node, role, what, pid in procs:
            c1 = cpu_ns(pid)
            row = {"system": system, "node": node, "role": role, "process": what,
                   "cpu_s_per_min": None, "rss_mib": None, "uss_mib": None}
            if c0[pid] is not None and c1 is not None:
                with contextlib.suppress(OSError):
                    row["rss_mib"] = rss_kib(pid) / 1024
                    row["uss_mib"] = uss_kib(pid) / 1024
                    row["cpu_s_per_min"] = (c1 - c0[pid]) / 1e9 / (t1 - t0) * 60
            out.append(row)
    return out


# ---------------------------------------------------------------------------------- driver
TRIAL_ERRORS = (RuntimeError, AssertionError, OSError, subprocess.SubprocessError)


def run_system(name, trials, faults, partition_seconds, tag):
    label, timing, kind = SYSTEMS[name]
    res = {"name": name, "label": label, "timing": timing, "faults": {}, "partition": None,
           "errors": []}
    if kind[0] == "ka":
        cluster = KaCluster(tag, kind[1], kind[2])
        trial_fn, steady = ka_trial, ka_steady
    else:
        cluster = hactl_cluster(kind[1])
        trial_fn, steady = hactl_trial, hactl_steady
    with cluster as c:
        c.start_all()
        for fault in faults:
            rows, failures = [], 0
            for i in range(trials):
                try:
                    r = trial_fn(c, fault)
                except TRIAL_ERRORS as e:
                    failures += 1
                    res["errors"].append(f"{fault} trial {i + 1}: {e}; {diagnose(c)}")
                    log(f"{name} {fault} trial {i + 1:2}: FAILED: {str(e).splitlines()[0]}")
                    recover(c)
                    if failures >= 3:
                        break
                    continue
                rows.append(r)
                extra = "" if r.get("gap_ms") is None else \
                    f" (old holder's delete to new holder's add {r['gap_ms']:.1f} ms)"
                log(f"{name} {fault} trial {i + 1:2}: {r['ms']:7.1f} ms{extra}")
            res["faults"][fault] = {"trials": rows, "failed": failures}
        if partition_seconds > 0:
            try:
                holder = steady(c)
                time.sleep(0.1 + random.uniform(0, 0.1))
                p = partition_trial(c, holder, partition_seconds)
                res["partition"] = p
                log(f"{name} partition: {json.dumps(p)}")
            except TRIAL_ERRORS as e:
                res["errors"].append(f"partition: {e}; {diagnose(c)}")
                log(f"{name} partition FAILED: {str(e).splitlines()[0]}")
                recover(c)
        res["log_tail"] = {n: c.log(n).splitlines()[-15:] for n in c.nodes} if res["errors"] \
            else {}
    return res


def diagnose(c):
    """A one-line picture of the cluster after a failed trial."""
    parts = [f"holders {c.holders(VIP)}"]
    for n in c.nodes:
        if not c.alive(n):
            parts.append(f"{n}: not running")
        elif isinstance(c, KaCluster):
            parts.append(f"{n}: running")
        else:
            s = c.status(n) or {}
            vip = {r["id"]: r for r in s.get("resources", [])}.get("vip", {})
            offline = [x["name"] for x in s.get("nodes", []) if x.get("state") != "online"]
            parts.append(f"{n}: role {s.get('role')} coordinator {s.get('coordinator')} term "
                         f"{s.get('term')} quorum {s.get('quorum')} vip {vip.get('state')} on "
                         f"{vip.get('nodes')} fail_counts {vip.get('fail_counts')} offline "
                         f"{offline} scheduler {json.dumps(s.get('scheduler'))}")
    return "; ".join(parts)


def recover(c):
    """After a failed trial: every link up, no partition rules, every daemon running."""
    with contextlib.suppress(Exception):
        c.heal()
    for n in c.nodes:
        if not c.alive(n):
            with contextlib.suppress(Exception):
                if isinstance(c, KaCluster):
                    c.reap(n)
                    run("ip", "-n", c.nodes[n].ns, "addr", "del", f"{VIP}/24", "dev", "eth0",
                        check=False)
                c.start(n)


def summarize(res):
    out = {}
    for fault, f in res["faults"].items():
        ms = [t["ms"] for t in f["trials"]]
        gaps = [t["gap_ms"] for t in f["trials"] if t.get("gap_ms") is not None]
        overlaps = [t["overlap_ms"] for t in f["trials"] if t.get("overlap_ms") is not None]
        let_go = [t["let_go_ms"] for t in f["trials"] if t.get("let_go_ms") is not None]
        out[fault] = {
            "n": len(ms), "failed": f["failed"],
            "median": statistics.median(ms) if ms else None,
            "p95": percentile(ms, 95) if ms else None, "max": max(ms) if ms else None,
            "min": min(ms) if ms else None,
            "min_gap": min(gaps) if gaps else None,
            "max_overlap": max(overlaps) if overlaps else None,
            "let_go_median": statistics.median(let_go) if let_go else None,
        }
    return out


def fmt(v, nd=0, unit=""):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "n/a"
    return f"{v:,.{nd}f}{unit}"


def tables(results, idle, args):
    L = []
    summ = {name: summarize(r) for name, r in results.items()}
    L.append("### Failover time: fault to the client's ARP request answered by the new holder")
    L.append("")
    L.append("| system | timing | fault | trials | median ms | p95 ms | max ms | min ms | "
             "old holder's delete to new holder's add, min | two holders at once, max |")
    L.append("|---|---|---|---|---|---|---|---|---|---|")
    for name, r in results.items():
        for fault, s in summ[name].items():
            trials = f"{s['n']}" + (f" ({s['failed']} failed)" if s["failed"] else "")
            if r["label"] == "keepalived" and fault == "crash":
                gap = "n/a (dead host keeps it)"
                overlap = "n/a (link cut)"
            else:
                gap = fmt(s["min_gap"], 1, " ms")
                overlap = ("never" if s["max_overlap"] == 0 else fmt(s["max_overlap"], 1, " ms"))
            L.append(f"| {r['label']} | {r['timing']} | {fault} | {trials} | {fmt(s['median'])} | "
                     f"{fmt(s['p95'])} | {fmt(s['max'])} | {fmt(s['min'])} | {gap} | {overlap} |")
    L.append("")
    pairs = [(h, k) for h, k in RATIO_PAIRS if h in results and k in results]
    if pairs:
        L.append("### Ratio hactl / keepalived (failover time)")
        L.append("")
        L.append("| hactl | keepalived | fault | median ratio | p95 ratio | max ratio |")
        L.append("|---|---|---|---|---|---|")
        for h, k in pairs:
            for fault in summ[h]:
                a, b = summ[h][fault], summ[k].get(fault)
                if not b or not a["median"] or not b["median"]:
                    continue
                L.append(f"| {SYSTEMS[h][1]} | {SYSTEMS[k][1]} | {fault} | "
                         f"{a['median'] / b['median']:.2f} | {a['p95'] / b['p95']:.2f} | "
                         f"{a['max'] / b['max']:.2f} |")
        L.append("")
    parts = [(n, r) for n, r in results.items() if r.get("partition")]
    if parts:
        secs = parts[0][1]["partition"]["seconds"]
        L.append(f"### Partition: the VIP holder cut off from its peer(s), the client reaching "
                 f"every node; sampled {secs:g} s")
        L.append("")
        L.append("| system | timing | nodes | old holder let go after | new holder's first "
                 "answer after | both held the VIP | client heard both MACs for | holders at "
                 "the end | after the heal (rules removed), one holder again after |")
        L.append("|---|---|---|---|---|---|---|---|---|")
        for name, r in parts:
            p = r["partition"]
            nodes = "2 (MASTER cut from BACKUP)" if r["label"] == "keepalived" else \
                "3 (holder cut from the other two)"
            let_go = fmt(p["old_holder_let_go_ms"], 0, " ms") if p["old_holder_let_go_ms"] \
                is not None else f"never (held all {secs:g} s)"
            both = "never" if p["both_held_s"] == 0 else \
                f"{p['both_held_s']:.2f} s (from {fmt(p['both_from_ms'], 0, ' ms')} on)"
            heal = "one holder throughout" if p["both_held_s"] == 0 and \
                len(p["holders_at_end"]) == 1 else fmt(p["one_holder_after_heal_ms"], 0, " ms")
            L.append(f"| {r['label']} | {r['timing']} | {nodes} | {let_go} | "
                     f"{fmt(p['new_holder_answer_ms'], 0, ' ms')} | {both} | "
                     f"{p['client_heard_both_s']:.2f} s | "
                     f"{', '.join(p['holders_at_end']) or 'none'} | {heal} |")
        L.append("")
    if idle:
        L.append(f"### Idle cost over {args.idle_seconds} s (all configurations at once, "
                 f"steady)")
        L.append("")
        uss = any(row.get("uss_mib") is not None for row in idle)
        L.append("| system | timing | node (role) | process | CPU s per minute | RSS MiB |"
                 + (" USS MiB |" if uss else ""))
        L.append("|---|---|---|---|---|---|" + ("---|" if uss else ""))
        for row in idle:
            label, timing, _ = SYSTEMS[row["system"]]
            L.append(f"| {label} | {timing} | {row['node']} ({row['role']}) | {row['process']} | "
                     f"{fmt(row['cpu_s_per_min'], 3)} | {fmt(row['rss_mib'], 1)} |"
                     + (f" {fmt(row.get('uss_mib'), 1)} |" if uss else ""))
        L.append("")
        L.append("Per node (keepalived: parent + VRRP child; hactl: agent + guard), mean over the "
                 "nodes" + ("; a node's memory is its daemon's RSS plus its helper's USS (the "
                            "helper is a fork and shares the rest):" if uss else ":"))
        L.append("")
        L.append("| system | timing | CPU s per minute | share of one core | RSS MiB, summed |"
                 + (" memory MiB (daemon RSS + helper USS) |" if uss else ""))
        L.append("|---|---|---|---|---|" + ("---|" if uss else ""))
        by = {}
        for row in idle:
            if row["cpu_s_per_min"] is None:
                continue
            d = by.setdefault(row["system"], {}).setdefault(row["node"], [0.0, 0.0, 0.0])
            d[0] += row["cpu_s_per_min"]
            d[1] += row["rss_mib"]
            helper = row["process"] in ("VRRP child", "guard")
            d[2] += (row.get("uss_mib") or 0.0) if helper else row["rss_mib"]
        for system, nodes in by.items():
            label, timing, _ = SYSTEMS[system]
            cpu, rss, mem = (statistics.mean(v[i] for v in nodes.values()) for i in range(3))
            L.append(f"| {label} | {timing} | {cpu:.3f} | {cpu / 60 * 100:.2f} % | {rss:.1f} |"
                     + (f" {mem:.1f} |" if uss else ""))
        L.append("")
    return "\n".join(L)


METHOD = """\
## Method

`bench/keepalived_compare.py` builds, for each configuration in turn, the topology of
`bench/vip_failover.py` (`tests/integration/netns.py`): a switch namespace with a bridge
(10.213.0.250) and one namespace per node (10.213.0.11, .12, .13), each with a veth link to the
bridge and a private `/run` in its own mount namespace.

- **keepalived** ({ka_version}, Debian's package) runs on two nodes, started by the script
  inside the namespaces with private pid files (`keepalived -n -l -D -G -P -f CONF -p
  /run/keepalived.pid -r /run/keepalived_vrrp.pid`; the system's service is never started):
  k1 `state MASTER`, `priority 150`; k2 `state BACKUP`, `priority 100`; one `vrrp_instance`,
  `virtual_router_id 51`, VIP 10.213.0.100/24 on eth0, unicast adverts (`unicast_src_ip` the
  router's own address, `unicast_peer` the other router's; no multicast), preemption on (the
  default). Three configurations: VRRPv2 with `advert_int 1` (the defaults), VRRPv3 with
  `advert_int 0.1`, and VRRPv3 with `advert_int 0.02` (the interval of hactl's fast
  heartbeats).
- **hactl** ({hactl_version}) runs three agents with the `vip` resource of
  `bench/vip_failover.py`, at default timing and in the fast profile; its trials are
  `vip_failover.py`'s own `trial()` and steady-state check (`steady_holder`).
- **Client**: `netns.ArpClient` in the switch namespace broadcasts an ARP request for the VIP
  every 5 ms. Failover time runs from the fault to the first reply carrying the new holder's
  MAC (so it includes up to 5 ms of polling).
- **crash**: the holder's daemon is killed with SIGKILL and its bridge port set down at the
  same instant, a dead host. keepalived: SIGKILL to its process group, the parent and its VRRP
  child at once, so the child's VIP removal on a clean exit never runs and the address stays
  in the dead node's kernel, unreachable; before k1 is started again, its VIP and pid files are
  deleted by hand (the host "rebooted"; keepalived would also remove the VIP itself when it
  starts in BACKUP) and its link is set up. hactl: SIGKILL of the agent,
  whose guard process survives and removes the VIP; the link is set up and the agent started
  again (as `vip_failover.py` does).
- **link**: the holder's bridge port is set down; the daemon lives on.
- keepalived's k1 preempts when it is back, so every keepalived trial faults k1 and k2 takes
  over; hactl trials fault whichever node holds the VIP. Each trial waits for a steady holder,
  then a random phase (keepalived: 0.1 s + uniform over one advert interval; hactl: as
  `vip_failover.py`). {trials} trials per fault; median, p95 (nearest rank, as
  `vip_failover.py`), max and min.
- **partition**: nftables drop rules (inet family, input hook, by source address) in the
  namespaces cut the VIP holder off from its peer(s) in both directions; ARP is not IP, so the
  client still reaches every node. For {secs:g} s the kernel's add and delete of the VIP in
  every namespace (`ip monitor`) and the client's replies are recorded; then the rules are
  removed. One partition per configuration.
- **Idle**: one steady cluster of each configuration, all at once, for {idle:g} s; CPU from
  `/proc/PID/task/*/schedstat` (nanoseconds on a CPU), memory as VmRSS and, where recorded,
  USS (`smaps_rollup` Private_Clean + Private_Dirty), per process (keepalived: parent and VRRP
  child; hactl: agent and guard). The helper is a fork of the daemon: summing the two RSS
  counts their shared pages twice. hactl's cluster has the VIP resource
  (`bench/idle_cost.py` measures one without resources).
- Machine: {machine}; run {date}; 1-min load average: {loads}.
"""

NOTES = """\
## What each system does

- **keepalived takes over by timer.** The backup becomes master when it has heard no advert for
  the master down interval, 3 x `advert_int` + skew, skew = (256 - priority) x `advert_int` /
  256: for k2 (priority 100) 3.61 s at `advert_int 1`, 361 ms at 0.1, 72 ms at 0.02. A fault
  lands at a random phase of the advert interval, so the times spread over one interval below
  that bound (plus the client's polling).
- **keepalived watches the carrier.** When the holder's bridge port goes down, its veth loses
  carrier; keepalived sees that over netlink ("Netlink reports eth0 down"), enters FAULT and
  deletes the VIP within about 2 ms of the cut, so nearly the whole failover time passes
  between the old holder's delete and the backup's add. hactl does not look at the carrier: a
  cut-off holder gives the VIP up when its lease ends, and the new holder adds it after the
  bound on that lease.
- **keepalived has no quorum.** A failure that leaves the carrier up (here the nftables
  partition; in practice a switch or a path further away) is invisible to it: after the
  master down interval both routers hold the VIP, the client gets two answers to every ARP
  request (its traffic goes to whichever answer its cache took last), and this lasts as long as
  the partition does. When it heals, the lower-priority router yields at the first advert it
  hears. hactl's 3-node cluster never had two holders: the cut-off holder let its VIP go at
  its lease end, and the majority started it elsewhere only after that, leaving a short gap in
  which no node answers instead of an overlap. Two keepalived routers cannot tell a dead peer
  from a partition; hactl needs a third node (or a witness) for the same reason.
- **A crashed keepalived leaves its VIP behind.** SIGKILL of keepalived (parent and VRRP child)
  leaves the address in the kernel (no delete was seen in any crash trial): on a host that
  is still up (a daemon crash, not a host crash), that node keeps answering ARP for the VIP
  while the backup takes it over. The crash trials cut the link at the same instant, so this
  does not show in the figures. hactl's guard, a separate process, removes the VIP when the
  agent dies.
- **Idle cost.** A keepalived master sends one advert per interval and the backup only
  listens; every hactl agent heartbeats every other node and answers each heartbeat (two
  datagrams per peer per interval each way) and reports its resources every second, so at
  comparable intervals hactl spends several times the CPU (CPU seconds per minute / 60 is the
  share of one core). Memory is of the same order.
- **A hactl status weakness found on the way** (first run of this benchmark, fixed since in
  8fbde85): after a cut link of a node that was coordinator and VIP holder at once, that node,
  back as a follower, kept reporting `scheduler.waiting_for: "actions in flight"` with
  `active: false`; `Conductor::tick` now clears it when the lease is lost
  (tests/unit/conductor_test.cpp).
- **Not compared**: keepalived with multicast adverts (224.0.0.18), `nopreempt`, `vrrp_script`
  tracking or VRRPv3 at 10 ms; hactl in a 2-node + witness cluster. keepalived runs 2 nodes,
  hactl 3 (its minimum for quorum), so the figures compare what each needs for one VIP with one
  failure.
"""


def run_meta(args, ka_version):
    """What the document says about the run that produced the figures."""
    cmd = ["python3", "bench/keepalived_compare.py"] + sys.argv[1:]
    if "HACTL_BIN_DIR" in os.environ:
        cmd.insert(0, f"HACTL_BIN_DIR={os.environ['HACTL_BIN_DIR']}")
    return {
        "command": " ".join(cmd), "keepalived": ka_version, "hactl": hactl_version(),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs, Linux {platform.release()}",
        "loads": "; ".join(f"{what} {a} at the start, {b} at the end"
                           for what, a, b in getattr(args, "loads", [])),
        "trials": args.trials, "partition_seconds": args.partition_seconds,
        "idle_seconds": args.idle_seconds,
    }


def write_doc(path, text, meta, note=None):
    with open(path, "w") as f:
        f.write("# Failover speed side by side: hactl and keepalived\n\n")
        f.write("Measured by `bench/keepalived_compare.py` in one run, as root:\n"
                f"`{meta['command']}`.\n\n")
        f.write(METHOD.format(
            ka_version=meta["keepalived"], hactl_version=meta["hactl"],
            secs=meta["partition_seconds"], idle=meta["idle_seconds"], trials=meta["trials"],
            loads=meta["loads"] or "not recorded", date=meta["date"], machine=meta["machine"]))
        if note:
            f.write("\n" + note.strip() + "\n")
        f.write("\n## Figures\n\n")
        f.write(text)
        f.write("\n")
        f.write(NOTES)


def render(path, doc, note):
    """Tables (and the document) again from a saved --json file, measuring nothing."""
    with open(path) as f:
        saved = json.load(f)
    args = argparse.Namespace(**saved["args"])
    meta = saved.get("meta") or {
        "command": f"python3 bench/keepalived_compare.py {args.trials}"
                   + (f" --json {args.json}" if args.json else ""),
        "keepalived": saved.get("keepalived", "keepalived ?"), "hactl": hactl_version(),
        "date": datetime.datetime.fromtimestamp(os.stat(path).st_mtime, datetime.timezone.utc)
        .strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{os.cpu_count()} CPUs, Linux {platform.release()}", "loads": "",
        "trials": args.trials, "partition_seconds": args.partition_seconds,
        "idle_seconds": args.idle_seconds}
    text = tables(saved["results"], saved["idle"], args)
    log(text)
    if doc:
        write_doc(doc, text, meta, note)
        log(f"wrote {doc}")


def hactl_version():
    agent = os.path.join(netns.BIN_DIR, "hactl-agent")
    try:
        r = subprocess.run([agent, "--version"], capture_output=True, text=True, timeout=10)
        built = datetime.datetime.fromtimestamp(os.stat(agent).st_mtime, datetime.timezone.utc)
    except (OSError, subprocess.SubprocessError):
        return "hactl-agent ?"
    return f"`{r.stdout.strip()}`, agent binary of {built:%Y-%m-%d %H:%M} UTC"


def keepalived_version():
    r = subprocess.run([KEEPALIVED, "--version"], capture_output=True, text=True, timeout=10)
    return ((r.stdout + r.stderr).splitlines() or ["keepalived ?"])[0].strip()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trials", nargs="?", type=int, default=20)
    ap.add_argument("--systems", default=DEFAULT_SYSTEMS,
                    help=f"comma-separated, from {', '.join(SYSTEMS)}")
    ap.add_argument("--faults", default="crash,link")
    ap.add_argument("--partition-seconds", type=float, default=10)
    ap.add_argument("--idle-seconds", type=float, default=30)
    ap.add_argument("--doc", help="also write the tables and the method to this markdown file")
    ap.add_argument("--json", help="write every measurement to this file")
    ap.add_argument("--render", metavar="JSON",
                    help="measure nothing: print the tables (and write --doc) from a --json file")
    ap.add_argument("--doc-note", help="a paragraph added to the document's method")
    args = ap.parse_args()
    if args.render:
        render(args.render, args.doc, args.doc_note)
        return
    if not 0 <= args.partition_seconds <= 60 or not 0 <= args.idle_seconds <= 300 \
            or not 0 < args.trials <= 100:
        ap.error("bounds: 1..100 trials, partition 0..60 s, idle 0..300 s")
    names = [s for s in args.systems.split(",") if s]
    faults = [f for f in args.faults.split(",") if f]
    if any(f not in ("crash", "link") for f in faults):
        ap.error("faults: crash, link")
    for s in names:
        if s not in SYSTEMS:
            ap.error(f"unknown system {s}")
    if any(SYSTEMS[s][2][0] == "ka" for s in names) and not os.access(KEEPALIVED, os.X_OK):
        sys.exit("keepalived is not installed: run bench/setup.sh as root (installs Debian's "
                 "keepalived and leaves its service disabled; this benchmark never uses it)")
    ka_version = keepalived_version() if os.access(KEEPALIVED, os.X_OK) else "n/a"
    log(f"{ka_version}; hactl from {netns.BIN_DIR}")
    started = time.monotonic()
    results = {}
    for i, name in enumerate(names if faults or args.partition_seconds > 0 else []):
        t = time.monotonic()
        load0 = loadavg()
        results[name] = run_system(name, args.trials, faults, args.partition_seconds, tag=str(i))
        results[name]["load"] = (load0, loadavg())
        log(f"{name}: {time.monotonic() - t:.0f} s (1-min load average {load0} at the start, "
            f"{results[name]['load'][1]} at the end)")
    idle_load = loadavg()
    idle = idle_costs(names, args.idle_seconds, "i") if args.idle_seconds > 0 else []
    args.loads = [(SYSTEMS[n][0] + " " + SYSTEMS[n][1], *r["load"]) for n, r in results.items()] + \
        [("idle measurement", idle_load, loadavg())]
    text = tables(results, idle, args)
    log("")
    log(text)
    errors = [f"{n}: {e}" for n, r in results.items() for e in r["errors"]]
    if errors:
        log("Failed trials:\n" + "\n".join(errors))
    log(f"total {time.monotonic() - started:.0f} s")
    meta = run_meta(args, ka_version)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"keepalived": ka_version, "meta": meta, "args": vars(args),
                       "results": results, "idle": idle}, f, indent=1)
    if args.doc:
        write_doc(args.doc, text, meta, args.doc_note)
        log(f"wrote {args.doc}")


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        sys.exit(1)
    main()
