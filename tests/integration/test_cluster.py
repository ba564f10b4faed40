"""Real agents in network namespaces: election, crash, restart, partitions, witness, bad input.

Bounds here are generous upper limits (behaviour, not speed: bench/ measures speed).
Run as root: python3 tests/integration/test_cluster.py
"""

import os
import random
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import REPO, ClusterTestCase, run  # noqa: E402


def _wire_version():
    """The datagram version byte the agents speak (kWireVersion in common/wire.hpp)."""
    with open(os.path.join(REPO, "common", "wire.hpp")) as f:
        m = re.search(r"kWireVersion = (\d+);", f.read())
    return bytes([int(m.group(1))])


WIRE_VERSION = _wire_version()


class ClusterTest(ClusterTestCase):

    def wait_agreed(self, c, names=None, timeout=5, other_than=None):
        """The coordinator all `names` agree on with quorum; with other_than, a new one (the
        survivors may still hold a lease from the old coordinator for a moment)."""
        def agreed():
            a = c.agreed_coordinator(names)
            return a if a != other_than else None
        return c.wait_until(agreed, timeout,
                            what=f"one coordinator agreed by {names or 'all running nodes'}"
                                 + (f" other than {other_than}" if other_than else ""))

    def term(self, c, name):
        return c.status(name)["term"]


