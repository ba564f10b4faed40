"""hactl sandbox: a 3-node cluster of real agents in network namespaces (n1, n2, n3 on a private
bridge, 10.213.0.0/24) running a group of a virtual IP and an OCF Dummy resource, left running
for you to drive with `hactl` (the README's walkthrough). /tmp/hactl-sandbox points at its files:
n1.sock, n2.sock, n3.sock (each agent's control socket), cluster.yaml, and cluster-v2.yaml (the
same with a second VIP) to try `hactl config diff/apply`. Stops and cleans up on Ctrl-C, on
SIGTERM, or after --minutes (default 60)."""

import argparse
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests",
                                "integration"))
from netns import Cluster  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo import GROUP  # noqa: E402  (the demo's vip + Dummy group)

LINK = "/tmp/hactl-sandbox"
API = """
  - id: api-ip
    type: vip
    params: {address: 10.213.0.101/24, interface: eth0}
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=60, help="stop after this long")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("sandbox: run as root (network namespaces)")
    if os.path.lexists(LINK):
        if os.path.islink(LINK) and not os.path.exists(LINK):
            os.unlink(LINK)  # left by a sandbox that was killed
        else:
            sys.exit(f"sandbox: {LINK} exists: is another sandbox running?")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with Cluster(resources_yaml=GROUP) as c:
        os.symlink(c.tmp, LINK)
        try:
            text = c.config_text()
            with open(os.path.join(c.tmp, "cluster-v2.yaml"), "w") as f:
                f.write(text.replace("groups:", API.strip("\n") + "\ngroups:"))
            os.chmod(c.tmp, 0o755)
            c.start_all()
            c.wait_until(lambda: c.agreed_coordinator(), 10, 0.1, "a coordinator")
            print(f"sandbox: 3 nodes running; their files are in {LINK}\n"
                  f"  export HACTL_SOCKET={LINK}/n1.sock   # talk to n1\n"
                  "  build/bin/hactl status\n"
                  f"stops in {args.minutes:g} minutes, or on Ctrl-C", flush=True)
            deadline = time.monotonic() + args.minutes * 60
            gone = set()
            while time.monotonic() < deadline:
                time.sleep(1)
                for name in set(c.nodes) - gone:
                    if not c.alive(name):
                        gone.add(name)
                        print(f"sandbox: {name}'s agent exited", flush=True)
        except KeyboardInterrupt:
            pass
        finally:
            os.unlink(LINK)
            print("sandbox: cleaning up", flush=True)


if __name__ == "__main__":
    main()
