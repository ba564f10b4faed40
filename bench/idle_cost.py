"""Idle cost of one agent in a netns cluster at default timing (3 nodes, or NODES): CPU as a
percentage of one core (utime+stime from /proc over the window) and resident memory (VmRSS),
for the coordinator and a follower. Heartbeats go from every node to every other, so each agent
handles 2 (n - 1) datagrams each way per heartbeat interval.

With "arbiter" after NODES (2), the pair names a hactl-arbiter in a namespace of its own
(docs/pairs.md): it is only probed every 2 s while the pair hears itself, and its own CPU is
printed too.

Usage (root): python3 bench/idle_cost.py [SECONDS (30)] [NODES (3)] [arbiter]"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from arbiter_host import ARBITER_IP, ArbiterHost, cpu_seconds, rss_kib  # noqa: E402
from netns import Cluster  # noqa: E402


def cpu_percent(pid, seconds):
    t0, c0 = time.monotonic(), cpu_seconds(pid)
    time.sleep(seconds)
    t1, c1 = time.monotonic(), cpu_seconds(pid)
    return (c1 - c0) / (t1 - t0) * 100


def main(seconds=30, nodes=3, arbiter=False):
    extra = f'arbiter: {{address: "{ARBITER_IP}:5406"}}\n' if arbiter else ""
    what = f"{nodes} + arbiter" if arbiter else f"{nodes}"
    with Cluster(names=tuple(f"n{i}" for i in range(1, nodes + 1)), resources_yaml=extra) as c:
        a = None
        if arbiter:
            a = ArbiterHost(c.switch, [c], 0)
            a.show_log = False
            a.setup()
            a.start()
        try:
            c.start_all()
            leader = c.wait_until(lambda: c.agreed_coordinator(), 10, what="a coordinator")
            time.sleep(2)
            for name in (leader, [n for n in c.nodes if n != leader][0]):
                pid = c.nodes[name].proc.pid
                cpu = cpu_percent(pid, seconds)
                role = "coordinator" if name == leader else "follower"
                print(f"idle {role} agent of {what} over {seconds} s: CPU {cpu:.2f} % of one "
                      f"core, RSS {rss_kib(pid) / 1024:.1f} MiB", flush=True)
            if a is not None:
                cpu = cpu_percent(a.proc.pid, seconds)
                print(f"idle hactl-arbiter serving this pair over {seconds} s: CPU {cpu:.2f} % of "
                      f"one core, RSS {rss_kib(a.proc.pid) / 1024:.1f} MiB", flush=True)
        finally:
            if a is not None:
                a.cleanup()


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30, int(sys.argv[2]) if len(sys.argv) > 2 else 3,
         len(sys.argv) > 3 and sys.argv[3] == "arbiter")
