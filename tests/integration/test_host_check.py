"""A configuration no node's host can run is refused before anything stops
(common/host_check.hpp), with real agents in network namespaces:

- `hactl config apply` of the running vip moved to an interface that does not exist (eth9),
  sent to the holder and to another node: before, the apply stopped the running VIP, failed to
  start it on all three nodes and left it banned everywhere. Now it is refused with each node's
  reason (node, resource, field, file and line), and `ip monitor` in every namespace shows the
  VIP never deleted; no new version is stored and nothing is disabled.
- The same through `hactl config diff`, a bare config-apply request on the control socket (no
  config-check first, as a script might send it), `hactl config validate --node` and
  `hactl-agent --check-config` run in a node's namespace.
- An interface name with a ';' and an address outside the interface's subnet are refused too,
  the first by the loader (file, line, field), the second by the host check.
- A valid apply (a second vip) still goes through, and the first VIP stays where it is.
- Every node checks: a vip on an interface no node has is refused with the reason of each of
  the three nodes, whichever node is asked; a vip on an interface only one node has (an eth9
  the test adds in that node's namespace) is applied with a warning naming the two
  others, and runs on that node.

Run as root.
"""

import json
import os
import re
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import AGENT, HACTL, AddressWatch, ClusterTestCase, main, run, vip_resources  # noqa: E402
from test_hostile_requests import ASK  # noqa: E402  (one request per connection, N times)

VIP = "10.213.0.100"
RESOURCES = vip_resources(VIP)


