"""What the replication tests and benchmarks share (test_pgsql.py, test_redis.py,
bench/replication_failover.py): the promotable clone's constraints and the vip that follows its
primary, fence_netns as every node's fence device, a node's crash, the agents' attributes, and
the client that writes through the vip and records every acknowledged write (dbclient.py).
"""

import os
import signal
import subprocess
import threading
import time

import netns
import test_pair_fencing
from netns import ClusterTestCase

SYSTEM_PYTHON = "/usr/bin/python3"  # where Debian's python3-psycopg2 and python3-redis are
CLIENT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "dbclient.py")
VIP = f"{netns.SUBNET}.100"


def clone_yaml(clone, primitive, locations=""):
    """A promotable clone of `primitive` with notifications, and a vip that runs with its
    promoted instance: started after the promote, stopped before the demote; `locations`, the
    YAML of more location constraints."""
    return f"""  - id: vip
    type: vip
    params: {{address: {VIP}/24, interface: eth0}}
    ops: {{monitor: {{interval: 1s, timeout: 5s}}}}
clones:
  - id: {clone}
    resource: {primitive}
    promotable: true
    notify: true
constraints:
  colocation:
    - {{resource: vip, with: {clone}, score: inf, with_role: promoted}}
  order:
    - {{first: {clone}, first_action: promote, then: vip, then_action: start,
       symmetrical: false}}
    - {{first: {clone}, first_action: demote, then: vip, then_action: stop,
       symmetrical: false}}
""" + (f"  location:\n{locations}" if locations else "")


def fence_yaml(c):
    """fence_netns (test_fencing.py) as every node's fence device: a database's promotion
    elsewhere waits for its old primary's node to be fenced, as Pacemaker requires for these
    agents, not for the stop timeout (docs/fencing.md)."""
    agent, log = test_pair_fencing.fence_agent(c)
    host_map = ", ".join(f'{n.name}: "{n.ns}/{n.switch_port}"' for n in c.nodes.values())
    return f"""fencing:
  devices:
    - id: power
      agent: {agent}
      params: {{switch: {c.switch}, log: {log}, off_ok: "1", host_pid: "{os.getpid()}"}}
      nodes: [{", ".join(c.nodes)}]
      host_map: {{{host_map}}}
      timeout: 20s
"""


def write_config(c, resources_yaml):
    c.resources_yaml = resources_yaml + fence_yaml(c)
    with open(c.config, "w") as f:
        f.write(c.config_text())


def kill(pids):
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass


def crash(c, name, server_pid):
    """SIGKILL NAME's database server (`server_pid` and every process it started), its agent
    and the agent's children (the guard, any resource agent running) at once, and cut its
    link. Returns when."""
    agent = c.nodes[name].proc.pid
    pids = [agent] + netns.Cluster._children(agent)
    if server_pid:
        pids += [server_pid] + netns.Cluster._children(server_pid)
    t = time.monotonic()
    kill(pids)
    c.link_down(name)
    c.kill(name)  # reaps it
    return t


def stop_agents(c):
    """Cleanup: the agents and their children, so that nothing starts a server again."""
    for name in c.nodes:
        if c.alive(name):
            kids = netns.Cluster._children(c.nodes[name].proc.pid)
            c.kill(name)
            kill(kids)


def wait_primary(db, followers_ready, what, names=None, timeout=90):
    """Waits until one node of `names` (default all) is `db`'s primary and holds the vip, the
    others follow it (`followers_ready(primary, followers)`, the database's own test) and the
    coordinator has nothing in flight (settled). Returns the primary."""
    c = db.c
    names = sorted(names or c.nodes)
    found = []

    def steady():
        prim = db.primaries(names)
        if len(prim) != 1 or c.holders(VIP) != prim:
            return False
        found[:] = prim
        return followers_ready(prim[0], sorted(set(names) - set(prim))) and settled(c)
    c.wait_until(steady, timeout, 0.5, f"one primary with the vip, {what} {names}")
    return found[0]


