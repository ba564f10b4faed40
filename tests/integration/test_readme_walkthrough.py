"""The README's five-minute walkthrough, pasted into bash as a new user would: every command
works, and the sandbox cleans up after itself. Run as root:
python3 tests/integration/test_readme_walkthrough.py

The README waits by time where a person would look (`sleep 5` for the sandbox to start,
`sleep 2` for web to leave n1), and a loaded machine takes longer (4 s to start the sandbox
beside 8 busy processes on 2 cores). So after those lines the test also waits, bounded, for
what they wait for: a coordinator and web running (off n1 after the standby), as `hactl status
--json` says. The README's commands still run as pasted.
"""

import os
import re
import signal
import subprocess
import tempfile
import time
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SANDBOX = "/tmp/hactl-sandbox"
HACTL = os.path.join(REPO, "build", "bin", "hactl")  # the README's PATH
SETTLE_S = 60  # a bound on each wait below, never a timing

# After a README line that starts with the key: the node web must not run on ("" for any).
SETTLE_AFTER = {"scripts/sandbox.sh &": "", "hactl node standby n1": "n1"}

# Exit 0 when n1's agent names a coordinator and every resource of web runs, on one node other
# than argv[1]; reads `hactl status --json` on stdin.
SETTLED = """
import json, sys
s = json.load(sys.stdin)
web = [r for r in s["resources"] if r["top"] == "web"]
on = {n for r in web for n in r["nodes"]}
ok = s["coordinator"] and web and all(r["role"] == "started" for r in web) and len(on) == 1
sys.exit(0 if ok and sys.argv[1] not in on else 1)
"""


def walkthrough():
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    section = text.split("## Five minutes with the CLI", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


def settle_function(marks):
    """A bash function `settle NODE`: waits up to SETTLE_S for SETTLED, then writes
    `@@settle RC NODE` to `marks`."""
    check = SETTLED.replace("'", "'\\''")
    return "\n".join([
        "settle() {",
        f"  local deadline=$((SECONDS + {SETTLE_S})) rc=1",
        "  while [ $SECONDS -lt $deadline ]; do",
        f"    if {HACTL} --socket {SANDBOX}/n1.sock status --json 2>/dev/null |",
        f"       python3 -c '{check}' \"$1\"; then rc=0; break; fi",
        "    sleep 0.1",
        "  done",
        f'  echo "@@settle $rc $1" >> {marks}',
        "}",
    ])


def script(marks):
    """The walkthrough, each command followed by its exit code in `marks`, and by a wait where
    SETTLE_AFTER names one."""
    lines = ["set -m", "cd " + REPO, settle_function(marks)]  # job control: kill %1
    for line in walkthrough().splitlines():
        lines.append(line)
        # In a file of their own: the sandbox, a background job, writes to the same stdout at
        # any moment (once in the middle of a marker line).
        command = line.split("#")[0].strip()
        lines.append(f'rc=$?; echo "@@ $rc {command}" >> {marks}')
        if command == "scripts/sandbox.sh &":
            lines.append(f'echo "@@pid $!" >> {marks}')  # stopped by the test if need be
        for start, off in SETTLE_AFTER.items():
            if command.startswith(start):
                lines.append(f'settle "{off}"')
    lines.append("wait")
    return "\n".join(lines)


class ReadmeWalkthrough(unittest.TestCase):
    def test_every_command_works_as_pasted(self):
        self.assertFalse(os.path.lexists(SANDBOX), "a sandbox is already running")
        with tempfile.NamedTemporaryFile("r", prefix="hactl-walkthrough-") as marks:
            try:
                r = subprocess.run(["bash", "-c", script(marks.name)], capture_output=True,
                                   text=True, timeout=300)
                out = r.stdout + r.stderr
            finally:
                text = marks.read()
                stop_sandbox(text)
        settles = re.findall(r"^@@settle (\d+) (.*)$", text, re.M)
        self.assertEqual(settles, [("0", off) for off in SETTLE_AFTER.values()],
                         f"web never settled\n{out}")
        codes = re.findall(r"^@@ (\d+) (.*)$", text, re.M)
        self.assertEqual(len(codes), len(walkthrough().splitlines()), out)
        for code, command in codes:
            if command.startswith("hactl resource move web n22"):
                self.assertEqual(code, "1", out)  # the typo, shown on purpose
            else:
                self.assertEqual(code, "0", f"{command}\n{out}")
        self.assertIn("did you mean 'n2'?", out)
        self.assertIn("as configuration version 2", out)
        self.assertIn("api-ip: added", out)
        self.assertNotIn("cannot reach the agent", out)
        self.assertFalse(os.path.lexists(SANDBOX), "the sandbox cleaned up")


def stop_sandbox(marks_text):
    """The sandbox the script started, if it still runs (the script failed or timed out before
    `kill %1`): stopped as the README stops it (SIGTERM; it cleans up), and waited for."""
    for pid in re.findall(r"^@@pid (\d+)$", marks_text, re.M):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if b"sandbox.py" not in f.read():
                    continue
            os.kill(int(pid), signal.SIGTERM)
        except OSError:
            continue  # gone already
        for _ in range(300):  # up to 30 s
            if not os.path.exists(f"/proc/{pid}"):
                break
            time.sleep(0.1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
