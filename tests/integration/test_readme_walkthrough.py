"""The README's five-minute walkthrough, pasted into bash as a new user would: every command
works, and the sandbox cleans up after itself. Run as root:
python3 tests/integration/test_readme_walkthrough.py
"""

import os
import re
import subprocess
import tempfile
import unittest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def walkthrough():
    with open(os.path.join(REPO, "README.md")) as f:
        text = f.read()
    section = text.split("## Five minutes with the CLI", 1)[1]
    return re.search(r"```sh\n(.*?)```", section, re.S).group(1)


class ReadmeWalkthrough(unittest.TestCase):
    def test_every_command_works_as_pasted(self):
        self.assertFalse(os.path.lexists("/tmp/hactl-sandbox"), "a sandbox is already running")
        script = walkthrough()
        # Interactive job control (kill %1), and each command echoed with its exit code.
        with tempfile.NamedTemporaryFile("r", prefix="hactl-walkthrough-") as marks:
            lines = ["set -m", "cd " + REPO]
            for line in script.splitlines():
                lines.append(line)
                # In a file of their own: the sandbox, a background job, writes to the same
                # stdout at any moment (once in the middle of a marker line).
                command = line.split("#")[0].strip()
                lines.append(f'rc=$?; echo "@@ $rc {command}" >> {marks.name}')
            lines.append("wait")
            r = subprocess.run(["bash", "-c", "\n".join(lines)], capture_output=True, text=True,
                               timeout=300)
            out = r.stdout + r.stderr
            codes = re.findall(r"^@@ (\d+) (.*)$", marks.read(), re.M)
        self.assertEqual(len(codes), len(script.splitlines()), out)
        for code, command in codes:
            if command.startswith("hactl resource move web n22"):
                self.assertEqual(code, "1", out)  # the typo, shown on purpose
            else:
                self.assertEqual(code, "0", f"{command}\n{out}")
        self.assertIn("did you mean 'n2'?", out)
        self.assertIn("as configuration version 2", out)
        self.assertIn("api-ip: added", out)
        self.assertNotIn("cannot reach the agent", out)
        self.assertFalse(os.path.lexists("/tmp/hactl-sandbox"), "the sandbox cleaned up")


if __name__ == "__main__":
    unittest.main(verbosity=2)
