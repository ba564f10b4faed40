"""Clone notifications with real agents in network namespaces (docs/replication.md).

A promotable clone with `notify: true` on three nodes. Its agent, written here into an OCF
provider of the test's own, keeps its role in the node's /run and appends every action and
every notification it is given (type, operation and the node lists) to one log. The log is read
as the coordinator's waves (each waits for every answer), and every run of actions must be told
about as Pacemaker does: pre-OP to every instance active before it (none when nothing is),
post-OP to every one active after it, each naming the run's nodes in the OP list:
  - at the start: the instances start (however the nodes came up), then pre-promote, the
    promote on n1 and post-promote on all three, whose lists say nothing was promoted before;
  - when n1's node crashes: the survivors get pre-promote (promote=n2) before n2 is promoted
    and post-promote after, and the crashed node gets nothing.
Run as root.
"""

import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
from netns import ClusterTestCase  # noqa: E402

PROVIDER = f"hactltest{os.getpid()}"
AGENT_DIR = f"/usr/lib/ocf/resource.d/{PROVIDER}"
AGENT = r"""#!/bin/sh
# A promotable test agent that logs its actions and notifications (test_clone_notify.py).
state=/run/hactl/notifylog.state
node="$OCF_RESKEY_CRM_meta_on_node"
say() { echo "$node $*" >> "$OCF_RESKEY_log"; }
case "$1" in
  meta-data)
    echo '<?xml version="1.0"?><resource-agent name="notifylog" version="1.0">'
    echo '<version>1.1</version><parameters/><actions><action name="notify" timeout="10s"/>'
    echo '</actions></resource-agent>'
    exit 0 ;;
  start) echo started > "$state"; say start; exit 0 ;;
  stop) rm -f "$state"; say stop; exit 0 ;;
  promote) echo promoted > "$state"; say promote; exit 0 ;;
  demote) echo started > "$state"; say demote; exit 0 ;;
  monitor)
    [ -f "$state" ] || exit 7
    [ "$(cat "$state")" = promoted ] && exit 8
    exit 0 ;;
  notify)
    m=OCF_RESKEY_CRM_meta_notify
    say "notify $OCF_RESKEY_CRM_meta_notify_type $OCF_RESKEY_CRM_meta_notify_operation" \
      "start=[$OCF_RESKEY_CRM_meta_notify_start_uname]" \
      "stop=[$OCF_RESKEY_CRM_meta_notify_stop_uname]" \
      "promote=[$OCF_RESKEY_CRM_meta_notify_promote_uname]" \
      "demote=[$OCF_RESKEY_CRM_meta_notify_demote_uname]" \
      "active=[$OCF_RESKEY_CRM_meta_notify_active_uname]" \
      "master=[$OCF_RESKEY_CRM_meta_notify_master_uname]" \
      "available=[$OCF_RESKEY_CRM_meta_notify_available_uname]"
    exit 0 ;;
  validate-all) exit 0 ;;
esac
exit 3
"""


def resources(log):
    return f"""
resources:
  - id: db
    type: ocf:{PROVIDER}:notifylog
    params: {{log: {log}}}
    ops: {{monitor: {{interval: 1s, timeout: 10s}}, stop: {{timeout: 2s}}}}
clones:
  - id: db-clone
    resource: db
    promotable: true
    notify: true
constraints:
  location:
    - {{resource: db-clone, node: n1, score: 100, role: promoted}}
    - {{resource: db-clone, node: n2, score: 50, role: promoted}}
    - {{resource: db-clone, node: n3, score: 10, role: promoted}}
"""


def parse(line):
    """(node, what, fields): what is an action, or ("notify", type, operation)."""
    parts = line.split(" ", 1)
    node, rest = parts[0], parts[1] if len(parts) > 1 else ""
    if not rest.startswith("notify "):
        return node, rest.strip(), {}
    head, _, tail = rest.partition(" start=")
    _n, typ, op = head.split()
    fields = {}
    for item in ("start=" + tail).split("] "):
        key, _, value = item.partition("=[")
        fields[key] = " ".join(value.rstrip("]").split())
    return node, ("notify", typ, op), fields


