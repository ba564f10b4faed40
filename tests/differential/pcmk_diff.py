#!/usr/bin/env python3
"""Differential test of hactl's scheduler against Pacemaker's (issue 23, item 2).

Generates seeded random clusters (nodes, primitives, groups, clones, promotable clones,
constraints, failures, a current placement), writes each one twice, as a Pacemaker CIB built
offline with Pacemaker's own tools and as a hactl configuration plus state file
(docs/scheduler.md, "State files"), runs `crm_simulate -S` and `hactl simulate --json`, and
compares where every primitive ends up and in which role (a clone: the set of (node, role) of
its instances). Each difference is put in a category (pcmk_classify.py); the files of every
case that differs are kept, with both outputs and the commands that replay them.

  python3 tests/differential/pcmk_diff.py --count 200 --seed 1
  python3 tests/differential/pcmk_diff.py --count 200 --seed 1 --features all
  python3 tests/differential/pcmk_diff.py --only 17 --features all     # one case, both outputs

Case seeds are SEED, SEED+1, ...; a case is generated from its own seed and the feature set
alone, so `--only N` with the same --features replays it. Features (--features, comma
separated: a set name or a feature, `-feature` to take one away): see FEATURES below; the
default set is what hactl accepts today, `all` adds what it does not (yet).

Needs Pacemaker's command line tools (Debian's pacemaker-cli-utils: crm_simulate, cibadmin,
crm_attribute, crm_resource; PCMK_BIN_DIR, default /usr/sbin, so that hactl's own
crm_* for resource agents are never picked up from PATH) and the hactl binary
(HACTL_BIN_DIR, default build/bin). No root, no network.
"""

import argparse
import collections
import concurrent.futures
import copy
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import traceback
import xml.etree.ElementTree as ET

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pcmk_classify  # noqa: E402

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN_DIR = os.environ.get("HACTL_BIN_DIR", os.path.join(REPO, "build", "bin"))
HACTL = os.path.join(BIN_DIR, "hactl")
PCMK_BIN_DIR = os.environ.get("PCMK_BIN_DIR", "/usr/sbin")
INF = 1000000
TIMEOUT = 60  # seconds for any one command

# name: (hactl accepts it today, what it adds to a cluster)
FEATURES = {
    "locations": (True, "location constraints on a node, scores incl. +-INFINITY"),
    "current": (True, "resources already running (and promoted) somewhere"),
    "standby": (True, "nodes in standby"),
    "offline": (True, "offline nodes (down cleanly; what ran there is stopped)"),
    "groups": (True, "groups of 2-4 primitives"),
    "clones": (True, "clones of a primitive or a group, clone-max sometimes"),
    "promotable": (True, "promotable clones of Stateful, promoted-max 1 or 2, master-CHILD"),
    "rules": (True, "location rules on #uname and on node attributes"),
    "role-locations": (True, "location constraints (and rules) for the Promoted role"),
    "colocations": (True, "colocations: scores, with-rsc-role Promoted/Unpromoted"),
    "orders": (True, "orders: Mandatory, symmetrical or not, start/promote"),
    "failures": (True, "migration-threshold, fail counts, failed monitors"),
    "stopped": (True, "target-role Stopped on top-level resources"),
    "sets": (False, "resource sets in colocations and orders"),
    "rsc-role": (False, "colocation rsc-role (the dependent's role)"),
    "member-constraints": (False, "constraints and target-role on group members"),
    "promotable-groups": (False, "promotable clones of groups"),
    "order-kinds": (False, "order kinds Optional and Serialize"),
    "clone-max-0": (False, "clone-max 0"),
    "colocation-cycles": (False, "colocation cycles (two-way colocations)"),
}
SUPPORTED = [f for f, (ok, _) in FEATURES.items() if ok]
FEATURE_SETS = {
    "basic": ["locations", "current", "standby", "offline"],
    "default": SUPPORTED,
    "all": list(FEATURES),
}


def parse_features(text):
    """'default,-failures,+sets' -> the set of feature names."""
    chosen = set()
    for item in (x.strip() for x in text.split(",") if x.strip()):
        sign, name = ("-", item[1:]) if item[0] == "-" else ("+", item.lstrip("+"))
        names = FEATURE_SETS.get(name, [name])
        for n in names:
            if n not in FEATURES:
                raise SystemExit(f"unknown feature '{n}'; features: {', '.join(FEATURES)}; "
                                 f"sets: {', '.join(FEATURE_SETS)}")
        chosen = chosen - set(names) if sign == "-" else chosen | set(names)
    return chosen


def features_arg(features):
    """The shortest --features text that names this set (for the replay commands)."""
    for name, members in FEATURE_SETS.items():
        if set(members) == features:
            return name
    extra = sorted(features - set(SUPPORTED))
    missing = sorted(set(SUPPORTED) - features)
    if len(extra) + len(missing) < len(features):
        return ",".join(["default"] + [f"+{f}" for f in extra] + [f"-{f}" for f in missing])
    return ",".join(sorted(features))


# ---------------------------------------------------------------------------------------------
# The cluster model: plain data, rendered for both sides below.

class Cluster:
    def __init__(self, seed):
        self.seed = seed
        self.nodes = []          # names, in configuration order (hactl's #id, Pacemaker's id)
        self.node_state = {}     # name -> online | standby | offline
        self.attrs = {}          # node -> {attribute: value} (permanent node attributes)
        self.promo = {}          # node -> {master-CHILD: score} (transient, as crm_master sets)
        self.prims = {}          # id -> {agent, stickiness, threshold}
        self.groups = {}         # id -> [member ids]
        self.clones = {}         # id -> {child, clone_max, promotable, promoted_max}
        self.units = []          # top-level ids, in the order generated
        self.stopped = []        # ids with target-role Stopped
        self.locations = []      # {rsc, node | rule, score, role}
        self.colocations = []    # {rsc, with, score, with_role, rsc_role}
        self.orders = []         # {first, then, first_action, then_action, kind, symmetrical}
        self.coloc_sets = []     # {score, sets: [{resources, sequential, role}]}
        self.order_sets = []     # {kind, symmetrical, sets: [{resources, sequential, action}]}
        self.running = {}        # primitive -> {node: started | promoted}
        self.fail_counts = {}    # primitive -> {node: count}
        self.failed_now = {}     # primitive -> [nodes] (last monitor failed, running there)
        self.used = set()        # features this cluster actually uses

    def primitives_of(self, rid):
        if rid in self.groups:
            return list(self.groups[rid])
        if rid in self.clones:
            return self.primitives_of(self.clones[rid]["child"])
        return [rid]

    def promotable(self, rid):
        return rid in self.clones and self.clones[rid]["promotable"]

    def clone_of(self, prim):
        for cid, c in self.clones.items():
            if prim in self.primitives_of(cid):
                return cid
        return None

    def top_of(self, rid):
        """The top-level unit holding a primitive or group."""
        for cid, c in self.clones.items():
            if rid == c["child"] or rid in self.primitives_of(cid):
                return cid
        for gid, members in self.groups.items():
            if rid in members:
                return gid
        return rid