class ThreeNodes(ClusterTest):
    def test_elect_kill_restart_rejoin(self):
        c = self.cluster()
        c.start_all()
        first = self.wait_agreed(c)
        views = c.views()
        self.assertTrue(all(v["quorum"] for v in views.values()))
        self.assertEqual(sum(1 for v in views.values() if v["role"] == "coordinator"), 1)
        for v in views.values():
            self.assertTrue(all(n["state"] == "online" for n in v["nodes"]), v)
        term_before = self.term(c, first)

        c.kill(first)
        survivors = [n for n in c.nodes if n != first]
        second = self.wait_agreed(c, survivors, timeout=5, other_than=first)
        self.assertNotEqual(second, first)
        self.assertGreater(self.term(c, second), term_before)
        dead = [n for n in c.status(second)["nodes"] if n["name"] == first][0]
        self.assertEqual(dead["state"], "offline")
        self.assertIn("no heartbeat", dead["reason"])

        term_after = self.term(c, second)
        c.start(first)
        self.assertEqual(self.wait_agreed(c, timeout=5), second)
        time.sleep(1.0)  # it must stay that way: the rejoining node disrupts nothing
        self.assertEqual(c.agreed_coordinator(), second)
        self.assertEqual(self.term(c, second), term_after)
        self.assertIn(f"event=node_restarted node={second}", c.log(second))

    def test_isolated_follower_loses_quorum_and_rejoins(self):
        c = self.cluster()
        c.start_all()
        leader = self.wait_agreed(c)
        term = self.term(c, leader)
        follower = [n for n in c.nodes if n != leader][0]
        c.link_down(follower)
        c.wait_until(lambda: c.status(follower)["quorum"] is False, 2,
                     what=f"{follower} to lose quorum")
        others = [n for n in c.nodes if n != follower]
        time.sleep(1.0)
        self.assertEqual(c.agreed_coordinator(others), leader)
        self.assertEqual(self.term(c, leader), term)
        self.assertFalse(c.status(follower)["quorum"])
        c.heal()
        self.assertEqual(self.wait_agreed(c, timeout=5), leader)
        self.assertEqual(self.term(c, leader), term, "a returning follower must not force an election")

    def test_isolated_coordinator_steps_down(self):
        c = self.cluster()
        c.start_all()
        leader = self.wait_agreed(c)
        c.link_down(leader)
        c.wait_until(lambda: (lambda s: not s["quorum"] and s["role"] != "coordinator")(c.status(leader)),
                     2, what=f"{leader} to give up coordination")
        others = [n for n in c.nodes if n != leader]
        new = self.wait_agreed(c, others, timeout=5, other_than=leader)
        c.heal()
        self.assertEqual(self.wait_agreed(c, timeout=5), new)
        roles = [v["role"] for v in c.views().values()]
        self.assertEqual(roles.count("coordinator"), 1)

    def test_one_way_partition_keeps_one_coordinator(self):
        c = self.cluster()
        c.start_all()
        leader = self.wait_agreed(c)
        for other in c.nodes:
            if other != leader:
                c.block(leader, other)  # nobody hears the coordinator; it still hears them
        others = [n for n in c.nodes if n != leader]
        self.wait_agreed(c, others, timeout=5, other_than=leader)
        c.wait_until(lambda: c.status(leader)["role"] != "coordinator", 3,
                     what="the unheard coordinator to step down")
        c.heal()
        self.wait_agreed(c, timeout=5)
        roles = [v["role"] for v in c.views().values()]
        self.assertEqual(roles.count("coordinator"), 1)

    def test_garbage_and_forged_datagrams_are_dropped(self):
        c = self.cluster()
        c.start_all()
        leader = self.wait_agreed(c)
        target = [n for n in c.nodes if n != leader][0]
        rng = random.Random(20261124)
        payloads = [bytes(rng.randrange(256) for _ in range(rng.randrange(2, 1400)))
                    for _ in range(300)]
        garbage = sum(1 for p in payloads if p[:2] != b"HA")
        ver = WIRE_VERSION
        payloads += [b"HA", b"HA" + ver, b"HA\x09\x00", b"HA" + ver + b"\x00\x02n1" + b"\x00" * 16]
        # A well-formed header from a real member name to the target, sealed with the wrong key:
        # names, then incarnation, session, echo and seq.
        forged = b"HA" + ver + b"\x00\x02n1" + bytes([len(target)]) + target.encode()
        forged += b"".join(v.to_bytes(8, "little") for v in (7, 8, 9, 1)) + bytes(24) + bytes(60)
        payloads += [forged] * 20
        payloads.append(b"HA" + ver + b"\x00" + b"\x05" + b"ghost" + bytes(80))
        payloads.append(bytes(2000))
        c.send_from_switch(target, payloads)
        time.sleep(0.5)
        s = c.status(target)
        dropped = s["transport"]["dropped"]
        self.assertEqual(dropped["auth_failed"], 20, dropped)
        self.assertEqual(dropped["truncated"], 3, dropped)
        self.assertEqual(dropped["bad_version"], 1, dropped)
        self.assertEqual(dropped["bad_magic"], garbage, dropped)
        self.assertEqual(dropped["unknown_sender"], 1, dropped)
        self.assertEqual(dropped["oversized"], 1, dropped)
        self.assertTrue(c.alive(target))
        self.assertEqual(c.agreed_coordinator(), leader)

    def test_authentic_datagrams_from_elsewhere_are_dropped(self):
        """A datagram n2 sealed for n1, captured on n1's link and sent to n1 again from another
        host (the switch, 10.213.0.250): dropped as wrong_source. A datagram n2 sealed for n3,
        captured on n3's link and relayed to n1 with n2's address and port spoofed: dropped as
        wrong_recipient (the sealed header names n3). Neither touches the replay window."""
        c = self.cluster()
        c.start_all()
        leader = self.wait_agreed(c)
        for_n1 = c.capture("n1", "n2", "n1", 1)
        for_n3 = c.capture("n3", "n2", "n3", 1)
        self.assertEqual((len(for_n1), len(for_n3)), (1, 1))
        before = c.status("n1")["transport"]
        c.send_from_switch("n1", for_n1 * 3)
        c.wait_until(lambda: c.status("n1")["transport"]["dropped"]["wrong_source"] >= 3, 5,
                     what="the datagrams from elsewhere dropped")
        c.send_spoofed("n2", "n1", for_n3 * 4)
        c.wait_until(lambda: c.status("n1")["transport"]["dropped"]["wrong_recipient"] >= 4, 5,
                     what="the relayed datagrams with a spoofed source dropped")
        after = c.status("n1")["transport"]
        self.assertEqual(after["dropped"]["wrong_source"], before["dropped"]["wrong_source"] + 3)
        self.assertEqual(after["dropped"]["wrong_recipient"],
                         before["dropped"]["wrong_recipient"] + 4)
        self.assertEqual(after["dropped"]["replayed"], before["dropped"]["replayed"])
        self.assertTrue(c.alive("n1"))
        self.assertEqual(c.agreed_coordinator(), leader)

    def test_a_restarted_receiver_cannot_be_fed_the_past(self):
        """Datagrams n2 sent n1, captured on n1's link, replayed to n1 with n2's address spoofed
        after n2 was cut off and n1's agent restarted: every one is refused (stale_echo, sealed
        before n1's new boot), and n1 never sees n2 online. Before wire 3, a restarted receiver
        accepted a sender's first datagram whatever its sequence number, then the rest above it."""
        c = self.cluster()
        c.start_all()
        self.wait_agreed(c)
        captured = c.capture("n1", "n2", "n1", 40)
        self.assertGreaterEqual(len(captured), 20)
        c.link_down("n2")
        c.restart("n1")
        c.wait_until(lambda: (c.status("n1") or {}).get("quorum"), 10,
                     what="n1 back with n3, without n2")
        n2_state = {n["name"]: n["state"] for n in c.status("n1")["nodes"]}["n2"]
        self.assertNotEqual(n2_state, "online")
        before = c.status("n1")["transport"]
        c.send_spoofed("n2", "n1", captured)
        c.wait_until(lambda: c.status("n1")["transport"]["dropped"]["stale_echo"]
                     >= before["dropped"]["stale_echo"] + len(captured), 5,
                     what="every replayed datagram dropped as stale_echo")
        after = c.status("n1")
        self.assertEqual(after["transport"]["dropped"]["stale_echo"],
                         before["dropped"]["stale_echo"] + len(captured))
        n2 = {n["name"]: n for n in after["nodes"]}["n2"]
        self.assertNotEqual(n2["state"], "online", n2)

class TwoNodesAndWitness(ClusterTest):
    def test_either_server_may_die(self):
        c = self.cluster(names=("s1", "s2", "w"), witnesses=("w",))
        c.start_all()
        first = self.wait_agreed(c)
        self.assertNotEqual(first, "w", "the witness never coordinates")
        c.kill(first)
        other = "s2" if first == "s1" else "s1"
        self.assertEqual(self.wait_agreed(c, [other, "w"], timeout=5, other_than=first), other)
        s = c.status(other)
        self.assertTrue(s["quorum"])
        dead = [n for n in s["nodes"] if n["name"] == first][0]
        self.assertEqual(dead["state"], "offline")
        self.assertTrue(dead["reason"])
        witness = [n for n in s["nodes"] if n["name"] == "w"][0]
        self.assertTrue(witness["witness"])
        c.start(first)
        self.assertEqual(self.wait_agreed(c, timeout=5), other)


if __name__ == "__main__":
    netns.main()
