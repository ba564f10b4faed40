"""hactl-arbiter on loopback, spoken to by arbiter_client (tests/tools) as a pair's nodes would.

- A claim is granted to the first node and refused to the second, which is told who holds it.
- A vote is on disk before its answer: after kill -9 and a restart, the same term is refused to
  the other node, and the restarted arbiter backs nobody for the promise (the longest
  node_timeout the cluster asked) before it does again.
- A cluster with no key and a replayed datagram get no answer and are counted in /metrics.
- A state file that does not parse keeps its cluster unserved (never served from an empty
  state, which could give a term's vote twice), and says so in the log, /metrics and status.
- SIGHUP reads the key directory again: a cluster added then is served.
- `hactl arbiter key` writes the key the arbiter uses (derived from the cluster's key, 0600,
  never overwritten); `hactl arbiter status` shows the cluster, its holder and its nodes.

127.0.0.1 only: the arbiter binds ephemeral ports (its log says which). Needs no root.
Run: HACTL_BIN_DIR=build/bin python3 tests/integration/test_arbiter_daemon.py
"""

import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import ARBITER, BIN_DIR, HACTL, cannot_run, main  # noqa: E402

CLIENT = os.path.join(BIN_DIR, "arbiter_client")
PROMISE_MS = 1000


class Arbiter:
    """One hactl-arbiter process on ephemeral loopback ports, ended by its PID."""

    def __init__(self, root):
        self.root = root
        self.log_path = os.path.join(root, "arbiter.log")
        self.proc = None
        self.udp = self.http = None

    def start(self):
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [ARBITER, "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--keys",
             os.path.join(self.root, "keys"), "--state-dir", os.path.join(self.root, "state")],
            stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
        log.close()
        self.started = time.monotonic()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and self.proc.poll() is None:
            udp = re.findall(r"event=arbiter_started .*? port=(\d+) ", self.log())
            http = re.findall(r"event=http_listening address=\S+ port=(\d+)", self.log())
            if udp and http:
                self.udp, self.http = int(udp[-1]), int(http[-1])
                return
            time.sleep(0.05)
        raise AssertionError(f"hactl-arbiter did not start:\n{self.log()}")

    def log(self):
        with open(self.log_path) as f:
            return f.read()

    def kill(self, sig=signal.SIGKILL):
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=10)

    def restart_after_kill9(self):
        self.kill()
        self.log_path += ".2"  # the next start's lines apart from the last one's
        self.start()

    def get(self, path):
        with urllib.request.urlopen(f"http://127.0.0.1:{self.http}{path}", timeout=5) as r:
            return r.read().decode()

    def metric(self, name, **labels):
        want = ",".join(f'{k}="{v}"' for k, v in labels.items())
        pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" (\S+)"
        m = re.search(r"(?m)^" + pattern + "$", self.get("/metrics"))
        return float(m.group(1)) if m else 0.0


class Client:
    """arbiter_client talk: one line in, the final answer's JSON out (after any challenge)."""

    def __init__(self, arbiter, cluster, key):
        self.proc = subprocess.Popen(
            [CLIENT, "talk", "--arbiter", f"127.0.0.1:{arbiter.udp}", "--cluster", cluster,
             "--key", key], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
        self.pending = b""  # read from the pipe, not yet a whole line

    def line(self, what):
        deadline = time.monotonic() + 10
        while b"\n" not in self.pending:
            ready, _, _ = select.select([self.proc.stdout], [], [],
                                        max(0, deadline - time.monotonic()))
            chunk = os.read(self.proc.stdout.fileno(), 65536) if ready else b""
            if not chunk:
                raise AssertionError(f"arbiter_client printed nothing for {what!r}")
            self.pending += chunk
        out, self.pending = self.pending.split(b"\n", 1)
        return json.loads(out)

    def ask(self, line):
        self.proc.stdin.write((line + "\n").encode())
        for _ in range(4):  # at most a challenge and the answer
            out = self.line(line)
            if out.get("answer") is None or not out.get("challenge"):
                return out
        raise AssertionError(f"no final answer for {line!r}")

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=5)
        self.proc.stdout.close()


class ArbiterDaemonTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        for prog in (ARBITER, CLIENT, HACTL):
            if not os.access(prog, os.X_OK):
                cannot_run(f"{prog} is not built (set HACTL_BIN_DIR)")

    def setUp(self):
        self.root = tempfile.mkdtemp(prefix="hactl-arbiter-test-")
        self.addCleanup(shutil.rmtree, self.root, True)
        for d in ("keys", "state", "cluster"):
            os.makedirs(os.path.join(self.root, d))
        self.key = self.arbiter_key("pair")
        self.arbiter = Arbiter(self.root)
        self.addCleanup(self.arbiter.kill)
        self.arbiter.start()

    def arbiter_key(self, cluster):
        """The cluster's key and file, and its arbiter key in keys/CLUSTER.key, as an operator
        makes them (hactl keygen, hactl arbiter key)."""
        d = os.path.join(self.root, "cluster")
        subprocess.run([HACTL, "keygen", f"{d}/{cluster}.authkey"], check=True,
                       capture_output=True, timeout=10)
        config = f"{d}/{cluster}.yaml"
        with open(config, "w") as f:
            f.write(f"cluster:\n  name: {cluster}\n  auth_key_file: {d}/{cluster}.authkey\n"
                    "  metrics_address: \"\"\n"
                    "nodes:\n  - name: n1\n    address: 10.213.0.11:5405\n"
                    "  - name: n2\n    address: 10.213.0.12:5405\n"
                    "arbiter: {address: 10.213.0.13:5406, name: arbiter}\n")
        out = os.path.join(self.root, "keys", f"{cluster}.key")
        r = subprocess.run([HACTL, "arbiter", "key", "--config", config, "--output", out],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn(f"/etc/hactl-arbiter/clusters/{cluster}.key", r.stdout)
        self.assertEqual(os.stat(out).st_mode & 0o777, 0o600)
        again = subprocess.run([HACTL, "arbiter", "key", "--config", config, "--output", out],
                               capture_output=True, text=True, timeout=10)
        self.assertEqual(again.returncode, 1, "an existing key file must not be overwritten")
        printed = subprocess.run([HACTL, "arbiter", "key", "--config", config],
                                 capture_output=True, text=True, timeout=10)
        with open(out) as f, open(f"{d}/{cluster}.authkey") as cluster_key:
            written = f.read()
            self.assertEqual(printed.stdout, written, "printed and written keys differ")
            self.assertNotEqual(written, cluster_key.read(), "the cluster key itself")
        self.assertIn("10.213.0.13", printed.stderr)  # where to put it: the arbiter's host
        return out

    def client(self, cluster="pair", key=None):
        c = Client(self.arbiter, cluster, key or self.key)
        self.addCleanup(c.close)
        return c

    def wait_ready(self):
        """Until the promise has passed since the arbiter started (it backs nobody before)."""
        left = self.arbiter.started + PROMISE_MS / 1000 + 0.3 - time.monotonic()
        if left > 0:
            time.sleep(left)

    def claim(self, c, node, ping, term=1):
        return c.ask(f"claim {node} {term} {ping} {PROMISE_MS}")["answer"]

    def test_a_claim_is_granted_to_the_first_node_and_refused_to_the_second(self):
        c = self.client()
        self.claim(c, "n1", 1)  # the first claim tells the arbiter the promise
        self.wait_ready()
        first = self.claim(c, "n1", 2)
        self.assertTrue(first["granted"], first)
        self.assertEqual(first["holder"], "n1")
        second = self.claim(c, "n2", 3)
        self.assertFalse(second["granted"], second)
        self.assertEqual(second["holder"], "n1")
        self.assertGreater(second["hold_left_ms"], 0)
        self.assertIn("event=arbiter_hold cluster=pair node=n1", self.arbiter.log())
        self.assertEqual(self.arbiter.metric("hactl_arbiter_grants_total", cluster="pair"), 1)
        self.assertEqual(self.arbiter.metric("hactl_arbiter_holder", cluster="pair", node="n1"), 1)

    def test_a_vote_survives_kill_9_and_a_restart_backs_nobody_for_the_promise(self):
        c = self.client()
        self.claim(c, "n1", 1)
        self.wait_ready()
        vote = c.ask("vote n1 5 10")["answer"]
        self.assertTrue(vote["granted"], vote)
        self.assertEqual(vote["term"], 5)
        with open(os.path.join(self.root, "state", "pair.state")) as f:
            self.assertEqual(json.load(f)["voted_for"], "n1")
        self.arbiter.restart_after_kill9()
        c2 = self.client()  # the nodes' next boot; the arbiter's new challenge is learnt anew
        # Within the promise after the restart: no hold for anyone, no vote answered.
        early = self.claim(c2, "n2", 20, term=5)
        self.assertFalse(early["granted"], early)
        self.assertIsNone(c2.ask("vote n2 5 21")["answer"])
        self.assertGreaterEqual(self.arbiter.metric("hactl_arbiter_dropped_total",
                                                    reason="restarted_lately"), 1)
        self.wait_ready()
        refused = c2.ask("vote n2 5 22")["answer"]
        self.assertFalse(refused["granted"], "the vote of term 5 went to n1 before the crash")
        self.assertEqual(refused["term"], 5)
        status = json.loads(self.arbiter.get("/status"))
        self.assertEqual(status["clusters"][0]["voted_for"], "n1")
        self.assertEqual(status["clusters"][0]["term"], 5)

    def test_an_unknown_cluster_and_a_replay_are_dropped_and_counted(self):
        stranger = self.arbiter_key("stranger")
        os.rename(stranger, os.path.join(self.root, "stranger.key"))  # not in the arbiter's dir
        s = self.client("stranger", os.path.join(self.root, "stranger.key"))
        self.assertIsNone(s.ask("claim n1 1 1 1000")["answer"])
        self.assertGreaterEqual(self.arbiter.metric("hactl_arbiter_dropped_total",
                                                    reason="no_key"), 1)
        c = self.client()
        self.assertIsNotNone(self.claim(c, "n1", 1))
        self.assertIsNone(c.ask("replay")["answer"])
        self.assertEqual(self.arbiter.metric("hactl_arbiter_dropped_total", reason="replayed"), 1)
        self.assertEqual(self.arbiter.metric("hactl_arbiter_cluster_dropped_total",
                                             cluster="pair", reason="replayed"), 1)

    def test_a_state_file_that_does_not_parse_keeps_its_cluster_unserved(self):
        c = self.client()
        self.claim(c, "n1", 1)  # writes pair.state
        with open(os.path.join(self.root, "state", "pair.state"), "w") as f:
            f.write("{not json")
        self.arbiter.restart_after_kill9()
        c2 = self.client()
        self.assertIsNone(self.claim(c2, "n1", 2))
        self.assertEqual(self.arbiter.metric("hactl_arbiter_dropped_total",
                                             reason="state_unreadable"), 1)
        self.assertIn("event=arbiter_state_unreadable", self.arbiter.log())
        r = subprocess.run([HACTL, "arbiter", "status", "--address",
                            f"127.0.0.1:{self.arbiter.http}"], capture_output=True, text=True,
                           timeout=10)
        self.assertIn("cluster pair: NOT SERVED", r.stdout)

    def test_sighup_reads_the_keys_again(self):
        late_key = self.arbiter_key("late")
        c = self.client("late", late_key)
        # Written after the start: not known until SIGHUP.
        self.assertIsNone(self.claim(c, "n1", 1))
        os.kill(self.arbiter.proc.pid, signal.SIGHUP)
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and self.arbiter.log().count("keys_loaded") < 2:
            time.sleep(0.05)
        self.assertRegex(self.arbiter.log(), r"event=arbiter_keys_loaded .* keys=2 added=1 ")
        self.assertIsNotNone(self.claim(c, "n1", 2))

    def test_hactl_arbiter_status_shows_the_cluster(self):
        c = self.client()
        self.claim(c, "n1", 1)
        self.wait_ready()
        self.assertTrue(self.claim(c, "n1", 2)["granted"])
        self.claim(c, "n2", 3)
        address = f"127.0.0.1:{self.arbiter.http}"
        r = subprocess.run([HACTL, "arbiter", "status", "--address", address],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertRegex(r.stdout, r"cluster pair .*holder n1")
        self.assertRegex(r.stdout, r"(?m)^  n1  127\.0\.0\.1:\d+  last contact")
        self.assertRegex(r.stdout, r"(?m)^  n2  ")
        r = subprocess.run([HACTL, "arbiter", "status", "--address", address, "--json"],
                           capture_output=True, text=True, timeout=10)
        j = json.loads(r.stdout)
        self.assertEqual([x["name"] for x in j["clusters"]], ["pair"])
        self.assertEqual(sorted(n["name"] for n in j["clusters"][0]["nodes"]), ["n1", "n2"])
        r = subprocess.run([HACTL, "arbiter", "status", "--address", "127.0.0.1:1"],
                           capture_output=True, text=True, timeout=10)
        self.assertEqual(r.returncode, 2, "no arbiter to ask")


if __name__ == "__main__":
    main()
