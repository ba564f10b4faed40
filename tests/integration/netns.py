"""A real hactl cluster in Linux network namespaces, for tests, the demo and benchmarks.

Each node is a network namespace with one veth link to a bridge in a private "switch"
namespace, an address in 10.213.0.0/24, a private /run (bind-mounted in its own mount
namespace, as a real host has) and a real hactl-agent. Nothing outside the namespaces this
module creates is touched; traffic goes only to their 10.213.0.0/16 addresses. Cleanup (agents
by PID, namespaces, temp dir) runs on exit, on SIGINT/SIGTERM and when a test fails.

Several clusters can share one switch (SharedSwitch, Cluster(switch=...)), each with a name and
a subnet of its own, as the pairs an arbiter serves do (test_arbiter_fleet.py).
"""

import atexit
import datetime
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("HACTL_BIN_DIR", os.path.join(REPO, "build", "bin"))
AGENT = os.path.join(BIN_DIR, "hactl-agent")
# hactl's Pacemaker commands (crm_attribute, crm_mon, ...) for the resource agents: the build's.
TOOLS_DIR = os.environ.get("HACTL_TOOLS_DIR",
                           os.path.normpath(os.path.join(BIN_DIR, "..", "lib", "hactl", "bin")))
HACTL = os.path.join(BIN_DIR, "hactl")
ARBITER = os.path.join(BIN_DIR, "hactl-arbiter")
SUBNET = "10.213.0"

# What the exit and signal handlers clean up: clusters, shared switches, arbiters (anything
# with cleanup()), each removed from here once cleaned.
_live = []
_serial = itertools.count()  # names every cluster's and switch's namespaces apart


def vip_resources(address=f"{SUBNET}.100", monitor="1s", rid="vip", prefix_len=24):
    """The resources section of a cluster with one vip on eth0, monitored every `monitor`."""
    return (f"\nresources:\n  - id: {rid}\n    type: vip\n"
            f"    params: {{address: {address}/{prefix_len}, interface: eth0}}\n"
            f"    ops: {{monitor: {{interval: {monitor}, timeout: 5s}}}}\n")


def cannot_run(reason):
    """A test that cannot run here: skipped (ctest shows it as not run, exit 77), or, where
    HACTL_NO_SKIP is set (CI), failed, so nothing is left untested without anyone noticing."""
    if os.environ.get("HACTL_NO_SKIP"):
        raise AssertionError(f"cannot run: {reason} (HACTL_NO_SKIP is set)")
    raise unittest.SkipTest(reason)


def main():
    """unittest.main, exiting 77 (ctest's SKIP_RETURN_CODE) when nothing ran but skips."""
    result = unittest.main(verbosity=2, exit=False).result
    if not result.wasSuccessful():
        raise SystemExit(1)
    if result.skipped and result.testsRun <= len(result.skipped):
        raise SystemExit(77)
    raise SystemExit(0)


def run(*cmd, check=True, timeout=10, **kw):
    return subprocess.run(cmd, check=check, timeout=timeout, capture_output=True, text=True, **kw)


def _cleanup_all(*_args):
    for c in list(_live):
        c.cleanup()


def _on_signal(signum, _frame):
    _cleanup_all()
    raise SystemExit(128 + signum)


atexit.register(_cleanup_all)
for _sig in (signal.SIGINT, signal.SIGTERM):
    signal.signal(_sig, _on_signal)


def register(obj):
    """Have obj.cleanup() run at exit or on SIGINT/SIGTERM if nothing ran it before."""
    _live.append(obj)


def unregister(obj):
    if obj in _live:
        _live.remove(obj)


def make_bridge(ns, cidr):
    """Bridge br0, up, with address `cidr`, in namespace `ns`: a switch."""
    run("ip", "-n", ns, "link", "add", "br0", "type", "bridge")
    # A switch forwards frames; it does not run the host's firewall on them. With
    # br_netfilter loaded on the host, every frame bridged here would (per namespace, so
    # this changes nothing outside it).
    for table in ("iptables", "ip6tables", "arptables"):
        run("ip", "netns", "exec", ns, "sysctl", "-qw", f"net.bridge.bridge-nf-call-{table}=0",
            check=False)
    run("ip", "-n", ns, "addr", "add", cidr, "dev", "br0")
    run("ip", "-n", ns, "link", "set", "br0", "up")


