"""The operator's verbs, driven through the real `hactl` binary against a real 3-node cluster in
network namespaces: standby/online, move/ban/clear (with a lifetime), enable/disable/restart,
config validate/diff/apply/show/history, and their error paths (unknown names with a
suggestion, an invalid or static-changing apply refused with the cluster unchanged, an agent
that was down catching up, a reader refused a write). Plus the config-apply crash test: agents
SIGKILLed at random points of applies, every stored document always one whole version.

Bounds are generous upper limits (behaviour, not speed). Run as root:
python3 tests/integration/test_operators.py
"""

import grp
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import HACTL, AddressWatch, ClusterTestCase, run  # noqa: E402

VIP = "10.213.0.100"
VIP2 = "10.213.0.101"
VIP3 = "10.213.0.102"

RESOURCES = f"""
resources:
  - id: web-ip
    type: vip
    params: {{address: {VIP}/24, interface: eth0}}
    ops: {{monitor: {{interval: 500ms, timeout: 5s}}}}
"""

# The same, plus a second VIP.
RESOURCES_2 = RESOURCES + f"""
  - id: api-ip
    type: vip
    params: {{address: {VIP2}/24, interface: eth0}}
    ops: {{monitor: {{interval: 500ms, timeout: 5s}}}}
"""

# api-ip redefined: another address.
RESOURCES_3 = RESOURCES + f"""
  - id: api-ip
    type: vip
    params: {{address: {VIP3}/24, interface: eth0}}
    ops: {{monitor: {{interval: 500ms, timeout: 5s}}}}
"""


def read(path):
    with open(path) as f:
        return f.read()


class VipSampler:
    """Samples, in a thread, which namespaces hold each address; records every sample."""

    def __init__(self, cluster, addresses, period=0.02):
        self.c, self.addresses, self.period = cluster, addresses, period
        self.samples = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        deadline = time.monotonic() + 600
        while not self.stop.is_set() and time.monotonic() < deadline:
            self.samples.append({a: self.c.holders(a) for a in self.addresses})
            time.sleep(self.period)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=10)

    def most_holders(self, address):
        return max((len(s[address]) for s in self.samples), default=0)


