"""Resource classes through the whole cluster, in network namespaces: Debian's IPaddr2 OCF
agent started, monitored and stopped by hactl (and given up by a cut-off node by itself), and
an exec-class script whose start hangs past its timeout: killed, reported in the cluster's
status with the failure on that node, and run on another node instead.

Run as root: python3 tests/integration/test_agents.py
"""

import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import AddressWatch, ClusterTestCase, run  # noqa: E402

IP2 = "10.213.0.101"
IPADDR2 = f"""
resources:
  - id: ip2
    type: ocf:heartbeat:IPaddr2
    params: {{ip: {IP2}, cidr_netmask: "24", nic: eth0}}
    ops: {{monitor: {{interval: 1s, timeout: 10s}}, stop: {{timeout: 5s}}}}
"""

JOB = """#!/bin/sh
# start hangs on the first node that tries it (the directory is shared by every namespace);
# elsewhere it records that it runs in the node's private /run.
dir="$HACTL_PARAM_dir"
case "$1" in
  start)
    if mkdir "$dir/first" 2>/dev/null; then
      echo $$ > "$dir/hung.pid"
      exec sleep 1000
    fi
    touch /run/hactl/job.running ;;
  stop) rm -f /run/hactl/job.running ;;
  status) [ -f /run/hactl/job.running ] || exit 3 ;;
esac
exit 0
"""


def resources(c, name):
    s = c.status(name)
    return {r["id"]: r for r in s["resources"]} if s and "resources" in s else {}


class IPaddr2Test(ClusterTestCase):
    def holders(self, c):
        return c.holders(IP2)

    def test_ipaddr2_through_the_cluster_and_given_up_when_cut_off(self):
        c = self.cluster(resources_yaml=IPADDR2)
        c.start_all()
        holder = c.wait_until(
            lambda: next((n for n in c.nodes
                          if resources(c, n).get("ip2", {}).get("nodes") == [n] and
                          resources(c, n)["ip2"]["state"] == "started"), None),
            20, 0.1, "IPaddr2 started")
        self.assertEqual(self.holders(c), [holder])
        # The actions hactl does not schedule, run the way it runs the others (OCF environment).
        env = ["env", "-i", "PATH=/usr/sbin:/usr/bin:/sbin:/bin", "OCF_ROOT=/usr/lib/ocf",
               "OCF_RESOURCE_INSTANCE=ip2", f"OCF_RESKEY_ip={IP2}", "OCF_RESKEY_cidr_netmask=24",
               "OCF_RESKEY_nic=eth0"]
        agent = "/usr/lib/ocf/resource.d/heartbeat/IPaddr2"
        meta = c.nodes[holder].exec(*env, agent, "meta-data", check=False)
        self.assertEqual(meta.returncode, 0)
        self.assertIn('<resource-agent name="IPaddr2"', meta.stdout)
        self.assertEqual(c.nodes[holder].exec(*env, agent, "validate-all", check=False).returncode,
                         0)
        r = run("ip", "netns", "exec", c.switch, "arping", "-c", "1", "-w", "2", "-I", "br0", IP2,
                check=False, timeout=10)
        self.assertIn(c.mac(holder), r.stdout.lower())
        # Its monitor runs: the address deleted by hand is a failure, restarted in place.
        c.nodes[holder].exec("ip", "addr", "del", f"{IP2}/24", "dev", "eth0")
        c.wait_until(lambda: resources(c, holder)["ip2"]["fail_count"] == 1, 10, 0.1,
                     "the failure counted")
        c.wait_until(lambda: self.holders(c) == [holder], 10, 0.1, "IPaddr2 restarted")
        # Cut off, the holder's agent stops it by itself when its lease ends (IPaddr2's stop);
        # a survivor starts it once its takeover delay (3 x 300 ms + 5 s stop timeout) is over.
        with AddressWatch(c, IP2) as watch:
            c.link_down(holder)
            c.wait_until(lambda: holder not in self.holders(c), 5, 0.05,
                         "the cut-off holder to stop it")
            others = [n for n in c.nodes if n != holder]
            new = c.wait_until(lambda: next((n for n in others if self.holders(c) == [n]), None),
                               20, 0.1, "IPaddr2 on a survivor")
            # The kernel's add/delete times: the old holder let go before the new one took it.
            self.assertGreater(watch.handover_gap(holder, new), 0)
            self.assertEqual(watch.longest_overlap(), 0)
        log = c.log(holder)
        self.assertIn("resource=ip2 action=stop code=0", log)
        c.link_up(holder)
        time.sleep(2)
        self.assertEqual(self.holders(c), [new])


