"""hactl-arbiter, real, in a network namespace of its own on a test switch (docs/pairs.md): the
arbiter of the netns pair tests (test_pair_arbiter.py: one pair, test_arbiter_fleet.py: fifty)
and of the benches that time a pair (bench/pair_failover.py, bench/idle_cost.py).
"""

import json
import os
import shutil
import signal
import subprocess
import tempfile

from nemesis import RELAY
from netns import ARBITER, HACTL, SUBNET, Cluster, cannot_run, plug, register, run, unregister

ARBITER_IP = f"{SUBNET}.200"
PORT = 5406
HTTP = "127.0.0.1:9406"  # its status and metrics, inside its namespace


def require_netns_arbiter():
    """Skips (cannot_run) a test that needs root for namespaces, hactl-arbiter and nft."""
    if os.geteuid() != 0:
        cannot_run("needs root for network namespaces")
    for prog in (ARBITER, "/usr/sbin/nft"):
        if not os.access(prog, os.X_OK):
            cannot_run(f"{prog} is missing")


def cpu_seconds(pid):
    """utime + stime of process `pid` so far, in seconds (/proc/PID/stat)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


class ArbiterHost:
    """hactl-arbiter in a namespace of its own, plugged into the switch in namespace `switch` (a
    Cluster's own, or a SharedSwitch's) at `cidr`, serving `clusters` (one key file each in its
    key directory, written by `hactl arbiter key` from the cluster's file), optionally behind a
    relay delaying each direction by `delay` seconds. Ended by its PID and its namespace deleted
    at cleanup, at exit or on a signal."""

    def __init__(self, switch, clusters, delay=0, cidr=f"{ARBITER_IP}/24"):
        self.switch = switch
        self.clusters = list(clusters)
        self.delay = delay
        self.cidr = cidr
        self.address = f"{cidr.split('/')[0]}:{PORT}"
        self.ns = switch.rsplit("-", 1)[0] + "-arb"
        self.root = tempfile.mkdtemp(prefix="hactl-arbiter-")
        self.proc = self.relay = None
        self.created = False
        self.show_log = True  # the arbiter's last lines at cleanup (a test's, for its reader)
        register(self)

    def setup(self):
        run("ip", "netns", "add", self.ns)
        self.created = True
        plug(self.switch, self.ns, "pa", self.cidr, bridge=not self.delay)
        if self.delay:
            self._relay()
        os.makedirs(os.path.join(self.root, "keys"), mode=0o700)
        os.makedirs(os.path.join(self.root, "state"), mode=0o700)
        for c in self.clusters:
            run(HACTL, "arbiter", "key", "--config", c.config, "--output",
                os.path.join(self.root, "keys", f"{c.name}.key"))

    def _relay(self):
        sw = self.switch
        run("ip", "-n", sw, "link", "add", "arr", "type", "veth", "peer", "name", "arrb")
        run("ip", "-n", sw, "link", "set", "arrb", "master", "br0")
        run("ip", "-n", sw, "link", "set", "arrb", "up")
        run("ip", "-n", sw, "link", "set", "arr", "up")
        self.relay = subprocess.Popen(
            ["ip", "netns", "exec", sw, "python3", "-c", RELAY, "pa", "arr", "out,in", "0",
             str(self.delay), "0", "0", "1", "900"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        if self.relay.stdout.readline().strip() != "ready":
            raise RuntimeError("the delay relay did not start")

    def start(self):
        log = open(os.path.join(self.root, "arbiter.log"), "a")
        # ip netns exec execs: the PID we hold is the arbiter's own.
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", self.ns, ARBITER, "--listen", self.address, "--keys",
             os.path.join(self.root, "keys"), "--state-dir", os.path.join(self.root, "state"),
             "--metrics", HTTP],
            stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        Cluster.wait_until(lambda: "event=arbiter_started" in self.log(), 10,
                           what="hactl-arbiter started")

    def log(self):
        try:
            with open(os.path.join(self.root, "arbiter.log")) as f:
                return f.read()
        except OSError:
            return ""

    def status(self):
        code = ("import urllib.request;print(urllib.request.urlopen("
                f"'http://{HTTP}/status', timeout=2).read().decode())")
        r = run("ip", "netns", "exec", self.ns, "python3", "-c", code, check=False)
        return json.loads(r.stdout) if r.returncode == 0 else None

    def clusters_status(self):
        """{cluster name: its entry in /status}, {} if the arbiter did not answer."""
        return {cl.get("name"): cl for cl in (self.status() or {}).get("clusters", [])}

    def holder(self, cluster="netns"):
        return self.clusters_status().get(cluster, {}).get("holder") or None

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def cleanup(self):
        self.kill()
        if self.relay is not None:
            if self.relay.poll() is None:
                self.relay.terminate()
            try:
                self.relay.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.relay.kill()
                self.relay.wait(timeout=5)
            self.relay.stdout.close()
            self.relay = None
        if self.show_log and os.path.isdir(self.root):
            print("----- hactl-arbiter's log -----\n" + "\n".join(self.log().splitlines()[-20:]))
        if self.created:
            run("ip", "netns", "del", self.ns, check=False)
            self.created = False
        shutil.rmtree(self.root, ignore_errors=True)
        unregister(self)