class CloneNotify(ClusterTestCase):
    def setUp(self):
        os.makedirs(AGENT_DIR, exist_ok=True)
        self.addCleanup(shutil.rmtree, AGENT_DIR, True)
        path = os.path.join(AGENT_DIR, "notifylog")
        with open(path, "w") as f:
            f.write(AGENT)
        os.chmod(path, 0o755)

    def lines(self):
        try:
            with open(self.log) as f:
                return [parse(x.rstrip("\n")) for x in f if x.strip()]
        except OSError:
            return []

    def roles(self, c):
        out = {}
        for n, node in c.nodes.items():
            try:
                with open(os.path.join(node.run_dir, "hactl", "notifylog.state")) as f:
                    out[n] = f.read().strip()
            except OSError:
                out[n] = None
        return out

    def blocks(self, lines):
        """The log as runs of one kind: ("pre"|"post", op) notifications or an action, with
        the nodes in each run and the notifications' fields. Each wave of the coordinator is
        one run: it waits for every answer before the next."""
        out = []
        for node, what, fields in lines:
            kind = (what[1], what[2]) if isinstance(what, tuple) else ("act", what)
            if out and out[-1][0] == kind and node not in out[-1][1]:
                out[-1][1].append(node)
                out[-1][2].append(fields)
            else:
                out.append((kind, [node], [fields]))
        return out

    def check(self, lines, up, active=()):
        """Every action run of the clone is told about as Pacemaker does: pre-OP to every
        instance active before it (none: no pre run), post-OP to every one active after it,
        each naming the run's nodes in the OP list. `up`: the nodes that may be told.
        `active`: the instances active before the first line. Returns the action runs."""
        active = set(active)
        acts = []
        blocks = self.blocks(lines)
        for k, (kind, nodes, _fields) in enumerate(blocks):
            if kind[0] != "act":
                continue
            op = kind[1]
            before = sorted(active & up)
            after = set(active)
            if op == "start":
                after |= set(nodes)
            elif op == "stop":
                after -= set(nodes)
            acts.append((op, sorted(nodes)))
            pre = blocks[k - 1] if k > 0 and blocks[k - 1][0] == ("pre", op) else None
            post = blocks[k + 1] if k + 1 < len(blocks) and blocks[k + 1][0] == ("post", op) \
                else None
            where = f"{op} on {sorted(nodes)} (run {k} of {blocks})"
            if before:
                self.assertIsNotNone(pre, f"no pre-{op} before {where}")
                self.assertEqual(sorted(pre[1]), before, f"pre-{op} recipients, {where}")
            else:
                self.assertIsNone(pre, f"pre-{op} with nothing active, {where}")
            self.assertIsNotNone(post, f"no post-{op} after {where}")
            self.assertEqual(sorted(post[1]), sorted(after & up), f"post-{op} recipients, {where}")
            for told in (pre, post):
                for f in (told[2] if told else []):
                    listed = set(f[op].split())
                    self.assertTrue(set(nodes) <= listed, f"{op} list {f[op]!r}, {where}")
            active = after
        return acts

    def test_notifications_around_start_promote_and_a_failover(self):
        self.log = f"/tmp/hactl-notify-{os.getpid()}.log"
        self.addCleanup(lambda: os.path.exists(self.log) and os.unlink(self.log))
        c = self.cluster(resources_yaml=resources(self.log))
        c.start_all()
        steady = {"n1": "promoted", "n2": "started", "n3": "started"}
        c.wait_until(lambda: self.roles(c) == steady, 30, 0.1,
                     "db promoted on n1, started on the rest")
        everyone = {"n1", "n2", "n3"}

        def all_told():  # the last wave: post notifications to all three
            b = self.blocks(self.lines())
            return b and b[-1][0][0] == "post" and len(b[-1][1]) == 3
        c.wait_until(all_told, 15, 0.1, "the last post notifications, on all three")
        acts = self.check(self.lines(), everyone)
        self.assertIn(("promote", ["n1"]), acts)
        self.assertEqual(sorted(n for op, ns in acts if op == "start" for n in ns),
                         ["n1", "n2", "n3"], acts)
        # The lists say how the clone stood: before the promote, nothing was promoted.
        last_pre = [b for b in self.blocks(self.lines()) if b[0] == ("pre", "promote")][-1]
        for f in last_pre[2]:
            self.assertEqual(f["master"], "", f)
            self.assertIn("n1", f["active"].split(), f)

        # n1's node crashes: the survivors promote n2, told before and after; n1 is not told.
        before = len(self.lines())
        c.kill("n1")
        c.link_down("n1")
        c.wait_until(lambda: self.roles(c)["n2"] == "promoted", 30, 0.1, "db promoted on n2")

        def survivors_told():
            b = self.blocks([x for x in self.lines()[before:] if x[0] != "n1"])
            return b and b[-1][0] == ("post", "promote") and sorted(b[-1][1]) == ["n2", "n3"]
        c.wait_until(survivors_told, 15, 0.1, "post-promote on n2 and n3")
        later = self.lines()[before:]
        self.assertFalse(any(n == "n1" and isinstance(what, tuple) for n, what, _f in later),
                         "the crashed node was notified")
        # The coordinator's waves after the crash, without what n1's own guard did.
        survivors = [x for x in later if x[0] != "n1"]
        self.assertEqual(self.check(survivors, {"n2", "n3"}, {"n2", "n3"})[-1],
                         ("promote", ["n2"]))
        print("\nthe waves, before the crash:")
        for kind, nodes, _f in self.blocks(self.lines()[:before]):
            print(f"  {' '.join(kind)}: {' '.join(sorted(nodes))}")
        print("after it (n1's own guard aside):")
        for kind, nodes, _f in self.blocks(survivors):
            print(f"  {' '.join(kind)}: {' '.join(sorted(nodes))}")


if __name__ == "__main__":
    netns.main()
