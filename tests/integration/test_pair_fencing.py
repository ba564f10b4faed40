"""A pair with two_node: true and fencing, with real agents in network namespaces.

No third vote: when the two nodes stop hearing each other, each fences the other, and the
device's `delay` (Pacemaker's pcmk_delay_base) decides who wins. The devices are fence_netns
(test_fencing.py): it "powers a node off" by killing every process in its namespace and taking
its switch port down. The delay sits on the device that fences n1, so n1 wins every race.

Checked: the loser is off before the winner answers for the VIP (ARP replies, monotonic clock
against the fence agent's own log), the loser's delayed fence of the winner never runs, the
loser booting alone while the link is still cut waits for its peer (wait_for_all) and fences
nobody, it rejoins once the link is back, and a node booted alone runs everything only after
`hactl cluster unblock`, and then only after fencing its peer.
"""

import json
import os
import signal
import time

import netns
import test_fencing
from netns import ArpClient, ClusterTestCase

VIP = "10.213.0.100"
DELAY_S = 4


def fence_agent(c):
    """fence_netns (test_fencing.py) in the cluster's directory, and the log it writes."""
    agent = os.path.join(c.tmp, "fence_netns")
    with open(agent, "w") as f:
        f.write(test_fencing.FENCE_NETNS)
    os.chmod(agent, 0o755)
    return agent, os.path.join(c.tmp, "fence.log")


def pair_yaml(c, fencing=True, holder="n2"):
    """The vip on `holder` (location score 100); with `fencing`, fence_netns for each node, the
    one that fences n1 with a DELAY_S delay (n1 wins a race)."""
    yaml = f"""resources:
  - id: vip
    type: vip
    params: {{address: {VIP}/24, interface: eth0}}
constraints:
  location:
    - {{resource: vip, node: {holder}, score: 100}}
"""
    if not fencing:
        return yaml
    agent, log = fence_agent(c)
    params = (f"{{switch: {c.switch}, log: {log}, off_ok: \"1\", "
              f'host_pid: "{os.getpid()}"}}')
    yaml += "fencing:\n  devices:\n"
    for name, delay in (("n1", f"\n      delay: {DELAY_S}s"), ("n2", "")):
        node = c.nodes[name]
        yaml += f"""    - id: power-{name}
      agent: {agent}
      params: {params}
      nodes: [{name}]
      host_map: {{{name}: "{node.ns}/{node.switch_port}"}}
      timeout: 20s{delay}
"""
    return yaml


def fence_events(c, event=None):
    try:
        with open(os.path.join(c.tmp, "fence.log")) as f:
            out = [json.loads(line) for line in f if line.strip()]
    except OSError:
        return []
    return [e for e in out if event is None or e["event"] == event]


def power_off(c, name):
    """As fence_netns does: every process in the namespace killed, its port down."""
    for pid in netns.run("ip", "netns", "pids", c.nodes[name].ns).stdout.split():
        try:
            os.kill(int(pid), signal.SIGKILL)
        except ProcessLookupError:
            pass
    if c.nodes[name].proc is not None:
        c.nodes[name].proc.wait(timeout=10)
    c.link_down(name)


def boot(c, name):
    """The node comes back from a power cut: volatile state (the vip, its /run) is gone; its
    port stays as it was. Returns the monotonic time it started."""
    node = c.nodes[name]
    netns.run("ip", "-n", node.ns, "addr", "del", f"{VIP}/24", "dev", "eth0", check=False)
    run_hactl = os.path.join(node.run_dir, "hactl")
    for f in os.listdir(run_hactl):
        p = os.path.join(run_hactl, f)
        if os.path.isfile(p) and not os.path.islink(p):
            os.unlink(p)
    c.start(name)
    return time.monotonic()


def two_node_status(c, name):
    s = c.status(name)
    return s.get("two_node") if s else None


def wait_running_together(c, holder="n2"):
    for n in ("n1", "n2"):
        c.wait_until(lambda n=n: (two_node_status(c, n) or {}).get("waiting_for_peer") is False,
                     20, 0.1, f"{n} done waiting for its peer")
    c.wait_until(lambda: c.holders(VIP) == [holder], 20, 0.05, f"the vip on {holder}")


