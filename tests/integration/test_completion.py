"""The bash completion (packaging/completion/hactl.bash), driven the way bash drives it: the
function called with COMP_WORDS / COMP_CWORD set, in a non-interactive bash that has loaded
bash-completion (when installed) and the script. No root needed.

- Every level of verbs offered equals the subcommands `hactl ... --help` lists (walked
  recursively, so a verb added to the CLI without its completion fails here), and every long
  option a verb's --help lists is offered after `--`.
- Files for FILE arguments; node names and resource ids from `hactl status --json`, asked of
  the hactl on the command line (a stand-in here that prints a real status document and records
  its arguments, so the --socket typed on the line is seen passed on), parsed with python3 and,
  without it, with the sed fallback.
- With no agent to answer, completion is quick and silent.

Run: HACTL_BIN_DIR=build/bin python3 tests/integration/test_completion.py
"""

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import HACTL, REPO  # noqa: E402
from test_cli_help import subcommands  # noqa: E402

SCRIPT = os.path.join(REPO, "packaging", "completion", "hactl.bash")
BASH_COMPLETION = "/usr/share/bash-completion/bash_completion"
STATUS = os.path.join(REPO, "tests", "golden", "status-healthy.json")
BASH = shutil.which("bash")
ENV = dict(os.environ, HACTL_SOCKET="/nonexistent/hactl-completion-test.sock")


def complete(line, cwd=None, env=None, load_bash_completion=True, words=None):
    """The completions bash would offer at the end of `line` (COMP_WORDS split on blanks, or
    `words` as given)."""
    if words is None:
        words = line.split()
        if line.endswith(" "):
            words.append("")
    prelude = f"source {BASH_COMPLETION}\n" if load_bash_completion and os.path.exists(
        BASH_COMPLETION) else ""
    script = (prelude + f"source {shlex.quote(SCRIPT)}\n"
              f"COMP_WORDS=({' '.join(shlex.quote(w) for w in words)})\n"
              f"COMP_CWORD={len(words) - 1}\nCOMP_LINE={shlex.quote(line)}\n"
              f"COMP_POINT={len(line)}\n_hactl\nprintf '%s\\n' \"${{COMPREPLY[@]}}\"\n")
    r = subprocess.run([BASH, "-c", script], capture_output=True, text=True, timeout=20,
                       cwd=cwd, env=env or ENV, stdin=subprocess.DEVNULL)
    return r, [x for x in r.stdout.splitlines() if x]


