"""Verified VIP moves and IPv6 VIPs with real agents in network namespaces (docs/vip.md).

- A started vip becomes "verified": another node saw it announced and answered from the
  holder's MAC; `hactl status --json` and the event history say so.
- The bridge (the switch namespace, with nftables' bridge family) drops the first gratuitous
  ARPs of the new holder after a crash: the holder repeats them until a peer confirms, and the
  client's neighbour cache, which the client never refreshed itself, ends up on the new MAC.
- IPv6: the vip is added without DAD, fails over, and the client's neighbour cache follows the
  unsolicited neighbour advertisements; preferred_lft 0 makes it "deprecated"; with nodad false
  the start waits for DAD, so the address is never tentative once started.

The client is the switch namespace (10.213.0.250, fd00:10:213::250). Run as root.
"""

import json
import os
import re
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import ClusterTestCase, main, run  # noqa: E402

VIP4 = "10.213.0.100"
VIP6 = "fd00:10:213::100"
V4 = f"""
resources:
  - id: vip
    type: vip
    params: {{address: {VIP4}/24, interface: eth0}}
    ops: {{monitor: {{interval: 500ms, timeout: 5s}}}}
"""


def v6_resources(extra=""):
    return f"""
resources:
  - id: vip6
    type: vip
    params: {{address: {VIP6}/64, interface: eth0{extra}}}
    ops: {{monitor: {{interval: 500ms, timeout: 5s}}}}
"""