class PairFencingTest(ClusterTestCase):
    log_lines = 80

    def setUp(self):
        if os.geteuid() != 0:
            netns.cannot_run("needs root for network namespaces")

    def pair(self, fencing=True, last_resort=False):
        extra = "  two_node: true" + ("\n  last_resort: unsafe_take_over" if last_resort else "")
        c = self.cluster(names=("n1", "n2"), extra_cluster_yaml=extra)
        c.resources_yaml = pair_yaml(c, fencing)
        with open(c.config, "w") as f:
            f.write(c.config_text())
        r = c.hactl("n1", "config", "validate", c.config)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        c.start_all()
        return c

    def plug_of(self, c, name):
        return f"{c.nodes[name].ns}/{c.nodes[name].switch_port}"

    # ------------------------------------------------------------------ tests
    def test_a_split_is_won_by_the_node_the_delay_protects_and_the_loser_waits(self):
        c = self.pair()
        wait_running_together(c)
        macs = {n: c.mac(n) for n in c.nodes}
        with ArpClient(c, VIP) as client:
            self.assertIsNotNone(client.wait_reply(macs["n2"], 0, 10), "n2 answers for the VIP")
            cut_at = time.monotonic()
            c.partition(["n1"], ["n2"])
            taken_at = client.wait_reply(macs["n1"], cut_at, 30)
            self.assertIsNotNone(taken_at, "n1 answered for the VIP within 30 s of the cut")
        ends = fence_events(c, "end")
        self.assertEqual(len(ends), 1, fence_events(c))
        self.assertEqual(ends[0]["args"]["plug"], self.plug_of(c, "n2"), "n2 lost the race")
        self.assertLess(ends[0]["t"], taken_at, "n2 was off before n1 answered for the VIP")
        self.assertEqual([e for e in fence_events(c, "begin")
                          if e["args"]["plug"] == self.plug_of(c, "n1")], [],
                         "n2's fence of n1 waited for its delay and never ran")
        print(f"\ncut -> n2 fenced {ends[0]['t'] - cut_at:.3f} s, "
              f"-> vip answered by n1 {taken_at - cut_at:.3f} s")
        self.assertIn("event=fence_succeeded node=n2", c.log("n1"))
        self.assertIn(f"event=fence_delayed node=n1 device=power-n1 delay_ms={DELAY_S * 1000}",
                      c.log("n2"))
        c.wait_until(lambda: "hactl_two_node_alone 1" in c.scrape("n1").stdout, 5, 0.1,
                     "n1's metrics: running alone")
        st = c.status("n1")
        self.assertEqual(st["two_node"]["stand_ins"], ["n2"])
        self.assertTrue(st["quorum"])
        self.assertEqual(st["coordinator"], "n1")

        # n2 boots while its port is still down: it waits, fences nobody, runs nothing.
        log_before = len(c.log("n2"))
        c.heal()          # nft rules gone, ports up...
        c.link_down("n2")  # ...but n2's stays down: the link is still cut
        boot(c, "n2")
        c.wait_until(lambda: next((n for n in (c.status("n2") or {}).get("nodes", [])
                                   if n["name"] == "n1" and n["state"] != "online"), None),
                     20, 0.1, "n2 seeing n1 down")
        time.sleep(DELAY_S + 2)  # an unblocked node would have fenced n1 by now
        after = c.log("n2")[log_before:]
        self.assertNotIn("event=fence_started", after)
        self.assertTrue(two_node_status(c, "n2")["waiting_for_peer"])
        self.assertTrue(c.alive("n1"))
        self.assertEqual(c.holders(VIP), ["n1"])
        self.assertIn("WAITING for the peer", c.hactl("n2", "status").stdout)
        self.assertIn("hactl_two_node_waiting_for_peer 1", c.scrape("n2").stdout)

        # The link comes back: n2 runs with n1 again.
        c.link_up("n2")
        c.wait_until(lambda: two_node_status(c, "n2")["waiting_for_peer"] is False, 20, 0.1,
                     "n2 done waiting once it hears n1")
        self.assertIn("event=wait_for_all_done peer=n1", c.log("n2"))
        c.wait_until(lambda: len(c.holders(VIP)) == 1, 20, 0.05, "the vip on one node")
        self.assertEqual(len(fence_events(c, "end")), 1, "nobody was fenced again")

    def test_a_node_booted_alone_runs_only_after_unblock_and_a_fence(self):
        c = self.pair()
        wait_running_together(c)
        power_off(c, "n1")
        power_off(c, "n2")
        c.link_up("n2")
        booted = boot(c, "n2")
        c.wait_until(lambda: (two_node_status(c, "n2") or {}).get("waiting_for_peer"), 10, 0.1,
                     "n2 waiting for its peer")
        time.sleep(DELAY_S + 2)
        self.assertEqual(fence_events(c), [], "a waiting node fences nobody")
        self.assertEqual(c.holders(VIP), [], "and starts nothing")
        r = c.hactl("n2", "cluster", "unblock")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("unblocked", r.stdout)
        c.wait_until(lambda: c.holders(VIP) == ["n2"], 30, 0.05, "the vip on n2")
        ends = fence_events(c, "end")
        self.assertEqual(len(ends), 1, fence_events(c))
        self.assertEqual(ends[0]["args"]["plug"], self.plug_of(c, "n1"))
        self.assertGreater(ends[0]["t"], booted)
        self.assertIn("event=wait_for_all_unblocked reason=operator", c.log("n2"))
        r = c.hactl("n2", "cluster", "unblock")
        self.assertIn("not waiting", r.stdout)
        # Its agent alone restarts (same boot: the mark in its /run stays): it does not wait
        # again, fences n1 again (off already) and runs the vip.
        c.kill("n2")
        c.start("n2")
        c.wait_until(lambda: (two_node_status(c, "n2") or {}).get("waiting_for_peer") is False,
                     10, 0.1, "n2 not waiting after its agent's restart")
        self.assertIn("event=wait_for_all_skipped", c.log("n2"))
        c.wait_until(lambda: c.holders(VIP) == ["n2"], 30, 0.05, "the vip on n2 again")

    def test_a_peer_stopped_cleanly_is_not_fenced_and_its_vip_moves(self):
        c = self.pair()
        wait_running_together(c)
        c.kill("n2", signal.SIGTERM)  # systemctl stop: it stops its resources, then exits
        c.wait_until(lambda: c.holders(VIP) == ["n1"], 20, 0.05, "the vip on n1")
        c.wait_until(lambda: (lambda s: s and s["two_node"]["stand_ins"] == ["n2"] and
                              s["coordinator"] == "n1" and s["quorum"])(c.status("n1")),
                     10, 0.1, "n1 coordinating with n2 standing in")
        self.assertEqual(fence_events(c), [], "a node that left cleanly is not fenced")
        self.assertNotIn("event=fence_started", c.log("n1"))
        c.start("n2")
        c.wait_until(lambda: (two_node_status(c, "n2") or {}).get("waiting_for_peer") is False,
                     20, 0.1, "n2 back with n1")
        c.wait_until(lambda: len(c.holders(VIP)) == 1, 20, 0.05, "the vip on one node")


