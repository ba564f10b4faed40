"""Fencing with real agents in network namespaces.

A frozen host (its agent and its guard stopped, so nothing on it can remove its VIP, and its
kernel still answers ARP for it) is the case the lease rule cannot cover. With fencing, the
coordinator runs the node's fence levels in order and starts the VIP elsewhere only once a
level succeeded. The devices: Debian's fence_dummy (fence-agents; the real name=value interface
on standard input: `type=fail` fails, `type=file` records "off" in its status file) and
fence_netns below, an exec fence agent that really "powers off" a node of the test cluster:
it kills every process in the node's network namespace and takes its switch port down.

A node that no device can fence keeps the lease rule: its VIP moves when its lease is over.
"""

import json
import os
import signal
import subprocess
import time

import netns
from netns import ArpClient, ClusterTestCase

VIP = "10.213.0.100"
FENCE_DUMMY = "/usr/sbin/fence_dummy"

# Run by the coordinator's agent, from inside its node's namespaces: `nsenter -t <the test's
# PID>` reaches the test's own mount and network namespaces, where /run/netns and the switch
# are.
FENCE_NETNS = r'''#!/usr/bin/python3
import json, os, signal, subprocess, sys, time
args = {}
for line in sys.stdin:
    line = line.rstrip("\n")
    if "=" in line:
        k, v = line.split("=", 1)
        args[k] = v
def log(event, **kw):
    with open(args["log"], "a") as f:
        f.write(json.dumps(dict(t=time.monotonic(), event=event, args=args, **kw)) + "\n")
def host(*cmd):
    return subprocess.run(["nsenter", "-t", args["host_pid"], "-m", "-n", "--", *cmd],
                          capture_output=True, text=True, timeout=10)
log("begin")
if args.get("fail_flag") and os.path.exists(args["fail_flag"]):
    log("refused")
    print("fence_netns: failing on purpose (" + args["fail_flag"] + " exists)")
    sys.exit(1)
ns, port = args["plug"].split("/")
if args.get("action") in ("off", "reboot"):
    pids = [int(p) for p in host("ip", "netns", "pids", ns).stdout.split()]
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    r = host("ip", "-n", args["switch"], "link", "set", port, "down")
    # No process: not a node of this test (a typo in the plug), unless the device is told a
    # node may be off already (off_ok), as a real power switch reports an outlet that is off.
    if r.returncode != 0 or (not pids and not args.get("off_ok")):
        log("failed", error=r.stderr, pids=pids)
        print("fence_netns: cannot fence " + ns + ": " + r.stderr)
        sys.exit(1)
    log("end", killed=pids)
    print("fence_netns: " + ns + " is off")
    raise SystemExit(0)  # the fence agent succeeded
sys.exit(0 if args.get("action") in ("monitor", "status", "list") else 1)
'''


# An exec resource whose stop fails while `stop-fails` exists in the shared directory; every
# start and stop is logged there with the monotonic time and the node (from /run/hactl/node,
# which the test writes into each node's private /run).
APP = r"""#!/usr/bin/python3
import os, sys, time
d = os.environ["HACTL_PARAM_dir"]
state = "/run/hactl/app.running"
try:
    node = open("/run/hactl/node").read().strip()
except OSError:
    node = "?"
def log(what):
    with open(os.path.join(d, "app.log"), "a") as f:
        f.write(f"{time.monotonic()} {what} {node}\n")
action = sys.argv[1]
if action == "start":
    open(state, "w").close()
    log("start")
elif action == "stop":
    if os.path.exists(os.path.join(d, "stop-fails")):
        log("stop-failed")
        sys.exit(1)
    if os.path.exists(state):
        os.unlink(state)
    log("stop")
elif action in ("status", "monitor"):
    sys.exit(0 if os.path.exists(state) else 3)
raise SystemExit(0)  # the exec resource: done
"""


