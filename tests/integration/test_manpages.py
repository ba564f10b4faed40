"""The man pages (packaging/man): they render without a warning the way lintian renders them,
and they cover what the programs accept, so a verb, an option or a configuration key added
without its documentation fails here:

- every subcommand path of `hactl` (walked from `hactl ... --help`) is in hactl(8), with each
  long option its --help lists;
- every long option of `hactl-agent --help` is in hactl-agent(8), and of `hactl-arbiter --help`
  in hactl-arbiter(8);
- every key the configuration loader accepts (read from the lists of known keys in
  common/config.cpp and common/resource_loader.cpp) is in hactl.yaml(5), bold.

No root needed. Run: HACTL_BIN_DIR=build/bin python3 tests/integration/test_manpages.py
"""

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import AGENT, ARBITER, HACTL, REPO, cannot_run, main  # noqa: E402
from test_cli_help import subcommands  # noqa: E402

MAN_DIR = os.path.join(REPO, "packaging", "man")
PAGES = ("hactl.8", "hactl-agent.8", "hactl-arbiter.8", "hactl.yaml.5")
ENV = dict(os.environ, HACTL_SOCKET="/nonexistent/hactl-man-test.sock")


def render(page):
    """(text, warnings) as lintian's manpages check gets them."""
    env = dict(os.environ, LC_ALL="C.UTF-8", MANROFFSEQ="", MANWIDTH="80")
    r = subprocess.run(["man", "--warnings", "-E", "UTF-8", "-l", "-Tutf8", "-Z", page],
                       capture_output=True, text=True, env=env, timeout=30)
    text = subprocess.run(["man", "-l", page], capture_output=True, text=True, timeout=30,
                          env=dict(env, MANPAGER="cat", PAGER="cat")).stdout
    # Undo overstriking and hyphenation at line ends, so words can be searched for.
    text = re.sub(r".\x08", "", text)
    text = re.sub(r"(\w)[-‐]\n\s*(\w)", r"\1\2", text)
    return text, r.stderr


def help_of(*cmd):
    r = subprocess.run([*cmd, "--help"], capture_output=True, text=True, timeout=10, env=ENV,
                       stdin=subprocess.DEVNULL)
    assert r.returncode == 0, r
    return r.stdout


def long_options(help_text):
    options = help_text.split("Options:", 1)[1].split("Subcommands:", 1)[0]
    return set(re.findall(r"(--[a-z][a-z-]*)", options)) - {"--help"}


def _strings(text):
    return set(re.findall(r'"([a-z_]+)"', text))


def known_config_keys():
    """Every key in the loader's lists of accepted keys: the list given to each expect_map()
    call in common/*.cpp (written inline, or as a named list defined in the same file), and the
    vip parameters resource_checks.cpp names in its "(known: ...)" message. An expect_map()
    call whose list cannot be read fails the test rather than being skipped."""
    keys = set()
    common = os.path.join(REPO, "common")
    for name in sorted(os.listdir(common)):
        if not name.endswith(".cpp") or name == "yaml_reader.cpp":
            continue
        with open(os.path.join(common, name)) as f:
            src = f.read()
        for m in re.finditer(r"\bexpect_map\(", src):
            # The call's text up to its closing parenthesis.
            depth, i = 1, m.end()
            while depth and i < len(src):
                depth += {"(": 1, ")": -1}.get(src[i], 0)
                i += 1
            args = src[m.end():i - 1]
            # Its last argument (the list of keys): after the last comma outside braces.
            depth, start = 0, 0
            for j, ch in enumerate(args):
                depth += {"{": 1, "}": -1, "(": 1, ")": -1}.get(ch, 0)
                if ch == "," and depth == 0:
                    start = j + 1
            last = args[start:].strip()
            if "{" in last:
                found = _strings(last)
            else:
                # expect_map(n, path, kList): the list's definition in the same file.
                d = re.search(r"\b" + re.escape(last) + r"\s*=\s*\{([^}]*)\}", src)
                found = _strings(d.group(1)) if d else set()
            if not found:
                raise AssertionError(f"common/{name}: cannot read the keys of expect_map({args})")
            keys |= found
        for known in re.findall(r"\(known: ([a-z_, ]+)\)", src):
            keys |= set(re.split(r",\s*", known))
    return keys


class ManPagesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("man") is None:
            cannot_run("man (man-db) is not installed")
        for prog in (HACTL, AGENT, ARBITER):
            if not os.access(prog, os.X_OK):
                raise AssertionError(f"{prog} not built")
        cls.text = {}
        for page in PAGES:
            cls.text[page], warnings = render(os.path.join(MAN_DIR, page))
            cls.warnings = getattr(cls, "warnings", {})
            cls.warnings[page] = warnings

    def test_pages_render_without_warnings(self):
        for page in PAGES:
            self.assertEqual(self.warnings[page], "", page)
            self.assertGreater(len(self.text[page]), 2000, page)

    def test_the_render_check_sees_a_broken_page(self):
        with tempfile.TemporaryDirectory() as d:
            broken = os.path.join(d, "broken.8")
            with open(os.path.join(MAN_DIR, "hactl.8")) as f, open(broken, "w") as out:
                out.write(f.read().replace(".SH OPTIONS", ".SH OPTIONS\n.BOGUS macro\n\\f[QQ]x"))
            _, warnings = render(broken)
            self.assertNotEqual(warnings, "")

    def test_hactl_8_has_every_command_and_option(self):
        text = self.text["hactl.8"]
        todo, seen = [()], 0
        while todo:
            path = todo.pop()
            help_text = help_of(HACTL, *path)
            subs = subcommands(help_text)
            todo += [path + (s,) for s in subs]
            if path:
                # "node standby NODE", "config show [--version N]": the path as written.
                self.assertRegex(text, r"\b" + r"\s+".join(map(re.escape, path)) + r"\b", path)
                seen += 1
            for opt in long_options(help_text):
                self.assertTrue(opt in text, f"{' '.join(path)} {opt} is not in hactl.8")
        self.assertGreaterEqual(seen, 22)

    def test_hactl_agent_8_has_every_option(self):
        options = long_options(help_of(AGENT))
        self.assertGreaterEqual(len(options), 8)
        for opt in options:
            self.assertTrue(opt in self.text["hactl-agent.8"], f"{opt} is not in hactl-agent.8")

    def test_hactl_arbiter_8_has_every_option(self):
        options = long_options(help_of(ARBITER))
        self.assertGreaterEqual(len(options), 5)
        for opt in options:
            self.assertTrue(opt in self.text["hactl-arbiter.8"], f"{opt} is not in hactl-arbiter.8")

    def test_hactl_yaml_5_has_every_configuration_key(self):
        keys = known_config_keys()
        # The extraction works: these are in the loader today.
        self.assertLessEqual({"heartbeat_interval", "metrics_address", "witness", "takeover_delay",
                              "promoted_max", "with_role", "symmetrical", "retry_delay",
                              "alerts", "constraints", "interface"}, keys)
        with open(os.path.join(MAN_DIR, "hactl.yaml.5")) as f:
            source = f.read()
        missing = []
        for key in sorted(keys):
            # Named in bold (.B key, .BR key ..., .RB ( key, \fBkey\fR) somewhere in the page.
            pattern = rf"(?m)(^\.(B|BR|BI|RB) (.* )?\(? ?{key}\b|\\fB{key}\\fR)"
            if not re.search(pattern, source):
                missing.append(key)
        self.assertEqual(missing, [], "keys the loader accepts that hactl.yaml.5 does not name")


if __name__ == "__main__":
    main()