class HostCheck(ClusterTestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hactl-hostcheck-")
        self.addCleanup(run, "rm", "-rf", self.dir, check=False)

    def write(self, c, name, old, new):
        text = c.config_text()
        self.assertIn(old, text)
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text.replace(old, new, 1))
        return path

    @staticmethod
    def interfaces(c, node):
        """The interface names in `node`'s namespace, sorted as the finding lists them."""
        out = run("ip", "-n", c.nodes[node].ns, "-o", "link", "show").stdout
        return sorted(re.sub(r"@.*", "", line.split(": ")[1]) for line in out.splitlines())

    def refused(self, c, node, *args):
        r = run(HACTL, "--socket", c.nodes[node].socket, "config", *args, check=False, timeout=60)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertNotIn("stopping first", r.stdout)
        return r.stderr

    def nothing_changed(self, c, watch, holder):
        self.assertEqual(c.holders(VIP), [holder])
        deleted = [e for e in watch.events if not e[2]]
        self.assertEqual(deleted, [], "the VIP was deleted")
        for n in c.nodes:
            r = c.hactl(n, "config", "show", "--json")
            self.assertEqual(r.returncode, 0, r.stderr)
            shown = json.loads(r.stdout)
            self.assertEqual(shown["version"], 1, n)
            self.assertEqual(shown["document"]["disabled"], [], n)

    def test_a_vip_on_a_missing_interface_is_refused_and_the_running_vip_stays(self):
        c = self.cluster(resources_yaml=RESOURCES)
        c.start_all()
        holders = c.wait_until(lambda: c.holders(VIP) if len(c.holders(VIP)) == 1 else None, 30,
                               0.05, "one VIP holder")
        holder = holders[0]
        other = next(n for n in c.nodes if n != holder)
        bad = self.write(c, "eth9.yaml", "interface: eth0", "interface: eth9")
        line = c.config_text().splitlines().index(
            next(x for x in c.config_text().splitlines() if "interface: eth0" in x)) + 1

        def reason(node):
            has = ", ".join(self.interfaces(c, node))
            return (f"{bad}:{line}:"
                    rf"\d+: resources\[0\]\.params\.interface: {node}: resource vip: "
                    f'interface "eth9" does not exist on {node} \\(has: {re.escape(has)}\\)')

        with AddressWatch(c, VIP) as watch:
            for node in (holder, other):
                want = reason(node)
                for verb in ("apply", "diff"):
                    err = self.refused(c, node, verb, bad)
                    self.assertIn("the configuration cannot run: what it adds or changes is "
                                  "missing on every node that checked it", err, verb)
                    # Every node's reason, whichever node was asked.
                    for n in c.nodes:
                        self.assertRegex(err, reason(n), verb)
                # A bare config-apply request, without the CLI's config-check first.
                with open(bad) as f:
                    request = {"cmd": "config-apply", "path": bad, "text": f.read()}
                r = run(sys.executable, "-c", ASK, c.nodes[node].socket, json.dumps(request),
                        "1", timeout=60)
                answer = json.loads(r.stdout.splitlines()[1])
                self.assertIn("the configuration cannot run", answer.get("error", ""), answer)
                self.assertEqual(answer["host_checked"], {n: "checked" for n in c.nodes})
                found = [(f["node"], f["resource"], f["field"], f["severity"], f["line"])
                         for f in answer["host_findings"]]
                self.assertEqual(found, [(n, "vip", "resources[0].params.interface", "error",
                                          line) for n in sorted(c.nodes)])
                # Offline, in the node's namespace: validate as that node, and --check-config.
                r = c.nodes[node].exec(HACTL, "config", "validate", bad, "--node", node,
                                       check=False)
                self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
                self.assertRegex(r.stderr, want)
                r = c.nodes[node].exec(AGENT, "--check-config", "--config", bad, "--node", node,
                                       check=False)
                self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
                self.assertRegex(r.stderr, want)
            self.nothing_changed(c, watch, holder)

    def test_a_bad_name_or_an_address_off_the_subnet_is_refused_and_a_good_apply_is_not(self):
        c = self.cluster(resources_yaml=RESOURCES)
        c.start_all()
        holder = c.wait_until(lambda: c.holders(VIP) if len(c.holders(VIP)) == 1 else None, 30,
                              0.05, "one VIP holder")[0]
        semicolon = self.write(c, "semicolon.yaml", "interface: eth0", 'interface: "eth0;reboot"')
        subnet = self.write(c, "subnet.yaml", f"address: {VIP}/24", "address: 192.0.2.100/24")
        vip2 = f"{VIP[:-3]}101"
        second = self.write(c, "second.yaml", "", "")
        with open(second, "a") as f:  # a second vip after the first
            f.write(vip_resources(vip2, rid="vip2").split("resources:\n", 1)[1])
        with AddressWatch(c, VIP) as watch:
            err = self.refused(c, holder, "apply", semicolon)
            self.assertRegex(err, rf"{semicolon}:\d+:\d+: resources\[0\]\.params\.interface: an "
                             "interface name is A-Z a-z 0-9 _ . - only, got ';'")
            err = self.refused(c, holder, "apply", subnet)
            self.assertRegex(err, rf"{subnet}:\d+:\d+: resources\[0\]\.params\.address: "
                             f'{holder}: resource vip: address "192.0.2.100" is in no subnet of '
                             rf"eth0 on {holder} \(eth0 has 10\.213\.0\.0/24\); set "
                             "outside_subnet: true")
            self.nothing_changed(c, watch, holder)
            r = run(HACTL, "--socket", c.nodes[holder].socket, "config", "apply", second,
                    check=False, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            c.wait_until(lambda: len(c.holders(vip2)) == 1, 30, 0.05, "the second VIP started")
            self.assertEqual(c.holders(VIP), [holder])
            self.assertEqual([e for e in watch.events if not e[2]], [], "the VIP was deleted")

    def test_what_only_one_node_can_run_is_applied_with_a_warning_naming_the_others(self):
        c = self.cluster(resources_yaml=RESOURCES)
        c.start_all()
        holder = c.wait_until(lambda: c.holders(VIP) if len(c.holders(VIP)) == 1 else None, 30,
                              0.05, "one VIP holder")[0]
        only = next(n for n in sorted(c.nodes) if n != holder)
        ns = c.nodes[only].ns  # created by the test, removed with its namespace
        # A veth pair inside the namespace (no dummy module on every kernel).
        run("ip", "-n", ns, "link", "add", "eth9", "type", "veth", "peer", "name", "eth9p")
        run("ip", "-n", ns, "addr", "add", "10.213.9.1/24", "dev", "eth9")
        for link in ("eth9", "eth9p"):
            run("ip", "-n", ns, "link", "set", link, "up")
        vip9 = "10.213.9.100"
        path = self.write(c, "eth9-on-one.yaml", "", "")
        with open(path, "a") as f:
            f.write(vip_resources(vip9, rid="vip9").split("resources:\n", 1)[1]
                    .replace("interface: eth0", "interface: eth9"))
        with AddressWatch(c, VIP) as watch:
            r = run(HACTL, "--socket", c.nodes[holder].socket, "config", "apply", path,
                    check=False, timeout=60)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            for n in c.nodes:
                named = rf'warning: .*: {n}: resource vip9: interface "eth9" does not exist on {n}'
                if n == only:
                    self.assertNotRegex(r.stdout, named)
                else:
                    self.assertRegex(r.stdout, named)
            c.wait_until(lambda: c.holders(vip9, dev="eth9") == [only], 60, 0.1,
                         "vip9 on the node with eth9")
            self.assertEqual(c.holders(VIP), [holder])
            self.assertEqual([e for e in watch.events if not e[2]], [], "the VIP was deleted")


if __name__ == "__main__":
    main()
