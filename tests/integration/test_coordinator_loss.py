"""The coordinator's agent is lost, and the resources elsewhere are not touched.

Three real agents in network namespaces at default timing (heartbeat 100 ms, node_timeout
300 ms). The cluster starts with no resources; once it has agreed on a coordinator C, a
`hactl config apply` places, by location constraints on the nodes known then:

- group `web` (vip 10.213.0.100/24 on eth0, then ocf:heartbeat:Dummy) on H, the first other
  node by name;
- the promoted instance of `db-clone` (ocf:heartbeat:Stateful, promoted_max 1) on P, the
  second other node (the unpromoted instances run on every node);
- `own-ip` (vip 10.213.0.101/24) on C itself.

Then a fault hits C's agent: SIGKILL; SIGSTOP for 3 s then SIGCONT; its link cut and healed;
SIGTERM (a planned stop: the role is handed over first); a restart; `hactl node standby` of C's
node (handed over first too); `hactl coordinator handover` by hand (nothing else may move, own-ip
included, and the new coordinator's first reconcile has no action). From the fault until a
coordinator is agreed again and has settled, and for
3 s after, nothing on H and P may be touched: the kernel (`ip monitor` in every namespace) shows
no delete of the VIP on H and no add anywhere else; Dummy's state file on H never disappears or
changes inode (sampled every 10 ms); Stateful's state file on P keeps saying "master" (and is
never rewritten); no agent log shows a stop/start of web-app, a stop of web-ip, a demote/stop of
db on those nodes, and neither H nor P logs `lease_lapsed`. own-ip, C's own resource, fails over
to a survivor when C crashes or is cut off, and in every case ends up held by exactly one live
node, never by two at once.

Every check's failure names the node, the check and the time relative to the fault.
Run as root: python3 tests/integration/test_coordinator_loss.py
"""

import datetime
import json
import os
import re
import shutil
import signal
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import HACTL, AddressWatch, ClusterTestCase, cannot_run, run  # noqa: E402

VIP = "10.213.0.100"
OWN_VIP = "10.213.0.101"
OBSERVE_AFTER_SETTLED = 3.0  # seconds watched after the new coordinator has settled
STATEFUL = "/usr/lib/ocf/resource.d/heartbeat/Stateful"
DUMMY = "/usr/lib/ocf/resource.d/heartbeat/Dummy"


def resources_yaml(holder, promoted, coordinator):
    return f"""
resources:
  - id: web-ip
    type: vip
    params: {{address: {VIP}/24, interface: eth0}}
    ops: {{monitor: {{interval: 500ms, timeout: 5s}}}}
  - id: web-app
    type: ocf:heartbeat:Dummy
    params: {{state: /run/hactl/web-app.state}}
    ops: {{monitor: {{interval: 1s, timeout: 5s}}, stop: {{timeout: 2s}}}}
  - id: db
    type: ocf:heartbeat:Stateful
    params: {{state: /run/hactl/db.state}}
    ops: {{monitor: {{interval: 1s, timeout: 10s}}, stop: {{timeout: 2s}}}}
  - id: own-ip
    type: vip
    params: {{address: {OWN_VIP}/24, interface: eth0}}
    ops: {{monitor: {{interval: 500ms, timeout: 5s}}}}
groups:
  - id: web
    members: [web-ip, web-app]
clones:
  - id: db-clone
    resource: db
    promotable: true
    promoted_max: 1
constraints:
  location:
    - {{resource: web, node: {holder}, score: 1000}}
    - {{resource: db-clone, node: {promoted}, score: 1000, role: promoted}}
    - {{resource: own-ip, node: {coordinator}, score: 1000}}
"""


class FileSampler:
    """Samples, in a thread, every `period` s, each node's Dummy and Stateful state files (in
    the node's private /run): whether they exist, their inode, their mtime and (Stateful's)
    content. Keeps every sample whose value differs from the previous one, and the longest
    gap between two samples (how fine the watch really was)."""

    def __init__(self, cluster, period=0.01):
        self.c, self.period = cluster, period
        self.changes = []  # (epoch seconds, node, file, value)
        self.last = {}
        self.samples = 0
        self.longest_gap = 0.0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def path(self, node, file):
        return os.path.join(self.c.nodes[node].run_dir, "hactl", file)

    @staticmethod
    def read(path):
        """(inode, mtime_ns, content) or None when the file does not exist."""
        try:
            st = os.stat(path)
            with open(path) as f:
                content = f.read().strip()
            return (st.st_ino, st.st_mtime_ns, content)
        except OSError:
            return None

    def _loop(self):
        deadline = time.monotonic() + 300
        prev = None
        while not self.stop.is_set() and time.monotonic() < deadline:
            now = time.time()
            for n in self.c.nodes:
                for file in ("web-app.state", "db.state"):
                    v = self.read(self.path(n, file))
                    if self.last.get((n, file), "unset") != v:
                        self.last[(n, file)] = v
                        self.changes.append((now, n, file, v))
            self.samples += 1
            if prev is not None:
                self.longest_gap = max(self.longest_gap, now - prev)
            prev = now
            time.sleep(self.period)

    def close(self):
        self.stop.set()
        self.thread.join(timeout=10)

    def history(self, node, file):
        return [(t, v) for t, n, f, v in self.changes if n == node and f == file]


