"""What each way of running a server pair costs, side by side: real agents in network
namespaces, the vip's holder crashed, then the link between the two nodes cut.

The options (docs/pairs.md): an arbiter next door, a witness (a third agent), two_node with
fencing (fence_netns: it kills every process of a node's namespace and takes its port down, as
a power switch would; a 4 s delay on the device that fences n1), and the unsafe last resort
(two_node, no fencing, `last_resort: unsafe_take_over`). Default timing (heartbeat 100 ms,
node_timeout 300 ms).

- crash: every process of the holder's namespace killed and its port down at once; the time
  until the other node's kernel holds the vip (its `ip monitor` record).
- cut: the two nodes stop hearing each other (nftables both ways; the arbiter or witness still
  hears both); what holds the vip once it settles, when it got there, and the longest time the
  vip was on both nodes (kernel timestamps). Then the link heals and a dead node boots again.

Usage (root): python3 bench/pair_split.py [TRIALS [OPTION...]]   (default 4 of each, every
option: arbiter witness two_node last_resort; the vip is moved to n1 and n2 in turn before each
trial)
"""

import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from arbiter_host import ARBITER_IP, ArbiterHost  # noqa: E402
from netns import SUBNET, AddressWatch, Cluster  # noqa: E402
import test_pair_fencing as tpf  # noqa: E402

VIP = f"{SUBNET}.100"
assert VIP == tpf.VIP


def make(option):
    """The cluster (set up, not started) and the arbiter host, if any."""
    if option == "witness":
        c = Cluster(names=("n1", "n2", "w"), witnesses=("w",))
    elif option == "arbiter":
        c = Cluster(names=("n1", "n2"))
    elif option == "two_node":
        c = Cluster(names=("n1", "n2"), extra_cluster_yaml="  two_node: true")
    else:
        c = Cluster(names=("n1", "n2"),
                    extra_cluster_yaml="  two_node: true\n  last_resort: unsafe_take_over")
    c.setup()
    c.resources_yaml = tpf.pair_yaml(c, fencing=option == "two_node")
    if option == "arbiter":
        c.resources_yaml += f'arbiter: {{address: "{ARBITER_IP}:5406", rtt: 50ms}}\n'
    with open(c.config, "w") as f:
        f.write(c.config_text())
    a = None
    if option == "arbiter":
        a = ArbiterHost(c.switch, [c], 0)
        a.show_log = False
        a.setup()
        a.start()
    return c, a


def steady(c):
    holders = c.holders(VIP)
    if len(holders) != 1 or c.agreed_coordinator(["n1", "n2"]) is None:
        return None
    for n in ("n1", "n2"):
        t = tpf.two_node_status(c, n)
        if t is not None and t.get("waiting_for_peer"):
            return None
    return holders[0]


def revive(c):
    """Heal the link; boot every pair node that is down (its port up first)."""
    c.heal()
    for n in ("n1", "n2"):
        if not c.alive(n):
            c.link_up(n)
            tpf.boot(c, n)
    c.wait_until(lambda: steady(c), 60, 0.1, "a steady pair")
    time.sleep(1.0)


def place(c, want):
    """The vip moved to `want` (a move the bench makes, kept: the next trial moves it again)."""
    holder = c.wait_until(lambda: steady(c), 60, 0.1, "a steady pair")
    if holder != want:
        c.hactl(want, "resource", "move", "vip", want, check=True)
        c.wait_until(lambda: steady(c) == want, 60, 0.1, f"the vip on {want}")
        time.sleep(1.0)
    return want


def crash(c, want):
    holder = place(c, want)
    other = "n1" if holder == "n2" else "n2"
    with AddressWatch(c, VIP) as w:
        t0 = time.time()
        tpf.power_off(c, holder)
        c.wait_until(lambda: other in c.holders(VIP), 30, 0.02, f"the vip on {other}")
        time.sleep(0.2)
    came = [a for a, _ in w.intervals().get(other, []) if a > 0]
    revive(c)
    return holder, (min(came) - t0) * 1000


def cut(c, want, both_expected):
    holder = place(c, want)
    with AddressWatch(c, VIP) as w:
        t0 = time.time()
        c.partition(["n1"], ["n2"])
        if both_expected:
            c.wait_until(lambda: sorted(c.holders(VIP)) == ["n1", "n2"], 30, 0.02,
                         "the vip on both")
        else:
            # Settled: one holder, and it has been the same for 2 s (a fence may still run).
            seen = {"who": None, "since": time.monotonic()}

            def settled():
                h = [n for n in c.holders(VIP) if c.alive(n)]
                if h != [seen["who"]]:
                    seen["who"], seen["since"] = (h[0] if len(h) == 1 else None), time.monotonic()
                return seen["who"] is not None and time.monotonic() - seen["since"] > 2.0
            c.wait_until(settled, 40, 0.05, "the vip settled on one node")
        time.sleep(0.3)
    final = sorted(n for n in c.holders(VIP) if c.alive(n))
    intervals = w.intervals()
    adds = [a for n in final for a, _ in intervals.get(n, []) if a > 0 and n != holder]
    moved_ms = (min(adds) - t0) * 1000 if adds else 0.0
    overlap = w.longest_overlap(fenced_at(c, t0)) * 1000
    revive(c)
    return holder, final, moved_ms, overlap


def fenced_at(c, t0):
    """{node: epoch seconds its fence ended}, for the fences that ended after t0."""
    to_real = time.time() - time.monotonic()
    off = {}
    for e in tpf.fence_events(c, "end"):
        for n in ("n1", "n2"):
            if e["args"]["plug"] == f"{c.nodes[n].ns}/{c.nodes[n].switch_port}" and \
                    e["t"] + to_real >= t0:
                off[n] = min(off.get(n, float("inf")), e["t"] + to_real)
    return off


def run_option(option, trials):
    c, a = make(option)
    try:
        c.start_all()
        holders = ["n1" if k % 2 == 0 else "n2" for k in range(trials)]
        crashes = [crash(c, h) for h in holders]
        cuts = [cut(c, h, option == "last_resort") for h in holders]
    finally:
        if a is not None:
            a.cleanup()
        c.cleanup()
    return crashes, cuts


def main():
    if os.geteuid() != 0:
        print("needs root (network namespaces)")
        return 1
    trials = int(sys.argv[1]) if len(sys.argv) > 1 else 4
    options = sys.argv[2:] or ["arbiter", "witness", "two_node", "last_resort"]
    for option in options:
        crashes, cuts = run_option(option, trials)
        print(f"{option}:")
        for who in ("n1", "n2"):
            times = [t for h, t in crashes if h == who]
            if times:
                print(f"  crash of {who} holding the vip: on the other node after min "
                      f"{min(times):.0f} ms, median {statistics.median(times):.0f} ms, max "
                      f"{max(times):.0f} ms ({len(times)} trials)")
        for holder, final, moved, overlap in cuts:
            what = "both nodes" if len(final) == 2 else final[0] if final else "nobody"
            print(f"  cut link (vip on {holder}): vip on {what}"
                  + (f", moved after {moved:.0f} ms" if moved else ", never moved")
                  + ("; on two nodes until the link healed" if overlap == float("inf")
                     else f"; on two nodes for {overlap:.0f} ms"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