def plug(switch, ns, port, cidr, bridge=True):
    """Link namespace `ns` (its eth0, address `cidr`; eth0 and lo up) to port `port` of the
    switch in namespace `switch`: on its bridge, or, with bridge False, left for a relay."""
    run("ip", "-n", ns, "link", "add", "eth0", "type", "veth", "peer", "name", port, "netns",
        switch)
    run("ip", "-n", ns, "addr", "add", cidr, "dev", "eth0")
    run("ip", "-n", ns, "link", "set", "eth0", "up")
    run("ip", "-n", ns, "link", "set", "lo", "up")
    if bridge:
        run("ip", "-n", switch, "link", "set", port, "master", "br0")
    run("ip", "-n", switch, "link", "set", port, "up")


class SharedSwitch:
    """A switch (br0 in a namespace of its own, address `cidr`) that several clusters, each
    with a subnet of its own, and an arbiter plug into. Its namespace is deleted at cleanup,
    at exit or on a signal, whichever comes first."""

    def __init__(self, cidr):
        self.ns = f"hx{os.getpid() % 100000}s{next(_serial)}-sw"
        self.cidr = cidr
        self.created = False
        register(self)

    def setup(self):
        run("ip", "netns", "add", self.ns)
        self.created = True
        make_bridge(self.ns, self.cidr)

    def cleanup(self):
        if self.created:
            run("ip", "netns", "del", self.ns, check=False)
            self.created = False
        unregister(self)


class Node:
    def __init__(self, cluster, index, name, witness):
        self.cluster = cluster
        self.index = index
        self.name = name
        self.witness = witness
        self.ns = f"{cluster.prefix}-{name}"
        self.ip = f"{cluster.subnet}.{11 + index}"
        self.port = 5405
        # On a shared switch the cluster's name tells its ports from the others'.
        self.switch_port = f"p{index}" if cluster.own_switch else f"{cluster.name}-{index}"
        assert len(self.switch_port) <= 15, f"interface name {self.switch_port} too long"
        base = os.path.join(cluster.tmp, name)
        self.run_dir = base + "-run"
        self.state_dir = base + "-state"
        self.socket = base + ".sock"
        self.log_path = base + ".log"
        self.proc = None

    def exec(self, *cmd, check=True, timeout=10):
        return run("ip", "netns", "exec", self.ns, *cmd, check=check, timeout=timeout)