SCORES = [-INF, -1000, -100, -10, 0, 10, 50, 100, 200, 1000, INF]
COLOC_SCORES = [INF, INF, -INF, 100, 500, -100, -500, 50]
STICKINESS = [0, 0, 1, 50, 100, 100, 200, 1000]


class Generator:
    """One seeded cluster with the features asked for. Every choice comes from the case's own
    random.Random, so a case is the same for the same seed and feature set."""

    def __init__(self, seed, features):
        self.rng = random.Random(seed)
        self.f = features
        self.c = Cluster(seed)

    def on(self, feature, p=1.0):
        """Whether to use `feature` here (asked for, and the dice say yes); records it."""
        if feature in self.f and self.rng.random() < p:
            self.c.used.add(feature)
            return True
        return False

    def generate(self):
        self.nodes()
        self.resources()
        self.constraints()
        if self.on("stopped", 0.35):
            self.c.stopped.append(self.rng.choice(self.c.units))
        self.current()
        self.promotion_scores()
        if "failures" in self.f:
            self.failures()
        return self.c

    # -- nodes ---------------------------------------------------------------------------------
    def nodes(self):
        r, c = self.rng, self.c
        names = [f"n{i}" for i in range(1, r.randint(2, 5) + 1)]
        if r.random() < 0.3:
            r.shuffle(names)  # configuration order != name order
        c.nodes = names
        for n in names:
            c.node_state[n] = "online"
            c.attrs[n] = {}
            c.promo[n] = {}
            if r.random() < 0.7:
                c.attrs[n]["site"] = r.choice(["east", "west"])
            if r.random() < 0.7:
                c.attrs[n]["weight"] = str(r.randint(0, 10))
            if r.random() < 0.4:
                c.attrs[n]["ssd"] = "yes"
        others = names[:]
        r.shuffle(others)
        for n in others[:-1]:  # at least one node stays online
            if self.on("standby", 0.15):
                c.node_state[n] = "standby"
            elif self.on("offline", 0.15):
                c.node_state[n] = "offline"

    # -- resources -----------------------------------------------------------------------------
    def resources(self):
        r = self.rng
        kinds = ["primitive"]
        for feature, kind in (("groups", "group"), ("clones", "clone"),
                              ("promotable", "promotable")):
            if feature in self.f:
                kinds.append(kind)
        for i in range(1, r.randint(1, 5) + 1):
            kind = r.choice(kinds)
            if kind == "primitive":
                self.primitive(f"p{i}")
                self.c.units.append(f"p{i}")
            elif kind == "group" and self.on("groups"):
                self.group(f"g{i}")
                self.c.units.append(f"g{i}")
            elif kind == "clone" and self.on("clones"):
                self.clone(f"c{i}")
            elif self.on("promotable"):
                self.promotable_clone(f"m{i}")

    def primitive(self, pid, agent="Dummy"):
        self.c.prims[pid] = {"agent": agent, "stickiness": self.rng.choice(STICKINESS),
                             "threshold": None}
        return pid

    def group(self, gid, agent="Dummy"):
        n = self.rng.randint(2, 4)
        self.c.groups[gid] = [self.primitive(f"{gid}{chr(ord('a') + k)}", agent)
                              for k in range(n)]

    def clone(self, cid):
        r, c = self.rng, self.c
        if r.random() < 0.25:
            self.group(f"{cid}g")
            child = f"{cid}g"
        else:
            child = self.primitive(f"{cid}x")
        clone_max = None
        if r.random() < 0.4:
            clone_max = r.randint(1, max(1, len(c.nodes) - 1))
        if self.on("clone-max-0", 0.3):
            clone_max = 0
        c.clones[cid] = {"child": child, "clone_max": clone_max, "promotable": False,
                         "promoted_max": 1}
        c.units.append(cid)

    def promotable_clone(self, mid):
        r, c = self.rng, self.c
        if self.on("promotable-groups", 0.3):
            self.group(f"{mid}g", "Stateful")
            child = f"{mid}g"
        else:
            child = self.primitive(f"{mid}x", "Stateful")
        clone_max = r.randint(2, len(c.nodes)) if r.random() < 0.3 else None
        promoted_max = 2 if r.random() < 0.3 else 1
        if clone_max is not None:
            promoted_max = min(promoted_max, clone_max)
        c.clones[mid] = {"child": child, "clone_max": clone_max, "promotable": True,
                         "promoted_max": promoted_max}
        c.units.append(mid)

    # -- constraints ---------------------------------------------------------------------------
    def constraints(self):
        for rid in list(self.c.units):
            for _ in range(self.rng.choice([0, 0, 1, 1, 2])):
                self.location(rid)
        if self.c.groups and self.on("member-constraints", 0.5):
            self.member_constraint()
        self.colocations()
        self.orders()
        if len(self.c.units) >= 2 and self.on("sets", 0.6):
            self.sets()

    def location(self, rid):
        r, c = self.rng, self.c
        role = None
        if c.promotable(rid) and self.on("role-locations", 0.5):
            role = "Promoted"
        if self.on("rules", 0.4):
            c.locations.append({"rsc": rid, "node": None, "rule": self.rule(),
                                "score": r.choice(SCORES), "role": role})
        elif self.on("locations") or role:
            c.locations.append({"rsc": rid, "node": r.choice(c.nodes), "rule": None,
                                "score": r.choice(SCORES), "role": role})

    def rule(self):
        """(boolean-op, [(attribute, op, type, value)]): one or two expressions."""
        r = self.rng
        exprs = []
        for _ in range(r.choice([1, 1, 2])):
            kind = r.choice(["uname", "site", "weight", "ssd"])
            if kind == "uname":
                exprs.append(("#uname", r.choice(["eq", "ne"]), None, r.choice(self.c.nodes)))
            elif kind == "site":
                exprs.append(("site", r.choice(["eq", "ne"]), None, r.choice(["east", "west"])))
            elif kind == "weight":
                exprs.append(("weight", r.choice(["gt", "lt", "gte", "lte"]),
                              r.choice(["integer", None]), str(r.randint(0, 10))))
            else:
                exprs.append(("ssd", r.choice(["defined", "not_defined"]), None, None))
        return (r.choice(["and", "or"]), exprs)

    def member_constraint(self):
        r, c = self.rng, self.c
        gid = r.choice(sorted(c.groups))
        member = r.choice(c.groups[gid])
        other = [u for u in c.units if u != gid]
        what = r.choice(["location", "stopped", "colocation"] if other else ["location", "stopped"])
        if what == "location":
            c.locations.append({"rsc": member, "node": r.choice(c.nodes), "rule": None,
                                "score": r.choice(SCORES), "role": None})
        elif what == "stopped":
            c.stopped.append(member)
        else:
            c.colocations.append({"rsc": member, "with": r.choice(other),
                                  "score": r.choice(COLOC_SCORES), "with_role": None,
                                  "rsc_role": None})

    def colocations(self):
        """Pairs (dependent, primary) with the primary earlier in a random order of the units
        (no cycle), unless colocation-cycles adds the reverse of one."""
        r, c = self.rng, self.c
        if len(c.units) < 2 or not self.on("colocations", 0.8):
            return
        order = c.units[:]
        r.shuffle(order)
        for _ in range(r.randint(1, len(order))):
            i, j = sorted(r.sample(range(len(order)), 2))
            primary, dependent = order[i], order[j]
            con = {"rsc": dependent, "with": primary, "score": r.choice(COLOC_SCORES),
                   "with_role": None, "rsc_role": None}
            if c.promotable(primary) and r.random() < 0.6:
                con["with_role"] = r.choice(["Promoted", "Promoted", "Unpromoted"])
            if any(x["rsc"] == dependent and x["with"] == primary for x in c.colocations):
                continue
            if c.promotable(dependent) and self.on("rsc-role", 0.5):
                con["rsc_role"] = r.choice(["Promoted", "Unpromoted"])
            c.colocations.append(con)
        if c.colocations and self.on("colocation-cycles", 0.5):
            back = r.choice(c.colocations)
            c.colocations.append({"rsc": back["with"], "with": back["rsc"],
                                  "score": r.choice(COLOC_SCORES), "with_role": None,
                                  "rsc_role": None})

    def orders(self):
        r, c = self.rng, self.c
        if len(c.units) < 2 or not self.on("orders", 0.6):
            return
        order = c.units[:]
        r.shuffle(order)
        seen = set()
        for _ in range(r.randint(1, len(order))):
            i, j = sorted(r.sample(range(len(order)), 2))
            first, then = order[i], order[j]
            if (first, then) in seen:
                continue
            seen.add((first, then))
            kind = "Mandatory"
            if self.on("order-kinds", 0.4):
                kind = r.choice(["Optional", "Serialize"])
            c.orders.append({
                "first": first, "then": then, "kind": kind,
                "first_action": "promote" if c.promotable(first) and r.random() < 0.5
                else "start",
                "then_action": "start", "symmetrical": r.random() < 0.7})

    def sets(self):
        r, c = self.rng, self.c
        pool = c.units[:]
        r.shuffle(pool)
        k = r.randint(2, min(4, len(pool)))
        chosen = pool[:k]
        split = r.randint(1, k - 1) if r.random() < 0.5 else k
        groups_ = [chosen[:split], chosen[split:]] if split < k else [chosen]
        if r.random() < 0.5:
            c.coloc_sets.append({"score": r.choice([INF, INF, 100, -INF]), "sets": [
                {"resources": g, "sequential": r.random() < 0.7, "role": None}
                for g in groups_]})
        else:
            c.order_sets.append({"kind": "Mandatory", "symmetrical": r.random() < 0.7, "sets": [
                {"resources": g, "sequential": r.random() < 0.7, "action": "start"}
                for g in groups_]})

    # -- status --------------------------------------------------------------------------------
    def current(self):
        r, c = self.rng, self.c
        if not self.on("current"):
            return
        up = [n for n in c.nodes if c.node_state[n] != "offline" or r.random() < 0.5]
        for rid in c.units:
            if r.random() < 0.35 or not up:
                continue
            if rid in c.clones:
                self.current_clone(rid, up)
                continue
            node = r.choice(up)
            members = c.primitives_of(rid)
            for m in members[:r.randint(1, len(members)) if r.random() < 0.2 else len(members)]:
                c.running[m] = {node: "started"}

    def current_clone(self, cid, up):
        r, c = self.rng, self.c
        clone = c.clones[cid]
        most = clone["clone_max"] if clone["clone_max"] is not None else len(c.nodes)
        if most == 0:
            return  # no instance to run (and none for --op-inject to name)
        nodes = r.sample(up, r.randint(1, max(1, min(len(up), most))))
        promoted = []
        if clone["promotable"]:
            promoted = r.sample(nodes, min(len(nodes), r.choice([0, 1, 1, clone["promoted_max"]])))
        for n in nodes:
            for m in c.primitives_of(cid):
                c.running.setdefault(m, {})[n] = "promoted" if n in promoted else "started"

    def promotion_scores(self):
        """master-CHILD on some nodes, as the agent would set it (0 included: Pacemaker promotes
        at 0, a missing score counts -1)."""
        r, c = self.rng, self.c
        for cid, clone in c.clones.items():
            if not clone["promotable"]:
                continue
            for prim in c.primitives_of(cid):
                for n in c.nodes:
                    if r.random() < 0.75:
                        c.promo[n][f"master-{prim}"] = r.choice([-10, 0, 1, 5, 10, 10, 50, 100])

    def failures(self):
        r, c = self.rng, self.c
        for prim in c.prims:
            cid = c.clone_of(prim)
            if cid and c.clones[cid]["clone_max"] == 0 or not self.on("failures", 0.3):
                continue
            c.prims[prim]["threshold"] = r.choice([1, 2, 3, 5])
            reachable = [n for n in c.nodes if c.node_state[n] != "offline"]
            for n in r.sample(reachable, min(len(reachable), r.randint(1, 2))):
                c.fail_counts.setdefault(prim, {})[n] = r.randint(1, 3)
                if n in c.running.get(prim, {}) and r.random() < 0.5:
                    c.failed_now.setdefault(prim, []).append(n)


