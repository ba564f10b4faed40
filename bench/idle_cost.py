"""Idle cost of one agent in a netns cluster at default timing (3 nodes, or NODES): CPU as a
percentage of one core (utime+stime from /proc over the window) and resident memory (VmRSS),
for the coordinator and a follower. Heartbeats go from every node to every other, so each agent
handles 2 (n - 1) datagrams each way per heartbeat interval.

Usage (root): python3 bench/idle_cost.py [SECONDS (30)] [NODES (3)]"""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from netns import Cluster  # noqa: E402


def cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def main(seconds=30, nodes=3):
    hz = os.sysconf("SC_CLK_TCK")
    with Cluster(names=tuple(f"n{i}" for i in range(1, nodes + 1))) as c:
        c.start_all()
        leader = c.wait_until(lambda: c.agreed_coordinator(), 10, what="a coordinator")
        time.sleep(2)
        for name in (leader, [n for n in c.nodes if n != leader][0]):
            pid = c.nodes[name].proc.pid
            t0, c0 = time.monotonic(), cpu_ticks(pid)
            time.sleep(seconds)
            t1, c1 = time.monotonic(), cpu_ticks(pid)
            cpu = (c1 - c0) / hz / (t1 - t0) * 100
            role = "coordinator" if name == leader else "follower"
            print(f"idle {role} agent of {nodes} over {seconds} s: CPU {cpu:.2f} % of one core, "
                  f"RSS {rss_kib(pid) / 1024:.1f} MiB", flush=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 30, int(sys.argv[2]) if len(sys.argv) > 2 else 3)