class PairLastResortTest(ClusterTestCase):
    """last_resort: unsafe_take_over, no fence device: a crash fails over; a cut link runs the
    vip on both nodes (what the policy's name says), and the heal leaves it on one."""

    log_lines = 80

    def setUp(self):
        if os.geteuid() != 0:
            netns.cannot_run("needs root for network namespaces")

    def test_a_crash_fails_over_and_a_cut_link_runs_both_sides(self):
        c = self.cluster(names=("n1", "n2"),
                         extra_cluster_yaml="  two_node: true\n  last_resort: unsafe_take_over")
        c.resources_yaml = pair_yaml(c, fencing=False)
        with open(c.config, "w") as f:
            f.write(c.config_text())
        r = c.hactl("n1", "config", "validate", c.config)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("UNSAFE", r.stdout + r.stderr)
        c.start_all()
        wait_running_together(c)
        self.assertIn("UNSAFE last resort", c.hactl("n1", "status").stdout)
        with netns.AddressWatch(c, VIP) as w:
            cut = time.time()
            c.partition(["n1"], ["n2"])
            c.wait_until(lambda: sorted(c.holders(VIP)) == ["n1", "n2"], 20, 0.05,
                         "the vip on both nodes")
            both = time.time()
            self.assertIn("event=fence_assumed node=n2", c.log("n1"))
            c.heal()
            c.wait_until(lambda: len(c.holders(VIP)) == 1, 20, 0.05, "the vip on one node")
            healed = time.time()
        overlap = w.longest_overlap()
        self.assertGreater(overlap, 0.0, "the vip ran on both nodes while the link was cut")
        print(f"\ncut link: vip on both {both - cut:.3f} s after the cut, on one again "
              f"{healed - both:.3f} s after the heal; two holders for {overlap * 1000:.0f} ms")
        self.assertTrue(any("event=split_healed" in c.log(n) for n in ("n1", "n2")))
        holder = c.holders(VIP)[0]
        other = "n1" if holder == "n2" else "n2"
        c.wait_until(lambda: (two_node_status(c, other) or {}).get("waiting_for_peer") is False,
                     20, 0.1, "the pair together again")
        with netns.AddressWatch(c, VIP) as w:
            t0 = time.time()
            power_off(c, holder)
            c.wait_until(lambda: other in c.holders(VIP), 20, 0.05, f"the vip on {other}")
            time.sleep(0.2)
        came = [a for a, _ in w.intervals().get(other, []) if a > 0]
        print(f"crash of the holder: vip on {other} {(min(came) - t0) * 1000:.0f} ms later")


if __name__ == "__main__":
    netns.main()
