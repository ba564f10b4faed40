"""VIP failover time of a server pair with a hactl-arbiter at 0, 50 and 200 ms round trip, next
to a pair with a witness (a third agent) at the same timing: real agents in network namespaces.

Trials alternate between a holder that is the coordinator and one that is not (the role is
handed over first). Each trial kills the holder's agent (SIGKILL) and cuts its link at once (a crash of its host, as
bench/vip_failover.py's "crash"), then times until the other node's kernel holds the vip (the
`ip monitor` record; the client's ARP answer comes a few ms later). It says whether the holder
was also the coordinator: then the survivor must be elected first, and with an arbiter its vote
costs one arbiter round trip. The arbiter sits behind the nemesis's delay relay (this kernel has
no sch_netem). An arbiter 200 ms away needs node_timeout 500 ms (docs/pairs.md, "Timing"), so
that line and its witness line use it.

Usage (root): python3 bench/pair_failover.py [TRIALS]
"""

import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from arbiter_host import ARBITER_IP, ArbiterHost  # noqa: E402
from netns import SUBNET, AddressWatch, Cluster, vip_resources  # noqa: E402

VIP = f"{SUBNET}.100"


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def steady(c, names):
    holders = c.holders(VIP)
    coordinator = c.agreed_coordinator(names)
    if len(holders) != 1 or coordinator is None:
        return None
    return holders[0], coordinator


def trial(c, names, coordinating):
    """One crash of the holder; `coordinating`: the holder is the coordinator (else the role is
    handed to the other node first)."""
    holder, coordinator = c.wait_until(lambda: steady(c, names), 30, what="a steady pair")
    other = next(n for n in names if n != holder)
    wanted = holder if coordinating else other
    if coordinator != wanted:
        c.hactl(coordinator, "coordinator", "handover", wanted)
        c.wait_until(lambda: steady(c, names) == (holder, wanted), 10,
                     what=f"{wanted} coordinating")
        coordinator = wanted
    with AddressWatch(c, VIP) as w:
        t0 = time.time()
        c.kill(holder)
        c.link_down(holder)
        c.wait_until(lambda: c.holders(VIP) == [other], 15, what=f"the vip on {other}")
        time.sleep(0.2)
    came = [a for a, _ in w.intervals().get(other, []) if a > 0]
    c.link_up(holder)
    c.start(holder)
    c.wait_until(lambda: steady(c, names), 30, what="the pair steady again")
    time.sleep(1.0)
    return (min(came) - t0) * 1000, holder == coordinator, w.longest_overlap()


def run_setup(label, trials, node_timeout, arbiter_rtt_ms=None):
    if arbiter_rtt_ms is None:
        c = Cluster(names=("n1", "n2", "w"), witnesses=("w",), node_timeout=node_timeout,
                    resources_yaml=vip_resources())
        names = ["n1", "n2", "w"]
    else:
        rtt = max(arbiter_rtt_ms, 50)
        c = Cluster(names=("n1", "n2"), node_timeout=node_timeout,
                    resources_yaml=vip_resources() +
                    f'arbiter: {{address: "{ARBITER_IP}:5406", rtt: {rtt}ms}}\n')
        names = ["n1", "n2"]
    a = None
    try:
        c.setup()
        if arbiter_rtt_ms is not None:
            a = ArbiterHost(c.switch, [c], arbiter_rtt_ms / 2000)
            a.show_log = False
            a.setup()
            a.start()
        c.start_all()
        results = [trial(c, names[:2] if arbiter_rtt_ms is None else names, k % 2 == 0)
                   for k in range(trials)]
    finally:
        if a is not None:
            a.show_log = False
            a.cleanup()
        c.cleanup()
    report(label, node_timeout, results)


def report(label, node_timeout, results):
    def line(what, values):
        if not values:
            return f"  {what}: no trial"
        return (f"  {what}: {len(values)} trials, median {statistics.median(values):.0f} ms, "
                f"p95 {percentile(values, 95):.0f} ms, max {max(values):.0f} ms")
    print(f"{label} (node_timeout {node_timeout}):")
    print(line("holder not coordinator", [t for t, coord, _ in results if not coord]))
    print(line("holder is coordinator", [t for t, coord, _ in results if coord]))
    print(f"  longest time the vip was on two nodes: {max(o for _, _, o in results) * 1000:.0f} ms")


def main():
    if os.geteuid() != 0:
        print("needs root (network namespaces)")
        return 1
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    run_setup("pair + witness", trials, "300ms")
    for rtt in (0, 50):
        run_setup(f"pair + arbiter at {rtt} ms round trip", trials, "300ms", rtt)
    run_setup("pair + witness", trials, "500ms")
    run_setup("pair + arbiter at 200 ms round trip", trials, "500ms", 200)
    return 0


if __name__ == "__main__":
    sys.exit(main())
