"""A server pair and a hactl-arbiter, all real, in network namespaces (docs/pairs.md).

The pair (n1, n2) runs a vip; the arbiter runs in a namespace of its own behind a relay that
delays every frame to and from it by 50 ms each way (a 100 ms round trip: this kernel has no
sch_netem, so the nemesis's userspace relay stands in). Then:

- the holder's agent is killed: the vip moves to the other node, never held twice (kernel
  address records), and the time it took is printed;
- the link between the pair is cut (both still reach the arbiter): exactly one side keeps the
  vip, the side the arbiter backs, and the other gives up its lease;
- the arbiter dies: nothing moves, and both nodes report it unreachable;
- the arbiter dies, then the link is cut: both sides give the vip up (neither can know the other
  stopped).

Needs root, iproute2 and nftables. Cleans up (agents and arbiter by PID, namespaces) even when
it fails.
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from arbiter_host import ARBITER_IP, ArbiterHost, require_netns_arbiter  # noqa: E402
from netns import SUBNET, AddressWatch, ClusterTestCase, main, vip_resources  # noqa: E402

VIP = f"{SUBNET}.100"


class PairWithArbiter(ClusterTestCase):
    def setUp(self):
        require_netns_arbiter()

    def pair(self, delay=0.05):
        arbiter = f'arbiter: {{address: "{ARBITER_IP}:5406", rtt: 100ms}}\n'
        c = self.cluster(names=("n1", "n2"), resources_yaml=vip_resources() + arbiter)
        a = ArbiterHost(c.switch, [c], delay)
        self.addCleanup(a.cleanup)
        a.setup()
        a.start()
        c.start_all()
        holder = c.wait_until(lambda: len(c.holders(VIP)) == 1 and c.holders(VIP)[0], 30,
                              what="the vip held by one node")
        c.wait_until(lambda: all(self.arbiter_view(c, n, "reachable") for n in c.nodes), 15,
                     what="both nodes hear the arbiter")
        return c, a, holder

    @staticmethod
    def arbiter_view(c, name, key):
        s = c.status(name)
        return s and s.get("arbiter", {}).get(key)

    def test_a_holders_crash_moves_the_vip_once(self):
        c, _a, holder = self.pair()
        other = "n2" if holder == "n1" else "n1"
        with AddressWatch(c, VIP) as w:
            killed = time.time()
            c.kill(holder)
            c.wait_until(lambda: c.holders(VIP) == [other], 10, what=f"the vip on {other}")
            time.sleep(0.5)
        came = [a for a, _ in w.intervals().get(other, []) if a > 0]
        self.assertEqual(w.longest_overlap(), 0.0)
        print(f"vip on {other} {(min(came) - killed) * 1000:.0f} ms after {holder}'s agent was "
              "killed (arbiter 100 ms round trip away)")

    def test_a_cut_link_leaves_the_vip_on_the_side_the_arbiter_backs(self):
        c, a, holder = self.pair()
        with AddressWatch(c, VIP) as w:
            c.partition(["n1"], ["n2"])
            winner = c.wait_until(a.holder, 10, what="the arbiter backs a node")
            loser = "n2" if winner == "n1" else "n1"
            c.wait_until(lambda: c.holders(VIP) == [winner], 15, what=f"the vip on {winner}")
            c.wait_until(lambda: c.status(loser) and not c.status(loser)["quorum"], 5,
                         what=f"{loser} without quorum")
            for _ in range(20):  # 2 s more: it stays there
                self.assertEqual(c.holders(VIP), [winner])
                time.sleep(0.1)
            self.assertEqual(a.holder(), winner)
            c.heal()
            c.wait_until(c.agreed_coordinator, 15, what="a coordinator after the heal")
        self.assertEqual(w.longest_overlap(), 0.0)
        print(f"cut link: the vip was on {holder}, the arbiter backed {winner}; overlap 0 ms")

    def test_losing_the_arbiter_moves_nothing(self):
        c, a, holder = self.pair()
        with AddressWatch(c, VIP) as w:
            a.kill()
            c.wait_until(lambda: not any(self.arbiter_view(c, n, "reachable") for n in c.nodes),
                         20, what="both nodes report the arbiter unreachable")
        self.assertEqual(w.changes, [])
        self.assertEqual(c.holders(VIP), [holder])
        for n in c.nodes:
            self.assertTrue(c.status(n)["quorum"], n)
        self.assertIn("UNREACHABLE", c.hactl("n1", "status").stdout)

    def test_losing_the_arbiter_then_the_link_stops_both_sides(self):
        c, a, _holder = self.pair()
        a.kill()
        c.wait_until(lambda: not any(self.arbiter_view(c, n, "reachable") for n in c.nodes), 20,
                     what="both nodes report the arbiter unreachable")
        with AddressWatch(c, VIP) as w:
            c.partition(["n1"], ["n2"])
            c.wait_until(lambda: c.holders(VIP) == [], 5, what="the vip given up")
            for n in c.nodes:
                c.wait_until(lambda n=n: c.status(n) and not c.status(n)["quorum"], 5,
                             what=f"{n} without quorum")
        self.assertEqual(w.longest_overlap(), 0.0)


if __name__ == "__main__":
    main()
