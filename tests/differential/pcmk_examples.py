#!/usr/bin/env python3
"""The smallest cluster that shows each category of pcmk_classify.py: both schedulers' outcomes
side by side, for whoever changes the scheduler (once hactl follows a rule, its example places
alike). Written by hand from the random cases that first showed each one.

  python3 tests/differential/pcmk_examples.py [--keep DIR] [NAME...]
"""

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcmk_classify as pc  # noqa: E402
from pcmk_diff import INF, Cluster, check_tools, compare, run_hactl, run_pacemaker  # noqa: E402


def cluster(nodes=2, **prims):
    """Nodes n1..nN, online; primitives name=(agent, stickiness[, threshold])."""
    c = Cluster(0)
    c.nodes = [f"n{i}" for i in range(1, nodes + 1)]
    c.node_state = {n: "online" for n in c.nodes}
    c.attrs = {n: {} for n in c.nodes}
    c.promo = {n: {} for n in c.nodes}
    for pid, spec in prims.items():
        agent, sticky = spec[0], spec[1]
        c.prims[pid] = {"agent": agent, "stickiness": sticky,
                        "threshold": spec[2] if len(spec) > 2 else None}
    return c


def loc(c, rsc, node, score, role=None):
    c.locations.append({"rsc": rsc, "node": node, "rule": None, "score": score, "role": role})


def coloc(c, rsc, with_, score, with_role=None):
    c.colocations.append({"rsc": rsc, "with": with_, "score": score, "with_role": with_role,
                          "rsc_role": None})


def clone(c, cid, child, promotable=False, clone_max=None):
    c.clones[cid] = {"child": child, "clone_max": clone_max, "promotable": promotable,
                     "promoted_max": 1}
    c.units.append(cid)


def negative():
    c = cluster(p1=("Dummy", 0))
    c.units = ["p1"]
    loc(c, "p1", "n1", -100)
    loc(c, "p1", "n2", -200)
    return c


def clone_negative():
    c = cluster(c1x=("Dummy", 200))
    clone(c, "c1", "c1x")
    loc(c, "c1", "n1", -100)
    c.running = {"c1x": {"n1": "started", "n2": "started"}}
    return c


def order():
    c = cluster(p1=("Dummy", 0), p2=("Dummy", 0))
    c.units = ["p1", "p2"]
    c.stopped = ["p1"]
    c.orders = [{"first": "p1", "then": "p2", "kind": "Mandatory", "first_action": "start",
                 "then_action": "start", "symmetrical": True}]
    c.running = {"p2": {"n1": "started"}}
    return c


def tie():
    # With placement-strategy default Pacemaker places resources in configuration order: p2
    # first, on n1 where it runs. p1 runs on n1 too, without stickiness: the two nodes tie for
    # it, and Pacemaker moves it to n2, which has fewer resources; hactl keeps it where it runs.
    c = cluster(p2=("Dummy", 100), p1=("Dummy", 0))
    c.units = ["p2", "p1"]
    loc(c, "p2", "n1", 100)
    c.running = {"p1": {"n1": "started"}, "p2": {"n1": "started"}}
    return c


def dependents():
    # g3 is colocated with g1 at only 100, but its members' stickiness on n2 (1300) is merged
    # into g1's scores and outweighs g1's own stickiness on n1 (400): Pacemaker moves the
    # primary to its dependent.
    c = cluster(g1a=("Dummy", 200), g1b=("Dummy", 200), g3a=("Dummy", 100),
                g3b=("Dummy", 200), g3c=("Dummy", 1000))
    c.groups = {"g1": ["g1a", "g1b"], "g3": ["g3a", "g3b", "g3c"]}
    c.units = ["g1", "g3"]
    coloc(c, "g3", "g1", 100)
    c.running = {"g1a": {"n1": "started"}, "g1b": {"n1": "started"},
                 "g3a": {"n2": "started"}, "g3b": {"n2": "started"}, "g3c": {"n2": "started"}}
    return c


def group_partial():
    c = cluster(g1a=("Dummy", 100), g1b=("Dummy", 100, 1))
    c.groups = {"g1": ["g1a", "g1b"]}
    c.units = ["g1"]
    c.running = {"g1a": {"n1": "started"}, "g1b": {"n1": "started"}}
    c.fail_counts = {"g1b": {"n1": 1, "n2": 1}}
    c.failed_now = {"g1b": ["n1"]}
    return c