def generate(seed, features):
    return Generator(seed, features).generate()


# ---------------------------------------------------------------------------------------------
# hactl: configuration and state file (YAML written by hand: flow maps of plain words).

def hactl_score(s):
    return "inf" if s >= INF else "-inf" if s <= -INF else str(s)


def hactl_rule(rule):
    op, exprs = rule
    words = []
    for attr, cmp, typ, value in exprs:
        if cmp in ("defined", "not_defined"):
            words.append(f"{cmp} {attr}")
        else:
            words.append(" ".join(x for x in (attr, cmp, typ, value) if x))
    return f" {op} ".join(words)


def flow(d):
    """{k: v} -> '{k: v, ...}' (values already rendered)."""
    return "{" + ", ".join(f"{k}: {v}" for k, v in d.items()) + "}"


def hactl_config(c):
    lines = ["cluster:", "  name: diff", "  auth_key_file: /etc/hactl/authkey",
             "  no_quorum_policy: stop", "nodes:"]
    for i, n in enumerate(c.nodes):
        lines.append(f"  - {{name: {n}, address: \"10.213.0.{11 + i}:5405\"}}")
    lines.append("resources:")
    for pid, p in c.prims.items():
        meta = {"stickiness": hactl_score(p["stickiness"])}
        if p["threshold"] is not None:
            meta["migration_threshold"] = p["threshold"]
        lines += [f"  - id: {pid}", f"    type: ocf:pacemaker:{p['agent']}",
                  f"    meta: {flow(meta)}"]
    if c.groups:
        lines.append("groups:")
        for gid, members in c.groups.items():
            lines.append(f"  - {{id: {gid}, members: [{', '.join(members)}]}}")
    if c.clones:
        lines.append("clones:")
        for cid, cl in c.clones.items():
            d = {"id": cid, "resource": cl["child"]}
            if cl["clone_max"] is not None:
                d["clone_max"] = cl["clone_max"]
            if cl["promotable"]:
                d["promotable"] = "true"
                d["promoted_max"] = cl["promoted_max"]
            lines.append(f"  - {flow(d)}")
    lines += hactl_constraints(c)
    return "\n".join(lines) + "\n"


