"""The agent speaks systemd's notify protocol (Type=notify): READY=1 once it runs, WATCHDOG=1
every half WatchdogSec while its loop turns (none while it is stopped with SIGSTOP, so systemd's
watchdog restarts a hung agent), STOPPING=1 on SIGTERM. One agent on loopback, a datagram socket
standing in for systemd. And its alert hooks are run at least once per event: a hook still
running when the agent is killed with SIGKILL is run again for that event by the next agent
(docs/alerts.md, "Delivery"), and a coordinator that has reconciled logs `reconciled` once per
term. Run as root or not: python3 tests/integration/test_notify.py
"""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import AGENT, HACTL  # noqa: E402


class Notify(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="hactl-notify-")
        self.addCleanup(shutil.rmtree, self.dir, True)
        subprocess.run([HACTL, "keygen", f"{self.dir}/key"], check=True, capture_output=True)
        with open(f"{self.dir}/c.yaml", "w") as f:
            f.write(f"cluster:\n  name: notify\n  auth_key_file: {self.dir}/key\n"
                    "  metrics_address: \"\"\n"
                    "nodes:\n  - name: a\n    address: 127.0.0.1:15405\n")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.addCleanup(self.sock.close)
        self.sock.bind(f"{self.dir}/notify")
        self.sock.settimeout(0.2)

    def agent(self, env=None):
        # /run/hactl is the host's here: give the agent its own lease and lock files. Its log goes
        # to a file (a pipe nobody reads would fill up and stall it).
        log = open(f"{self.dir}/agent.log", "a")
        try:
            return subprocess.Popen(
                [AGENT, "--config", f"{self.dir}/c.yaml", "--node", "a", "--socket",
                 f"{self.dir}/s", "--state-dir", f"{self.dir}/state", "--run-dir",
                 f"{self.dir}/run"],
                env=env, stdout=subprocess.DEVNULL, stderr=log, text=True)
        finally:
            log.close()

    def stop(self, proc, sig=signal.SIGTERM):
        """Stops an agent this test started, and every process it started (by PID)."""
        children = []
        try:
            with open(f"/proc/{proc.pid}/task/{proc.pid}/children") as f:
                children = [int(x) for x in f.read().split()]
        except OSError:
            pass
        if proc.poll() is None:
            proc.send_signal(sig)
        try:
            code = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait(timeout=10)
        for pid in children:  # its guard, and hooks (each in a process group of its own)
            for kill in (os.killpg, os.kill):
                try:
                    kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        return code

    def wait_for(self, what, pred, seconds=15):
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            got = pred()
            if got:
                return got
            time.sleep(0.05)
        with open(f"{self.dir}/agent.log") as f:
            tail = "".join(f.readlines()[-40:])
        self.fail(f"timed out waiting for {what}; agent log:\n{tail}")

    def hook_runs(self):
        try:
            with open(f"{self.dir}/hook.log") as f:
                return [line.split() for line in f if line.strip()]
        except FileNotFoundError:
            return []

    def with_hook(self, kinds):
        """A hook that logs each run as "seq kind attempt redelivery pid", then sleeps for a
        minute while the file `slow` exists."""
        with open(f"{self.dir}/hook.sh", "w") as f:
            f.write("#!/bin/sh\n"
                    "echo \"$HACTL_EVENT_SEQ $HACTL_EVENT_KIND $HACTL_ALERT_ATTEMPT "
                    f"$HACTL_ALERT_REDELIVERY $$\" >> {self.dir}/hook.log\n"
                    f"if [ -e {self.dir}/slow ]; then sleep 60; fi\n")
        os.chmod(f"{self.dir}/hook.sh", 0o755)
        with open(f"{self.dir}/c.yaml", "a") as f:
            f.write(f"alerts:\n  - id: h\n    path: {self.dir}/hook.sh\n    timeout: 90s\n"
                    f"    kinds: [{', '.join(kinds)}]\n")

    def test_hook_killed_with_its_agent_is_run_again(self):
        self.with_hook(["agent_started"])
        open(f"{self.dir}/slow", "w").close()
        proc = self.agent()
        try:
            first = self.wait_for("the hook's first run",
                                  lambda: [r for r in self.hook_runs() if r[1] == "agent_started"])
            seq, _, attempt, redelivery, _ = first[0]
            self.assertEqual((attempt, redelivery), ("1", "0"))
            time.sleep(0.5)  # the record notes what is owed within 200 ms; the hook still runs
            self.assertEqual(self.stop(proc, signal.SIGKILL), -signal.SIGKILL)
        finally:
            self.stop(proc, signal.SIGKILL)
        with open(f"{self.dir}/state/events/alert-deliveries.json") as f:
            record = json.load(f)
        self.assertIn([int(seq), int(seq)], record["hooks"]["h"]["owed"], record)
        os.remove(f"{self.dir}/slow")

        proc = self.agent()
        try:
            again = self.wait_for("the hook run again for the same event",
                                  lambda: [r for r in self.hook_runs()[1:] if r[0] == seq])
            self.assertEqual(again[0][1:4], ["agent_started", "1", "1"])  # attempt 1, redelivery
            # The new agent's own start: once, live.
            self.wait_for("the second agent_started",
                          lambda: [r for r in self.hook_runs() if int(r[0]) > int(seq)])
            self.assertEqual(self.stop(proc), 0)
        finally:
            self.stop(proc, signal.SIGKILL)
        runs = self.hook_runs()
        self.assertEqual(len(runs), 3, runs)

        # Done with now: a third agent runs only its own start.
        proc = self.agent()
        try:
            self.wait_for("the third agent_started", lambda: len(self.hook_runs()) >= 4)
            time.sleep(0.5)
            self.assertEqual(self.stop(proc), 0)
        finally:
            self.stop(proc, signal.SIGKILL)
        runs = self.hook_runs()
        self.assertEqual([r[0] for r in runs].count(seq), 2, runs)
        self.assertEqual(len(runs), 4, runs)
        self.assertEqual(runs[-1][2:4], ["1", "0"])

    def test_reconciled_once_per_term(self):
        self.with_hook(["reconciled"])
        proc = self.agent()
        try:
            runs = self.wait_for("the hook run on `reconciled`", self.hook_runs)
            time.sleep(1)
            self.assertEqual(len(self.hook_runs()), 1, self.hook_runs())
            out = subprocess.run([HACTL, "--socket", f"{self.dir}/s", "events", "--json", "-n",
                                  "200"], check=True, capture_output=True, text=True).stdout
            events = [json.loads(line) for line in out.splitlines() if line.strip()]
            rec = [e for e in events if e["kind"] == "reconciled"]
            self.assertEqual(len(rec), 1, rec)
            self.assertEqual(str(rec[0]["seq"]), runs[0][0])
            self.assertEqual(rec[0]["coordinator"], "a")
            self.assertEqual(rec[0]["placement"], "")  # no resources
            self.assertEqual(self.stop(proc), 0)
        finally:
            self.stop(proc, signal.SIGKILL)

    def messages(self, seconds):
        out, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                out.append(self.sock.recv(4096).decode())
            except socket.timeout:
                pass
        return out

    def test_ready_watchdog_and_stopping(self):
        env = dict(os.environ, NOTIFY_SOCKET=f"{self.dir}/notify", WATCHDOG_USEC="400000")
        # /run/hactl is the host's here: give the agent its own lease and lock files.
        proc = subprocess.Popen(
            [AGENT, "--config", f"{self.dir}/c.yaml", "--node", "a", "--socket",
             f"{self.dir}/s", "--state-dir", f"{self.dir}/state", "--run-dir", f"{self.dir}/run"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            got = self.messages(1.5)
            self.assertTrue(any(m.startswith("READY=1") for m in got), got)
            self.assertGreaterEqual(sum(m == "WATCHDOG=1" for m in got), 3, got)
            # Stopped, it pets no watchdog.
            proc.send_signal(signal.SIGSTOP)
            self.messages(0.3)  # what was already on its way
            self.assertNotIn("WATCHDOG=1", self.messages(1.0))
            proc.send_signal(signal.SIGCONT)
            self.assertIn("WATCHDOG=1", self.messages(1.0))
            proc.send_signal(signal.SIGTERM)
            self.assertEqual(proc.wait(timeout=20), 0)
            self.assertIn("STOPPING=1", self.messages(0.5))
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=10)
            proc.stderr.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
