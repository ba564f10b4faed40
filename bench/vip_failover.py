"""VIP failover time in a 3-node netns cluster of real agents: from a fault of the node holding
the VIP to the client's ARP request for the VIP answered by the new holder's MAC.

Faults: "crash" (SIGKILL of the holder's agent and its link cut at once), "link" (its link
cut alone; the agent lives on, cut off, and must give the VIP up by itself) and "stop" (SIGTERM
of the holder's agent, as `systemctl stop` or an upgrade: a planned move; a coordinator hands
its role over first). For "stop" the figure is the client's gap: from the last reply of the old
holder to the first of the new one. The client is
Debian's iputils arping in the switch namespace, broadcasting a request every 10 ms, so the
figure includes up to 10 ms of polling. After each trial the node is healed and rejoins; the
next trial starts from a steady cluster.

With --family 6 the VIP is fd00:10:213::100/64 and the client asks with neighbour
solicitations (every 5 ms) instead, counting solicited advertisements only.

Each trial also reads, from the new holder's `hactl status --json`, how long after its start
the VIP was verified (a peer saw it announced and answered from the new holder's MAC,
docs/vip.md): the "time to verified" column.

Usage (root): python3 bench/vip_failover.py [TRIALS] [--profile default|fast] [--family 4|6]
[--faults crash,link,stop] [--nodes N] (N nodes n1..nN, 3 by default)
"""

import argparse
import os
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from netns import AddressWatch, ArpClient, Cluster, run  # noqa: E402

VIP = "10.213.0.100"
VIP6 = "fd00:10:213::100"


def resources(vip):
    prefix = 64 if ":" in vip else 24
    return f"""
resources:
  - id: vip
    type: vip
    params: {{address: {vip}/{prefix}, interface: eth0}}
"""
# The fast profile (docs/timing.md): heartbeats every 20 ms, a node is lost after 60 ms.
PROFILES = {"default": ("100ms", "300ms"), "fast": ("20ms", "60ms")}


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def steady_holder(c, vip):
    """The single node holding the VIP, once every agent is up, sees the same coordinator and
    reports the VIP started there."""
    holders = c.holders(vip)
    if len(holders) != 1 or c.agreed_coordinator() is None:
        return None
    for name in c.nodes:
        s = c.status(name)
        res = {r["id"]: r for r in (s or {}).get("resources", [])}
        if res.get("vip", {}).get("nodes") != holders or res["vip"]["state"] != "started":
            return None
        if s["scheduler"].get("waiting_for"):
            return None
    return holders[0]


def verified_ms(c, name, timeout=10):
    """The new holder's time from its start to verified, once it says so (None at timeout)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        s = c.status(name) or {}
        for r in s.get("resources", []):
            v = r.get("verify")
            if r["id"] == "vip" and v and v["node"] == name and v["state"] == "verified":
                return v["took_ms"]
        time.sleep(0.05)
    return None


def trial(c, fault, vip):
    holder = c.wait_until(lambda: steady_holder(c, vip), 30, 0.05, "a steady VIP holder")
    time.sleep(0.3 + (time.monotonic() % 0.1))  # a heartbeat phase independent of the last trial
    was_coordinator = c.agreed_coordinator() == holder
    macs = {n: c.mac(n) for n in c.nodes}
    others = [n for n in c.nodes if n != holder]
    with AddressWatch(c, vip) as watch, ArpClient(c, vip) as client:
        if not client.wait_reply(macs[holder], 0, 5):
            raise RuntimeError(f"the client gets no answer from the holder {holder}")
        start = time.monotonic()
        if fault == "crash":
            c.kill(holder)
        if fault == "stop":
            c.kill(holder, signal.SIGTERM)  # returns once it exited; the client records meanwhile
        else:
            c.link_down(holder)
        answered = None
        deadline = time.monotonic() + 20
        while answered is None and time.monotonic() < deadline:
            for n in others:
                t = client.wait_reply(macs[n], start, 0.02)
                if t is not None:
                    answered = (n, t)
                    break
        if answered is None:
            raise RuntimeError(f"{fault}: no survivor answered for the VIP within 20 s")
        # The cut-off holder drops the VIP by itself (its lease) or through its guard (crash).
        c.wait_until(lambda: holder not in c.holders(vip), 5, 0.05, "the old holder to let go")
        gap = watch.handover_gap(holder, answered[0])
        overlap = watch.longest_overlap()
        verified = verified_ms(c, answered[0])
        took = answered[1] - start
        if fault == "stop":  # the client's gap, from the old holder's last answer
            with client.cond:
                old = [t for t, m in client.replies if m == macs[holder] and t < answered[1]]
            last_old = max(old, default=start)
            took = answered[1] - last_old
    if fault != "stop":
        c.link_up(holder)
    if fault in ("crash", "stop"):
        c.start(holder)
    return took * 1000, was_coordinator, gap, overlap, verified


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("trials", nargs="?", type=int, default=20)
    ap.add_argument("--profile", choices=PROFILES, default="default")
    ap.add_argument("--faults", default="crash,link")
    ap.add_argument("--family", choices=["4", "6"], default="4")
    ap.add_argument("--nodes", type=int, default=3)
    args = ap.parse_args()
    heartbeat, timeout = PROFILES[args.profile]
    vip = VIP6 if args.family == "6" else VIP
    names = tuple(f"n{i}" for i in range(1, args.nodes + 1))
    with Cluster(names=names, heartbeat=heartbeat, node_timeout=timeout,
                 resources_yaml=resources(vip)) as c:
        if args.family == "6":
            # The client's source address for its solicitations (no DAD: its own namespace).
            run("ip", "-n", c.switch, "addr", "add", "fd00:10:213::250/64", "dev", "br0", "nodad")
        c.start_all()
        for fault in args.faults.split(","):
            times, gaps, overlaps, verified = [], [], [], []
            for t in range(args.trials):
                ms, coordinator, gap, overlap, v = trial(c, fault, vip)
                verified.append(v)
                times.append(ms)
                gaps.append(gap * 1000 if gap is not None else float("nan"))
                overlaps.append(overlap * 1000)
                role = ", the holder was the coordinator" if coordinator else ""
                print(f"{args.profile} {fault} trial {t + 1:2}: {ms:6.1f} ms (old holder's delete "
                      f"to new holder's add {gaps[-1]:.1f} ms{role}; verified {v} ms after "
                      f"its start)", flush=True)
            ok = [v for v in verified if v is not None]
            print(f"VIP failover, IPv{args.family}, {args.profile} timing (heartbeat {heartbeat}, "
                  f"node_timeout {timeout}), {args.nodes} nodes, {fault}"
                  f"{' (client gap)' if fault == 'stop' else ''}, {args.trials} trials: median "
                  f"{statistics.median(times):.0f} ms, p95 {percentile(times, 95):.0f} ms, "
                  f"max {max(times):.0f} ms; the old holder let go {min(gaps):.1f} ms or more "
                  f"before the new one took the VIP; two holders at once: "
                  f"{'never' if max(overlaps) == 0 else f'{max(overlaps):.1f} ms at worst'}; "
                  f"time to verified (start to confirmed): "
                  + (f"median {statistics.median(ok):.0f} ms, p95 {percentile(ok, 95):.0f} ms"
                     if ok else "never")
                  + f" ({len(ok)} of {len(verified)} verified within 10 s)", flush=True)


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("needs root (network namespaces)", file=sys.stderr)
        sys.exit(1)
    main()