def hactl_constraints(c):
    loc, col, order = [], [], []
    for rid in c.stopped:  # target-role Stopped: hactl has no such meta; -inf on every node
        for n in c.nodes:
            loc.append(flow({"resource": rid, "node": n, "score": "-inf"}))
    for x in c.locations:
        d = {"resource": x["rsc"]}
        if x["rule"]:
            d["rule"] = json.dumps(hactl_rule(x["rule"]))
        else:
            d["node"] = x["node"]
        d["score"] = hactl_score(x["score"])
        if x["role"]:
            d["role"] = x["role"].lower()
        loc.append(flow(d))
    for x in c.colocations:
        d = {"resource": x["rsc"], "with": x["with"], "score": hactl_score(x["score"])}
        if x["with_role"]:
            d["with_role"] = x["with_role"].lower()
        if x["rsc_role"]:  # not in hactl yet: the dependent's role
            d["role"] = x["rsc_role"].lower()
        col.append(flow(d))
    for s in c.coloc_sets:  # not in hactl yet: resource sets
        col.append(flow({"sets": "[" + ", ".join(hactl_set(x, "role") for x in s["sets"]) + "]",
                         "score": hactl_score(s["score"])}))
    for o in c.orders:
        d = {"first": o["first"]}
        if o["first_action"] != "start":
            d["first_action"] = o["first_action"]
        d["then"] = o["then"]
        if not o["symmetrical"]:
            d["symmetrical"] = "false"
        if o["kind"] != "Mandatory":  # not in hactl yet
            d["kind"] = o["kind"].lower()
        order.append(flow(d))
    for s in c.order_sets:
        order.append(flow({"sets": "[" + ", ".join(hactl_set(x, "action") for x in s["sets"])
                           + "]", "symmetrical": str(s["symmetrical"]).lower()}))
    out = []
    for name, items in (("location", loc), ("colocation", col), ("order", order)):
        if items:
            out.append(f"  {name}:")
            out += [f"    - {i}" for i in items]
    return ["constraints:"] + out if out else []


def hactl_set(s, key):
    d = {"resources": "[" + ", ".join(s["resources"]) + "]",
         "sequential": str(s["sequential"]).lower()}
    if s.get(key) and s[key] != "start":
        d[key] = s[key].lower()
    return flow(d)


def hactl_state(c):
    lines = []
    states = {n: s for n, s in c.node_state.items() if s != "online"}
    if states:
        lines.append(f"nodes: {flow(states)}")
    promotable_prims = {p for cid, cl in c.clones.items() if cl["promotable"]
                        for p in c.primitives_of(cid)}
    if c.running:
        lines.append("resources:")
        for prim, where in c.running.items():
            roles = {n: ("unpromoted" if r == "started" and prim in promotable_prims else r)
                     for n, r in where.items()}
            lines.append(f"  {prim}: {flow(roles)}")
    if c.failed_now:
        lines.append("failed:")
        lines += [f"  {p}: [{', '.join(ns)}]" for p, ns in c.failed_now.items()]
    if c.fail_counts:
        lines.append("failures:")
        lines += [f"  {p}: {flow(counts)}" for p, counts in c.fail_counts.items()]
    attrs = {n: {**c.attrs[n], **c.promo[n]} for n in c.nodes if c.attrs[n] or c.promo[n]}
    if attrs:
        lines.append("attributes:")
        lines += [f"  {n}: {flow(a)}" for n, a in attrs.items()]
    return "\n".join(lines) + "\n"


ROUNDS = 5  # transitions each scheduler may take to settle


def hactl_simulate(d, state):
    """hactl simulate on config.yaml and `state`: (placement, error)."""
    r = subprocess.run([HACTL, "simulate", "--config", "config.yaml", "--state", state,
                        "--json"], cwd=d, capture_output=True, text=True, timeout=TIMEOUT,
                       stdin=subprocess.DEVNULL,
                       env=dict(os.environ, HACTL_SOCKET="/nonexistent/pcmk-diff.sock"))
    with open(os.path.join(d, state.replace(".yaml", ".json").replace("state", "hactl")),
              "w") as f:
        f.write(r.stdout)
    if r.returncode != 0:
        return None, (r.stderr.strip() or f"exit {r.returncode}")
    placed = collections.defaultdict(set)
    for p in json.loads(r.stdout)["placement"]:
        placed[p["resource"]].add((p["node"], "promoted" if p["role"] == "promoted"
                                   else "started"))
    return placed, None


def run_hactl(c, d):
    """Writes config.yaml and state.yaml in d and runs hactl simulate --json, then again on
    the state its placement leaves (state-2.yaml, ...: what runs where, failures recovered)
    until nothing changes, at most ROUNDS times: (placement, error, rounds)."""
    with open(os.path.join(d, "config.yaml"), "w") as f:
        f.write(hactl_config(c))
    with open(os.path.join(d, "state.yaml"), "w") as f:
        f.write(hactl_state(c))
    placed, err = hactl_simulate(d, "state.yaml")
    for k in range(2, ROUNDS + 1):
        if err is not None:
            return None, err, k - 1
        after = copy.copy(c)
        after.failed_now = {}
        after.running = {p: {n: r for n, r in sorted(where)} for p, where in placed.items()}
        if after.running == {p: w for p, w in c.running.items() if w}:
            return placed, None, k - 1
        with open(os.path.join(d, f"state-{k}.yaml"), "w") as f:
            f.write(hactl_state(after))
        again, err = hactl_simulate(d, f"state-{k}.yaml")
        if again == placed:
            return placed, err, k - 1
        placed, c = again, after
    return placed, err, ROUNDS


# ---------------------------------------------------------------------------------------------
# Pacemaker: a CIB built with cibadmin, crm_attribute, crm_resource and crm_simulate.

class PcmkError(Exception):
    pass


def pcmk(d, tool, *args, cib="cib.xml", stdout=None):
    env = dict(os.environ, CIB_file=os.path.join(d, cib), LC_ALL="C")
    r = subprocess.run([os.path.join(PCMK_BIN_DIR, tool)] + list(args), cwd=d, env=env,
                       capture_output=True, text=True, timeout=TIMEOUT,
                       stdin=subprocess.DEVNULL)
    if stdout:
        with open(os.path.join(d, stdout), "w") as f:
            f.write(r.stdout)
    if r.returncode != 0:
        raise PcmkError(f"{tool} {' '.join(args)[:300]}: exit {r.returncode}: "
                        f"{r.stderr.strip()[-600:]}")
    return r.stdout


def pcmk_score(s):
    return "INFINITY" if s >= INF else "-INFINITY" if s <= -INF else str(s)


class Ids:
    def __init__(self):
        self.n = collections.Counter()

    def __call__(self, base):
        self.n[base] += 1
        return f"{base}-{self.n[base]}"


def meta(parent, ids, owner, **values):
    m = ET.SubElement(parent, "meta_attributes", id=ids(f"{owner}-meta"))
    for k, v in values.items():
        ET.SubElement(m, "nvpair", id=ids(f"{owner}-{k}"), name=k.replace("_", "-"), value=v)


