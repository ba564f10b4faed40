"""Behaviour on quorum loss, per resource (meta on_quorum_loss), with real agents in network
namespaces: the cluster's no_quorum_policy is stop, a vip follows it, and an OCF Dummy says
`on_quorum_loss: freeze`. When the node holding both is cut off from the majority, it gives the
vip up (which the majority then starts) and keeps the Dummy running, which the majority never
starts while the node is away; `hactl status` says which resource does what. Run as root.
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
  - id: db
    type: ocf:heartbeat:Dummy
    params: {{state: /run/hactl/db.state}}
    ops: {{monitor: {{interval: 1s, timeout: 5s}}, stop: {{timeout: 2s}}}}
    meta: {{on_quorum_loss: freeze}}
constraints:
  location:
    - {{resource: vip, node: n1, score: 100}}
    - {{resource: db, node: n1, score: 100}}
"""


class QuorumLossPerResource(ClusterTestCase):
    def db_running(self, c):
        """The nodes whose Dummy state file exists (their private /run)."""
        return [n for n, node in c.nodes.items()
                if os.path.exists(os.path.join(node.run_dir, "hactl", "db.state"))]

    def resource(self, c, name, rid):
        s = c.status(name) or {}
        for r in s.get("resources", []):
            if r["id"] == rid:
                return r
        return None

    def test_the_vip_goes_and_the_database_stays(self):
        c = self.cluster(resources_yaml=RESOURCES)
        c.start_all()
        c.wait_until(lambda: c.holders(VIP) == ["n1"] and self.db_running(c) == ["n1"], 30,
                     what="vip and db on n1")
        self.assertEqual(self.resource(c, "n2", "db")["on_quorum_loss"], "freeze")
        self.assertEqual(self.resource(c, "n2", "vip")["on_quorum_loss"], "stop")
        human = c.hactl("n2", "status").stdout
        self.assertIn("On quorum loss a node stops its resources but keeps db.", human)
        c.partition(["n1"], ["n2", "n3"])
        cut = time.monotonic()
        # The majority starts the vip once n1's lease is over; n1 gave it up before that.
        holder = c.wait_until(lambda: (lambda h: h[0] if len(h) == 1 and h[0] != "n1" else None)(
            c.holders(VIP)), 15, what="the vip on the majority")
        self.assertIn(holder, ("n2", "n3"))
        # Past db's takeover delay (restart_grace 0.9 s + its 2 s stop timeout, after which a
        # resource that stops would move): it still runs on n1 alone, never started elsewhere.
        while time.monotonic() < cut + 6:
            self.assertEqual(self.db_running(c), ["n1"])
            self.assertEqual(len(c.holders(VIP)), 1)
            time.sleep(0.1)
        r = self.resource(c, "n2", "db")
        self.assertEqual(r["nodes"], ["n1"])  # where it may still run, as the majority sees it
        log = c.log("n1")
        self.assertRegex(log, r"event=lease_lapsed action=stop_all resources=vip ")
        self.assertNotIn("resource=db action=stop", log)
        c.heal()
        # Back together: db was never stopped, so it is still there and nowhere else.
        c.wait_until(lambda: (self.resource(c, "n1", "db") or {}).get("state") == "started", 15,
                     what="db seen started again")
        self.assertEqual(self.db_running(c), ["n1"])
        self.assertEqual(len(c.holders(VIP)), 1)


if __name__ == "__main__":
    main()
