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


class PairFencingTest(ClusterTestCase):
    log_lines = 80

    def setUp(self):
        if os.geteuid() != 0:
            netns.cannot_run("needs root for network namespaces")

    # ------------------------------------------------------------------ helpers
    def pair(self):
        """n1 and n2, two_node, the vip on n2 (location score 100); fence_netns for each, the
        one that fences n1 with a delay."""
        c = self.cluster(names=("n1", "n2"), extra_cluster_yaml="  two_node: true")
        self.fence_log = os.path.join(c.tmp, "fence.log")
        agent = os.path.join(c.tmp, "fence_netns")
        with open(agent, "w") as f:
            f.write(test_fencing.FENCE_NETNS)
        os.chmod(agent, 0o755)
        params = (f"{{switch: {c.switch}, log: {self.fence_log}, off_ok: \"1\", "
                  f'host_pid: "{os.getpid()}"}}')
        devices = ""
        for name, delay in (("n1", f"\n      delay: {DELAY_S}s"), ("n2", "")):
            node = c.nodes[name]
            devices += f"""    - id: power-{name}
      agent: {agent}
      params: {params}
      nodes: [{name}]
      host_map: {{{name}: "{node.ns}/{node.switch_port}"}}
      timeout: 20s{delay}
"""
        c.resources_yaml = f"""resources:
  - id: vip
    type: vip
    params: {{address: {VIP}/24, interface: eth0}}
constraints:
  location:
    - {{resource: vip, node: n2, score: 100}}
fencing:
  devices:
{devices}"""
        with open(c.config, "w") as f:
            f.write(c.config_text())
        r = c.hactl("n1", "config", "validate", c.config)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        c.start_all()
        return c

    def fence_events(self, event=None):
        try:
            with open(self.fence_log) as f:
                out = [json.loads(line) for line in f if line.strip()]
        except OSError:
            return []
        return [e for e in out if event is None or e["event"] == event]

    def plug_of(self, c, name):
        return f"{c.nodes[name].ns}/{c.nodes[name].switch_port}"

    def two_node(self, c, name):
        s = c.status(name)
        return s.get("two_node") if s else None

    def wait_running_together(self, c):
        for n in ("n1", "n2"):
            c.wait_until(lambda n=n: (self.two_node(c, n) or {}).get("waiting_for_peer") is False,
                         20, 0.1, f"{n} done waiting for its peer")
        c.wait_until(lambda: c.holders(VIP) == ["n2"], 20, 0.05, "the vip on n2")

    def power_off(self, c, name):
        """As fence_netns does: every process in the namespace killed, its port down."""
        for pid in netns.run("ip", "netns", "pids", c.nodes[name].ns).stdout.split():
            try:
                os.kill(int(pid), signal.SIGKILL)
            except ProcessLookupError:
                pass
        c.nodes[name].proc.wait(timeout=10)
        c.link_down(name)

    def boot(self, c, name):
        """The node comes back from a power cut: volatile state (its addresses but its own,
        its /run) is gone; its port stays as it was."""
        node = c.nodes[name]
        netns.run("ip", "-n", node.ns, "addr", "del", f"{VIP}/24", "dev", "eth0", check=False)
        run_hactl = os.path.join(node.run_dir, "hactl")
        for f in os.listdir(run_hactl):
            p = os.path.join(run_hactl, f)
            if os.path.isfile(p) and not os.path.islink(p):
                os.unlink(p)
        c.start(name)
        return time.monotonic()

    # ------------------------------------------------------------------ tests
    def test_a_split_is_won_by_the_node_the_delay_protects_and_the_loser_waits(self):
        c = self.pair()
        self.wait_running_together(c)
        macs = {n: c.mac(n) for n in c.nodes}
        with ArpClient(c, VIP) as client:
            self.assertIsNotNone(client.wait_reply(macs["n2"], 0, 10), "n2 answers for the VIP")
            cut_at = time.monotonic()
            c.partition(["n1"], ["n2"])
            taken_at = client.wait_reply(macs["n1"], cut_at, 30)
            self.assertIsNotNone(taken_at, "n1 answered for the VIP within 30 s of the cut")
        ends = self.fence_events("end")
        self.assertEqual(len(ends), 1, self.fence_events())
        self.assertEqual(ends[0]["args"]["plug"], self.plug_of(c, "n2"), "n2 lost the race")
        self.assertLess(ends[0]["t"], taken_at, "n2 was off before n1 answered for the VIP")
        self.assertEqual([e for e in self.fence_events("begin")
                          if e["args"]["plug"] == self.plug_of(c, "n1")], [],
                         "n2's fence of n1 waited for its delay and never ran")
        print(f"\ncut -> n2 fenced {ends[0]['t'] - cut_at:.3f} s, "
              f"-> vip answered by n1 {taken_at - cut_at:.3f} s")
        self.assertIn("event=fence_succeeded node=n2", c.log("n1"))
        self.assertIn(f"event=fence_delayed node=n1 device=power-n1 delay_ms={DELAY_S * 1000}",
                      c.log("n2"))
        st = c.status("n1")
        self.assertEqual(st["two_node"]["stand_ins"], ["n2"])
        self.assertTrue(st["quorum"])
        self.assertEqual(st["coordinator"], "n1")

        # n2 boots while its port is still down: it waits, fences nobody, runs nothing.
        log_before = len(c.log("n2"))
        c.heal()          # nft rules gone, ports up...
        c.link_down("n2")  # ...but n2's stays down: the link is still cut
        self.boot(c, "n2")
        c.wait_until(lambda: next((n for n in (c.status("n2") or {}).get("nodes", [])
                                   if n["name"] == "n1" and n["state"] != "online"), None),
                     20, 0.1, "n2 seeing n1 down")
        time.sleep(DELAY_S + 2)  # an unblocked node would have fenced n1 by now
        after = c.log("n2")[log_before:]
        self.assertNotIn("event=fence_started", after)
        self.assertTrue(self.two_node(c, "n2")["waiting_for_peer"])
        self.assertTrue(c.alive("n1"))
        self.assertEqual(c.holders(VIP), ["n1"])
        self.assertIn("WAITING for the peer", c.hactl("n2", "status").stdout)

        # The link comes back: n2 runs with n1 again.
        c.link_up("n2")
        c.wait_until(lambda: self.two_node(c, "n2")["waiting_for_peer"] is False, 20, 0.1,
                     "n2 done waiting once it hears n1")
        self.assertIn("event=wait_for_all_done peer=n1", c.log("n2"))
        c.wait_until(lambda: len(c.holders(VIP)) == 1, 20, 0.05, "the vip on one node")
        self.assertEqual(len(self.fence_events("end")), 1, "nobody was fenced again")

    def test_a_node_booted_alone_runs_only_after_unblock_and_a_fence(self):
        c = self.pair()
        self.wait_running_together(c)
        self.power_off(c, "n1")
        self.power_off(c, "n2")
        c.link_up("n2")
        booted = self.boot(c, "n2")
        c.wait_until(lambda: (self.two_node(c, "n2") or {}).get("waiting_for_peer"), 10, 0.1,
                     "n2 waiting for its peer")
        time.sleep(DELAY_S + 2)
        self.assertEqual(self.fence_events(), [], "a waiting node fences nobody")
        self.assertEqual(c.holders(VIP), [], "and starts nothing")
        r = c.hactl("n2", "cluster", "unblock")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("unblocked", r.stdout)
        c.wait_until(lambda: c.holders(VIP) == ["n2"], 30, 0.05, "the vip on n2")
        ends = self.fence_events("end")
        self.assertEqual(len(ends), 1, self.fence_events())
        self.assertEqual(ends[0]["args"]["plug"], self.plug_of(c, "n1"))
        self.assertGreater(ends[0]["t"], booted)
        self.assertIn("event=wait_for_all_unblocked reason=operator", c.log("n2"))
        r = c.hactl("n2", "cluster", "unblock")
        self.assertIn("not waiting", r.stdout)


if __name__ == "__main__":
    netns.main()