def promote_zero():
    c = cluster(m1x=("Stateful", 0))
    clone(c, "m1", "m1x", promotable=True)
    c.running = {"m1x": {"n1": "started", "n2": "started"}}
    c.promo = {"n1": {"master-m1x": 0}, "n2": {}}
    return c


def promote_stickiness():
    c = cluster(m1x=("Stateful", 100))
    clone(c, "m1", "m1x", promotable=True)
    c.running = {"m1x": {"n1": "promoted", "n2": "started"}}
    c.promo = {"n1": {"master-m1x": 5}, "n2": {"master-m1x": 10}}
    return c


def promote_location():
    c = cluster(m1x=("Stateful", 0))
    clone(c, "m1", "m1x", promotable=True)
    loc(c, "m1", "n2", 100)
    c.running = {"m1x": {"n1": "started", "n2": "started"}}
    c.promo = {"n1": {"master-m1x": 10}, "n2": {"master-m1x": 5}}
    return c


def promote_placement():
    c = cluster(m1x=("Stateful", 0))
    clone(c, "m1", "m1x", promotable=True, clone_max=1)
    c.promo = {"n1": {}, "n2": {"master-m1x": 10}}
    return c


EXAMPLES = [
    ("negative", pc.NEGATIVE, negative,
     "p1 scores -100 on n1 and -200 on n2"),
    ("clone-negative", pc.CLONE_NEGATIVE, clone_negative,
     "clone c1 scores -100 on n1, where its instance runs with stickiness 200"),
    ("order", pc.ORDER, order,
     "p1 is disabled; p2 runs on n1 and is ordered after p1 (Mandatory)"),
    ("tie", pc.TIE, tie,
     "p1 runs on n1 without stickiness; p2 runs there too and prefers it"),
    ("dependents", pc.DEPENDENTS, dependents,
     "g3 (stickiness 1300 on n2) is colocated with g1 (400 on n1) at score 100"),
    ("group-partial", pc.GROUP_PARTIAL, group_partial,
     "g1's second member has reached its migration-threshold on both nodes"),
    ("promote-at-0", pc.PROMOTE_ZERO, promote_zero,
     "master-m1x is 0 on n1 and unset on n2"),
    ("promote-stickiness", pc.PROMOTE_STICKINESS, promote_stickiness,
     "m1 promoted on n1 (master 5, stickiness 100); n2 has master 10"),
    ("promote-clone-location", pc.PROMOTE_LOCATION, promote_location,
     "master 10 on n1, 5 on n2; the clone prefers n2 by 100 (any role)"),
    ("promotion-score-places", pc.PROMOTE_PLACEMENT, promote_placement,
     "clone-max 1; master 10 on n2 only; nothing runs yet"),
]


def show(placed):
    if placed is None:
        return "(refused)"
    return "; ".join(f"{p}: " + (", ".join(f"{n} {r}" for n, r in sorted(w)) or "stopped")
                     for p, w in sorted(placed.items()) if w) or "nothing runs"


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--keep", metavar="DIR", help="keep each example's files here")
    ap.add_argument("names", nargs="*", help="examples to run (default: all)")
    args = ap.parse_args(argv)
    missing = check_tools()
    if missing:
        print(f"pcmk_examples: cannot run: {missing}", file=sys.stderr)
        return 77
    work = args.keep or tempfile.mkdtemp(prefix="pcmk-examples-")
    alike = 0
    for name, category, build, what in EXAMPLES:
        if args.names and name not in args.names:
            continue
        c = build()
        d = os.path.join(work, name)
        os.makedirs(d, exist_ok=True)
        ha, err, _ = run_hactl(c, d)
        pcm, _, _, _ = run_pacemaker(c, d, work)
        same = err is None and not compare(c, pcm, ha)
        alike += same
        print(f"{name} ({category}): {what}\n  Pacemaker: {show(pcm)}\n  hactl:     "
              f"{show(ha) if err is None else err}\n  "
              f"{'placed alike' if same else pc.TITLES[category]}\n  files: {d}\n")
    print(f"{alike} of {len(EXAMPLES) if not args.names else len(args.names)} placed alike")
    return 0


if __name__ == "__main__":
    assert INF == pc.INF
    sys.exit(main())