class OperatorTest(ClusterTestCase):
    def start(self, resources=RESOURCES, **kw):
        c = self.cluster(resources_yaml=resources, **kw)
        c.start_all()
        c.wait_until(lambda: c.agreed_coordinator(), 10, 0.1, "a coordinator")
        return c

    def hactl(self, c, node, *args):
        return c.hactl(node, *args)

    def ok(self, c, node, *args):
        r = c.hactl(node, *args)
        self.assertEqual(r.returncode, 0, f"hactl {' '.join(args)}: {r.stdout}{r.stderr}")
        return r.stdout

    def holder(self, c, address=VIP, timeout=15):
        return c.wait_until(
            lambda: (lambda h: h[0] if len(h) == 1 else None)(c.holders(address)), timeout,
            0.05, f"{address} on one node")

    def doc(self, c, node):
        s = c.status(node)
        return s["document"] if s else None

    def test_standby_move_ban_clear_lifetime_disable_restart(self):
        c = self.start()
        first = self.holder(c)
        others = [n for n in c.nodes if n != first]

        # standby moves the VIP off and shows the node as standby; online lets it back.
        self.ok(c, others[0], "node", "standby", first)
        c.wait_until(lambda: c.holders(VIP) and first not in c.holders(VIP), 10, 0.05,
                     "the VIP off the standby node")
        c.wait_until(lambda: next(n["state"] for n in c.status(first)["nodes"]
                                  if n["name"] == first) == "standby", 5, 0.1, "standby shown")
        second = self.holder(c)
        self.assertNotEqual(second, first)
        self.ok(c, first, "node", "online", first)
        c.wait_until(lambda: first not in self.doc(c, second)["standby"], 5, 0.1, "online")
        time.sleep(1)
        self.assertEqual(c.holders(VIP), [second], "stickiness keeps it where it is")

        # move to a node, shown as an intent; clear keeps it where it is.
        self.ok(c, first, "resource", "move", "web-ip", first)
        c.wait_until(lambda: c.holders(VIP) == [first], 10, 0.05, "the VIP moved")
        text = self.ok(c, second, "status")
        # Without --lifetime, an intent lasts an hour (docs/operators.md).
        self.assertRegex(text, "move web-ip to " + first + r" \(expires in (1h0m|59m\d+s)\)")
        self.ok(c, second, "resource", "clear", "web-ip")
        c.wait_until(lambda: not self.doc(c, first)["placements"], 5, 0.1, "intent cleared")
        time.sleep(1)
        self.assertEqual(c.holders(VIP), [first])

        # ban from a node; move without a node moves away from where it runs.
        self.ok(c, first, "resource", "ban", "web-ip", first, "--lifetime", "forever")
        c.wait_until(lambda: self.doc(c, second)["placements"], 5, 0.1, "the ban known")
        self.assertIn("ban web-ip from " + first + " (until cleared)", self.ok(c, second, "status"))
        third = c.wait_until(lambda: (lambda h: h[0] if h and h != [first] else None)(
            c.holders(VIP)), 10, 0.05, "the VIP off the banned node")
        c.wait_until(lambda: c.status(first)["resources"][0]["nodes"] == [third], 5, 0.05,
                     "the move known to the node asked")
        # explain names the ban, and the command that lifts it, on the banned node.
        ex = json.loads(self.ok(c, second, "explain", "web-ip", "--json"))
        banned = next(n for n in ex["nodes"] if n["node"] == first)
        self.assertTrue(banned["excluded"])
        self.assertEqual([r["change"] for r in banned["reasons"] if r["kind"] == "ban"],
                         [f"hactl resource clear web-ip --node {first}"])
        self.assertIs(ex["quorum"], True)
        self.assertEqual(ex["now"], [{"node": third, "role": "started"}])
        text = self.ok(c, second, "explain", "web-ip", "--node", first)
        self.assertIn("an operator banned it from here (hactl resource ban, until cleared)", text)
        self.assertNotIn(f"  {third}:", text)
        self.ok(c, first, "resource", "move", "web-ip")
        c.wait_until(lambda: c.holders(VIP) and third not in c.holders(VIP)
                     and first not in c.holders(VIP), 10, 0.05, "away from its node")
        self.ok(c, first, "resource", "clear", "web-ip")

        # a move with a lifetime expires by itself.
        where = self.holder(c)
        target = next(n for n in c.nodes if n != where)
        self.ok(c, where, "resource", "move", "web-ip", target, "--lifetime", "3s")
        c.wait_until(lambda: c.holders(VIP) == [target], 10, 0.05, "moved for a while")
        placements = self.doc(c, where)["placements"]
        self.assertEqual(len(placements), 1)
        self.assertLessEqual(placements[0]["expires_in_s"], 3)
        c.wait_until(lambda: not self.doc(c, where)["placements"], 10, 0.2, "the move expired")
        self.assertEqual(c.holders(VIP), [target], "expiry does not move it back")

        # disable stops it everywhere; enable starts it again; restart does both.
        self.ok(c, target, "resource", "disable", "web-ip")
        c.wait_until(lambda: not c.holders(VIP), 10, 0.05, "the VIP gone")
        time.sleep(0.5)
        self.assertEqual(c.holders(VIP), [])
        self.ok(c, target, "resource", "enable", "web-ip")
        self.holder(c)
        with AddressWatch(c, VIP) as watch:
            out = self.ok(c, target, "resource", "restart", "web-ip")
            self.holder(c)
            time.sleep(0.3)
        self.assertIn("starting web-ip again", out)
        spans = [s for v in watch.intervals().values() for s in v]
        self.assertGreaterEqual(len(spans), 2, f"deleted, then added again: {spans}")
        self.assertEqual(watch.longest_overlap(), 0.0)

    def test_errors_name_the_problem_and_change_nothing(self):
        c = self.start(names=("n1", "n2", "n3", "w"), witnesses=("w",))
        self.holder(c)
        before = self.doc(c, "n1")["version"]

        def refused(*args, needle):
            r = c.hactl("n1", *args)
            self.assertEqual(r.returncode, 1, f"{args}: {r.stdout}{r.stderr}")
            self.assertIn(needle, r.stderr)

        refused("resource", "move", "web-iq", "n2", needle="did you mean 'web-ip'?")
        refused("resource", "ban", "web-ip", "n22", needle="no node is called 'n22'; did you mean")
        refused("node", "standby", "nodeX", needle="known: n1, n2, n3, w")
        refused("resource", "move", "web-ip", "w", needle="is a witness")
        refused("resource", "disable", "nothing", needle="no resource is called 'nothing'")
        refused("resource", "cleanup", "web-iq", needle="did you mean 'web-ip'?")
        self.assertEqual(self.doc(c, "n1")["version"], before, "nothing was changed")
        # --dry-run shows where it would go and why, and changes nothing.
        holder = self.holder(c)
        other = next(n for n in ("n1", "n2", "n3") if n != holder)
        r = c.hactl("n1", "resource", "move", "web-ip", other, "--dry-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"start web-ip on {other}", r.stdout)
        self.assertIn(f"dry run: web-ip would run on {other}; nothing was changed", r.stdout)
        r = c.hactl("n1", "resource", "ban", "web-ip", holder, "--dry-run")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(f"stop web-ip on {holder}", r.stdout)
        self.assertEqual(self.doc(c, "n1")["version"], before, "a dry run changes nothing")
        self.assertEqual(c.holders(VIP), [holder])
        # A move that cannot be carried out is refused with why; nothing is written.
        self.ok(c, "n1", "node", "standby", other)
        c.wait_until(lambda: other in self.doc(c, "n1")["standby"], 5, 0.1, "standby")
        before = self.doc(c, "n1")["version"]
        refused("resource", "move", "web-ip", other,
                needle=f"cannot move web-ip to {other}: {other} is in standby "
                       f"(`hactl node online {other}`); nothing was changed")
        self.assertEqual(self.doc(c, "n1")["version"], before, "a refused move leaves nothing")
        self.assertEqual(self.doc(c, "n1")["placements"], [])
        # Usage errors are exit code 2 (CLI11), and --help works on every verb.
        self.assertEqual(c.hactl("n1", "resource", "ban", "web-ip").returncode, 2)
        self.assertEqual(c.hactl("n1", "resource", "move", "web-ip", "n2", "--lifetime", "x")
                         .returncode, 2)

    def write_config(self, c, name, resources, extra=""):
        path = os.path.join(c.tmp, name)
        text = c.config_text().replace(c.resources_yaml.strip("\n"), resources.strip("\n"))
        with open(path, "w") as f:
            f.write(text.replace("  node_timeout:", extra + "  node_timeout:") if extra else text)
        return path

    def test_config_apply_diff_show_history_and_refusals(self):
        c = self.start()
        self.holder(c)
        v2 = self.write_config(c, "v2.yaml", RESOURCES_2)
        out = self.ok(c, "n2", "config", "diff", v2)
        self.assertRegex(out, r"api-ip: added, starts on n\d")
        self.assertIn("left alone: web-ip", out)
        self.ok(c, "n2", "config", "apply", v2)
        self.holder(c, VIP2)
        for n in c.nodes:
            c.wait_until(lambda n=n: self.doc(c, n)["config_version"] == 2, 5, 0.1, "version 2")
        self.assertIn("api-ip", self.ok(c, "n3", "config", "show"))
        old = json.loads(self.ok(c, "n3", "config", "show", "--version", "1", "--json"))
        self.assertNotIn("api-ip", old["text"])
        hist = json.loads(self.ok(c, "n1", "config", "history", "--json"))["versions"]
        self.assertEqual([v["version"] for v in hist], [2, 1])
        self.assertIn("nothing to apply", self.ok(c, "n1", "config", "diff", v2))

        # An invalid file is refused with file, line and field; the cluster is unchanged.
        bad = os.path.join(c.tmp, "bad.yaml")
        with open(bad, "w") as f:
            f.write(read(v2).replace("interface: eth0}", "interfce: eth0}", 1))
        r = c.hactl("n1", "config", "apply", bad)
        self.assertEqual(r.returncode, 1)
        self.assertRegex(r.stderr, r"bad\.yaml:\d+:\d+: resources\[0\]")
        # Node list or timing changes need restarts, not apply: refused, listed.
        timing = self.write_config(c, "timing.yaml", RESOURCES_2, extra="  # x\n")
        with open(timing, "w") as f:
            f.write(read(v2).replace("node_timeout: 300ms", "node_timeout: 600ms"))
        r = c.hactl("n1", "config", "apply", timing)
        self.assertEqual(r.returncode, 1)
        self.assertIn("cluster.node_timeout: 300ms -> 600ms", r.stderr)
        self.assertEqual(self.doc(c, "n1")["config_version"], 2)

        # Redefining an active VIP: stopped first, then the new one; never both addresses, and
        # the unrelated VIP keeps its node.
        keep = c.holders(VIP)
        v3 = self.write_config(c, "v3.yaml", RESOURCES_3)
        plan = self.ok(c, "n1", "config", "diff", v3)
        self.assertRegex(plan, r"api-ip: redefined, (restarted on|moves from) n\d")
        self.assertIn("left alone: web-ip", plan)
        rows = {r["resource"]: r for r in
                json.loads(self.ok(c, "n1", "config", "diff", v3, "--json"))["plan"]}
        self.assertEqual((rows["web-ip"]["definition"], rows["web-ip"]["outcome"]),
                         ("same", "nothing"))
        self.assertIn(rows["api-ip"]["outcome"], ("restart", "move"))
        sampler = VipSampler(c, [VIP])
        # A client pings the unrelated VIP every 20 ms through the apply (500 pings, 10 s, ended
        # by count so that none is in flight at the end): not one reply lost.
        ping = subprocess.Popen(["ip", "netns", "exec", c.switch, "ping", "-n", "-q", "-i",
                                 "0.02", "-c", "500", "-W", "2", VIP],
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        ping_started = time.monotonic()
        try:
            time.sleep(0.5)
            with AddressWatch(c, VIP2) as old, AddressWatch(c, VIP3) as new:
                try:
                    out = self.ok(c, "n1", "config", "apply", v3)
                    self.holder(c, VIP3)
                    time.sleep(0.5)
                finally:
                    sampler.close()
            applied_within = time.monotonic() - ping_started
        finally:
            summary = ping.communicate(timeout=30)[0]
        self.assertLess(applied_within, 9.5, "the pings covered the whole apply")
        sent, got = map(int, re.search(r"(\d+) packets transmitted, (\d+) received",
                                       summary).groups())
        self.assertGreater(sent, 20, summary)
        self.assertEqual(got, sent, f"replies lost from the unrelated VIP: {summary}")
        self.assertIn("stopping first: api-ip", out)
        self.assertEqual(c.holders(VIP2), [])
        self.assertEqual(c.holders(VIP), keep)
        # The kernel's own times: the old address was gone before the new one came.
        gone = max(b for v in old.intervals().values() for _, b in v if b is not None)
        came = min(a for v in new.intervals().values() for a, _ in v)
        self.assertLess(gone, came, f"old {old.intervals()} new {new.intervals()}")
        self.assertTrue(all(s[VIP] == keep for s in sampler.samples), "web-ip untouched")

    def test_an_agent_down_during_apply_catches_up_on_rejoin(self):
        c = self.start()
        self.holder(c)
        c.kill("n3")
        v2 = self.write_config(c, "v2.yaml", RESOURCES_2)
        self.ok(c, "n1", "config", "apply", v2)
        self.holder(c, VIP2)
        c.start("n3")
        c.wait_until(lambda: (self.doc(c, "n3") or {}).get("config_version") == 2, 10, 0.1,
                     "n3 on version 2")
        self.assertIn("api-ip", self.ok(c, "n3", "config", "show"))
        c.wait_until(lambda: [r["id"] for r in c.status("n3")["resources"]] ==
                     ["web-ip", "api-ip"], 5, 0.1, "n3 runs on the new list")

    def test_sighup_applies_the_edited_file_or_logs_why_not(self):
        c = self.start()
        self.holder(c)
        with open(c.config, "w") as f:
            f.write(read(self.write_config(c, "v2.yaml", RESOURCES_2)))
        c.nodes["n2"].proc.send_signal(signal.SIGHUP)
        self.holder(c, VIP2)
        for n in c.nodes:
            c.wait_until(lambda n=n: self.doc(c, n)["config_version"] == 2, 5, 0.1, "version 2")
        self.assertIn("event=reload_done", c.log("n2"))
        # A broken edit is refused and logged; the cluster keeps version 2.
        with open(c.config, "w") as f:
            f.write(c.config_text().replace("node_timeout: 300ms", "node_timeout: 900ms"))
        c.nodes["n2"].proc.send_signal(signal.SIGHUP)
        c.wait_until(lambda: "event=reload_refused" in c.log("n2"), 5, 0.1, "refused")
        self.assertIn("cluster.node_timeout: 300ms -> 900ms", c.log("n2"))
        self.assertEqual(self.doc(c, "n1")["config_version"], 2)
        self.assertTrue(c.alive("n2"))

    def test_a_reader_may_read_and_may_not_write(self):
        created = False
        try:
            grp.getgrnam("haclient")
        except KeyError:
            run("groupadd", "--system", "haclient")
            created = True
        if created:
            self.addCleanup(run, "groupdel", "haclient", check=False)
        gid = grp.getgrnam("haclient").gr_gid
        c = self.start()
        self.holder(c)
        # The socket's directory must be reachable for the reader.
        os.chmod(c.tmp, 0o755)
        reader = ["setpriv", f"--reuid=65534", f"--regid={gid}", "--clear-groups", HACTL,
                  "--socket", c.nodes["n1"].socket]
        r = run(*reader, "status", "--json", check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        r = run(*reader, "node", "standby", "n2", check=False)
        self.assertEqual(r.returncode, 1)
        self.assertIn("permission denied", r.stderr)
        self.assertNotIn("n2", self.doc(c, "n1")["standby"])
        other = run("setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", HACTL,
                    "--socket", c.nodes["n1"].socket, "status", check=False)
        self.assertNotEqual(other.returncode, 0, "not in the group: no access at all")
        self.assertIn("event=control_refused cmd=node-standby caller=\"uid 65534", c.log("n1"))
        self.ok(c, "n1", "node", "standby", "n2")
        self.assertIn("event=control_write cmd=node-standby caller=\"uid 0", c.log("n1"))

    def events(self, c, node, *args):
        out = self.ok(c, node, "events", "--json", *args)
        return [json.loads(line) for line in out.splitlines() if line.strip()]

    def test_events_are_kept_across_a_restart_and_followed(self):
        hook_dir = tempfile.mkdtemp(prefix="hactl-hook-")
        self.addCleanup(shutil.rmtree, hook_dir, True)
        hook = os.path.join(hook_dir, "hook.sh")
        with open(hook, "w") as f:
            f.write("#!/bin/sh\nenv | grep ^HACTL_ | sort > "
                    f"{hook_dir}/$HACTL_NODE-$HACTL_EVENT_SEQ.env\n")
        os.chmod(hook, 0o755)
        alerts = f"alerts:\n  - path: {hook}\n    timeout: 5s\n    kinds: [control_write]\n"
        c = self.start(resources=RESOURCES + alerts)
        holder = self.holder(c)
        self.ok(c, holder, "node", "standby", holder)
        c.wait_until(lambda: c.holders(VIP) and holder not in c.holders(VIP), 10, 0.05, "moved")
        # The holder may have been the coordinator, which hands its role over on standby: the
        # coordinator's kinds are looked for on every node.
        kinds = {e["kind"] for n in c.nodes for e in self.events(c, n, "-n", "500")}
        for k in ("became_coordinator", "node_up", "doc_committed", "dispatch",
                  "action_finished"):
            self.assertIn(k, kinds, f"{k} on some node")
        mine = self.events(c, holder, "-n", "500")
        writes = [e for e in mine if e["kind"] == "control_write"]
        self.assertEqual(writes[-1]["caller"], "uid 0 (root)")
        stops = [e for e in mine if e["kind"] == "action_finished" and e.get("action") == "stop"]
        self.assertTrue(stops, "the stop, with its duration")
        self.assertGreaterEqual(int(stops[-1]["took_ms"]), 0)
        last = mine[-1]["seq"]
        # Kept across a restart; numbering continues.
        c.restart(holder)
        c.wait_until(lambda: c.status(holder) is not None, 10, 0.1, "restarted")
        after = self.events(c, holder, "-n", "1000")
        self.assertIn(last, [e["seq"] for e in after])
        self.assertGreater(after[-1]["seq"], last)
        self.assertIn("agent_started", [e["kind"] for e in after if e["seq"] > last])
        # --follow prints what comes next.
        follow = subprocess.Popen([HACTL, "--socket", c.nodes[holder].socket, "events", "-f",
                                   "-n", "1"], stdout=subprocess.PIPE, text=True)
        try:
            time.sleep(1)
            self.ok(c, holder, "node", "online", holder)
            c.wait_until(lambda: holder not in self.doc(c, holder)["standby"], 5, 0.1, "online")
            time.sleep(1.5)
        finally:
            follow.terminate()
            out, _ = follow.communicate(timeout=10)
        self.assertIn("control_write", out)
        self.assertIn("cmd=node-online", out)
        # The alert hook ran for each write, with the event in its environment.
        runs = c.wait_until(lambda: [f for f in os.listdir(hook_dir) if f.endswith(".env")
                                     and len(read(os.path.join(hook_dir, f))) > 0] or None,
                            10, 0.1, "the hook's runs")
        env = read(os.path.join(hook_dir, sorted(runs)[-1]))
        self.assertIn("HACTL_EVENT_KIND=control_write", env)
        self.assertIn(f"HACTL_NODE={holder}", env)
        self.assertIn("HACTL_FIELD_CALLER=uid 0 (root)", env)
        self.assertRegex(env, r"HACTL_TERM=\d+")

    def scrape(self, c, node, host="127.0.0.1"):
        return c.scrape(node, host)

    def test_metrics_on_loopback(self):
        c = self.start()
        holder = self.holder(c)
        c.wait_until(lambda: 'hactl_peer_up{peer="n2"} 1' in self.scrape(c, "n1").stdout, 5, 0.1,
                     "n2 up in n1's metrics")
        text = self.scrape(c, holder).stdout
        for line in ("hactl_quorum 1", f'hactl_resource_role{{resource="web-ip",node="{holder}",'
                     'role="started"} 1', "# TYPE hactl_elections_total counter",
                     'hactl_actions_total{resource="web-ip",action="start",result="ok"} 1'):
            self.assertIn(line, text)
        self.assertRegex(text, r'hactl_peer_rtt_seconds\{peer="n\d"\} [0-9.e-]+')
        # Availability from the event history: up since it first started (logged at the agent's
        # next look after the VIP is verified), no failover yet.
        up = re.compile(r'hactl_resource_uptime_ratio\{resource="web-ip"\} (1|0\.99\d*)\n')
        text = c.wait_until(lambda: (lambda t: t if up.search(t) else None)(
            self.scrape(c, holder).stdout), 5, 0.1, "web-ip up in the availability metrics")
        self.assertIn('hactl_resource_failovers{resource="web-ip"} 0', text)

        def forged():
            m = re.search(r'hactl_datagrams_dropped_total\{reason="bad_magic"\} (\d+)',
                          self.scrape(c, "n1").stdout)
            return int(m.group(1))
        before = forged()
        c.send_from_switch("n1", [b"HX not ours"] * 5)
        c.wait_until(lambda: forged() >= before + 5, 5, 0.1, "the garbage counted")
        # Loopback only: not reachable on the node's own address.
        r = self.scrape(c, "n1", host=c.nodes["n1"].ip)
        self.assertNotEqual(r.returncode, 0)

    def test_simulate_prints_the_transition_and_runs_nothing(self):
        c = self.start()
        holder = self.holder(c)
        other = next(n for n in c.nodes if n != holder)
        c.wait_until(lambda: c.status(other)["resources"][0]["nodes"] == [holder], 5, 0.1,
                     "the placement known everywhere")
        out = self.ok(c, other, "simulate", "--kill", holder)
        self.assertIn(f"if {holder} died", out)
        self.assertRegex(out, r"start web-ip on n\d")
        r = json.loads(self.ok(c, other, "simulate", "--kill", holder, "--json"))
        placed = [p for p in r["placement"] if p["resource"] == "web-ip"]
        self.assertEqual(len(placed), 1)
        self.assertNotEqual(placed[0]["node"], holder)
        self.assertEqual([a["action"] for a in r["actions"]], ["start"])
        r = json.loads(self.ok(c, other, "simulate", "--fail", "web-ip", "--json"))
        self.assertIn("stop", [a["action"] for a in r["actions"]])
        v2 = self.write_config(c, "v2.yaml", RESOURCES_2)
        r = json.loads(self.ok(c, other, "simulate", "--config", v2, "--json"))
        self.assertEqual([(a["resource"], a["action"]) for a in r["actions"]],
                         [("api-ip", "start")])
        state = self.ok(c, other, "simulate", "--dump-state")
        self.assertIn("web-ip", state)
        # Recorded, then replayed offline with no agent: the same decision.
        recorded = os.path.join(c.tmp, "state.yaml")
        with open(recorded, "w") as f:
            f.write(state)
        live = json.loads(self.ok(c, other, "simulate", "--kill", holder, "--json"))
        offline = subprocess.run([HACTL, "--socket", "/nonexistent.sock", "simulate", "--config",
                                  c.config, "--state", recorded, "--kill", holder, "--json"],
                                 capture_output=True, text=True, timeout=20)
        self.assertEqual(offline.returncode, 0, offline.stderr)
        self.assertEqual(json.loads(offline.stdout)["actions"], live["actions"])
        self.assertEqual(json.loads(offline.stdout)["placement"], live["placement"])
        bad = c.hactl(other, "simulate", "--kill", holder + "x")
        self.assertEqual(bad.returncode, 1)
        self.assertIn(f"did you mean '{holder}'", bad.stderr)
        time.sleep(0.5)
        self.assertEqual(c.holders(VIP), [holder], "nothing was run")
        self.assertEqual(c.holders(VIP2), [])

    def test_maintenance_leaves_a_node_alone_even_across_an_agent_restart(self):
        c = self.start()
        holder = self.holder(c)
        self.ok(c, holder, "node", "maintenance", holder)
        c.wait_until(lambda: next(n for n in c.status(holder)["nodes"]
                                  if n["name"] == holder)["state"] == "maintenance", 5, 0.1,
                     "maintenance shown")
        # The agent dies (an operator upgrading it): its guard removes nothing, and the cluster
        # starts nothing elsewhere.
        c.kill(holder)
        time.sleep(3)
        self.assertEqual(c.holders(VIP), [holder])
        other = next(n for n in c.nodes if n != holder)
        r = c.hactl(other, "node", "online", holder)
        self.assertEqual(r.returncode, 1)
        self.assertIn("in maintenance and not reachable", r.stderr)
        out = self.ok(c, other, "simulate", "--json")
        self.assertEqual(json.loads(out)["actions"], [])
        c.start(holder)
        c.wait_until(lambda: c.status(holder) is not None and c.status(holder)["quorum"], 10,
                     0.1, "back")
        time.sleep(1)
        self.assertEqual(c.holders(VIP), [holder], "still where it was, once")
        self.assertIn(holder, self.doc(c, holder)["maintenance"])
        self.ok(c, other, "node", "online", holder)
        c.wait_until(lambda: not self.doc(c, holder)["maintenance"], 5, 0.1, "online")
        time.sleep(1)
        self.assertEqual(c.holders(VIP), [holder])
        self.assertIn("event=maintenance_ended", c.log(holder))

    def test_a_failure_shows_with_its_reason_until_cleanup_and_status_watches(self):
        c = self.start()
        holder = self.holder(c)
        c.nodes[holder].exec("ip", "addr", "del", f"{VIP}/24", "dev", "eth0")
        failures = c.wait_until(lambda: c.status(holder)["failures"] or None, 10, 0.1,
                                "the failure in status")
        self.assertEqual(failures[0]["resource"], "web-ip")
        self.assertEqual(failures[0]["node"], holder)
        self.assertEqual(failures[0]["reason"], "monitor: not running (7)")
        self.assertIn("web-ip on " + holder + ": 1 failure", self.ok(c, holder, "status"))
        self.holder(c)  # recovered in place
        other = next(n for n in c.nodes if n != holder)
        self.ok(c, holder, "resource", "cleanup", "web-ip", "--node", other)
        time.sleep(1)
        self.assertTrue(c.status(holder)["failures"], "only the other node's were forgotten")
        r = c.hactl(holder, "resource", "cleanup", "web-ip", "--node", holder + "x")
        self.assertEqual(r.returncode, 1)
        self.assertIn(f"did you mean '{holder}'", r.stderr)
        self.ok(c, holder, "resource", "cleanup", "web-ip", "--node", holder)
        c.wait_until(lambda: not c.status(holder)["failures"], 10, 0.1, "forgotten")
        # --watch redraws in place until interrupted.
        w = subprocess.Popen([HACTL, "--socket", c.nodes[holder].socket, "status", "--watch",
                              "--interval", "0.2"], stdout=subprocess.PIPE, text=True)
        time.sleep(1.5)
        w.terminate()
        out, _ = w.communicate(timeout=10)
        self.assertGreaterEqual(out.count("\x1b[H\x1b[2J"), 3)
        self.assertGreaterEqual(out.count("Cluster netns"), 3)

    def test_killed_during_apply_the_stored_document_is_always_whole(self):
        c = self.start()
        self.holder(c)
        rng = random.Random(int(os.environ.get("HACTL_TEST_SEED", "4")))
        files = [self.write_config(c, "a.yaml", RESOURCES_2),
                 self.write_config(c, "b.yaml", RESOURCES)]
        rounds = int(os.environ.get("HACTL_APPLY_CRASH_ROUNDS", "8"))
        for i in range(rounds):
            victim = rng.choice(list(c.nodes))
            applier = rng.choice([n for n in c.nodes if n != victim])
            proc = subprocess.Popen([HACTL, "--socket", c.nodes[applier].socket, "config", "apply",
                                     files[i % 2]], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                    text=True)
            time.sleep(rng.uniform(0, 0.15))
            c.kill(victim)
            proc.communicate(timeout=60)
            # Whatever the moment, the victim's stored document is one whole version.
            path = os.path.join(c.nodes[victim].state_dir, f"hactl-{victim}.doc")
            if os.path.exists(path):
                with open(path) as f:
                    stored = json.load(f)
                doc = json.loads(stored["document"])
                self.assertIn(doc["config_text"], (read(files[0]), read(files[1]), c.config_text()))
            c.start(victim)
            c.wait_until(lambda: c.agreed_coordinator(), 10, 0.1, "a coordinator")
        # All nodes converge on one version.
        c.wait_until(lambda: len({self.doc(c, n)["version"] for n in c.nodes}) == 1, 15, 0.2,
                     "one document version everywhere")
        # The last kill may have taken the holder: the VIP comes back on one node, not at once.
        c.wait_until(lambda: len(c.holders(VIP)) == 1, 15, 0.1, "one VIP holder")


if __name__ == "__main__":
    unittest.main(verbosity=2)