class Cluster:
    """A cluster of len(names) nodes; names in `witnesses` are witness nodes. Its nodes are at
    `subnet`.11, .12, ... /`prefix_len`, on a switch of its own or on `switch` (a
    SharedSwitch, set up, which the cluster leaves in place)."""

    def __init__(self, names=("n1", "n2", "n3"), witnesses=(), heartbeat="100ms",
                 node_timeout="300ms", extra_cluster_yaml="", resources_yaml="", tmp_parent=None,
                 name="netns", subnet=SUBNET, prefix_len=24, switch=None):
        self.prefix = f"hx{os.getpid() % 100000}{next(_serial)}"
        self.name = name
        self.subnet = subnet
        self.prefix_len = prefix_len
        self.own_switch = switch is None
        # tmp_parent: a directory outside /tmp, for a node whose agent runs where /tmp is
        # private (under a systemd of its own, test_packaging.py).
        self.tmp = tempfile.mkdtemp(prefix="hactl-netns-", dir=tmp_parent)
        self.switch = f"{self.prefix}-sw" if switch is None else switch.ns
        self.nodes = {n: Node(self, i, n, n in witnesses) for i, n in enumerate(names)}
        self.heartbeat = heartbeat
        self.node_timeout = node_timeout
        self.extra_cluster_yaml = extra_cluster_yaml
        self.resources_yaml = resources_yaml
        self.created_ns = []
        self.hosts_file = None  # write_hosts()
        self.cleaned = False
        self.final_logs = {}
        register(self)

    # ------------------------------------------------------------------ lifecycle
    def __enter__(self):
        try:
            self.setup()
        except BaseException:
            self.cleanup()
            raise
        return self

    def __exit__(self, exc_type, _exc, _tb):
        if exc_type is not None and not issubclass(exc_type, (SystemExit, KeyboardInterrupt)):
            self.dump_logs()
        self.cleanup()
        return False

    def setup(self):
        for prog in (AGENT, HACTL):
            if not os.access(prog, os.X_OK):
                raise RuntimeError(f"{prog} not built (run scripts/setup.sh)")
        if self.own_switch:
            self._add_ns(self.switch)
            make_bridge(self.switch, f"{self.subnet}.250/{self.prefix_len}")
        for node in self.nodes.values():
            self._add_ns(node.ns)
            plug(self.switch, node.ns, node.switch_port, f"{node.ip}/{self.prefix_len}")
            os.makedirs(os.path.join(node.run_dir, "hactl"), mode=0o755)
        self.key = os.path.join(self.tmp, "authkey")
        run(HACTL, "keygen", self.key)
        self.config = os.path.join(self.tmp, "cluster.yaml")
        with open(self.config, "w") as f:
            f.write(self.config_text())

    def write_hosts(self):
        """Give every node (from its next start) an /etc/hosts naming the cluster's nodes, bound
        over the host's own in its private mount namespace."""
        self.hosts_file = os.path.join(self.tmp, "hosts")
        with open(self.hosts_file, "w") as f:
            f.write("127.0.0.1 localhost\n")
            for n in self.nodes.values():
                f.write(f"{n.ip} {n.name}\n")
        os.chmod(self.hosts_file, 0o644)

    def config_text(self):
        lines = ["cluster:", f"  name: {self.name}", f"  auth_key_file: {self.key}",
                 f"  heartbeat_interval: {self.heartbeat}", f"  node_timeout: {self.node_timeout}"]
        lines += [self.extra_cluster_yaml] if self.extra_cluster_yaml else []
        lines.append("nodes:")
        for n in self.nodes.values():
            lines += [f"  - name: {n.name}", f"    address: {n.ip}:{n.port}"]
            if n.witness:
                lines.append("    witness: true")
        if self.resources_yaml:
            lines.append(self.resources_yaml.strip("\n"))
        return "\n".join(lines) + "\n"

    def _add_ns(self, name):
        run("ip", "netns", "add", name)
        self.created_ns.append(name)

    def cleanup(self):
        if self.cleaned:
            return
        self.cleaned = True
        for node in self.nodes.values():
            # The agent's children too (its guard and any resource agent running): a dead
            # agent's guard would otherwise linger until its lease deadline + grace.
            children = self._children(node.proc.pid) if self.alive(node.name) else []
            self.kill(node.name, signal.SIGKILL)
            for pid in children:
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
            self.final_logs[node.name] = self.log(node.name)
        for ns in reversed(self.created_ns):
            run("ip", "netns", "del", ns, check=False)
        shutil.rmtree(self.tmp, ignore_errors=True)
        unregister(self)

    @staticmethod
    def _children(pid):
        try:
            with open(f"/proc/{pid}/task/{pid}/children") as f:
                return [int(x) for x in f.read().split()]
        except OSError:
            return []

    def dump_logs(self, lines=50):
        of = "" if self.name == "netns" else f" in {self.name}"
        for node in self.nodes.values():
            print(f"----- last {lines} lines of {node.name}'s agent log{of} -----")
            text = self.final_logs.get(node.name) or self.log(node.name)
            print("\n".join(text.splitlines()[-lines:]) or "(no log)")

    # ------------------------------------------------------------------ agents
    def start(self, name):
        node = self.nodes[name]
        assert node.proc is None or node.proc.poll() is not None, f"{name} already running"
        # A hosts file of the cluster's own (node names to addresses), when asked for: for
        # agents that reach their peers by node name (redis).
        hosts = f"mount --bind {self.hosts_file} /etc/hosts && " if self.hosts_file else ""
        agent = (f"{hosts}mount --bind {node.run_dir} /run && exec {AGENT} --config {self.config} "
                 f"--node {name} --socket {node.socket} --state-dir {node.state_dir} "
                 f"--tools-dir {TOOLS_DIR}")
        log = open(node.log_path, "a")
        node.proc = subprocess.Popen(
            ["ip", "netns", "exec", node.ns, "unshare", "--mount", "--propagation", "private",
             "sh", "-c", agent], stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()
        # ip netns exec, unshare and sh all exec: the PID we hold becomes the agent itself.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            try:
                if os.path.basename(os.readlink(f"/proc/{node.proc.pid}/exe")) == "hactl-agent":
                    return node.proc.pid
            except OSError:
                pass
            if node.proc.poll() is not None:
                break
            time.sleep(0.01)
        raise RuntimeError(f"{name}: hactl-agent did not start; log:\n" + self.log(name))

    def start_all(self):
        for name in self.nodes:
            self.start(name)

    def kill(self, name, sig=signal.SIGKILL):
        node = self.nodes[name]
        if node.proc is None or node.proc.poll() is not None:
            return
        os.kill(node.proc.pid, sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            try:
                node.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.kill(node.proc.pid, signal.SIGKILL)
                node.proc.wait(timeout=10)

    def restart(self, name):
        self.kill(name)
        return self.start(name)

    def alive(self, name):
        p = self.nodes[name].proc
        return p is not None and p.poll() is None

    def log(self, name):
        try:
            with open(self.nodes[name].log_path) as f:
                return f.read()
        except OSError:
            return ""

    # ------------------------------------------------------------------ observing
    def status(self, name, timeout=3):
        try:
            r = run(HACTL, "--socket", self.nodes[name].socket, "status", "--json", check=False,
                    timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        if r.returncode != 0:
            return None
        return json.loads(r.stdout)

    def scrape(self, name, host="127.0.0.1", port=9405):
        """The node's Prometheus text, fetched from inside its namespace (a CompletedProcess)."""
        code = ("import sys, urllib.request\n"
                f"print(urllib.request.urlopen('http://{host}:{port}/metrics', timeout=3)"
                ".read().decode())")
        return self.nodes[name].exec(sys.executable, "-c", code, check=False)

    def hactl(self, name, *args, check=False):
        return run(HACTL, "--socket", self.nodes[name].socket, *args, check=check)

    def views(self, names=None):
        """{node: status or None} for the given (default: running) nodes."""
        names = names or [n for n in self.nodes if self.alive(n)]
        return {n: self.status(n) for n in names}

    def agreed_coordinator(self, names=None):
        """The coordinator every given node names while having quorum, else None."""
        views = self.views(names)
        coords = {v["coordinator"] if v and v["quorum"] else None for v in views.values()}
        if len(coords) != 1:
            return None
        (c,) = coords
        return c

    @staticmethod
    def wait_until(predicate, timeout, interval=0.05, what="condition"):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = predicate()
            if last:
                return last
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting for {what}")

    # ------------------------------------------------------------------ faults
    def link_down(self, name):
        run("ip", "-n", self.switch, "link", "set", self.nodes[name].switch_port, "down")

    def link_up(self, name):
        run("ip", "-n", self.switch, "link", "set", self.nodes[name].switch_port, "up")

    def block(self, src, dst):
        """Drop everything src sends to dst (one way), with nftables inside dst's namespace."""
        d = self.nodes[dst]
        d.exec("nft", "add table inet hactl_test")
        d.exec("nft", "add chain inet hactl_test input { type filter hook input priority 0 ; }")
        d.exec("nft", f"add rule inet hactl_test input ip saddr {self.nodes[src].ip} drop")

    def partition(self, side_a, side_b):
        for a in side_a:
            for b in side_b:
                self.block(a, b)
                self.block(b, a)

    def heal(self):
        for node in self.nodes.values():
            node.exec("nft", "delete table inet hactl_test", check=False)
            self.link_up(node.name)

    def mac(self, name):
        return self.nodes[name].exec("cat", "/sys/class/net/eth0/address").stdout.strip().lower()

    def holders(self, address, dev="eth0"):
        """The nodes whose namespace holds `address` on `dev` right now."""
        out = []
        for name, node in self.nodes.items():
            r = run("ip", "-n", node.ns, "-o", "addr", "show", "dev", dev, check=False)
            if f" {address}/" in r.stdout:
                out.append(name)
        return out

    def send_from_switch(self, dst, payloads):
        """Send raw UDP datagrams from the switch namespace (10.213.0.250) to dst's agent."""
        node = self.nodes[dst]
        # Paced, so the agent's socket buffer never overflows and every datagram is judged.
        code = ("import socket,sys,json,time\n"
                "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                "for p in json.loads(sys.stdin.read()):\n"
                f"    s.sendto(bytes.fromhex(p),('{node.ip}',{node.port}))\n"
                "    time.sleep(0.001)\n")
        self._in_switch(code, payloads)

    def _in_switch(self, code, payloads):
        """Run python `code` in the switch namespace with `payloads` (hex, JSON) on its stdin."""
        subprocess.run(["ip", "netns", "exec", self.switch, "python3", "-c", code],
                       input=json.dumps([p.hex() for p in payloads]), text=True, check=True,
                       timeout=10)

    def send_spoofed(self, src, dst, payloads):
        """Send UDP datagrams from the switch namespace to dst's agent with src's address and
        port as their source (a raw IPv4 socket writes the header; UDP checksum 0: none)."""
        s, d = self.nodes[src], self.nodes[dst]
        code = ("import socket,struct,sys,json,time\n"
                "r=socket.socket(socket.AF_INET,socket.SOCK_RAW,socket.IPPROTO_RAW)\n"
                f"src=socket.inet_aton('{s.ip}'); dst=socket.inet_aton('{d.ip}')\n"
                "for p in json.loads(sys.stdin.read()):\n"
                "    p=bytes.fromhex(p)\n"
                f"    udp=struct.pack('!HHHH',{s.port},{d.port},8+len(p),0)+p\n"
                "    ip=struct.pack('!BBHHHBBH4s4s',0x45,0,20+len(udp),0,0,64,17,0,src,dst)\n"
                f"    r.sendto(ip+udp,('{d.ip}',0))\n"
                "    time.sleep(0.001)\n")
        self._in_switch(code, payloads)

    def capture(self, on, src, dst, count, timeout=5):
        """Up to `count` hactl datagrams src's agent sends to dst's, captured by a packet socket
        on `on`'s eth0 (the payloads, as bytes)."""
        s, d = self.nodes[src], self.nodes[dst]
        code = ("import socket,struct,sys,time\n"
                "s=socket.socket(socket.AF_PACKET,socket.SOCK_RAW,socket.ntohs(3))\n"
                f"s.bind(('eth0',0)); s.settimeout({timeout}); end=time.monotonic()+{timeout}\n"
                "n=0\n"
                f"while n<{count} and time.monotonic()<end:\n"
                "    p=s.recv(2048)\n"
                "    if p[12:14]!=b'\\x08\\x00' or p[23]!=17: continue\n"
                "    ihl=(p[14]&15)*4; u=14+ihl\n"
                f"    if p[26:30]!=socket.inet_aton('{s.ip}') or "
                f"p[30:34]!=socket.inet_aton('{d.ip}'): continue\n"
                f"    if struct.unpack('!H',p[u+2:u+4])[0]!={d.port}: continue\n"
                "    print(p[u+8:].hex()); n+=1\n")
        r = run("ip", "netns", "exec", self.nodes[on].ns, "python3", "-c", code,
                timeout=timeout + 10)
        return [bytes.fromhex(line) for line in r.stdout.split()]


class AddressWatch:
    """Every node's kernel view of `address` on eth0, from `ip monitor` in each namespace:
    the times (realtime clock, microseconds) the address was added and deleted there. Shows
    whether two nodes ever held it at once, however briefly, which sampling cannot. With
    address None, every address on eth0: `changes` has (epoch seconds, node, held, address)."""

    def __init__(self, cluster, address, settle=0.2):
        self.address = address
        self.events = []  # (epoch seconds, node, held)
        self.changes = []  # (epoch seconds, node, held, address)
        self.initial = set(cluster.holders(address)) if address else set()
        self.lock = threading.Lock()
        self.procs = []
        for name, node in cluster.nodes.items():
            p = subprocess.Popen(["ip", "-n", node.ns, "-ts", "-o", "monitor", "address", "dev",
                                  "eth0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                 text=True)
            t = threading.Thread(target=self._read, args=(name, p), daemon=True)
            t.start()
            self.procs.append((p, t))
        time.sleep(settle)  # the monitors subscribe (0: the caller waits, once for many)

    def _read(self, name, proc):
        for line in proc.stdout:
            m = re.search(r" inet6? (\S+)/", line)
            if not m or not line.startswith("[") or self.address not in (None, m.group(1)):
                continue
            stamp = datetime.datetime.fromisoformat(line[1:line.index("]")]).timestamp()
            held = "Deleted " not in line
            with self.lock:
                self.events.append((stamp, name, held))
                self.changes.append((stamp, name, held, m.group(1)))

    def close(self):
        for p, t in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait(timeout=10)
            t.join(timeout=10)
            p.stdout.close()

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()

    def intervals(self):
        """{node: [(from, to)]} the times each node held the address (None: still holds)."""
        out, since = {}, {n: 0.0 for n in self.initial}
        with self.lock:
            events = sorted(self.events)
        for t, n, held in events:
            if held and n not in since:
                since[n] = t
            elif not held and n in since:
                out.setdefault(n, []).append((since.pop(n), t))
        for n, t in since.items():
            out.setdefault(n, []).append((t, None))
        return out

    def longest_overlap(self, ended=None):
        """The longest time two nodes held the address at once, in seconds (0: never).
        `ended`: {node: epoch seconds} after which a node counts as not holding it (a node
        powered off by a fence keeps the address in its dead namespace)."""
        ended = ended or {}
        spans = [(n, a, min(b if b is not None else float("inf"), ended.get(n, float("inf"))))
                 for n, v in self.intervals().items() for a, b in v]
        worst = 0.0
        for i, (n1, a1, b1) in enumerate(spans):
            for n2, a2, b2 in spans[i + 1:]:
                if n1 != n2:
                    worst = max(worst, min(b1, b2) - max(a1, a2))
        return worst

    def handover_gap(self, old, new):
        """Seconds from `old` deleting the address to `new` adding it (negative: overlap)."""
        gone = [b for a, b in self.intervals().get(old, []) if b is not None]
        came = [a for a, _ in self.intervals().get(new, []) if a > 0]
        return (min(came) - max(gone)) if gone and came else None


ARP_CLIENT = r"""
import select, socket, struct, sys, time
dev, src, dst, interval, deadline = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4]), \
    time.monotonic() + float(sys.argv[5])
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x0806))
s.bind((dev, 0x0806))
mac, src, dst = s.getsockname()[4], socket.inet_aton(src), socket.inet_aton(dst)
request = (b"\xff" * 6 + mac + struct.pack("!HHHBBH", 0x0806, 1, 0x0800, 6, 4, 1) + mac + src
           + b"\0" * 6 + dst)
next_send = 0.0
while time.monotonic() < deadline:
    if time.monotonic() >= next_send:
        s.send(request)
        next_send = time.monotonic() + interval
    if select.select([s], [], [], max(0.0, next_send - time.monotonic()))[0]:
        p = s.recv(128)
        if len(p) >= 42 and p[20:22] == b"\0\2" and p[28:32] == dst:
            print("%.6f %s" % (time.monotonic(), p[22:28].hex(":")), flush=True)
"""


ND_CLIENT = r"""
import select, socket, struct, sys, time
dev, dst, interval, deadline = sys.argv[1], sys.argv[2], float(sys.argv[3]), \
    time.monotonic() + float(sys.argv[4])
s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
s.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, dev.encode())
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 255)
ifindex = socket.if_nametoindex(dev)
s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, ifindex)
with open("/sys/class/net/%s/address" % dev) as f:
    mac = bytes.fromhex(f.read().strip().replace(":", ""))
target = socket.inet_pton(socket.AF_INET6, dst)
group = socket.inet_ntop(socket.AF_INET6, b"\xff\x02" + b"\0" * 9 + b"\x01\xff" + target[13:])
request = struct.pack("!BBHI", 135, 0, 0, 0) + target + bytes([1, 1]) + mac
next_send = 0.0
while time.monotonic() < deadline:
    if time.monotonic() >= next_send:
        s.sendto(request, (group, 0, 0, ifindex))
        next_send = time.monotonic() + interval
    if select.select([s], [], [], max(0.0, next_send - time.monotonic()))[0]:
        p = s.recv(256)
        # A solicited advertisement for the target, with its link-layer address option.
        if len(p) >= 32 and p[0] == 136 and p[4] & 0x40 and p[8:24] == target:
            at = 24
            while at + 8 <= len(p) and p[at + 1]:
                if p[at] == 2:
                    print("%.6f %s" % (time.monotonic(), p[at + 2:at + 8].hex(":")), flush=True)
                    break
                at += p[at + 1] * 8
"""


class ArpClient:
    """The client: in the switch namespace, broadcasts an ARP request for `address` every
    `interval` seconds (never unicast to a MAC it learnt, so a new holder's answer is seen at
    once) and records every reply with the monotonic time it arrived. Debian's iputils arping
    cannot ask more often than once a second, too coarse to time a failover; the tests use
    arping itself to check who answers."""

    def __init__(self, cluster, address, interval=0.005, deadline=600):
        self.replies = []  # (monotonic time, mac)
        self.cond = threading.Condition()
        # An IPv6 address: neighbour solicitations instead (the switch namespace needs an
        # address of that subnet on br0, or its link-local one, as the source).
        cmd = (["python3", "-c", ND_CLIENT, "br0", address, str(interval), str(deadline)]
               if ":" in address else
               ["python3", "-c", ARP_CLIENT, "br0", f"{SUBNET}.250", address, str(interval),
                str(deadline)])
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", cluster.switch] + cmd,
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        for line in self.proc.stdout:
            t, mac = line.split()
            with self.cond:
                self.replies.append((float(t), mac))
                self.cond.notify_all()

    def wait_reply(self, mac, after, timeout):
        """The time of the first reply from `mac` read after `after`, or None at the timeout."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t, m in self.replies:
                    if t > after and m == mac:
                        return t
                left = deadline - time.monotonic()
                if left <= 0 or self.proc.poll() is not None:
                    return None
                self.cond.wait(min(left, 0.05))

    def macs_since(self, after):
        with self.cond:
            return [m for t, m in self.replies if t > after]

    def longest_gap(self, start, end):
        """The longest time in [start, end] without a reply, in seconds."""
        with self.cond:
            times = [start] + [t for t, _ in self.replies if start < t < end] + [end]
        return max(b - a for a, b in zip(times, times[1:]))

    def close(self):
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)
        self.thread.join(timeout=10)

    def __enter__(self):
        return self

    def __exit__(self, *_):
        self.close()


class ClusterTestCase(unittest.TestCase):
    """A TestCase whose clusters are cleaned up after each test, and whose agents' logs are
    printed after a test that failed."""

    log_lines = 50

    @classmethod
    def setUpClass(cls):
        # Every cluster lives in network namespaces: root only, through the one skip path.
        if os.geteuid() != 0:
            cannot_run("needs root for network namespaces")

    def run(self, result=None):
        self.clusters = []
        result = result or self.defaultTestResult()
        before = len(result.failures) + len(result.errors)
        super().run(result)
        if len(result.failures) + len(result.errors) > before:
            for c in self.clusters:
                c.dump_logs(self.log_lines)
        return result

    def cluster(self, **kw):
        c = Cluster(**kw)
        self.clusters.append(c)
        self.addCleanup(c.cleanup)
        c.setup()
        return c