def help_of(path):
    r = subprocess.run([HACTL, *path, "--help"], capture_output=True, text=True, timeout=10,
                       env=ENV, stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r
    return r.stdout


class CompletionTest(unittest.TestCase):
    def setUp(self):
        if not os.access(HACTL, os.X_OK):
            self.fail(f"{HACTL} not built")
        self.tmp = tempfile.mkdtemp(prefix="hactl-completion-")
        self.addCleanup(shutil.rmtree, self.tmp, True)

    def fake_hactl(self):
        """A stand-in hactl that prints a real status document (one node's reason holding
        brackets and braces) and records its arguments."""
        with open(STATUS) as f:
            status = json.load(f)
        status["nodes"][-1]["reason"] = "link down [eth1] {x}, {y}"
        doc = os.path.join(self.tmp, "status.json")
        with open(doc, "w") as f:
            json.dump(status, f, indent=2)
        path = os.path.join(self.tmp, "hactl")
        with open(path, "w") as f:
            f.write(f"#!/bin/sh\necho \"$@\" >> {self.tmp}/args\ncat {doc}\n")
        os.chmod(path, 0o755)
        return path

    def test_verbs_at_every_level_are_the_cli_s(self):
        seen = 0
        todo = [()]
        while todo:
            path = todo.pop()
            subs = set(subcommands(help_of(path)))
            line = " ".join(("hactl",) + path) + " "
            r, offered = complete(line)
            self.assertEqual(r.stderr, "", line)
            if subs:
                self.assertEqual(set(offered), subs, line)
                todo += [path + (s,) for s in subs]
            seen += 1
        self.assertGreaterEqual(seen, 23)  # the root, 7 verbs, 15 under node/resource/config

    def test_every_long_option_is_offered(self):
        todo, checked = [()], 0
        while todo:
            path = todo.pop()
            text = help_of(path)
            subs = subcommands(text)
            todo += [path + (s,) for s in subs]
            options = text.split("Options:", 1)[1].split("Subcommands:", 1)[0]
            longs = set(re.findall(r"(--[a-z][a-z-]*)", options))
            _, offered = complete(" ".join(("hactl",) + path + ("--",)))
            self.assertLessEqual(longs, set(offered), path)
            checked += len(longs)
        self.assertGreater(checked, 30)

    def test_files_for_file_arguments(self):
        for name in ("cluster.yaml", "other.yaml"):
            open(os.path.join(self.tmp, name), "w").close()
        for line in ("hactl config validate ", "hactl config apply c", "hactl keygen ",
                     "hactl simulate --config ", "hactl simulate --state ",
                     "hactl explain web --state ", "hactl init --output ",
                     "hactl init --node a=10.0.0.1 --key "):
            _, offered = complete(line, cwd=self.tmp)
            want = {"cluster.yaml"} if line.endswith("c") else {"cluster.yaml", "other.yaml"}
            self.assertEqual(set(offered), want, line)

    def test_init_values(self):
        # --node of init is a new NAME=ADDRESS, not a running cluster's node: nothing offered
        # (the stand-in hactl would answer with node names).
        fake = self.fake_hactl()
        _, offered = complete(f"{fake} init --node ")
        self.assertEqual(offered, [])
        self.assertFalse(os.path.exists(os.path.join(self.tmp, "args")), "the agent was asked")
        if os.path.isdir("/sys/class/net"):
            _, offered = complete("hactl init --vip 10.0.0.100/24 --interface ")
            self.assertEqual(set(offered), set(os.listdir("/sys/class/net")))

    def test_nodes_and_resources_from_the_agent(self):
        fake = self.fake_hactl()
        with open(STATUS) as f:
            status = json.load(f)
        nodes = {n["name"] for n in status["nodes"]}
        resources = {r["id"] for r in status["resources"]} | {r["top"] for r in status["resources"]}
        self.assertGreaterEqual(len(nodes), 3)
        self.assertGreaterEqual(len(resources), 5)
        for load in (True, False):
            _, offered = complete(f"{fake} node standby ", load_bash_completion=load)
            self.assertEqual(set(offered), nodes)
            _, offered = complete(f"{fake} resource move ", load_bash_completion=load)
            self.assertEqual(set(offered), resources)
            _, offered = complete(f"{fake} resource move web n", load_bash_completion=load)
            self.assertEqual(set(offered), {n for n in nodes if n.startswith("n")})
            _, offered = complete(f"{fake} resource cleanup pg --node n2", load_bash_completion=load)
            self.assertEqual(offered, ["n2"])
            _, offered = complete(f"{fake} simulate --fail web-", load_bash_completion=load)
            self.assertEqual(set(offered), {"web-ip", "web-svc"})
            _, offered = complete(f"{fake} explain web-", load_bash_completion=load)
            self.assertEqual(set(offered), {"web-ip", "web-svc"})
            _, offered = complete(f"{fake} explain web --node n2", load_bash_completion=load)
            self.assertEqual(offered, ["n2"])
        # The socket typed on the line is the one asked.
        complete(f"{fake} --socket /x/y.sock node online ")
        with open(os.path.join(self.tmp, "args")) as f:
            self.assertIn("--socket /x/y.sock status --json", f.read())

    def test_option_equals_value_split_as_bash_splits_it(self):
        # "=" is in COMP_WORDBREAKS: bash hands "--socket=/x" over as "--socket" "=" "/x".
        fake = self.fake_hactl()
        _, offered = complete("", words=["hactl", "--socket", "=", "/x.sock", "status", "--"])
        self.assertIn("--json", offered)
        _, offered = complete("", words=[fake, "--socket", "=", "/x/y.sock", "node", "online", ""])
        self.assertIn("n2", offered)
        with open(os.path.join(self.tmp, "args")) as f:
            self.assertIn("--socket /x/y.sock status --json", f.read())
        _, offered = complete("", words=[fake, "resource", "clear", "web", "--node", "=", "n"])
        self.assertEqual(set(offered), {"n1", "n2", "n3"})
        _, offered = complete("", words=[fake, "resource", "clear", "web", "--node", "="])
        self.assertIn("w", offered)
        open(os.path.join(self.tmp, "cluster.yaml"), "w").close()
        _, offered = complete("", words=["hactl", "--socket", "=", "clu"], cwd=self.tmp)
        self.assertEqual(offered, ["cluster.yaml"])

    def test_the_sed_fallback_reads_the_same_names(self):
        # A PATH with what the fallback uses, and no python3.
        bin_dir = os.path.join(self.tmp, "bin")
        os.mkdir(bin_dir)
        for tool in ("sh", "cat", "tr", "sed", "awk", "timeout"):
            os.symlink(shutil.which(tool), os.path.join(bin_dir, tool))
        fake = self.fake_hactl()
        env = dict(ENV, PATH=bin_dir)
        for line in (f"{fake} node maintenance ", f"{fake} resource disable "):
            r, offered = complete(line, env=env, load_bash_completion=False)
            self.assertEqual(r.stderr, "")
            _, with_python = complete(line, load_bash_completion=False)
            self.assertGreaterEqual(len(offered), 3)
            self.assertEqual(sorted(offered), sorted(with_python))

    def test_no_agent_is_quick_and_silent(self):
        t0 = time.monotonic()
        r, offered = complete(f"{HACTL} node standby ")
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual((r.returncode, r.stderr, offered), (0, "", []))


if __name__ == "__main__":
    unittest.main(verbosity=2)
