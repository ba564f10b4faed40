"""Failback modes and flap damping (docs/failback.md) with real agents in network namespaces.

A vip prefers n1 (score 100) over n2 (50). Each test kills n1's agent (SIGKILL: its guard takes
the vip away), sees the vip move to n2, restarts n1 and checks what the failback mode says:
never (stays on n2, an operator's move still moves it), immediate (back to n1 at once, however
high the stickiness), after 4s (back only once n1 has been online 4 s) and flap damping (held on
n2 after its third move within 10 minutes, shown in status and events, released by `hactl
resource cleanup`). Run as root.
"""

import os
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import ClusterTestCase, main  # noqa: E402

VIP = "10.213.0.100"


def resources(meta):
    return f"""
resources:
  - id: vip
    type: vip
    params: {{address: {VIP}/24, interface: eth0}}
    ops: {{monitor: {{interval: 500ms, timeout: 5s}}}}
    meta: {meta}
constraints:
  location:
    - {{resource: vip, node: n1, score: 100}}
    - {{resource: vip, node: n2, score: 50}}
"""


class Failback(ClusterTestCase):
    def vip(self, c, name):
        s = c.status(name) or {}
        return next((r for r in s.get("resources", []) if r["id"] == "vip"), None)

    def online(self, c, viewer, name):
        s = c.status(viewer) or {}
        return any(n["name"] == name and n["state"] == "online" for n in s.get("nodes", []))

    def notes(self, c):
        """The scheduler's notes, as the coordinator tells them."""
        coordinator = (c.status("n2") or {}).get("coordinator")
        return ((c.status(coordinator) or {}).get("scheduler") or {}).get("notes", [])

    def on(self, c, node, timeout, what):
        return c.wait_until(lambda: c.holders(VIP) == [node], timeout, what=what)

    def crash_and_return_n1(self, c):
        """Kills n1 (the vip moves to n2), restarts it; returns when n2 sees it online."""
        c.kill("n1")
        self.on(c, "n2", 15, "the vip on n2 after n1 crashed")
        started = time.monotonic()
        c.start("n1")
        c.wait_until(lambda: self.online(c, "n2", "n1"), 15, what="n1 online again")
        return started

    def stays(self, c, node, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            self.assertEqual(c.holders(VIP), [node])
            time.sleep(0.1)

    def test_never_stays_and_an_operators_move_still_moves_it(self):
        c = self.cluster(resources_yaml=resources("{failback: never}"))
        c.start_all()
        self.on(c, "n1", 30, "the vip on n1")
        self.assertEqual(self.vip(c, "n2")["failback"], "never")
        self.crash_and_return_n1(c)
        self.stays(c, "n2", 3)
        notes = self.notes(c)
        self.assertTrue(any("failback never" in n for n in notes), notes)
        r = c.hactl("n2", "resource", "move", "vip", "n1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.on(c, "n1", 15, "the vip moved to n1 by the operator")

    def test_immediate_goes_back_whatever_the_stickiness(self):
        c = self.cluster(resources_yaml=resources("{failback: immediate, stickiness: 1000}"))
        c.start_all()
        self.on(c, "n1", 30, "the vip on n1")
        self.crash_and_return_n1(c)
        self.on(c, "n1", 15, "the vip back on n1")

    def test_after_waits_until_the_node_has_been_online_that_long(self):
        c = self.cluster(resources_yaml=resources("{failback: {after: 4s}}"))
        c.start_all()
        self.on(c, "n1", 30, "the vip on n1")
        started = self.crash_and_return_n1(c)
        notes = self.notes(c)
        self.assertTrue(any("failback after" in n for n in notes), notes)
        self.on(c, "n1", 20, "the vip back on n1")
        # n1 cannot have been seen online before its agent started.
        took = time.monotonic() - started
        self.assertGreaterEqual(took, 3.9)

    def test_flap_damping_holds_it_until_cleanup(self):
        c = self.cluster(resources_yaml=resources(
            "{failback: immediate, flap_damping: {moves: 2, within: 10m}}"))
        c.start_all()
        self.on(c, "n1", 30, "the vip on n1")
        self.crash_and_return_n1(c)  # move 1, n1 -> n2
        self.on(c, "n1", 15, "the vip back on n1")  # move 2
        self.crash_and_return_n1(c)  # move 3: more than 2 within 10m, held on n2
        self.stays(c, "n2", 3)
        v = self.vip(c, "n1")
        self.assertEqual(v["held"], "3 moves within 10m", v)
        held = (c.status("n1") or {})["document"]["held"]
        self.assertEqual([(h["resource"], h["node"], h["moves"]) for h in held],
                         [("vip", "n2", 3)])
        human = c.hactl("n1", "status").stdout
        self.assertIn("Held by flap damping", human)
        self.assertIn("vip on n2 since", human)
        logs = "".join(c.log(n) for n in c.nodes)
        self.assertRegex(logs, r"event=flap_held resource=vip node=n2 moves=3 within=10m")
        r = c.hactl("n1", "resource", "cleanup", "vip")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("no longer held by flap damping", r.stdout)
        self.on(c, "n1", 15, "the vip back on n1 once released")
        c.wait_until(lambda: not (c.status("n2") or {}).get("document", {}).get("held", [1]),
                     10, what="the hold gone from the document")


if __name__ == "__main__":
    main()
