"""An agent killed the instant its VIP appears must not leave the VIP behind.

Found by test_failback (CI, 2026-11-27): the vip class adds the address and then announces it
(gratuitous ARPs on a packet socket whose close alone can take 20 ms), and the guard used to hear
of the address only after both. An agent SIGKILLed in between left the address on its node,
unknown to its guard, while the cluster started it on another node: two holders until someone
removed it by hand. Here the holder's agent is killed as soon as `ip addr` shows the VIP, a few
times over (a vip with failback immediate comes back to n1 each time n1 returns); each time the
VIP must be gone from n1 within a second and end on exactly one node. Run as root.
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import ClusterTestCase, main, run  # noqa: E402

VIP = "10.213.0.100"
RESOURCES = f"""
resources:
  - id: vip
    type: vip
    params: {{address: {VIP}/24, interface: eth0}}
    ops: {{monitor: {{interval: 500ms, timeout: 5s}}}}
    meta: {{failback: immediate, flap_damping: off}}
constraints:
  location:
    - {{resource: vip, node: n1, score: 100}}
"""
TRIALS = 6


class GuardRace(ClusterTestCase):
    def on_n1(self, c):
        r = run("ip", "-n", c.nodes["n1"].ns, "-o", "addr", "show", "dev", "eth0", check=False)
        return f" {VIP}/" in r.stdout

    def test_a_vip_added_as_the_agent_dies_is_removed(self):
        c = self.cluster(resources_yaml=RESOURCES)
        c.start_all()
        for trial in range(TRIALS):
            # Poll as fast as `ip` answers, and kill at the first sight of the address.
            deadline = time.monotonic() + 30
            while not self.on_n1(c):
                self.assertLess(time.monotonic(), deadline, f"trial {trial}: the VIP never on n1")
            c.kill("n1")
            killed = time.monotonic()
            c.wait_until(lambda: not self.on_n1(c), 1.0, 0.01,
                         what=f"trial {trial}: n1's guard removing the VIP of its dead agent")
            gone = time.monotonic() - killed
            c.wait_until(lambda: c.holders(VIP) in (["n2"], ["n3"]), 10,
                         what=f"trial {trial}: the VIP on one other node")
            print(f"trial {trial}: removed {gone * 1000:.0f} ms after the kill", flush=True)
            c.start("n1")


if __name__ == "__main__":
    main()