class HungAgentTest(ClusterTestCase):
    def test_a_hung_start_is_killed_reported_and_run_elsewhere(self):
        c = self.cluster()
        job_dir = os.path.join(c.tmp, "job")
        os.makedirs(job_dir)
        script = os.path.join(c.tmp, "job.sh")
        with open(script, "w") as f:
            f.write(JOB)
        os.chmod(script, 0o755)
        c.resources_yaml = f"""
resources:
  - id: job
    type: exec:{script}
    params: {{dir: {job_dir}}}
    ops: {{monitor: {{interval: 1s}}, start: {{timeout: 1s}}}}
"""
        with open(c.config, "w") as f:
            f.write(c.config_text())
        c.start_all()
        pid_file = os.path.join(job_dir, "hung.pid")
        c.wait_until(lambda: os.path.exists(pid_file), 15, 0.05, "the first start to hang")
        with open(pid_file) as f:
            pid = int(f.read())
        timed_out = "event=action_output resource=job action=start ended=timed_out"
        hung_on = c.wait_until(lambda: next((n for n in c.nodes if timed_out in c.log(n)), None),
                               10, 0.05, "the hung start to time out")

        def elsewhere():
            r = resources(c, hung_on).get("job", {})
            on = r.get("nodes", [])
            return on[0] if len(on) == 1 and on[0] != hung_on and r["state"] == "started" else None

        other = c.wait_until(elsewhere, 20, 0.1, "the job started on another node")
        # The hung start was killed at its timeout (its whole process group).
        self.assertFalse(os.path.exists(f"/proc/{pid}"), "the hung start still runs")
        # Reported in the cluster: every node's status shows the failure on that node.
        for n in c.nodes:
            r = resources(c, n)["job"]
            self.assertGreater(r["fail_counts"].get(hung_on, 0), 0, f"{n}'s view: {r}")
            self.assertEqual(r["nodes"], [other])
        self.assertTrue(os.path.exists(os.path.join(c.nodes[other].run_dir, "hactl",
                                                    "job.running")))


def stateful(promoted_max):
    # A lost master's instance is promoted elsewhere after restart_grace + its stop and demote
    # timeouts (its node demotes, then stops it): short ones keep the crash tests short.
    return f"""
resources:
  - id: db
    type: ocf:heartbeat:Stateful
    params: {{state: /run/hactl/db.state}}
    ops: {{monitor: {{interval: 1s, timeout: 10s}}, stop: {{timeout: 2s}},
          demote: {{timeout: 2s}}}}
clones:
  - id: db-clone
    resource: db
    promotable: true
    promoted_max: {promoted_max}
"""


class PromotableTest(ClusterTestCase):
    """Debian's Stateful agent (ocf:heartbeat:Stateful) as a promotable clone: its state file
    says "master" or "slave" on each node. A crash of a master's node promotes another
    instance; at no sampled moment are more than promoted_max nodes master."""

    def roles(self, c):
        out = {}
        for n, node in c.nodes.items():
            try:
                with open(os.path.join(node.run_dir, "hactl", "db.state")) as f:
                    out[n] = f.read().strip()
            except OSError:
                out[n] = None
        return out

    def masters(self, c, among=None):
        return sorted(n for n, r in self.roles(c).items()
                      if r == "master" and (among is None or n in among))

    def run_crash(self, promoted_max):
        c = self.cluster(resources_yaml=stateful(promoted_max))
        c.start_all()

        def steady(names):
            r = self.roles(c)
            m = [n for n in names if r[n] == "master"]
            ok = len(m) == promoted_max and all(r[n] == "slave" for n in names if n not in m)
            return m if ok else None

        masters = c.wait_until(lambda: steady(list(c.nodes)), 20, 0.1,
                               f"{promoted_max} master(s), the rest slaves")
        # The state file says master as soon as the promote ran; the node's status says so at
        # its next report: wait for that, not a fixed time.
        def status_role():
            s = c.status(masters[0]) or {}
            return next((r["role"] for r in s.get("resources", []) if r["id"] == "db"), None)
        c.wait_until(lambda: status_role() == "promoted", 5, 0.05, "status: db promoted")
        most = []
        stop = threading.Event()

        def sample():
            deadline = time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline:
                most.append(len(self.masters(c)))
                time.sleep(0.005)

        t = threading.Thread(target=sample, daemon=True)
        t.start()
        try:
            victim = masters[0]
            c.kill(victim)
            c.link_down(victim)
            survivors = [n for n in c.nodes if n != victim]
            # The survivors get promoted_max masters again (a slave promoted if needed); the
            # crashed node's guard demotes and stops its instance before that may happen.
            c.wait_until(lambda: len(self.masters(c, survivors)) == min(promoted_max, 2) and
                         self.roles(c)[victim] is None, 20, 0.05,
                         "the survivors promoted, the crashed master given up")
            c.link_up(victim)
            c.start(victim)
            c.wait_until(lambda: steady(list(c.nodes)), 20, 0.1, "the node back as a slave")
        finally:
            stop.set()
            t.join(timeout=10)
        self.assertLessEqual(max(most), promoted_max, "more masters than promoted_max at once")
        self.assertIn("event=guard_stops_resources reason=agent_gone", c.log(victim))

    def test_master_slave_a_crashed_master_is_replaced_never_two(self):
        self.run_crash(1)

    def test_multi_master_two_of_three_a_crashed_master_is_replaced_never_three(self):
        self.run_crash(2)


if __name__ == "__main__":
    netns.main()