def settled(c):
    """The coordinator waits for nothing: no action or notification in flight. (A crash while
    one runs measures that action's timeout as well: an instance runs one operation at a time,
    so a promote waits for a notify still running there.)"""
    views = [v for v in c.views().values() if v]
    coordinators = {v.get("coordinator") for v in views}
    if len(coordinators) != 1 or None in coordinators:
        return False
    status = c.status(coordinators.pop())
    return bool(status) and status.get("scheduler", {}).get("waiting_for", "x") == ""


def attributes(c, name):
    """{(node, attribute): value}: the node attributes NAME's agent reports."""
    status = c.status(name) or {}
    return {(a["node"], a["name"]): a["value"] for a in status.get("attributes", [])}


def python_missing(module, package):
    """Why Debian's python cannot import `module` (from `package`), or None."""
    probe = subprocess.run([SYSTEM_PYTHON, "-c", f"import {module}"], capture_output=True)
    return None if probe.returncode == 0 else f"{package} is not installed"


class Client:
    """dbclient.py in the switch's namespace, writing through the vip; its acks as they come."""

    def __init__(self, cluster, kind, deadline=600):
        self.acks = []   # (n, monotonic time)
        self.fails = []  # (n, monotonic time, why)
        self.lock = threading.Lock()
        self.proc = subprocess.Popen(
            ["ip", "netns", "exec", cluster.switch, SYSTEM_PYTHON, CLIENT, kind, VIP,
             str(deadline)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            parts = line.split(" ", 3)
            with self.lock:
                if parts[0] == "ack":
                    self.acks.append((int(parts[1]), float(parts[2])))
                elif parts[0] == "fail":
                    self.fails.append((int(parts[1]), float(parts[2]),
                                       parts[3].strip() if len(parts) > 3 else ""))

    def acked(self):
        with self.lock:
            return [n for n, _t in self.acks]

    def acked_before(self, t):
        with self.lock:
            return [n for n, when in self.acks if when < t]

    def first_fail_after(self, t):
        with self.lock:
            return next((when for _n, when, _why in self.fails if when > t), None)

    def first_ack_after(self, t):
        with self.lock:
            return next((when for _n, when in self.acks if when > t), None)

    def longest_gap(self, start, end):
        """The longest time between two acks within [start, end]."""
        with self.lock:
            times = [start] + [t for _n, t in self.acks if start <= t <= end] + [end]
        return max(b - a for a, b in zip(times, times[1:]))

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        self.proc.stdout.close()


class DatabaseTestCase(ClusterTestCase):
    """A test of a replicated database: `nodes` is its class of the database side of a
    cluster (configure, stop_all), `missing` says why it cannot run here (or None)."""

    log_lines = 80
    nodes = None
    missing = None

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        why = cls.missing()
        if why:
            netns.cannot_run(why)

    def start(self):
        """The cluster configured and started, and its database side, cleaned up after."""
        c = self.cluster()
        db = self.nodes(c)
        self.addCleanup(db.stop_all)
        db.configure()
        c.start_all()
        return c, db

    def switchover(self, c, db, client, old, to):
        """`hactl resource move CLONE TO --promoted` on OLD; waits until TO is the only primary,
        with the vip, and the client writes again. Returns when the move was asked and the
        longest time the client went without an acknowledged write since."""
        t_move = time.monotonic()
        r = c.hactl(old, "resource", "move", db.clone, to, "--promoted")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        c.wait_until(lambda: db.primaries() == [to] and c.holders(VIP) == [to], 60, 0.2,
                     f"{to} the only primary, with the vip")
        c.wait_until(lambda: client.first_ack_after(time.monotonic() - 0.5), 30, 0.1,
                     "writes going on after the switchover")
        return t_move, client.longest_gap(t_move, time.monotonic())
