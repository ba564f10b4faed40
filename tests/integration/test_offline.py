"""`hactl simulate --state` and `hactl explain --state` with no cluster at all
(docs/scheduler.md): for every scheduler golden case (tests/scheduler/<case>/), the binary
prints exactly what the golden test checks in explain.txt (written through the same pure
core by the unit tests), its --json placement matches the text, and bad input is refused
naming the file, line and field.

Needs only the built hactl (no root, no network).
Run: python3 tests/integration/test_offline.py
"""

import json
import os
import re
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import HACTL  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CASES = os.path.join(ROOT, "tests", "scheduler")
ENV = dict(os.environ, HACTL_SOCKET="/nonexistent/hactl-offline-test.sock")


def hactl(*args, cwd=None):
    return subprocess.run((HACTL,) + args, capture_output=True, text=True, timeout=20, env=ENV,
                          cwd=cwd, stdin=subprocess.DEVNULL)


def sections(text):
    """explain.txt -> {command line: output}."""
    out, cmd, body = {}, None, []
    for line in text.splitlines(keepends=True):
        if line.startswith("$ "):
            if cmd is not None:
                out[cmd] = "".join(body).rstrip("\n") + "\n"
            cmd, body = line[2:].strip(), []
        else:
            body.append(line)
    if cmd is not None:
        out[cmd] = "".join(body).rstrip("\n") + "\n"
    return out


class OfflineTest(unittest.TestCase):
    def setUp(self):
        if not os.access(HACTL, os.X_OK):
            self.fail(f"{HACTL} is not built")

    def cases(self):
        names = sorted(d for d in os.listdir(CASES) if os.path.isdir(os.path.join(CASES, d)))
        self.assertGreaterEqual(len(names), 30)
        return names

    def test_binary_prints_what_the_golden_tests_check(self):
        checked = 0
        for name in self.cases():
            d = os.path.join(CASES, name)
            with open(os.path.join(d, "explain.txt")) as f:
                want = sections(f.read())
            for cmd, expected in want.items():
                args = cmd.split()[1:]
                r = hactl(*args, cwd=d)
                self.assertEqual(r.returncode, 0, f"{name}: {cmd}: {r.stderr}")
                got = r.stdout
                if args[0] == "simulate":
                    first, got = got.split("\n", 1)
                    self.assertEqual(first, "What the scheduler would do in state.yaml "
                                            "(offline, nothing is run):", name)
                self.assertEqual(got.rstrip("\n") + "\n", expected, f"{name}: {cmd}")
                checked += 1
        self.assertGreater(checked, 60)

    def test_json_placement_matches_the_text(self):
        for name in self.cases():
            d = os.path.join(CASES, name)
            r = hactl("simulate", "--config", "config.yaml", "--state", "state.yaml", "--json",
                      cwd=d)
            self.assertEqual(r.returncode, 0, f"{name}: {r.stderr}")
            j = json.loads(r.stdout)
            text = hactl("simulate", "--config", "config.yaml", "--state", "state.yaml",
                         cwd=d).stdout
            placed = text.split("placement:\n", 1)[1]
            for p in j["placement"]:
                self.assertIn(p["role"], ("started", "promoted", "unpromoted"))
                line = [x for x in placed.splitlines() if x.startswith(f"  {p['resource']}: ")]
                self.assertEqual(len(line), 1, name)
                self.assertIn(p["node"], line[0], name)
            numbered = [x for x in text.splitlines() if re.match(r"^  \d+\. ", x)]
            self.assertEqual(len(j["actions"]), len(numbered), name)
            for a in j["actions"]:
                self.assertIn(a["action"], ("start", "stop", "promote", "demote"))

    def test_explain_json_and_one_node(self):
        d = os.path.join(CASES, "19-location-ban-and-preference")
        r = hactl("explain", "db", "--config", "config.yaml", "--state", "state.yaml", "--json",
                  cwd=d)
        self.assertEqual(r.returncode, 0, r.stderr)
        j = json.loads(r.stdout)
        self.assertEqual(j["unit"], "db")
        by_node = {n["node"]: n for n in j["nodes"]}
        self.assertTrue(by_node["n1"]["excluded"])
        self.assertEqual(by_node["n1"]["reasons"][0]["kind"], "location")
        self.assertEqual(by_node["n1"]["reasons"][0]["score"], -1000000)
        self.assertEqual(j["after"], [{"node": "n2", "role": "started"}])
        one = hactl("explain", "db", "--node", "n3", "--config", "config.yaml", "--state",
                    "state.yaml", "--json", cwd=d)
        self.assertEqual([n["node"] for n in json.loads(one.stdout)["nodes"]], ["n3"])

    def test_bad_input_is_refused_with_file_line_and_field(self):
        d = os.path.join(CASES, "01-fresh-group-starts-in-order")
        with tempfile.TemporaryDirectory() as tmp:
            bad = os.path.join(tmp, "state.yaml")
            with open(bad, "w") as f:
                f.write("nodes: {n1: online}\nresources:\n  web-ip: {n9: started}\n")
            r = hactl("simulate", "--config", "config.yaml", "--state", bad, cwd=d)
            self.assertEqual(r.returncode, 1)
            self.assertIn(f"{bad}:3:", r.stderr)
            self.assertIn("n9", r.stderr)
            r = hactl("simulate", "--state", bad)
            self.assertEqual(r.returncode, 2)
            self.assertIn("needs --config", r.stderr)
            r = hactl("explain", "wbe", "--config", "config.yaml", "--state", "state.yaml", cwd=d)
            self.assertEqual(r.returncode, 1)
            self.assertIn("did you mean 'web'", r.stderr)
            r = hactl("simulate", "--config", "config.yaml", "--state", "state.yaml", "--kill",
                      "n7", cwd=d)
            self.assertEqual(r.returncode, 1)
            self.assertIn("no node is called 'n7'", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