def xml_primitive(parent, ids, c, pid):
    p = c.prims[pid]
    e = ET.SubElement(parent, "primitive", id=pid, **{"class": "ocf"}, provider="pacemaker",
                      type=p["agent"])
    values = {"resource_stickiness": pcmk_score(p["stickiness"])}
    if p["threshold"] is not None:
        values["migration_threshold"] = str(p["threshold"])
    meta(e, ids, pid, **values)
    ops = ET.SubElement(e, "operations")
    if p["agent"] == "Stateful":
        ET.SubElement(ops, "op", id=f"{pid}-mon-u", name="monitor", interval="10s",
                      timeout="20s", role="Unpromoted")
        ET.SubElement(ops, "op", id=f"{pid}-mon-p", name="monitor", interval="11s",
                      timeout="20s", role="Promoted")
    else:
        ET.SubElement(ops, "op", id=f"{pid}-mon", name="monitor", interval="10s",
                      timeout="20s")


def xml_resource(parent, ids, c, rid):
    if rid in c.groups:
        g = ET.SubElement(parent, "group", id=rid)
        for m in c.groups[rid]:
            xml_primitive(g, ids, c, m)
    elif rid in c.clones:
        cl = c.clones[rid]
        e = ET.SubElement(parent, "clone", id=rid)
        values = {}
        if cl["promotable"]:
            values["promotable"] = "true"
            values["promoted_max"] = str(cl["promoted_max"])
        if cl["clone_max"] is not None:
            values["clone_max"] = str(cl["clone_max"])
        # A clone's own stickiness (Pacemaker's default for clones is 1): the child's.
        values["resource_stickiness"] = pcmk_score(c.prims[c.primitives_of(rid)[0]]["stickiness"])
        meta(e, ids, rid, **values)
        xml_resource(e, ids, c, cl["child"])
    else:
        xml_primitive(parent, ids, c, rid)


def xml_rule(parent, ids, rule, score, role):
    op, exprs = rule
    attrs = {"id": ids("rule"), "score": pcmk_score(score), "boolean-op": op}
    if role:
        attrs["role"] = role
    e = ET.SubElement(parent, "rule", **attrs)
    for attr, cmp, typ, value in exprs:
        x = {"id": ids("expr"), "attribute": attr, "operation": cmp}
        if value is not None:
            x["value"] = value
        if typ:
            x["type"] = typ
        ET.SubElement(e, "expression", **x)


def xml_constraints(c):
    ids = Ids()
    root = ET.Element("constraints")
    for loc in c.locations:
        attrs = {"id": ids("loc"), "rsc": loc["rsc"]}
        if loc["rule"]:
            e = ET.SubElement(root, "rsc_location", **attrs)
            xml_rule(e, ids, loc["rule"], loc["score"], loc["role"])
            continue
        attrs.update(node=loc["node"], score=pcmk_score(loc["score"]))
        if loc["role"]:
            attrs["role"] = loc["role"]
        ET.SubElement(root, "rsc_location", **attrs)
    for x in c.colocations:
        attrs = {"id": ids("col"), "rsc": x["rsc"], "with-rsc": x["with"],
                 "score": pcmk_score(x["score"])}
        if x["with_role"]:
            attrs["with-rsc-role"] = x["with_role"]
        if x["rsc_role"]:
            attrs["rsc-role"] = x["rsc_role"]
        ET.SubElement(root, "rsc_colocation", **attrs)
    for s in c.coloc_sets:
        e = ET.SubElement(root, "rsc_colocation", id=ids("colset"), score=pcmk_score(s["score"]))
        xml_sets(e, ids, s["sets"], "role")
    for o in c.orders:
        ET.SubElement(root, "rsc_order", id=ids("ord"), first=o["first"], then=o["then"],
                      kind=o["kind"], symmetrical=str(o["symmetrical"]).lower(),
                      **{"first-action": o["first_action"], "then-action": o["then_action"]})
    for s in c.order_sets:
        e = ET.SubElement(root, "rsc_order", id=ids("ordset"), kind=s["kind"],
                          symmetrical=str(s["symmetrical"]).lower())
        xml_sets(e, ids, s["sets"], "action")
    return root


def xml_sets(parent, ids, sets, key):
    for s in sets:
        attrs = {"id": ids("set"), "sequential": str(s["sequential"]).lower()}
        if s.get(key):
            attrs[key] = s[key]
        e = ET.SubElement(parent, "resource_set", **attrs)
        for rid in s["resources"]:
            ET.SubElement(e, "resource_ref", id=rid)


def xml_text(e):
    return ET.tostring(e, encoding="unicode")


_DIGESTS = {}


def digests(work):
    """The op-digest Pacemaker records for an operation of an OCF resource without parameters,
    by interval (0 for start/stop/promote/demote, 10000 and 11000 for the monitors): read from
    a calibration run, since crm_simulate's --op-inject records none, and an operation without
    a digest reads as a changed definition (a restart, and a failure's fail count cleared)."""
    if _DIGESTS:
        return _DIGESTS
    d = tempfile.mkdtemp(prefix="calibrate-", dir=work)
    c = Cluster(0)
    c.nodes, c.node_state = ["n1"], {"n1": "online"}
    c.prims = {"d": {"agent": "Dummy", "stickiness": 0, "threshold": None},
               "s": {"agent": "Stateful", "stickiness": 0, "threshold": None}}
    c.clones = {"ms": {"child": "s", "clone_max": None, "promotable": True, "promoted_max": 1}}
    c.units = ["d", "ms"]
    c.attrs, c.promo = {"n1": {}}, {"n1": {"master-s": 10}}
    build_config(c, d)
    pcmk(d, "crm_simulate", "-x", "cib.xml", "--node-up", "n1", "-O", "up.xml")
    pcmk(d, "crm_attribute", "-N", "n1", "-n", "master-s", "-v", "10", "-l", "reboot",
         cib="up.xml")
    pcmk(d, "crm_simulate", "-x", "up.xml", "-S", "-O", "out.xml")
    found = {}
    for op in ET.parse(os.path.join(d, "out.xml")).iter("lrm_rsc_op"):
        if op.get("op-digest") and op.get("rc-code") in ("0", "8"):
            found[op.get("interval")] = op.get("op-digest")
    shutil.rmtree(d, ignore_errors=True)
    if not {"0", "10000", "11000"} <= set(found):
        raise PcmkError(f"calibration: digests for intervals 0, 10000, 11000 expected, "
                        f"got {sorted(found)}")
    _DIGESTS.update(found)
    return _DIGESTS


def build_config(c, d):
    """cib.xml: configuration only (nodes, resources, constraints, properties, attributes)."""
    with open(os.path.join(d, "cib.xml"), "w") as f:
        f.write(pcmk(d, "cibadmin", "--empty"))
    pcmk(d, "cibadmin", "--modify", "--xml-text", '<cib have-quorum="1"/>')
    for name, value in (("stonith-enabled", "false"), ("no-quorum-policy", "stop"),
                        ("placement-strategy", "default")):
        pcmk(d, "crm_attribute", "-t", "crm_config", "-n", name, "-v", value)
    nodes = ET.Element("nodes")
    for i, n in enumerate(c.nodes):
        ET.SubElement(nodes, "node", id=str(i + 1), uname=n)
    pcmk(d, "cibadmin", "--replace", "-o", "nodes", "--xml-text", xml_text(nodes))
    ids = Ids()
    resources = ET.Element("resources")
    for rid in c.units:
        xml_resource(resources, ids, c, rid)
    pcmk(d, "cibadmin", "--replace", "-o", "resources", "--xml-text", xml_text(resources))
    pcmk(d, "cibadmin", "--replace", "-o", "constraints", "--xml-text",
         xml_text(xml_constraints(c)))
    for n in c.nodes:
        for name, value in sorted(c.attrs[n].items()):
            pcmk(d, "crm_attribute", "-N", n, "-n", name, "-v", value, "-l", "forever")
        if c.node_state[n] == "standby":
            pcmk(d, "crm_attribute", "-N", n, "-n", "standby", "-v", "on", "-l", "forever")
    for rid in c.stopped:
        pcmk(d, "crm_resource", "-r", rid, "--meta", "-p", "target-role", "-v", "Stopped")