class VipVerify(ClusterTestCase):
    def start(self, resources):
        c = self.cluster(resources_yaml=resources)
        c.start_all()
        return c

    def verify_of(self, c, name, resource):
        s = c.status(name)
        if not s:
            return None
        for r in s.get("resources", []):
            if r["id"] == resource:
                return r.get("verify")
        return None

    def wait_verified(self, c, resource, timeout=20, not_on=None):
        def verified():
            for name in c.nodes:
                if not c.alive(name):
                    continue
                v = self.verify_of(c, name, resource)
                if v and v["state"] == "verified" and v["node"] != not_on:
                    return v
            return None
        return c.wait_until(verified, timeout, what=f"{resource} verified")

    def events(self, c, name, kind):
        r = c.hactl(name, "events", "--json", "-n", "500")
        out = []
        for line in r.stdout.splitlines():
            if line.strip():
                e = json.loads(line)
                if e["kind"] == kind:
                    out.append(e)
        return out

    def client_neigh(self, c, address):
        """The client's (the switch namespace's) neighbour entry for address: (mac, state)."""
        r = run("ip", "-n", c.switch, "neigh", "show", address, "dev", "br0", check=False)
        m = re.search(r"lladdr (\S+) (\S+)", r.stdout)
        return (m.group(1).lower(), m.group(2)) if m else (None, r.stdout.strip())

    def test_a_started_vip_is_verified_and_says_so(self):
        c = self.start(V4)
        v = self.wait_verified(c, "vip")
        holder = v["node"]
        self.assertEqual(c.holders(VIP4), [holder])
        self.assertIsInstance(v["took_ms"], int)
        self.assertLess(v["took_ms"], 5000)
        self.assertGreaterEqual(v["announcements"], 2)  # the start's, and at least one repeat
        ev = self.events(c, holder, "vip_verified")
        self.assertTrue(ev, "no vip_verified event on the holder")
        self.assertEqual(ev[-1]["resource"], "vip")
        self.assertEqual(ev[-1]["mac"], c.mac(holder))
        self.assertIn(ev[-1]["verifier"], [n for n in c.nodes if n != holder])
        human = c.hactl(holder, "status").stdout
        self.assertRegex(human, r"vip\s+vip\s+started \(verified in ")
        metrics = c.hactl(holder, "status", "--json").stdout  # the JSON schema holds it too
        self.assertIn('"verify"', metrics)

    def test_dropped_gratuitous_arps_are_repeated_until_verified(self):
        c = self.start(V4)
        first = self.wait_verified(c, "vip")["node"]
        # The client learns the VIP's MAC once, then never asks again.
        run("ip", "netns", "exec", c.switch, "ping", "-c", "1", "-W", "2", VIP4)
        self.assertEqual(self.client_neigh(c, VIP4)[0], c.mac(first))
        # The bridge drops gratuitous ARPs for the VIP (sender and target both the VIP) until
        # K were dropped; a thread takes the rule away then.
        k = 3
        sw = c.switch
        run("ip", "netns", "exec", sw, "nft", "add table bridge hactl_garp")
        # At prerouting: once per frame, before the bridge floods it to the peers and the client.
        run("ip", "netns", "exec", sw, "nft",
            "add chain bridge hactl_garp pre { type filter hook prerouting priority 0 ; }")
        run("ip", "netns", "exec", sw, "nft",
            f"add rule bridge hactl_garp pre ether type arp arp saddr ip {VIP4} "
            f"arp daddr ip {VIP4} counter drop")
        self.addCleanup(run, "ip", "netns", "exec", sw, "nft", "delete table bridge hactl_garp",
                        check=False)
        dropped = []
        done = threading.Event()

        def lift():
            deadline = time.monotonic() + 30
            while not done.is_set() and time.monotonic() < deadline:
                out = run("ip", "netns", "exec", sw, "nft", "list table bridge hactl_garp",
                          check=False).stdout
                n = max([int(x) for x in re.findall(r"counter packets (\d+)", out)] or [0])
                if n >= k:
                    run("ip", "netns", "exec", sw, "nft", "delete table bridge hactl_garp",
                        check=False)
                    dropped.append(n)
                    return
                time.sleep(0.002)

        t = threading.Thread(target=lift, daemon=True)
        t.start()
        c.kill(first)
        try:
            v = self.wait_verified(c, "vip", not_on=first)
        finally:
            done.set()
            t.join(5)
        second = v["node"]
        self.assertTrue(dropped and dropped[0] >= k, f"the bridge dropped {dropped}")
        self.assertGreater(v["announcements"], k)
        ev = self.events(c, second, "vip_verified")[-1]
        self.assertGreater(int(ev["announcements"]), k)
        # The client never asked again: its cache moved because an announcement got through.
        mac, state = c.wait_until(
            lambda: (lambda n: n if n[0] == c.mac(second) else None)(self.client_neigh(c, VIP4)),
            10, what="the client's neighbour entry on the new holder")
        print(f"\n  dropped {dropped[0]} announcements; verified after {v['took_ms']} ms, "
              f"{v['announcements']} announcements; client entry {mac} {state}")

    def v6_cluster(self, extra=""):
        c = self.cluster(resources_yaml=v6_resources(extra))
        # The client's address on the bridge, without DAD (the test's own namespace).
        run("ip", "-n", c.switch, "addr", "add", "fd00:10:213::250/64", "dev", "br0", "nodad")
        c.start_all()
        return c

    def v6_flags(self, c, name):
        r = run("ip", "-n", c.nodes[name].ns, "-6", "-o", "addr", "show", "dev", "eth0",
                check=False)
        for line in r.stdout.splitlines():
            if f" {VIP6}/" in line:
                return line
        return None

    def test_ipv6_vip_fails_over_and_the_client_follows(self):
        c = self.v6_cluster()
        first = self.wait_verified(c, "vip6", timeout=30)["node"]
        self.assertEqual(c.holders(VIP6), [first])
        self.assertNotIn("tentative", self.v6_flags(c, first))
        run("ip", "netns", "exec", c.switch, "ping", "-6", "-c", "1", "-W", "2", VIP6)
        self.assertEqual(self.client_neigh(c, VIP6)[0], c.mac(first))
        c.kill(first)
        v = self.wait_verified(c, "vip6", not_on=first, timeout=30)
        self.assertEqual(c.holders(VIP6), [v["node"]])
        c.wait_until(lambda: self.client_neigh(c, VIP6)[0] == c.mac(v["node"]), 10,
                     what="the client's IPv6 neighbour entry on the new holder")

    def test_ipv6_deprecated_and_with_dad(self):
        c = self.v6_cluster(", preferred_lft: 0, nodad: false")
        v = self.wait_verified(c, "vip6", timeout=30)
        line = self.v6_flags(c, v["node"])
        self.assertIn("deprecated", line)  # never picked as a source address
        self.assertNotIn("tentative", line)
        self.assertIn("preferred_lft 0sec", line)
        # The start waited for DAD (about a second), then announced.
        ev = [e for e in self.events(c, v["node"], "action_finished")
              if e.get("resource") == "vip6" and e.get("action") == "start"]
        self.assertTrue(ev)
        self.assertGreaterEqual(int(ev[-1]["took_ms"]), 300)


if __name__ == "__main__":
    main()
