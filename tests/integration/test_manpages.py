"""The man pages (packaging/man): they render without a warning the way lintian renders them,
and they cover what the programs accept, so a verb, an option or a configuration key added
without its documentation fails here:

- every subcommand path of `hactl` (walked from `hactl ... --help`) is in hactl(8), with each
  long option its --help lists;
- every long option of `hactl-agent --help` is in hactl-agent(8);
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
from netns import AGENT, HACTL, REPO, cannot_run, main  # noqa: E402
from test_cli_help import subcommands  # noqa: E402

MAN_DIR = os.path.join(REPO, "packaging", "man")
PAGES = ("hactl.8", "hactl-agent.8", "hactl.yaml.5")
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


def known_config_keys():
    """Every key in the loader's lists of accepted keys."""
    keys = set()
    for name in ("config.cpp", "resource_loader.cpp"):
        with open(os.path.join(REPO, "common", name)) as f:
            src = f.read()
        # expect_map(node, path, {"a", "b"}) and the kKnown / load_meta lists it is given.
        for block in re.findall(r"expect_map\([^;]*?\{([^}]*)\}", src, re.S):
            keys |= set(re.findall(r'"([a-z_]+)"', block))
        for block in re.findall(r"kKnown = \{([^}]*)\}", src, re.S):
            keys |= set(re.findall(r'"([a-z_]+)"', block))
        for block in re.findall(r"std::vector<std::string_view>\{([^}]*)\}", src):
            keys |= set(re.findall(r'"([a-z_]+)"', block))
    return keys


class ManPagesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if shutil.which("man") is None:
            cannot_run("man (man-db) is not installed")
        for prog in (HACTL, AGENT):
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
                self.assertIn(opt, text, f"{' '.join(path)} {opt}")
        self.assertGreaterEqual(seen, 22)

    def test_hactl_agent_8_has_every_option(self):
        options = long_options(help_of(AGENT))
        self.assertGreaterEqual(len(options), 8)
        for opt in options:
            self.assertIn(opt, self.text["hactl-agent.8"], opt)

    def test_hactl_yaml_5_has_every_configuration_key(self):
        keys = known_config_keys()
        # The extraction works: these are in the loader today.
        self.assertLessEqual({"heartbeat_interval", "metrics_address", "witness", "takeover_delay",
                              "promoted_max", "with_role", "symmetrical", "retry_delay",
                              "alerts", "constraints"}, keys)
        with open(os.path.join(MAN_DIR, "hactl.yaml.5")) as f:
            source = f.read()
        for key in sorted(keys):
            # Named in bold (.B key, .BR key ..., .RB ( key, \fBkey\fR) somewhere in the page.
            pattern = rf"(?m)(^\.(B|BR|BI|RB) (.* )?\(? ?{key}\b|\\fB{key}\\fR)"
            self.assertTrue(re.search(pattern, source), f"{key} is not in hactl.yaml.5")


if __name__ == "__main__":
    main()
