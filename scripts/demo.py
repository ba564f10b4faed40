"""hactl demo: a 3-node cluster of real agents in network namespaces running a group of a
virtual IP and an OCF Dummy resource. First the coordinator is killed (SIGKILL) and the
survivors elect a new one; then the node holding the group crashes (SIGKILL of its agent and
its link cut at once) and the group moves, while a client on the bridge asks for the VIP every
5 ms and reports who answered. Cleans up on exit and on Ctrl-C."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from netns import ArpClient, Cluster  # noqa: E402

VIP = "10.213.0.100"
GROUP = f"""
resources:
  - id: web-ip
    type: vip
    params: {{address: {VIP}/24, interface: eth0}}
  - id: web-app
    type: ocf:heartbeat:Dummy
    params: {{state: /run/hactl/web-app.state}}
    ops: {{monitor: {{interval: 1s, timeout: 5s}}, stop: {{timeout: 2s}}}}
groups:
  - id: web
    members: [web-ip, web-app]
"""


def say(text):
    print(f"\n=== {text}", flush=True)


def show(c, name):
    print(c.hactl(name, "status").stdout, end="", flush=True)


def group_holder(c, viewer):
    s = c.status(viewer) or {}
    res = {r["id"]: r for r in s.get("resources", [])}
    nodes = [tuple(res.get(i, {}).get("nodes", [])) for i in ("web-ip", "web-app")]
    started = all(res.get(i, {}).get("state") == "started" for i in ("web-ip", "web-app"))
    return nodes[0][0] if started and len(nodes[0]) == 1 and nodes[0] == nodes[1] else None


def main():
    with Cluster(names=("n1", "n2", "n3"), resources_yaml=GROUP) as c:
        say("Starting 3 agents in network namespaces (10.213.0.11-13 on a private bridge), "
            f"with a group 'web': VIP {VIP} + ocf:heartbeat:Dummy")
        c.start_all()
        leader = c.wait_until(lambda: c.agreed_coordinator(), 10, what="an elected coordinator")
        holder = c.wait_until(lambda: group_holder(c, leader), 15, what="the group started")
        observer = [n for n in c.nodes if n != leader][0]
        say(f"hactl status on {observer}")
        show(c, observer)

        survivors = [n for n in c.nodes if n != leader]
        say(f"Killing the coordinator {leader} with SIGKILL")
        c.kill(leader)
        killed = time.monotonic()

        def new_coordinator():
            a = c.agreed_coordinator(survivors)
            return a if a not in (None, leader) else None

        new = c.wait_until(new_coordinator, 10, interval=0.01, what="a new coordinator")
        took = (time.monotonic() - killed) * 1000
        say(f"{survivors[0]} and {survivors[1]} agreed on {new} as coordinator "
            f"{took:.0f} ms after the kill; {leader} restarts and rejoins")
        c.start(leader)
        c.wait_until(lambda: c.agreed_coordinator() == new, 10, what=f"{leader} to rejoin")
        holder = c.wait_until(lambda: group_holder(c, new), 15, what="the group running")
        time.sleep(1)

        macs = {n: c.mac(n) for n in c.nodes}
        others = [n for n in c.nodes if n != holder]
        say(f"The group runs on {holder} (MAC {macs[holder]}). A client asks for {VIP} every "
            f"5 ms. Crashing {holder}: SIGKILL of its agent and its link cut at once")
        with ArpClient(c, VIP) as client:
            c.wait_until(lambda: client.wait_reply(macs[holder], 0, 1), 5,
                         what="the client answered by the holder")
            crashed = time.monotonic()
            c.kill(holder)
            c.link_down(holder)
            def survivor():
                h = group_holder(c, others[0])
                return h if h in others else None

            moved = c.wait_until(survivor, 30, interval=0.05, what="the group on a survivor")
            group_at = time.monotonic()
            answered = client.wait_reply(macs[moved], crashed, 10)
            if answered is None:
                raise RuntimeError(f"the client got no answer from {moved} for the VIP")
            time.sleep(1)
            after = [m for t, m in client.replies if t > answered]
        say(f"The client was answered by {moved} (MAC {macs[moved]}) "
            f"{(answered - crashed) * 1000:.0f} ms after the crash, and by it alone since "
            f"({after.count(macs[moved])} answers, {len(after) - after.count(macs[moved])} from "
            f"another MAC)")
        print(f"The VIP moved once {holder}'s lease was over. Dummy followed it "
              f"{group_at - crashed:.1f} s after the crash: its takeover_delay (3 x node_timeout "
              f"+ its 2 s stop timeout) is the time a node that is cut off, not dead, needs to "
              f"stop it by itself, so it never runs twice.")
        say(f"hactl status on {moved}")
        show(c, moved)
        say(f"{holder} comes back: its link is restored and its agent restarted; the group "
            f"stays on {moved}")
        c.link_up(holder)
        c.start(holder)
        time.sleep(3)
        show(c, holder)
        print(f"VIP holders now: {c.holders(VIP)} (client check ran "
              f"{(end - crashed):.1f} s after the crash)")
        say("Cleaning up (agents stopped, namespaces removed)")
    return 0


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("the demo needs root (it creates network namespaces): run scripts/demo.sh as root",
              file=sys.stderr)
        sys.exit(1)
    sys.exit(main())
