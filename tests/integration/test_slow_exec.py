"""A resource agent whose exec is slow must not hold the agent's loop (docs/design.md, "the
loop never waits").

An exec can wait for the disk: the program, its interpreter or its libraries read back in
under memory pressure, or a program on a slow file system. libuv's uv_spawn, which the agent
once used on its loop, returns only once the child has exec'd; under load one such exec held a
node's loop 174 ms, past its lease (tests/integration/test_load.py). The agent now starts its
children on threads of its own (resources/process_runner.hpp).

Here a three-node cluster runs an exec resource whose script lives on a FUSE file system
(slowfs.py) where every open of it takes 400 ms, longer than node_timeout (300 ms): each probe,
start and monitor (every second) execs it. For 12 s, no agent's loop may run an iteration over
50 ms, nobody is elected, and the resource stays started where it is. slowfs's own log shows
that the slow execs happened. Run as root; needs /dev/fuse and python3-fusepy.
"""

import os
import shutil
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import ClusterTestCase, cannot_run, main  # noqa: E402
from test_load import SlowFsyncDir, fuse_available, scrape_metrics  # noqa: E402

OPEN_MS = 400
WATCH_S = 12
SCRIPT = """#!/bin/sh
# /run is each node's own (netns.py): the resource runs where this file is.
state=/run/hactl-slowapp.state
case "$1" in
  start) touch "$state" ;;
  stop) rm -f "$state" ;;
  monitor) [ -e "$state" ] || exit 3 ;;
esac
exit 0
"""


class SlowExec(ClusterTestCase):
    def setUp(self):
        why = fuse_available()
        if why:
            cannot_run(why)
        self.workdir = tempfile.mkdtemp(prefix="hactl-slowexec-")
        self.addCleanup(shutil.rmtree, self.workdir, True)
        self.fs = SlowFsyncDir(self.workdir, 0, open_ms=OPEN_MS)
        self.addCleanup(self.fs.close)
        with open(os.path.join(self.fs.backing, "slow-app"), "w") as f:
            f.write(SCRIPT)
        os.chmod(os.path.join(self.fs.backing, "slow-app"), 0o755)
        self.program = os.path.join(self.fs.mount, "slow-app")

    def over_50ms(self, m):
        """Loop iterations busy longer than 50 ms so far (hactl_loop_busy_seconds)."""
        return m["hactl_loop_busy_seconds_count"] - m['hactl_loop_busy_seconds_bucket{le="0.05"}']

    def app(self, c, name):
        s = c.status(name) or {}
        r = next((r for r in s.get("resources", []) if r["id"] == "app"), None)
        return (s.get("term"), s.get("coordinator"), tuple((r or {}).get("nodes") or ()),
                (r or {}).get("state"))

    def test_a_slow_exec_does_not_hold_the_loop(self):
        resources = f"""
resources:
  - id: app
    type: exec:{self.program}
    ops: {{monitor: {{interval: 1s, timeout: 5s}}, start: {{timeout: 5s}}}}
constraints:
  location:
    - {{resource: app, node: n1, score: 100}}
"""
        c = self.cluster(resources_yaml=resources)
        c.start_all()
        settled = c.wait_until(
            lambda: (lambda v: v if v[2] == ("n1",) and v[3] == "started" else None)(
                self.app(c, "n1")), 30, 0.1, "app started on n1")
        before = {n: scrape_metrics(c, n) for n in c.nodes}
        opens_before = len(self.fs.slow_opens())
        views = []
        end = time.monotonic() + WATCH_S
        while time.monotonic() < end:
            views.append({n: self.app(c, n) for n in c.nodes})
            time.sleep(0.5)
        after = {n: scrape_metrics(c, n) for n in c.nodes}
        opens = self.fs.slow_opens()[opens_before:]
        print(f"\n{len(opens)} execs slowed by {OPEN_MS} ms in {WATCH_S} s; settled at {settled}")
        for n in c.nodes:
            stalls = self.over_50ms(after[n]) - self.over_50ms(before[n])
            longest = after[n].get("hactl_loop_busy_longest_seconds", 0)
            elections = after[n].get("hactl_elections_total", 0) - \
                before[n].get("hactl_elections_total", 0)
            print(f"{n}: loop iterations over 50 ms: {stalls:.0f}, longest since start "
                  f"{longest * 1000:.1f} ms, elections {elections:.0f}")
            self.assertEqual(stalls, 0, f"{n}'s loop ran an iteration over 50 ms")
            self.assertEqual(elections, 0, f"{n} started an election")
        # The monitor ran (each run is one slow exec on n1), and nothing moved or changed term.
        self.assertGreaterEqual(len(opens), WATCH_S // 2, "the execs were not slowed")
        for v in views:
            for n, seen in v.items():
                self.assertEqual(seen, settled, f"{n} saw {seen}, not {settled}")


if __name__ == "__main__":
    main()
