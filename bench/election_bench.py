"""Re-election time: SIGKILL the coordinator of a 3-node netns cluster at default timing and
time until both survivors report the same new coordinator with quorum (polled every ~5 ms
through the real CLI). Prints median/p95/max over N trials (default 20)."""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from netns import Cluster  # noqa: E402


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def main(trials=20):
    times = []
    with Cluster() as c:
        c.start_all()
        for t in range(trials):
            leader = c.wait_until(lambda: c.agreed_coordinator(), 10, what="a stable coordinator")
            time.sleep(0.5)  # steady state: a heartbeat phase independent of the last election
            survivors = [n for n in c.nodes if n != leader]
            c.kill(leader)
            start = time.monotonic()

            def new():
                a = c.agreed_coordinator(survivors)
                return a if a not in (None, leader) else None

            c.wait_until(new, 10, interval=0.005, what="a new coordinator")
            times.append((time.monotonic() - start) * 1000)
            print(f"trial {t + 1:2}: {times[-1]:6.1f} ms", flush=True)
            c.start(leader)
    print(f"re-election after SIGKILL of the coordinator ({trials} trials): "
          f"median {statistics.median(times):.0f} ms, p95 {percentile(times, 95):.0f} ms, "
          f"max {max(times):.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