LOG_STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3}) ")
ACTION = re.compile(r"event=(\w+) resource=(\S+) action=(\w+)")
NODE = re.compile(r" node=(\S+)")


def log_time(line):
    """The epoch seconds of an agent log line (local time, ms), or None."""
    m = LOG_STAMP.match(line)
    if not m:
        return None
    return datetime.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S.%f").timestamp()


class CoordinatorLossTest(ClusterTestCase):
    log_lines = 120

    @classmethod
    def setUpClass(cls):
        if os.geteuid() != 0:
            cannot_run("needs root for network namespaces")
        for prog in ("ip", "unshare", "nsenter"):
            if shutil.which(prog) is None:
                cannot_run(f"{prog} not installed")
        for agent in (DUMMY, STATEFUL):
            if not os.access(agent, os.X_OK):
                cannot_run(f"{agent} not installed (resource-agents)")
        if not os.access(netns.AGENT, os.X_OK) or not os.access(HACTL, os.X_OK):
            cannot_run(f"hactl not built in {netns.BIN_DIR}")

    # ------------------------------------------------------------------ setup
    def place(self):
        """A cluster with the group on H, db promoted on P, own-ip on C (the coordinator)."""
        c = self.cluster()
        c.start_all()
        coord = c.wait_until(lambda: c.agreed_coordinator(), 10, 0.05, "a coordinator")
        holder, promoted = sorted(n for n in c.nodes if n != coord)
        text = c.config_text() + resources_yaml(holder, promoted, coord).lstrip("\n")
        path = os.path.join(c.tmp, "placed.yaml")
        with open(path, "w") as f:
            f.write(text)
        r = run(HACTL, "--socket", c.nodes[holder].socket, "config", "apply", path, check=False,
                timeout=30)
        self.assertEqual(r.returncode, 0, f"config apply: {r.stdout}{r.stderr}")
        # A restarted agent reads the same file the cluster now runs.
        with open(c.config, "w") as f:
            f.write(text)
        self.c, self.coord, self.holder, self.promoted = c, coord, holder, promoted
        self.live = [holder, promoted, coord]
        c.wait_until(lambda: self.settled(self.live) == coord, 30, 0.1,
                     f"web on {holder}, db promoted on {promoted}, own-ip on {coord}, "
                     f"coordinated by {coord}")
        self.assertEqual(self.roles(), {holder: "slave", promoted: "master", coord: "slave"})
        print(f"\n  coordinator {coord}, web on {holder}, db promoted on {promoted}",
              file=sys.stderr)
        return c

    def roles(self):
        return {n: (FileSampler.read(os.path.join(node.run_dir, "hactl", "db.state"))
                    or (0, 0, None))[2] for n, node in self.c.nodes.items()}

    def settled(self, live):
        """The coordinator `live` agree on, once it drives resources, waits for nothing, and
        everything runs where it is placed (web on H, db promoted on P, own-ip on one live
        node); else None."""
        c = self.c
        coord = c.agreed_coordinator(live)
        if coord is None:
            return None
        s = c.status(coord)
        if not s or not s["scheduler"]["active"] or s["scheduler"]["waiting_for"]:
            return None
        res = {r["id"]: r for r in s.get("resources", [])}
        if set(res) != {"web-ip", "web-app", "db", "own-ip"}:
            return None
        if any(r["state"] not in ("started", "promoted") for r in res.values()):
            return None
        if any(res[i]["nodes"] != [self.holder] for i in ("web-ip", "web-app")):
            return None
        if res["db"]["role"] != "promoted" or self.roles()[self.promoted] != "master":
            return None
        own = c.holders(OWN_VIP)
        if len(own) != 1 or own[0] not in live or res["own-ip"]["nodes"] != own:
            return None
        if c.holders(VIP) != [self.holder]:
            return None
        return coord

    # ------------------------------------------------------------------ the run
    def run_fault(self, fault, description, own_ip_fails_over, own_ip_stays=False,
                  max_own_gap=None, first_reconcile_actions=None):
        """Places the resources, starts the watches, runs `fault()` (which hits C, may wait on
        conditions, and returns the nodes live and connected once it is over), waits for a
        settled coordinator among them, watches 3 s more and checks everything; every problem
        found is reported in one failure."""
        c = self.place()
        H, P, C = self.holder, self.promoted, self.coord
        app_before = FileSampler.read(os.path.join(c.nodes[H].run_dir, "hactl", "web-app.state"))
        db_before = FileSampler.read(os.path.join(c.nodes[P].run_dir, "hactl", "db.state"))
        self.assertIsNotNone(app_before, f"Dummy's state file on {H} before the fault")
        self.assertEqual(db_before and db_before[2], "master", f"Stateful on {P} before the fault")
        offsets = {n: os.path.getsize(node.log_path) for n, node in c.nodes.items()}
        problems = []
        with AddressWatch(c, VIP) as vip_watch, AddressWatch(c, OWN_VIP) as own_watch:
            self.assertEqual(vip_watch.initial, {H})
            self.assertEqual(own_watch.initial, {C})
            files = FileSampler(c)
            try:
                time.sleep(0.1)  # a few samples before the fault
                self.t0 = time.time()
                self.m0 = time.monotonic()
                try:
                    live = fault()
                    settled_coord = c.wait_until(lambda: self.settled(live), 30, 0.1,
                                                 f"a settled coordinator among {live}")
                    settled_at = time.time() - self.t0
                    end = time.monotonic() + OBSERVE_AFTER_SETTLED
                    while time.monotonic() < end:
                        time.sleep(0.05)
                except AssertionError as e:
                    problems.append(f"{description}: {e}")
                    live, settled_coord, settled_at = None, None, None
            finally:
                files.close()
        print(f"  {description}: settled at "
              f"{self.rel(self.t0 + settled_at) if settled_at else '-'} (coordinator "
              f"{settled_coord}); {files.samples} file samples, longest gap "
              f"{files.longest_gap * 1000:.0f} ms", file=sys.stderr)
        problems += self.vip_problems(vip_watch)
        problems += self.file_problems(files, app_before, db_before)
        problems += self.log_problems(offsets)
        problems += self.own_ip_problems(own_watch, live, own_ip_fails_over, own_ip_stays,
                                         max_own_gap)
        if first_reconcile_actions is not None and settled_coord is not None:
            problems += self.reconcile_problems(settled_coord, first_reconcile_actions)
        if problems:
            self.fail(f"{description} (coordinator {C}, group on {H}, db promoted on {P}; "
                      f"times relative to the fault):\n  - " + "\n  - ".join(problems))

    # ------------------------------------------------------------------ the checks
    def vip_problems(self, watch):
        """The VIP on H: never deleted there, never added anywhere else (the kernel's view)."""
        H, out = self.holder, []
        for t, n, held in sorted(watch.events):
            if n == H and not held:
                out.append(f"{H} (group holder): kernel deleted {VIP} at {self.rel(t)}")
            elif n != H and held:
                out.append(f"{n}: kernel added {VIP} at {self.rel(t)} (holder is {H})")
        if watch.longest_overlap() > 0:
            out.append(f"{VIP} held by two nodes at once for {watch.longest_overlap() * 1000:.1f}"
                       f" ms: {watch.intervals()}")
        return out

    def kept_file(self, files, node, name, before, who, what):
        """A state file that must stay: never gone, never another inode (stopped, restarted)."""
        out = []
        for t, v in files.history(node, name):
            if v is None:
                out.append(f"{node} ({who}): {name} gone at {self.rel(t)} ({what} stopped)")
            elif v[0] != before[0]:
                out.append(f"{node} ({who}): {name} has a new inode at {self.rel(t)} "
                           f"({before[0]} -> {v[0]}: {what} stopped and started)")
        return out

    def file_problems(self, files, app_before, db_before):
        """Dummy on H and the promoted Stateful on P kept; neither appears elsewhere. (An empty
        read of db.state is the agent's `echo ROLE > file` caught between truncate and write; a
        rewrite that still says "master" is a repeated promote, not a demote: reported only.)"""
        H, P = self.holder, self.promoted
        out = self.kept_file(files, H, "web-app.state", app_before, "group holder", "web-app")
        out += self.kept_file(files, P, "db.state", db_before, "db promoted", "db")
        for t, v in files.history(P, "db.state"):
            if v is not None and v[0] == db_before[0] and v[2] not in ("master", ""):
                out.append(f"{P} (db promoted): Stateful's state says {v[2]!r} at {self.rel(t)}"
                           f" (db demoted)")
            elif v is not None and v[2] == "master" and v[1] != db_before[1]:
                print(f"  note: {P}'s Stateful state file rewritten with 'master' at "
                      f"{self.rel(t)} (a promote ran again)", file=sys.stderr)
        for n in self.c.nodes:
            app = [t for t, v in files.history(n, "web-app.state") if v is not None]
            if n != H and app:
                out.append(f"{n}: Dummy's state file appeared at {self.rel(app[0])} (web-app on"
                           f" a second node)")
            masters = [t for t, v in files.history(n, "db.state") if v and v[2] == "master"]
            if n != P and masters:
                out.append(f"{n}: Stateful says master at {self.rel(masters[0])} (a second "
                           f"promoted instance; {P} holds it)")
        return out

    def log_problems(self, offsets):
        """The agents' logs after the fault, read by people as a second witness to the kernel
        and the state files: no action on H's group or P's db, no lapse on H or P."""
        H, P, out = self.holder, self.promoted, []
        for n in self.c.nodes:
            with open(self.c.nodes[n].log_path, errors="replace") as f:
                f.seek(offsets[n])
                text = f.read()
            for line in text.splitlines():
                t = log_time(line)
                when = self.rel(t) if t else "?"
                if "event=lease_lapsed" in line and n in (H, P):
                    what = "group holder" if n == H else "db promoted"
                    out.append(f"{n} ({what}) log at {when}: {self.strip(line)}")
                    continue
                m = ACTION.search(line)
                if not m:
                    continue
                _event, resource, action = m.groups()
                target = NODE.search(line)
                target = target.group(1) if target else n
                if ((target == H and resource == "web-app" and action in ("stop", "start"))
                        or (target == H and resource == "web-ip" and action == "stop")
                        or (target == P and resource == "db" and action in ("demote", "stop"))):
                    out.append(f"{n}'s log at {when}: {self.strip(line)}")
        return out

    def own_ip_problems(self, watch, live, fails_over, stays, max_gap):
        """own-ip, C's own resource: failed over when it had to, never two holders, one live
        holder at the end; left alone when nothing happened to C's node; moved within
        `max_gap` of its delete when the role was handed over first."""
        H, P, C, out = self.holder, self.promoted, self.coord, []
        if fails_over and not any(held and n in (H, P) for _, n, held in watch.events):
            out.append(f"own-ip never added on a survivor ({H}, {P}) after {C} was lost: "
                       f"{sorted(watch.events)}")
        if watch.longest_overlap() > 0:
            out.append(f"{OWN_VIP} held by two nodes at once for "
                       f"{watch.longest_overlap() * 1000:.1f} ms: {watch.intervals()}")
        if live is not None:
            own = self.c.holders(OWN_VIP)
            if len(own) != 1 or own[0] not in live:
                out.append(f"own-ip held by {own} at the end (live: {live})")
        if stays and watch.events:
            out.append(f"own-ip moved although nothing happened to {C}'s node: "
                       f"{sorted(watch.events)}")
        if max_gap is not None:
            new = [n for n in (H, P) if any(held and m == n for _, m, held in watch.events)]
            gap = watch.handover_gap(C, new[0]) if new else None
            print(f"  own-ip: deleted on {C}, added on {new[0] if new else '-'} "
                  f"{gap * 1000 if gap is not None else float('nan'):.1f} ms later (kernel)",
                  file=sys.stderr)
            if gap is None or gap > max_gap:
                out.append(f"own-ip's move from {C}: gap {gap} s, over {max_gap} s (a planned "
                           f"stop hands the role over first, then moves it)")
        return out

    def reconcile_problems(self, coord, actions):
        """A change of coordinator alone: the new one adopts what runs, so its first
        `reconciled` event (from `hactl events --json`, typed) in its term has no action."""
        r = self.c.hactl(coord, "events", "--json", "-n", "1000")
        events = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
        term = (self.c.status(coord) or {}).get("term")
        mine = [e for e in events if e.get("kind") == "reconciled" and
                str(e.get("term")) == str(term)]
        if not mine:
            return [f"{coord} has no reconciled event in term {term}"]
        if str(mine[0].get("actions")) != str(actions):
            return [f"{coord}'s first reconcile in term {term}: {mine[0]}"]
        return []

    def rel(self, t):
        return f"{t - self.t0:+.3f}s"

    @staticmethod
    def strip(line):
        m = LOG_STAMP.match(line)
        return line[m.end():] if m else line

    def survivors_agree(self, what):
        """The new coordinator H and P agree on (not C), waited for."""
        H, P, C = self.holder, self.promoted, self.coord
        return self.c.wait_until(
            lambda: (lambda x: x if x and x != C else None)(self.c.agreed_coordinator([H, P])),
            10, 0.05, f"{H} and {P} to agree on a new coordinator ({what})")

    def hold_until(self, seconds):
        """Keeps a fault in place until `seconds` after it began (its length, not a wait)."""
        end = self.m0 + seconds
        while time.monotonic() < end:
            time.sleep(0.05)

    def own_ip_on_survivor(self):
        H, P = self.holder, self.promoted
        self.c.wait_until(lambda: self.c.holders(OWN_VIP) in ([H], [P]), 15, 0.05,
                          f"own-ip ({OWN_VIP}) on {H} or {P}")

    # ------------------------------------------------------------------ the cases
    def test_sigkill_of_the_coordinators_agent(self):
        def fault():
            self.c.kill(self.coord, signal.SIGKILL)
            self.survivors_agree("after SIGKILL")
            self.own_ip_on_survivor()
            return [self.holder, self.promoted]
        self.run_fault(fault, "SIGKILL of the coordinator's agent", own_ip_fails_over=True)

    def test_sigstop_of_the_coordinators_agent_for_3s(self):
        def fault():
            self.c.kill(self.coord, signal.SIGSTOP)
            try:
                self.survivors_agree("while it is stopped")
                self.hold_until(3.0)
            finally:
                self.c.kill(self.coord, signal.SIGCONT)
            return list(self.c.nodes)
        self.run_fault(fault, "SIGSTOP of the coordinator's agent for 3 s",
                       own_ip_fails_over=False)

    def test_link_cut_of_the_coordinator_then_healed(self):
        def fault():
            self.c.link_down(self.coord)
            try:
                self.survivors_agree("while its link is cut")
                self.own_ip_on_survivor()
                self.hold_until(3.0)
            finally:
                self.c.link_up(self.coord)
            return list(self.c.nodes)
        self.run_fault(fault, "link of the coordinator cut, healed after 3 s",
                       own_ip_fails_over=True)

    def test_sigterm_of_the_coordinators_agent(self):
        # A planned stop: the role is handed over first, so the new coordinator moves own-ip at
        # once (no election gap): the kernel's gap between delete and add stays under 0.28 s,
        # less than any election can take (node_timeout 0.3 s to notice the coordinator gone;
        # the issue reported 0.39 s before the handover; 13.5 ms measured with it). Speed is
        # bench/vip_failover.py's `--faults stop`.
        def fault():
            self.c.kill(self.coord, signal.SIGTERM)  # waits for it to exit
            self.survivors_agree("after SIGTERM")
            return [self.holder, self.promoted]
        self.run_fault(fault, "SIGTERM of the coordinator's agent", own_ip_fails_over=True,
                       max_own_gap=0.28)

    def test_standby_of_the_coordinators_node(self):
        # `hactl node standby` of the coordinator's own node: it hands the role over first, then
        # the new coordinator moves own-ip off it; nothing else moves.
        def fault():
            r = self.c.hactl(self.holder, "node", "standby", self.coord)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.survivors_agree("after the standby")
            self.own_ip_on_survivor()
            return list(self.c.nodes)
        self.run_fault(fault, "node standby of the coordinator's node", own_ip_fails_over=True,
                       max_own_gap=0.28)

    def test_handover_by_hand(self):
        # `hactl coordinator handover`, run on another node (it asks the coordinator): the role
        # moves and nothing else does, own-ip included.
        def fault():
            r = self.c.hactl(self.holder, "coordinator", "handover", self.promoted)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.assertIn(f"-> {self.promoted}", r.stdout)
            self.survivors_agree("after the handover")
            return list(self.c.nodes)
        self.run_fault(fault, "hactl coordinator handover", own_ip_fails_over=False,
                       own_ip_stays=True, first_reconcile_actions=0)

    def test_restart_of_the_coordinators_agent(self):
        def fault():
            self.c.restart(self.coord)  # SIGKILL, then a new agent at once
            return list(self.c.nodes)
        self.run_fault(fault, "restart (SIGKILL + start) of the coordinator's agent",
                       own_ip_fails_over=False)


if __name__ == "__main__":
    netns.main()
