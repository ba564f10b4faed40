"""Losing the coordinator, at scale: 5 real agents in network namespaces at default timing, 100
resources spread over them (40 vips, 20 groups of two ocf:heartbeat:Dummy, 19 lone Dummy and a
promotable ocf:heartbeat:Stateful clone), and the coordinator's agent killed (SIGKILL) TRIALS
times (default 20). Each trial starts from a settled cluster and reports:

- resources interrupted on the other nodes: stopped, demoted or (a vip) deleted from the kernel
  on a node that was not killed, from the fault until the new coordinator has reconciled and
  one second more (each agent's own log, `ip monitor` in every namespace). Goal: 0;
- the dead coordinator's own resources, which must move (for reference);
- re-election: from the kill to the four survivors agreeing on a new coordinator (polled);
- reconciled: from the kill to the new coordinator's `event=reconciled` log line (its first
  complete view in its term, and how many actions that first pass sent);
- every resource running again (the dead node's included, polled every 50 ms).

The dead agent is started again after each trial and the cluster settles before the next.
Usage (root): python3 bench/coordinator_loss.py [TRIALS]
"""

import datetime
import os
import re
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from netns import AddressWatch, Cluster  # noqa: E402

NODES = ("n1", "n2", "n3", "n4", "n5")
STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ")
TAKEN_DOWN = re.compile(r"event=action_(?:done|finished) resource=(\S+) action=(stop|demote)\b")
RECONCILED = re.compile(r"event=reconciled term=(\d+) coordinator=(\S+) resources=\d+ "
                        r"actions=(\d+)")


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def resources_yaml():
    """100 primitives; each top-level resource prefers one node (round robin, score 100)."""
    prims, groups, located = [], [], []
    for i in range(40):
        prims.append(f"""  - id: ip{i}
    type: vip
    params: {{address: 10.213.0.{100 + i}/24, interface: eth0}}
    ops: {{monitor: {{interval: 2s, timeout: 5s}}}}""")
        located.append(f"ip{i}")
    for g in range(20):
        members = []
        for m in range(2):
            rid = f"app{g}m{m}"
            prims.append(f"""  - id: {rid}
    type: ocf:heartbeat:Dummy
    params: {{state: /run/hactl/{rid}.state}}
    ops: {{monitor: {{interval: 5s, timeout: 10s}}, stop: {{timeout: 2s}}}}""")
            members.append(rid)
        groups.append(f"  - id: grp{g}\n    members: [{', '.join(members)}]")
        located.append(f"grp{g}")
    for i in range(19):
        prims.append(f"""  - id: solo{i}
    type: ocf:heartbeat:Dummy
    params: {{state: /run/hactl/solo{i}.state}}
    ops: {{monitor: {{interval: 5s, timeout: 10s}}, stop: {{timeout: 2s}}}}""")
        located.append(f"solo{i}")
    prims.append("""  - id: db
    type: ocf:heartbeat:Stateful
    params: {state: /run/hactl/db.state}
    ops: {monitor: {interval: 5s, timeout: 10s}, stop: {timeout: 2s}}""")
    locations = [f"    - {{resource: {r}, node: {NODES[k % len(NODES)]}, score: 100}}"
                 for k, r in enumerate(located)]
    locations.append("    - {resource: db-clone, node: n3, score: 100, role: promoted}")
    return ("\nresources:\n" + "\n".join(prims) + "\ngroups:\n" + "\n".join(groups) +
            "\nclones:\n  - id: db-clone\n    resource: db\n    promotable: true\n"
            "    promoted_max: 1\nconstraints:\n  location:\n" + "\n".join(locations) + "\n")


def log_since(c, name, offset):
    with open(c.nodes[name].log_path, errors="replace") as f:
        f.seek(offset)
        return f.read()


def log_time(line):
    m = STAMP.match(line)
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp() if m else None


def settled(c, names, expected):
    """The coordinator agreed by `names`, when it sees every resource placed and waits for
    nothing; else None."""
    coord = c.agreed_coordinator(names)
    if coord is None:
        return None
    s = c.status(coord, timeout=5)
    if not s or not s["scheduler"]["active"] or s["scheduler"]["waiting_for"]:
        return None
    res = s.get("resources", [])
    if len(res) != expected or any(r["state"] not in ("started", "promoted") for r in res):
        return None
    return coord


