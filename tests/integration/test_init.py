"""`hactl init`, the real binary into a temporary directory (docs/pairs.md): each third vote
(arbiter, witness, fencing; with and without a vip) writes a configuration that `hactl config
validate` takes and a key with mode 0600 that hactl reads; existing files are refused without
--force and replaced with it; a missing flag without a terminal and bad input are refused
naming the flag, writing nothing; on a terminal (a pty) the missing answers are asked.

No root, no network. Run: HACTL_BIN_DIR=build/bin python3 tests/integration/test_init.py
"""

import os
import pty
import re
import socket
import stat
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import HACTL, main  # noqa: E402

ENV = dict(os.environ, HACTL_SOCKET="/nonexistent/hactl-init-test.sock")
PAIR = ("--name", "web", "--node", "init-a=10.0.0.11", "--node", "init-b=10.0.0.12:5500")
VOTES = {
    "arbiter": ("--arbiter", "203.0.113.7"),
    "witness": ("--witness", "init-w=10.0.0.13"),
    "fencing": ("--fencing",),
}
VIP = ("--vip", "10.0.0.100/24", "--interface", "eth0")
KEY = re.compile(r"hactl-key-v1:[A-Za-z0-9+/]{43}=\n")


def hactl(*args, stdin=subprocess.DEVNULL):
    return subprocess.run((HACTL,) + args, capture_output=True, text=True, timeout=20, env=ENV,
                          stdin=stdin)


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class InitTest(unittest.TestCase):
    def setUp(self):
        if not os.access(HACTL, os.X_OK):
            self.fail(f"{HACTL} not built (set HACTL_BIN_DIR)")
        self.tmp = tempfile.TemporaryDirectory(prefix="hactl-init-")
        self.addCleanup(self.tmp.cleanup)
        self.config = os.path.join(self.tmp.name, "cluster.yaml")
        self.key = os.path.join(self.tmp.name, "authkey")
        self.files = ("--output", self.config, "--key", self.key)

    def assert_nothing_written(self):
        self.assertEqual(os.listdir(self.tmp.name), [])

    def init_variant(self, vote, *extra):
        r = hactl("init", *PAIR, *VOTES[vote], *extra, *self.files)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return r

    def check_files(self, vote):
        self.assertEqual(mode(self.config), 0o600 if vote == "fencing" else 0o644)
        self.assertEqual(mode(self.key), 0o600)
        with open(self.key) as f:
            self.assertRegex(f.read(), KEY)
        with open(self.config) as f:
            text = f.read()
        self.assertIn(f"auth_key_file: {self.key}\n", text)
        self.assertGreater(text.count("\n#") + text.count("  # "), 10, "not commented")
        v = hactl("config", "validate", self.config)
        self.assertEqual(v.returncode, 0, v.stdout + v.stderr)
        self.assertRegex(v.stdout, r"valid \(cluster web, [23] nodes")
        self.assertNotIn("warning", v.stdout)
        return text

    def check_next_steps(self, vote, out):
        self.assertIn(f"wrote {self.config}", out)
        self.assertIn("Next steps:", out)
        self.assertIn(f"scp {self.key} root@10.0.0.12:/root/hactl-init.key", out)
        self.assertIn(f"install -D -m 0600 /root/hactl-init.key {self.key}", out)
        self.assertIn("systemctl enable --now hactl-agent", out)
        self.assertIn("hactl status", out)
        if vote == "arbiter":
            self.assertIn(f"hactl arbiter key --config {self.config} --output", out)
            self.assertIn("root@203.0.113.7:/etc/hactl-arbiter/clusters/web.key", out)
        if vote == "witness":
            self.assertIn("root@10.0.0.13:/root/hactl-init.yaml", out)

    def test_each_variant_writes_files_that_validate(self):
        for vote in VOTES:
            for extra in ((), VIP):
                with self.subTest(vote=vote, vip=bool(extra)):
                    for path in (self.config, self.key):
                        if os.path.exists(path):
                            os.unlink(path)
                    r = self.init_variant(vote, *extra)
                    text = self.check_files(vote)
                    self.check_next_steps(vote, r.stdout)
                    self.assertEqual("{address: 10.0.0.100/24, interface: eth0}" in text,
                                     bool(extra))
                    self.assertEqual("  two_node: true\n" in text, vote == "fencing")
                    if vote == "fencing":
                        self.assertIn("placeholders", r.stdout.lower())
                        # The first node's device only waits: init-a wins a fence race.
                        self.assertEqual(text.count("      delay: 10s\n"), 1)
                        self.assertLess(text.index("id: fence-init-a"), text.index("delay: 10s"))
                        self.assertLess(text.index("delay: 10s"), text.index("id: fence-init-b"))

    def test_the_key_is_one_hactl_reads(self):
        self.init_variant("arbiter")
        out = os.path.join(self.tmp.name, "arbiter.key")
        r = hactl("arbiter", "key", "--config", self.config, "--output", out)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertEqual(mode(out), 0o600)

    def test_this_host_gets_no_copy(self):
        host = socket.gethostname().split(".")[0]
        if not re.fullmatch(r"[A-Za-z0-9_.-]{1,63}", host) or host in ("init-b", "arbiter"):
            self.skipTest(f"this host's name {host!r} cannot be a node's")
        r = hactl("init", "--name", "web", "--node", f"{host}=10.0.0.11", "--node",
                  "init-b=10.0.0.12", "--arbiter", "203.0.113.7", *self.files)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("Copy both files to init-b,", r.stdout)
        self.assertNotIn("root@10.0.0.11", r.stdout)

    def test_existing_files_are_refused_without_force(self):
        self.init_variant("witness")
        with open(self.key) as f:
            key = f.read()
        with open(self.config) as f:
            config = f.read()
        r = hactl("init", *PAIR, *VOTES["arbiter"], *self.files)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        self.assertIn(f"{self.config} exists: not overwritten (--force replaces it)", r.stderr)
        self.assertIn(f"{self.key} exists", r.stderr)
        with open(self.key) as f:
            self.assertEqual(f.read(), key)
        with open(self.config) as f:
            self.assertEqual(f.read(), config)
        # The key alone: refused too, and no configuration is written.
        os.unlink(self.config)
        r = hactl("init", *PAIR, *VOTES["arbiter"], *self.files)
        self.assertEqual(r.returncode, 1)
        self.assertFalse(os.path.exists(self.config))
        r = hactl("init", *PAIR, *VOTES["arbiter"], *self.files, "--force")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        with open(self.key) as f:
            self.assertNotEqual(f.read(), key)
        self.assertEqual(mode(self.key), 0o600)
        self.assertEqual(sorted(os.listdir(self.tmp.name)), ["authkey", "cluster.yaml"])
        self.check_files("arbiter")

    def test_a_missing_flag_without_a_terminal_names_it(self):
        for args, flag in (
                (PAIR[2:] + VOTES["arbiter"], "--name"),
                (PAIR[:4] + VOTES["arbiter"], "--node"),
                (PAIR, "--arbiter, --witness or --fencing"),
                (PAIR + VOTES["arbiter"] + ("--vip", "10.0.0.100/24"), "--interface"),
        ):
            with self.subTest(missing=flag):
                r = hactl("init", *args, *self.files)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn(f"hactl init: {flag}: ", r.stderr)
                self.assertIn("standard input is not a terminal", r.stderr)
                self.assert_nothing_written()

    def test_bad_input_is_refused_naming_the_flag(self):
        arbiter = VOTES["arbiter"]
        for args, want in (
                (("--node", "init-a=db.example.com", "--node", "init-b=10.0.0.12") + arbiter,
                 "--node: init-a: 'db.example.com' is not a numeric IP address"),
                (("--node", "init-a=10.0.0.11", "--node", "init-a=10.0.0.12") + arbiter,
                 "--node: 'init-a' is given twice"),
                (("--node", "init a=10.0.0.11", "--node", "init-b=10.0.0.12") + arbiter,
                 "--node: 'init a' is not a node name"),
                (("--node", "init-a=10.0.0.11", "--node", "init-b=10.0.0.12:0") + arbiter,
                 "--node: init-b: port '0' is not a number from 1 to 65535"),
                (PAIR[2:] + arbiter + ("--fencing",), "--arbiter and --fencing: a pair takes one"),
                (PAIR[2:] + VOTES["witness"] + arbiter, "--arbiter and --witness: a pair takes"),
                (("--node", "init-a=10.0.0.11", "--node", "init-b=127.0.0.2") + arbiter,
                 "--node: " + "<output>:"),  # the loader's refusal, with its place
                (PAIR[2:] + ("--arbiter", "10.0.0.11:5405"), "--arbiter: "),
                (PAIR[2:] + arbiter + ("--vip", "10.0.0.100", "--interface", "eth0"),
                 "--vip: '10.0.0.100' is not an address/prefix"),
                (PAIR[2:] + arbiter + ("--vip", "10.0.0.100/24", "--interface", "eth 0"),
                 "--interface: "),
                (PAIR[2:] + arbiter + ("--key", "/etc/hactl/my key"), "--key: "),
        ):
            with self.subTest(want=want):
                args = args if args[0] == "--name" else ("--name", "web") + args
                files = self.files[:2] if "--key" in args else self.files
                r = hactl("init", *args, *files)
                self.assertEqual(r.returncode, 2, r.stdout + r.stderr)
                self.assertIn("hactl init: " + want.replace("<output>", self.config), r.stderr)
                self.assert_nothing_written()
        r = hactl("init", "--name", "web", "--node", "init-a=10.0.0.11", "--node",
                  "init-b=127.0.0.2", *arbiter, *self.files)
        self.assertIn("nodes[1].address: 127.0.0.2 is a loopback address", r.stderr)

    def test_the_dialogue_on_a_terminal(self):
        master, slave = pty.openpty()
        self.addCleanup(os.close, master)
        answers = ("web\ninit-a\n10.0.0.11\ninit-b\n10.0.0.12\nwitness\ninit-w\n10.0.0.13\n"
                   "10.0.0.100/24\neth0\n")
        p = subprocess.Popen((HACTL, "init", *self.files), stdin=slave, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=ENV)
        os.close(slave)
        os.write(master, answers.encode())
        out, err = p.communicate(timeout=20)
        self.assertEqual(p.returncode, 0, out + err)
        for question in ("Cluster name: ", "First node: name", "Second node: address",
                         "Third vote: arbiter, witness or fencing [arbiter]: ", "Witness: name",
                         "Virtual IP", "Interface for 10.0.0.100/24"):
            self.assertIn(question, out)
        text = self.check_files("witness")
        self.assertIn("  - name: init-w\n    address: 10.0.0.13:5405\n    witness: true", text)
        self.assertIn("{address: 10.0.0.100/24, interface: eth0}", text)


if __name__ == "__main__":
    main()