def instance_names(c):
    """(primitive, node) -> the name crm_simulate --op-inject knows it by: the primitive's id,
    or for a clone's instance PRIMITIVE:N, which must exist (N < clone-max): one N per node
    where it runs (the same for a cloned group's members on that node), and 0 where it only
    failed before (an anonymous clone's history is matched to an instance by node)."""
    names = {}
    for cid in c.clones:
        prims = c.primitives_of(cid)
        running = []
        for p in prims:
            running += [n for n in c.running.get(p, {}) if n not in running]
        for p in prims:
            for n in c.nodes:
                k = running.index(n) if n in running else 0
                names[(p, n)] = f"{p}:{k}"
    return names


def injections(c):
    """--op-inject arguments giving the current placement and the failures."""
    names = instance_names(c)
    out = []
    for prim in c.prims:
        where = c.running.get(prim, {})
        counts = c.fail_counts.get(prim, {})
        for n in c.nodes:
            name = names.get((prim, n), prim)
            role = where.get(n)
            if role is None and n not in counts:
                continue
            out.append(f"{name}_start_0@{n}=0")
            interval = 11000 if role == "promoted" else 10000
            if role == "promoted":
                out.append(f"{name}_promote_0@{n}=0")
            for _ in range(counts.get(n, 0)):
                out.append(f"{name}_monitor_{interval}@{n}=7")
            if role is None:
                out.append(f"{name}_stop_0@{n}=0")
            elif n in counts and n not in c.failed_now.get(prim, []):
                # Failed before, recovered since: running, its fail count kept.
                out.append(f"{name}_start_0@{n}=0")
                if role == "promoted":
                    out.append(f"{name}_promote_0@{n}=0")
    return out


def normalize_history(path, table):
    """What --op-inject wrote, as Pacemaker itself records it: every operation with the digest
    of its definition (see digests()), and a clone instance's history and fail counts under the
    primitive's id without the instance number (PRIMITIVE:N is only how --op-inject finds an
    instance; crm_simulate's own transitions then record PRIMITIVE, and the two side by side
    read as an orphan and make Pacemaker move instances back and forth)."""
    tree = ET.parse(path)
    strip = re.compile(r"^([^:#]+):\d+")
    for r in tree.iter("lrm_resource"):
        r.set("id", strip.sub(r"\1", r.get("id")))
    for op in tree.iter("lrm_rsc_op"):
        for key in ("id", "operation_key"):
            op.set(key, strip.sub(r"\1", op.get(key)))
        if op.get("op-digest") is None and op.get("operation") != "cancel":
            op.set("op-digest", table.get(op.get("interval"), table["0"]))
    for state in tree.iter("node_state"):
        for nv in state.iter("nvpair"):
            name = nv.get("name", "")
            for prefix in ("fail-count-", "last-failure-"):
                if name.startswith(prefix):
                    nv.set("name", prefix + strip.sub(r"\1", name[len(prefix):]))
                    nv.set("id", nv.get("id").split(".")[0].replace(":", "") + "." +
                           nv.get("id").split(".", 1)[-1])
    tree.write(path)


def run_pacemaker(c, d, work):
    """Builds the CIB, simulates the transition: {primitive: {(node, role)}}."""
    table = digests(work)
    build_config(c, d)
    args = ["-x", "cib.xml", "-O", "status.xml"]
    for n in c.nodes:
        args += ["--node-down" if c.node_state[n] == "offline" else "--node-up", n]
    for spec in injections(c):
        args += ["--op-inject", spec]
    pcmk(d, "crm_simulate", *args, stdout="inject.txt")
    normalize_history(os.path.join(d, "status.xml"), table)
    for n in c.nodes:
        for name, value in sorted(c.promo[n].items()):
            pcmk(d, "crm_attribute", "-N", n, "-n", name, "-v", str(value), "-l", "reboot",
                 cib="status.xml")
    plan = pcmk(d, "crm_simulate", "-x", "status.xml", "-R", "-s", "--output-as=xml",
                cib="status.xml", stdout="plan.xml")
    check_status(c, d, plan)
    notes = []
    plans = [plan]  # plans[j]: what transition j+1 was planned from (scores, reasons)
    for k in range(1, ROUNDS + 1):
        src, out = ("status.xml", "out.xml") if k == 1 else (f"out-{k - 1}.xml", f"out-{k}.xml")
        if k == 2:
            os.rename(os.path.join(d, "out.xml"), os.path.join(d, "out-1.xml"))
            src = "out-1.xml"
        transition(d, src, out, "pcmk.txt" if k == 1 else f"pcmk-{k}.txt", notes)
        # The state after it, and what the next one would do (crm_mon -1 --output-as=xml
        # crashes on some of these files in 2.1.5; crm_simulate reads them all).
        final = pcmk(d, "crm_simulate", "-x", out, "-R", "-s", "--output-as=xml", cib=out,
                     stdout="final.xml")
        plans.append(final)
        now = read_status(final)
        if k == 1:
            first = before = now
        elif now == before:
            # What it still schedules does not run (an action an order keeps waiting):
            # nothing changed in this transition.
            return settled(d, now, k - 1, plans, notes)
        if not actions_of(final):
            return settled(d, now, k, plans, notes)
        before = now
    notes.append(f"Pacemaker still acts after {ROUNDS} transitions: "
                 + "; ".join(" ".join(a[:3]) for a in actions_of(final))
                 + "; compared: the outcome of its first transition")
    return first, ROUNDS, notes, False


def settled(d, placed, rounds, plans, notes):
    """Pacemaker settled after `rounds` transitions: decided.xml is the plan of the last one,
    the transition whose decisions the final placement shows (pcmk_classify reads it)."""
    with open(os.path.join(d, "decided.xml"), "w") as f:
        f.write(plans[rounds - 1])
    if rounds > 1:
        notes.append(f"Pacemaker settled after {rounds} transitions (a promotion score counts "
                     f"only where the clone was probed, which its first transition does)")
    return placed, rounds, notes, True


def transition(d, src, out, text, notes):
    """crm_simulate -S: one transition, simulated as if every action succeeded."""
    try:
        pcmk(d, "crm_simulate", "-x", src, "-S", "-s", "-O", out, stdout=text, cib=src)
    except PcmkError as e:
        # Pacemaker scheduled an action it then could not run (a promote of an instance whose
        # start an order blocks): crm_simulate says "An invalid transition was produced" but
        # has run, and saved, everything else. What ran is Pacemaker's outcome.
        if "invalid transition" not in str(e) or not os.path.exists(os.path.join(d, out)):
            raise
        notes.append(f"crm_simulate -x {src}: an invalid transition was produced (an action "
                     f"it scheduled could not run); what did run counts")