def owned(c, coord):
    """Primitive ids the coordinator's node runs, as the coordinator sees it."""
    s = c.status(coord, timeout=5)
    return {r["id"] for r in s.get("resources", []) if coord in r.get("nodes", [])}


def trial(c, n, results):
    coord = c.wait_until(lambda: settled(c, list(c.nodes), 100), 120, 0.2, "a settled cluster")
    time.sleep(1.0)
    own = owned(c, coord)
    survivors = [x for x in c.nodes if x != coord]
    offsets = {x: os.path.getsize(c.nodes[x].log_path) for x in survivors}
    watch = AddressWatch(c, None)  # every address
    try:
        t0 = time.time()
        m0 = time.monotonic()
        c.kill(coord, signal.SIGKILL)

        def new():
            a = c.agreed_coordinator(survivors)
            return a if a not in (None, coord) else None

        leader = c.wait_until(new, 20, 0.005, "a new coordinator")
        elected = (time.monotonic() - m0) * 1000
        reconciled = None
        deadline = time.monotonic() + 30
        while reconciled is None and time.monotonic() < deadline:
            for line in log_since(c, leader, offsets[leader]).splitlines():
                m = RECONCILED.search(line)
                if m and m.group(2) == leader:
                    reconciled = ((log_time(line) - t0) * 1000, int(m.group(3)))
                    break
            time.sleep(0.05)
        c.wait_until(lambda: settled(c, survivors, 100), 60, 0.05, "the survivors settled")
        all_running = (time.monotonic() - m0) * 1000
        time.sleep(1.0)
    finally:
        watch.close()
    hit = set()
    for x in survivors:
        for line in log_since(c, x, offsets[x]).splitlines():
            m = TAKEN_DOWN.search(line)
            if m:
                hit.add((x, m.group(1)))
            if "event=lease_lapsed" in line:
                hit.add((x, "lease_lapsed"))
    for _, x, held, addr in watch.changes:
        if x != coord and not held:
            hit.add((x, addr))
    results.append({"elected_ms": elected, "reconciled_ms": reconciled[0] if reconciled else None,
                    "first_actions": reconciled[1] if reconciled else None,
                    "all_running_ms": all_running,
                    "interrupted": len(hit), "own": len(own), "detail": sorted(hit)})
    r = results[-1]
    print(f"trial {n:2}: coordinator {coord} killed ({r['own']} resources of its own): new "
          f"coordinator {leader} after {elected:.0f} ms, reconciled after "
          f"{r['reconciled_ms'] if r['reconciled_ms'] is None else round(r['reconciled_ms'])} ms "
          f"({r['first_actions']} actions), everything running again after {all_running:.0f} ms;"
          f" interrupted elsewhere: {r['interrupted']}"
          + (f" {r['detail'][:6]}" if hit else ""), flush=True)
    c.start(coord)


def main(trials=20):
    results = []
    with Cluster(names=NODES, resources_yaml=resources_yaml()) as c:
        c.start_all()
        for n in range(1, trials + 1):
            trial(c, n, results)
    el = [r["elected_ms"] for r in results]
    rc = [r["reconciled_ms"] for r in results if r["reconciled_ms"] is not None]
    print(f"\n5 nodes, 100 resources, {trials} SIGKILLs of the coordinator:")
    print(f"  resources interrupted on other nodes per kill: "
          f"{[r['interrupted'] for r in results]} (total {sum(r['interrupted'] for r in results)})")
    print(f"  the dead coordinator's own resources (moved): median "
          f"{statistics.median(r['own'] for r in results):.0f}")
    print(f"  re-election: median {statistics.median(el):.0f} ms, p95 {percentile(el, 95):.0f} ms,"
          f" max {max(el):.0f} ms")
    if rc:
        print(f"  the new coordinator's first complete view (event=reconciled): median "
              f"{statistics.median(rc):.0f} ms, p95 {percentile(rc, 95):.0f} ms, max "
              f"{max(rc):.0f} ms ({len(rc)} of {trials} seen)")
    ar = [r["all_running_ms"] for r in results]
    print(f"  every resource running again (the dead node's Dummy wait out their takeover delay,"
          f" restart_grace + stop timeout = 2.9 s): median {statistics.median(ar):.0f} ms, "
          f"p95 {percentile(ar, 95):.0f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