class FencingTest(ClusterTestCase):
    log_lines = 80

    def setUp(self):
        if os.geteuid() != 0:
            netns.cannot_run("needs root for network namespaces")
        if not os.access(FENCE_DUMMY, os.X_OK):
            netns.cannot_run(f"{FENCE_DUMMY} missing (Debian's fence-agents; scripts/setup.sh)")

    # ------------------------------------------------------------------ helpers
    def fenced_cluster(self, fenceable=("n1", "n2", "n3"), prefer="n1", app=False):
        """Three nodes, a VIP preferring `prefer`; the nodes in `fenceable` are fenced first
        by fence_dummy type=fail (level 1, always fails), then by fence_dummy type=file and
        fence_netns together (level 2)."""
        c = self.cluster(resources_yaml="")
        self.tmp = c.tmp
        self.fence_log = os.path.join(c.tmp, "fence.log")
        self.fail_flag = os.path.join(c.tmp, "fence-fails")
        self.dummy_status = os.path.join(c.tmp, "dummy.status")
        agent = os.path.join(c.tmp, "fence_netns")
        with open(agent, "w") as f:
            f.write(FENCE_NETNS)
        os.chmod(agent, 0o755)
        with open(self.dummy_status, "w") as f:
            f.write("on")
        host_map = ", ".join(f'{n}: "{c.nodes[n].ns}/{c.nodes[n].switch_port}"'
                             for n in fenceable)
        nodes = "[" + ", ".join(fenceable) + "]"
        app_yaml = colocation = ""
        if app:
            self.app_dir = os.path.join(c.tmp, "app")
            os.makedirs(self.app_dir)
            script = os.path.join(c.tmp, "app.py")
            with open(script, "w") as f:
                f.write(APP)
            os.chmod(script, 0o755)
            for n in c.nodes.values():
                with open(os.path.join(n.run_dir, "hactl", "node"), "w") as f:
                    f.write(n.name)
            app_yaml = f"""  - id: app
    type: exec:{script}
    params: {{dir: {self.app_dir}}}
    ops: {{monitor: {{interval: 1s}}, stop: {{timeout: 5s}}}}
"""
            colocation = "  colocation:\n    - {resource: vip, with: app, score: inf}\n"
        levels = "\n".join(f"    {n}: [[dummy-fail], [dummy-file, netns]]" for n in fenceable)
        c.resources_yaml = f"""resources:
  - id: vip
    type: vip
    params: {{address: {VIP}/24, interface: eth0}}
{app_yaml}constraints:
  location:
    - {{resource: vip, node: {prefer}, score: 100}}
{colocation}
fencing:
  devices:
    - id: dummy-fail
      agent: fence_dummy
      params: {{type: fail, power_timeout: "1"}}
      nodes: {nodes}
      timeout: 20s
    - id: dummy-file
      agent: fence_dummy
      params: {{type: file, status_file: {self.dummy_status}}}
      nodes: {nodes}
      timeout: 20s
    - id: netns
      agent: {agent}
      params: {{switch: {c.switch}, log: {self.fence_log}, fail_flag: {self.fail_flag},
               host_pid: "{os.getpid()}"}}
      nodes: {nodes}
      host_map: {{{host_map}}}
      timeout: 20s
  levels:
{levels}
"""
        with open(c.config, "w") as f:
            f.write(c.config_text())
        c.start_all()
        return c

    def fence_events(self):
        try:
            with open(self.fence_log) as f:
                return [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []

    def holders(self, c):
        return c.holders(VIP)

    def wait_vip_on(self, c, name, timeout=20):
        c.wait_until(lambda: self.holders(c) == [name], timeout, 0.05, f"the VIP on {name} only")

    def freeze(self, c, name):
        """SIGSTOP the node's agent and every child of it (its guard): a frozen host."""
        pid = c.nodes[name].proc.pid
        pids = [pid] + c._children(pid)
        for p in pids:
            os.kill(p, signal.SIGSTOP)
        return pids

    def coordinator_status(self, c, others):
        for n in others:
            s = c.status(n)
            if s and s.get("role") == "coordinator":
                return s
        return None

    # ------------------------------------------------------------------ tests
    def test_a_frozen_holder_is_fenced_before_its_vip_starts_elsewhere(self):
        c = self.fenced_cluster()
        self.wait_vip_on(c, "n1")
        others = ["n2", "n3"]
        macs = {n: c.mac(n) for n in c.nodes}
        with ArpClient(c, VIP) as client:
            self.assertIsNotNone(client.wait_reply(macs["n1"], 0, 10), "n1 answers for the VIP")
            frozen = self.freeze(c, "n1")
            t0 = time.monotonic()
            new_at, new = None, None
            deadline = time.monotonic() + 40
            while new is None and time.monotonic() < deadline:
                for n in others:
                    t = client.wait_reply(macs[n], t0, 0.2)
                    if t is not None:
                        new_at, new = t, n
                        break
            self.assertIsNotNone(new, "the VIP answered from n2 or n3 within 40 s")
            ends = [e for e in self.fence_events() if e["event"] == "end"]
            self.assertEqual(len(ends), 1, self.fence_events())
            fenced_at = ends[0]["t"]
            # The order that makes it safe: the frozen node was off before the new holder
            # answered, and n1 (whose kernel answered until then) never answers after.
            self.assertLess(fenced_at, new_at)
            self.assertEqual(ends[0]["args"]["plug"], f"{c.nodes['n1'].ns}/p0")
            self.assertEqual(ends[0]["args"]["action"], "off")
            self.assertTrue(set(frozen) <= set(ends[0]["killed"]), "the agent and its guard")
            time.sleep(0.5)
            self.assertEqual(set(client.macs_since(fenced_at + 0.05)), {macs[new]})
        # Level 1 (fence_dummy type=fail) failed first; level 2 ran fence_dummy type=file, which
        # wrote "off" for the action it read on standard input, and fence_netns.
        with open(self.dummy_status) as f:
            self.assertEqual(f.read(), "off")
        coordinator = next(n for n in others if "event=fence_succeeded node=n1" in c.log(n))
        log = c.log(coordinator)
        for line in ("event=fence_started node=n1",
                     "event=fence_device_failed node=n1 device=dummy-fail action=off",
                     "event=fence_device node=n1 device=dummy-file action=off level=2",
                     "event=fence_device node=n1 device=netns action=off level=2",
                     'event=fence_succeeded node=n1 by="level 2" level=2'):
            self.assertIn(line, log)
        self.assertEqual(log.count("event=fence_started node=n1"), 1)
        # Every node's status says n1 was fenced (the other one heard the notice).
        for n in others:
            st = c.wait_until(lambda n=n: self._fencing_of(c, n, "n1"), 5, 0.1,
                              f"{n}'s status showing n1 fenced")
            self.assertEqual(st["stage"], "fenced")
        human = c.hactl(new, "status").stdout
        self.assertIn("fencing fenced by level 2", human)

    def _fencing_of(self, c, name, node):
        s = c.status(name)
        if not s:
            return None
        f = next(x for x in s["nodes"] if x["name"] == node).get("fencing")
        return f if f and f.get("stage") == "fenced" else None

    def test_while_fencing_fails_the_vip_stays_put_then_moves_once_it_succeeds(self):
        c = self.fenced_cluster()
        self.wait_vip_on(c, "n1")
        open(self.fail_flag, "w").close()  # every level fails
        self.freeze(c, "n1")
        t0 = time.monotonic()
        coordinator = c.wait_until(
            lambda: next((n for n in ("n2", "n3") if "event=fence_failed node=n1 attempt=1"
                          in c.log(n)), None), 20, 0.1, "a first round of fencing failing")
        human = c.wait_until(
            lambda: (lambda out: out if "fencing failed" in out else None)(
                c.hactl(coordinator, "status").stdout), 10, 0.1, "status showing fencing failed")
        self.assertIn("fence_netns: failing on purpose", human)
        # Far longer than the lease and a takeover delay: the VIP is on the frozen node only.
        time.sleep(max(0.0, t0 + 4 - time.monotonic()))
        self.assertEqual(self.holders(c), ["n1"])
        os.unlink(self.fail_flag)
        # Retried (2 s, then 4 s): the next round succeeds and the VIP moves.
        new = c.wait_until(lambda: next((n for n in ("n2", "n3")
                                         if n in self.holders(c)), None), 30, 0.1,
                           "the VIP on n2 or n3 after fencing succeeded")
        ends = [e for e in self.fence_events() if e["event"] == "end"]
        self.assertEqual(len(ends), 1)
        self.assertGreaterEqual(len([e for e in self.fence_events()
                                     if e["event"] == "refused"]), 1)
        self.assertIn(new, self.holders(c))

    def test_a_stop_that_fails_on_a_live_node_gets_it_fenced(self):
        self.check_stop_failure(on_coordinator=False)

    def test_a_stop_that_fails_on_the_coordinator_gets_it_fenced_by_a_peer(self):
        self.check_stop_failure(on_coordinator=True)

    def check_stop_failure(self, on_coordinator):
        # Pacemaker's on-fail=fence for stop: the app cannot be stopped on a node, so that node
        # is fenced, and the app and its VIP start elsewhere once it is, not before. The
        # coordinator's own node is fenced by a peer it asks to run the device.
        c = self.fenced_cluster(app=True)
        app_on = lambda n: any(r["id"] == "app" and n in r["nodes"] and r["state"] == "started"
                               for r in (c.status(n) or {}).get("resources", []))
        where = c.wait_until(lambda: next((n for n in c.nodes if app_on(n)), None), 20, 0.1,
                             "the app running")
        coordinator = c.agreed_coordinator()
        target = coordinator if on_coordinator else next(n for n in ("n1", "n2", "n3")
                                                        if n != coordinator)
        if where != target:
            r = c.hactl(coordinator, "resource", "move", "app", target)
            self.assertEqual(r.returncode, 0, r.stderr)
            c.wait_until(lambda: app_on(target), 20, 0.1, f"the app moved to {target}")
        open(os.path.join(self.app_dir, "stop-fails"), "w").close()
        others = [n for n in ("n1", "n2", "n3") if n != target]
        if on_coordinator:
            # Not `node standby`: the coordinator's own node in standby hands the role over
            # first, and the new coordinator would fence it itself. A move keeps the
            # coordinator, which has its own node fenced by a peer.
            r = c.hactl(coordinator, "resource", "move", "app", others[0])
        else:
            r = c.hactl(coordinator, "node", "standby", target)
        self.assertEqual(r.returncode, 0, r.stderr)
        new = c.wait_until(lambda: next((n for n in others if app_on(n)), None), 40, 0.2,
                           "the app started elsewhere")
        with open(os.path.join(self.app_dir, "app.log")) as f:
            lines = [line.split() for line in f]
        failed_at = next(float(t) for t, what, node in lines
                         if what == "stop-failed" and node == target)
        started_at = [float(t) for t, what, node in lines if what == "start" and node == new][-1]
        ends = [e for e in self.fence_events() if e["event"] == "end"]
        self.assertEqual(len(ends), 1, self.fence_events())
        port = c.nodes[target].switch_port
        self.assertEqual(ends[0]["args"]["plug"], f"{c.nodes[target].ns}/{port}")
        self.assertLess(failed_at, ends[0]["t"])
        self.assertLess(ends[0]["t"], started_at, "started elsewhere only once it was fenced")
        self.assertIn(f"event=stop_failed resource=app node={target}", c.log(coordinator))
        if on_coordinator:
            runner = next(n for n in others
                          if f"event=fence_delegated node={target} device=netns" in c.log(n))
            self.assertIn(f"asked_by={target}", c.log(runner))
            # Every node learnt it from the peer that ran it, so nobody fences it again.
            for n in others:
                c.wait_until(lambda n=n: self._fencing_of(c, n, target), 5, 0.1,
                             f"{n}'s status showing {target} fenced")
        else:
            self.assertIn(f"event=fence_succeeded node={target}", c.log(coordinator))
        c.wait_until(lambda: self.holders(c) == [new], 10, 0.1, "the VIP with the app")

    def test_a_node_no_device_can_fence_keeps_the_lease_rule(self):
        # n3 has no fence device: its VIP moves when its lease is over, and nobody is fenced.
        c = self.fenced_cluster(fenceable=("n1", "n2"), prefer="n3")
        self.wait_vip_on(c, "n3")
        c.kill("n3", signal.SIGKILL)  # its guard removes the VIP; the lease rule orders the rest
        new = c.wait_until(lambda: next((n for n in ("n1", "n2")
                                         if self.holders(c) == [n]), None), 20, 0.05,
                           "the VIP on n1 or n2")
        self.assertIn(new, ("n1", "n2"))
        self.assertEqual(self.fence_events(), [])
        for n in ("n1", "n2"):
            self.assertNotIn("event=fence_started", c.log(n))
        self.assertIn("no fence device can fence n3", c.log("n1"))


if __name__ == "__main__":
    netns.main()
