"""Operator sequences survive their client (docs/operators.md, "Operator sequences"): a real
3-node cluster in network namespaces runs an exec resource whose stop takes 3 s. `hactl config
apply` of a file that redefines it (so it must be stopped first) is SIGKILLed in mid-apply, and
the apply still completes: the new definition runs, nothing is left disabled, and the document
records the sequence as done. The same with the coordinator's agent SIGKILLed too (the next
coordinator finishes it), for `hactl resource restart`, and for a SIGHUP reload (the same
sequence, with no client at all).

Run as root: python3 tests/integration/test_sequences.py
"""

import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import HACTL, ClusterTestCase  # noqa: E402

# Records each start and stop (with its definition's version) in a file every namespace shares;
# runs in the node's private /run; its stop takes stop_s seconds.
SLOW = """#!/bin/sh
f=/run/hactl/slow.running
case "$1" in
  start)
    echo "$HACTL_PARAM_version" > $f; echo "start $HACTL_PARAM_version" >> "$HACTL_PARAM_log" ;;
  stop)
    if [ -f $f ]; then
      sleep "$HACTL_PARAM_stop_s"; rm -f $f; echo "stop" >> "$HACTL_PARAM_log"
    fi ;;
  status) [ -f $f ] || exit 3 ;;
esac
exit 0
"""


def resources_yaml(script, log, version):
    return f"""
resources:
  - id: slow
    type: exec:{script}
    params: {{version: "{version}", stop_s: "3", log: {log}}}
    ops: {{monitor: {{interval: 1s, timeout: 5s}}, stop: {{timeout: 10s}}}}
"""


