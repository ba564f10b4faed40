"""How long operators wait: a 3-node netns cluster (default timing) with one VIP; per trial,
the time `hactl` takes to return (the change stored by a majority) for `node standby` and
`node online`, from `node standby` of the VIP's node until another node holds the VIP, and for
`config apply` of a file adding a second VIP until `hactl` returns and until that VIP is up.
Prints median / p95 / max over TRIALS trials. Run as root: python3 bench/operator_bench.py [TRIALS]
"""

import os
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from netns import Cluster  # noqa: E402

ONE = """
resources:
  - id: web-ip
    type: vip
    params: {address: 10.213.0.100/24, interface: eth0}
"""
TWO = ONE + """  - id: api-ip
    type: vip
    params: {address: 10.213.0.101/24, interface: eth0}
"""


def stats(name, values):
    v = sorted(values)
    p95 = v[min(len(v) - 1, int(round(0.95 * (len(v) - 1))))]
    print(f"{name:44s} median {statistics.median(v) * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  "
          f"max {v[-1] * 1000:7.1f} ms  ({len(v)} trials)", flush=True)


def timed(c, node, *args):
    t = time.monotonic()
    r = c.hactl(node, *args)
    if r.returncode != 0:
        raise RuntimeError(f"hactl {' '.join(args)}: {r.stderr}")
    return time.monotonic() - t, t


def main():
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    out = {k: [] for k in ("standby", "moved", "online", "apply", "up")}
    with Cluster(resources_yaml=ONE) as c:
        c.start_all()
        c.wait_until(lambda: c.agreed_coordinator(), 10, 0.1, "a coordinator")
        files = []
        for name, res in (("one.yaml", ONE), ("two.yaml", TWO)):
            path = os.path.join(c.tmp, name)
            with open(path, "w") as f:
                f.write(c.config_text().replace(ONE.strip("\n"), res.strip("\n")))
            files.append(path)
        for _ in range(trials):
            holder = c.wait_until(lambda: (lambda h: h[0] if len(h) == 1 else None)(
                c.holders("10.213.0.100")), 10, 0.002, "the VIP")
            asker = next(n for n in c.nodes if n != holder)
            took, t0 = timed(c, asker, "node", "standby", holder)
            out["standby"].append(took)
            c.wait_until(lambda: c.holders("10.213.0.100") and
                         holder not in c.holders("10.213.0.100"), 10, 0.002, "moved")
            out["moved"].append(time.monotonic() - t0)
            out["online"].append(timed(c, asker, "node", "online", holder)[0])
            took, t0 = timed(c, asker, "config", "apply", files[1])
            out["apply"].append(took)
            c.wait_until(lambda: len(c.holders("10.213.0.101")) == 1, 10, 0.002, "api-ip")
            out["up"].append(time.monotonic() - t0)
            timed(c, asker, "config", "apply", files[0])  # back, for the next trial
            c.wait_until(lambda: not c.holders("10.213.0.101"), 10, 0.01, "api-ip gone")
    print("operator latency, 3 netns nodes, default timing (heartbeat 100ms, node_timeout 300ms)")
    stats("node standby: hactl returns (committed)", out["standby"])
    stats("node standby: VIP held by another node", out["moved"])
    stats("node online: hactl returns", out["online"])
    stats("config apply (adds a VIP): hactl returns", out["apply"])
    stats("config apply: the new VIP is up", out["up"])


if __name__ == "__main__":
    main()
