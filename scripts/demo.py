"""hactl demo: a 3-node cluster of real agents in network namespaces; the coordinator is
killed with SIGKILL and the survivors elect a new one. Cleans up on exit and on Ctrl-C."""

import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from netns import Cluster  # noqa: E402


def say(text):
    print(f"\n=== {text}", flush=True)


def show(c, name):
    print(c.hactl(name, "status").stdout, end="", flush=True)


def main():
    with Cluster(names=("n1", "n2", "n3")) as c:
        say("Starting 3 agents in network namespaces (10.213.0.11-13 on a private bridge)")
        c.start_all()
        leader = c.wait_until(lambda: c.agreed_coordinator(), 10, what="an elected coordinator")
        observer = [n for n in c.nodes if n != leader][0]
        say(f"hactl status on {observer}")
        show(c, observer)
        time.sleep(2)

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
            f"{took:.0f} ms after the kill")
        show(c, observer)
        time.sleep(2)

        say(f"Restarting {leader}: it rejoins as a follower, the coordinator stays {new}")
        c.start(leader)
        c.wait_until(lambda: c.agreed_coordinator() == new, 10, what=f"{leader} to rejoin")
        show(c, leader)
        say("Cleaning up (agents stopped, namespaces removed)")
    return 0


if __name__ == "__main__":
    if os.geteuid() != 0:
        print("the demo needs root (it creates network namespaces): sudo scripts/demo.sh",
              file=sys.stderr)
        sys.exit(1)
    sys.exit(main())