class SequenceTest(ClusterTestCase):
    def start(self):
        c = self.cluster()
        self.script = os.path.join(c.tmp, "slow.sh")
        self.log = os.path.join(c.tmp, "slow.log")
        with open(self.script, "w") as f:
            f.write(SLOW)
        os.chmod(self.script, 0o755)
        c.resources_yaml = resources_yaml(self.script, self.log, 1)
        with open(c.config, "w") as f:
            f.write(c.config_text())
        c.start_all()
        self.running(c, "1")
        return c

    def config_file(self, c, version):
        path = os.path.join(c.tmp, f"v{version}.yaml")
        text = c.config_text().replace(c.resources_yaml.strip("\n"),
                                       resources_yaml(self.script, self.log, version).strip("\n"))
        with open(path, "w") as f:
            f.write(text)
        return path

    def doc(self, c, names=None):
        """The document as the first running node that answers sees it."""
        for n in names or [n for n in c.nodes if c.alive(n)]:
            s = c.status(n)
            if s:
                return s["document"]
        return None

    def where(self, c, node):
        """The node running slow as `node` sees it, when it runs on exactly one."""
        s = c.status(node)
        r = next((r for r in (s or {}).get("resources", []) if r["id"] == "slow"), None)
        return r["nodes"][0] if r and r["state"] == "started" and len(r["nodes"]) == 1 else None

    def version_on(self, c, node):
        try:
            with open(os.path.join(c.nodes[node].run_dir, "hactl", "slow.running")) as f:
                return f.read().strip()
        except OSError:
            return None

    def running(self, c, version, timeout=30):
        """Waits until slow runs on one node, with this definition; returns the node."""
        def check():
            alive = [n for n in c.nodes if c.alive(n)]
            holder = self.where(c, alive[0])
            if holder and self.version_on(c, holder) == version:
                return holder
            return None
        return c.wait_until(check, timeout, 0.1, f"slow running with version {version}")

    def mid_sequence(self, c, proc, kind):
        """Waits until the sequence is under way (slow disabled for it), then SIGKILLs hactl."""
        try:
            d = c.wait_until(lambda: (lambda d: d if d and d.get("sequence") else None)(
                self.doc(c)), 15, 0.02, f"the {kind} under way")
            self.assertEqual(d["sequence"]["kind"], kind)
            self.assertIn("slow", d["disabled"])
            self.assertIsNone(proc.poll(), "hactl still follows it")
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.communicate(timeout=10)
            self.killed_at = time.monotonic()
        return d["sequence"]["id"]

    def ended(self, c, seq_id, timeout=40, names=None):
        """Waits until the document records the sequence's end; returns the document. (The
        sequence's own deadline is 120 s; its stop takes 3 s, and a lost coordinator's node is
        given up after its takeover delay, the 10 s stop timeout.)"""
        d = c.wait_until(
            lambda: (lambda d: d if d and (d.get("last_sequence") or {}).get("id") == seq_id
                     else None)(self.doc(c, names)), timeout, 0.1, f"sequence {seq_id} to end")
        print(f"  sequence {seq_id} ({d['last_sequence']['kind']}) ended "
              f"{time.monotonic() - self.killed_at:.1f} s after its client was killed "
              "(or the reload)")
        return d

    def starts(self):
        with open(self.log) as f:
            return [line.split() for line in f.read().splitlines()]

    def apply_client(self, c, node, version):
        return subprocess.Popen(
            [HACTL, "--socket", c.nodes[node].socket, "config", "apply",
             self.config_file(c, version)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def check_applied(self, c, seq_id, version, config_version):
        d = self.ended(c, seq_id)
        self.assertTrue(d["last_sequence"]["done"], d["last_sequence"])
        self.assertEqual(d["last_sequence"]["config_version"], config_version)
        self.assertIsNone(d["sequence"])
        self.assertEqual(d["disabled"], [], "nothing left disabled")
        self.assertEqual(d["config_version"], config_version)
        self.running(c, version)
        # Every node agrees: nothing disabled anywhere.
        for n in c.nodes:
            c.wait_until(lambda n=n: (self.doc(c, [n]) or {}).get("config_version") ==
                         config_version, 15, 0.1, f"{n} on version {config_version}")
            self.assertEqual(self.doc(c, [n])["disabled"], [])

    def test_config_apply_finishes_when_its_client_is_killed(self):
        c = self.start()
        proc = self.apply_client(c, "n1", 2)
        seq_id = self.mid_sequence(c, proc, "config apply")
        self.check_applied(c, seq_id, "2", 2)
        log = self.starts()
        # Stopped before the new definition started: never both.
        self.assertEqual(log[-2:], [["stop"], ["start", "2"]], log)

    def test_config_apply_finishes_when_the_coordinator_dies_too(self):
        c = self.start()
        coordinator = c.wait_until(lambda: c.agreed_coordinator(), 10, 0.1, "a coordinator")
        asked = next(n for n in c.nodes if n != coordinator)
        proc = self.apply_client(c, asked, 2)
        seq_id = self.mid_sequence(c, proc, "config apply")
        c.kill(coordinator)
        survivors = [n for n in c.nodes if n != coordinator]
        c.wait_until(lambda: c.agreed_coordinator(survivors), 15, 0.1, "a new coordinator")
        self.check_applied_by(c, survivors, seq_id)
        c.start(coordinator)
        self.check_applied(c, seq_id, "2", 2)

    def check_applied_by(self, c, survivors, seq_id):
        d = self.ended(c, seq_id, 60, survivors)
        self.assertTrue(d["last_sequence"]["done"], d["last_sequence"])
        self.assertEqual(d["disabled"], [])

    def test_restart_finishes_when_its_client_is_killed(self):
        c = self.start()
        before = len(self.starts())
        proc = subprocess.Popen([HACTL, "--socket", c.nodes["n2"].socket, "resource", "restart",
                                 "slow"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        seq_id = self.mid_sequence(c, proc, "restart")
        d = self.ended(c, seq_id)
        self.assertTrue(d["last_sequence"]["done"], d["last_sequence"])
        self.assertEqual(d["disabled"], [], "nothing left disabled")
        self.running(c, "1")
        log = self.starts()
        self.assertEqual(log[before:], [["stop"], ["start", "1"]], log)

    def test_a_reload_that_redefines_what_runs_stops_it_first(self):
        c = self.start()
        with open(self.config_file(c, 5)) as f, open(c.config, "w") as out:
            out.write(f.read())
        c.nodes["n2"].proc.send_signal(signal.SIGHUP)
        c.wait_until(lambda: "event=reload_started" in c.log("n2"), 10, 0.1,
                     "the reload's sequence")
        self.killed_at = time.monotonic()
        self.check_applied(c, 1, "5", 2)
        self.assertEqual(self.starts()[-2:], [["stop"], ["start", "5"]])

    def test_a_client_that_stays_sees_the_end_and_its_exit_code(self):
        c = self.start()
        r = c.hactl("n3", "resource", "restart", "slow")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(r.stdout, "stopping slow\nstarting slow again\n")
        r = c.hactl("n3", "config", "apply", self.config_file(c, 3))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("stopping first: slow", r.stdout)
        self.assertIn("as configuration version 2 (stored by a majority of the nodes)", r.stdout)
        self.running(c, "3")
        # A stop that outlasts --timeout: undone, nothing applied, enabled again; exit 1.
        r = c.hactl("n1", "config", "apply", self.config_file(c, 4), "--timeout", "1")
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn("slow did not stop within 1 s; nothing was applied; enabled again: slow",
                      r.stderr)
        d = self.doc(c)
        self.assertEqual((d["config_version"], d["disabled"]), (2, []))
        self.running(c, "3")


if __name__ == "__main__":
    unittest.main(verbosity=2)
