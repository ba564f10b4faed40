"""The agent speaks systemd's notify protocol (Type=notify): READY=1 once it runs, WATCHDOG=1
every half WatchdogSec while its loop turns (none while it is stopped with SIGSTOP, so systemd's
watchdog restarts a hung agent), STOPPING=1 on SIGTERM. One agent on loopback, a datagram socket
standing in for systemd. Run as root or not: python3 tests/integration/test_notify.py
"""

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