def check_status(c, d, plan):
    """The status section holds what the generator meant: the current placement (online and
    standby nodes) and the fail counts. A mismatch is a bug of this script, not a finding."""
    want = collections.defaultdict(set)
    for prim, where in c.running.items():
        for n, role in where.items():
            if c.node_state[n] != "offline":
                want[prim].add((n, role))
    got = read_status(plan)
    bad = [p for p in c.prims if want.get(p, set()) != got.get(p, set())]
    if bad:
        raise PcmkError("status.xml does not hold the intended placement: " + "; ".join(
            f"{p}: {sorted(got.get(p, []))} instead of {sorted(want.get(p, []))}" for p in bad))
    counts = collections.Counter()
    for state in ET.parse(os.path.join(d, "status.xml")).iter("node_state"):
        for nv in state.iter("nvpair"):
            m = re.fullmatch(r"fail-count-([^:#]+)(:\d+)?#.*", nv.get("name", ""))
            if m:
                counts[(m.group(1), state.get("uname"))] += int(nv.get("value"))
    want_counts = collections.Counter({(p, n): k for p, per in c.fail_counts.items()
                                       for n, k in per.items()})
    if counts != want_counts:
        raise PcmkError(f"status.xml's fail counts {dict(counts)} are not the intended "
                        f"{dict(want_counts)}")


def read_status(text):
    """crm_simulate --output-as=xml (or crm_mon's): {primitive: {(node, role)}} of what is
    active in its cluster_status (a clone's instances under the primitive's id)."""
    placed = collections.defaultdict(set)
    status = ET.fromstring(text).find("cluster_status")
    for r in status.iter("resource"):
        if r.get("active") != "true":
            continue
        prim = r.get("id").split(":")[0]
        role = "promoted" if r.get("role") == "Promoted" else "started"
        for n in r.iter("node"):
            placed[prim].add((n.get("name"), role))
    return placed


def actions_of(text, blocked=False):
    """crm_simulate --output-as=xml: its transition's actions [(action, resource, node,
    reason)], those it says are blocked only if asked for."""
    out = []
    for a in ET.fromstring(text).iter("rsc_action"):
        if a.get("blocked") == "true" and not blocked:
            continue
        out.append((a.get("action"), a.get("resource"),
                    a.get("node") or a.get("dest") or a.get("source") or "?",
                    a.get("reason") or ""))
    return out


# ---------------------------------------------------------------------------------------------
# One case, a run, the report.

class Result:
    def __init__(self, seed, used):
        self.seed = seed
        self.used = sorted(used)
        self.categories = []     # empty: identical
        self.detail = ""
        self.dir = None
        self.diffs = []          # (primitive, pacemaker's, hactl's)
        self.pcmk_rounds = 0     # transitions Pacemaker took to settle
        self.hactl_rounds = 0    # passes hactl took to settle
        self.notes = []


def compare(c, pc, ha):
    diffs = []
    for prim in c.prims:
        a, b = pc.get(prim, set()), ha.get(prim, set())
        if a != b:
            diffs.append((prim, sorted(a), sorted(b)))
    return diffs


def run_case(seed, features, work, keep):
    try:
        return compare_case(seed, features, work, keep)
    except Exception:  # noqa: BLE001 - one broken case must not end a run of a thousand
        c = generate(seed, features)
        res = Result(seed, c.used)
        res.categories = [pcmk_classify.PCMK_ERROR]
        res.detail = traceback.format_exc()
        res.dir = os.path.join(work, f"seed-{seed}")
        os.makedirs(res.dir, exist_ok=True)
        write_summary(c, res, None, None, features)
        return res


def compare_case(seed, features, work, keep):
    c = generate(seed, features)
    d = os.path.join(work, f"seed-{seed}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    res = Result(seed, c.used)
    res.dir = d
    ha, err, res.hactl_rounds = run_hactl(c, d)
    try:
        pc, res.pcmk_rounds, res.notes, settled = run_pacemaker(c, d, work)
    except (PcmkError, subprocess.TimeoutExpired, ET.ParseError) as e:
        res.categories, res.detail = [pcmk_classify.PCMK_ERROR], str(e)
        write_summary(c, res, None, ha, features)
        return res
    if err is not None:
        res.categories, res.detail = [pcmk_classify.REFUSED], err.splitlines()[0]
        write_summary(c, res, pc, None, features)
        return res
    res.diffs = compare(c, pc, ha)
    if res.diffs:
        res.categories, res.detail = pcmk_classify.classify(c, pc, ha, res.diffs, d, HACTL)
        if not settled:  # what its first transition left is no settled outcome to explain
            res.categories = [pcmk_classify.PCMK_UNSETTLED] + [
                x for x in res.categories if x != pcmk_classify.UNCLASSIFIED]
        write_summary(c, res, pc, ha, features)
    elif not keep:
        shutil.rmtree(d, ignore_errors=True)
        res.dir = None
    else:
        write_summary(c, res, pc, ha, features)
    return res


def placement_text(placed, c):
    if placed is None:
        return "  (none)\n"
    out = ""
    for prim in c.prims:
        where = sorted(placed.get(prim, set()))
        out += f"  {prim}: " + (", ".join(f"{n} {r}" for n, r in where) or "stopped") + "\n"
    return out


def replay_command(seed, features):
    return (f"python3 tests/differential/pcmk_diff.py --only {seed} "
            f"--features {features_arg(features)}")


def write_summary(c, res, pc, ha, features):
    text = (f"seed {res.seed}: {'; '.join(res.categories) or 'identical'}\n{res.detail}\n\n"
            f"features used: {', '.join(res.used) or '(none)'}\n"
            f"replay: {replay_command(res.seed, features)}\n"
            f"Pacemaker: crm_simulate -x {res.dir}/status.xml -S -s   (pcmk.txt)\n"
            f"hactl:     cd {res.dir} && {HACTL} simulate --config config.yaml "
            f"--state state.yaml\n\n"
            f"differences (primitive: Pacemaker | hactl):\n")
    for prim, a, b in res.diffs:
        text += f"  {prim}: {a or 'stopped'} | {b or 'stopped'}\n"
    text += f"\nPacemaker's placement:\n{placement_text(pc, c)}"
    text += f"\nhactl's placement:\n{placement_text(ha, c)}"
    text += f"\nsettled after: Pacemaker {res.pcmk_rounds} transition(s), hactl " \
            f"{res.hactl_rounds} pass(es) (pcmk.txt, pcmk-2.txt, ...; hactl.json, " \
            f"hactl-2.json, ...)\n"
    text += "".join(f"note: {x}\n" for x in res.notes)
    with open(os.path.join(res.dir, "summary.txt"), "w") as f:
        f.write(text)


def report(results, features, out=sys.stdout):
    n = len(results)
    same = [r for r in results if not r.categories]
    by_cat = collections.defaultdict(list)
    for r in results:
        for cat in r.categories:
            by_cat[cat].append(r)
    p = (lambda k: f"{100.0 * k / n:.1f}%") if n else (lambda k: "-")
    several = sum(1 for r in results if len(r.categories) > 1)
    out.write(f"\nclusters tried: {n}; identical: {len(same)} ({p(len(same))}); differing: "
              f"{n - len(same)}, in these categories ({several} in more than one):\n")
    for cat in sorted(by_cat, key=lambda k: (-len(by_cat[k]), k)):
        rs = by_cat[cat]
        seeds = " ".join(str(r.seed) for r in rs[:40]) + (" ..." if len(rs) > 40 else "")
        title = pcmk_classify.TITLES.get(cat, cat)
        out.write(f"  {len(rs):5d} ({p(len(rs))})  {cat}: {title}\n         seeds: {seeds}\n")
    refusals = collections.Counter(refusal_kind(r.detail) for r in by_cat.get(
        pcmk_classify.REFUSED, []))
    if refusals:
        out.write("\nhactl's refusals, by its error (file positions, indexes and names left "
                  "out):\n")
        for text, k in refusals.most_common():
            out.write(f"  {k:5d}  {text}\n")
    out.write("\nper feature (clusters that use it: identical / each category):\n")
    for f in FEATURES:
        rs = [r for r in results if f in r.used]
        if not rs:
            continue
        cats = collections.Counter(cat for r in rs for cat in r.categories)
        same_f = sum(1 for r in rs if not r.categories)
        tag = "" if FEATURES[f][0] else " [not in hactl]"
        out.write(f"  {f}{tag}: {len(rs)} used, {same_f} identical"
                  + "".join(f"; {k} {v}" for k, v in cats.most_common()) + "\n")
    for who, rounds in (("Pacemaker", "pcmk_rounds"), ("hactl", "hactl_rounds")):
        more = [r.seed for r in results if getattr(r, rounds) > 1]
        if more:
            out.write(f"\n{who} needed more than one round to settle in {len(more)}: "
                      f"{' '.join(map(str, more[:40]))}\n")
    unsettled = [r.seed for r in results if r.pcmk_rounds >= ROUNDS or r.hactl_rounds >= ROUNDS]
    if unsettled:
        out.write(f"not settled after {ROUNDS}: {' '.join(map(str, unsettled))}\n")
    return by_cat


def refusal_kind(error):
    """hactl's error without what differs from case to case."""
    text = re.sub(r"^\S+:\d+:\d+: ", "", error)
    text = re.sub(r"\[\d+\]", "[]", text)
    text = re.sub(r"'[a-z]+\d+[a-z]*'", "'ID'", text)
    text = re.sub(r"belongs to \S+: constrain \S+ instead", "belongs to GROUP: constrain GROUP "
                  "instead", text)
    return re.sub(r"form a cycle: .*", "form a cycle", text)


def show_one(res, c):
    """--only: the summary, both schedulers' own outputs (Pacemaker's planned actions with
    their reasons, hactl simulate's text) and the files."""
    if not res.dir:
        print(f"seed {res.seed}: {'; '.join(res.categories) or 'identical'}")
        return
    with open(os.path.join(res.dir, "summary.txt")) as f:
        print(f.read())
    plan = os.path.join(res.dir, "plan.xml")
    if os.path.exists(plan):
        print("Pacemaker's first transition (crm_simulate -R, plan.xml):")
        with open(plan) as f:
            for action, rsc, node, why in actions_of(f.read(), blocked=True):
                print(f"  {action} {rsc} on {node}" + (f"  ({why})" if why else ""))
    if os.path.exists(os.path.join(res.dir, "config.yaml")):
        r = subprocess.run([HACTL, "simulate", "--config", "config.yaml", "--state",
                            "state.yaml"], cwd=res.dir, capture_output=True, text=True,
                           timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        print("\nhactl simulate --config config.yaml --state state.yaml:")
        print((r.stdout or r.stderr).rstrip())
    print(f"\nfiles: {res.dir}")
    for name in ("cib.xml", "status.xml", "pcmk.txt", "plan.xml", "final.xml", "config.yaml",
                 "state.yaml", "hactl.json"):
        if os.path.exists(os.path.join(res.dir, name)):
            print(f"  {os.path.join(res.dir, name)}")


def check_tools():
    """None when everything is here, else what is missing."""
    for tool in ("crm_simulate", "cibadmin", "crm_attribute", "crm_resource"):
        if not os.access(os.path.join(PCMK_BIN_DIR, tool), os.X_OK):
            return f"{os.path.join(PCMK_BIN_DIR, tool)} is missing (pacemaker-cli-utils)"
    if not os.access(HACTL, os.X_OK):
        return f"{HACTL} is not built (HACTL_BIN_DIR)"
    return None


def run(seeds, features, work, keep=False, jobs=1, progress=None):
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_case, s, features, work, keep) for s in seeds]
        results = []
        for f in futures:
            results.append(f.result())
            if progress:
                progress(results[-1])
    return results


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--count", type=int, default=100, help="clusters to try (default 100)")
    ap.add_argument("--seed", type=int, default=None, help="first case seed (default: random)")
    ap.add_argument("--features", default="default",
                    help="comma separated sets (basic, default, all) and features, -feature "
                         "to leave one out: " + ", ".join(FEATURES))
    ap.add_argument("--keep", metavar="DIR", help="where to keep the cases that differ "
                    "(default: a new directory under /tmp)")
    ap.add_argument("--keep-all", action="store_true", help="keep identical cases too")
    ap.add_argument("--only", type=int, metavar="SEED", help="run this one case, print both")
    ap.add_argument("--jobs", type=int, default=1, help="cases at once (default 1)")
    ap.add_argument("--json", metavar="FILE", help="write every case's result here")
    args = ap.parse_args(argv)
    features = parse_features(args.features)
    missing = check_tools()
    if missing:
        print(f"pcmk_diff: cannot run: {missing}", file=sys.stderr)
        return 77
    work = args.keep or tempfile.mkdtemp(prefix="pcmk-diff-")
    os.makedirs(work, exist_ok=True)
    if args.only is not None:
        res = run_case(args.only, features, work, keep=True)
        show_one(res, generate(args.only, features))
        return 0
    seed = args.seed if args.seed is not None else random.SystemRandom().randrange(1, 10**6)
    print(f"pcmk_diff: seed {seed}, {args.count} clusters, features {features_arg(features)} "
          f"({', '.join(sorted(features))}); files in {work}", flush=True)
    done = [0]

    def progress(_r):
        done[0] += 1
        if done[0] % 50 == 0:
            print(f"  {done[0]}/{args.count}", flush=True)

    results = run(range(seed, seed + args.count), features, work, args.keep_all, args.jobs,
                  progress)
    report(results, features)
    if args.json:
        with open(args.json, "w") as f:
            json.dump([{"seed": r.seed, "categories": r.categories, "detail": r.detail,
                        "used": r.used, "dir": r.dir, "pcmk_rounds": r.pcmk_rounds,
                        "hactl_rounds": r.hactl_rounds, "notes": r.notes,
                        "diffs": r.diffs} for r in results], f, indent=1)
    print(f"replay one case: {replay_command('SEED', features)}; files of the cases that "
          f"differ: {work}/seed-SEED/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
