"""The categories of the differences between Pacemaker's placement and hactl's (pcmk_diff.py).

Each differing top-level resource (a primitive outside any group or clone, a group, a clone)
is put in the first category whose evidence is found, from both schedulers' own accounts:
Pacemaker's planned actions with their reasons and its allocation and promotion scores
(crm_simulate -R -s --output-as=xml, plan.xml), hactl's scores and tie-breaks (hactl explain
--json). A resource that is colocated with, or ordered after, another that differs is
counted as a consequence of that one, not on its own. The rule each category names is cited
in CATEGORIES (Pacemaker 2.1's sources, lib/pacemaker/).
"""

import json
import os
import re
import subprocess
import xml.etree.ElementTree as ET

INF = 1000000

# Category keys (what the CI test's table of known categories names) and their titles.
REFUSED = "refused"
PCMK_ERROR = "pcmk-error"
ORDER = "order-blocks-then"
PROMOTE_ZERO = "promote-at-0"
GROUP_PARTIAL = "group-partial"
NEGATIVE = "negative-score"
CLONE_NEGATIVE = "clone-negative"
TIE = "tie-fewest-resources"
DEPENDENTS = "dependents-pull-primary"
PROMOTE_TIE = "promote-tie"
PROMOTE_STICKINESS = "promote-stickiness"
PROMOTE_LOCATION = "promote-clone-location"
PROMOTE_PLACEMENT = "promotion-score-places"
PCMK_UNSETTLED = "pcmk-unsettled"
UNCLASSIFIED = "unclassified"

TITLES = {
    REFUSED: "hactl refuses the configuration",
    PCMK_ERROR: "Pacemaker's tools failed (a bug of this script)",
    ORDER: "order: Pacemaker stops or blocks `then` while `first` cannot run",
    PROMOTE_ZERO: "promotion: Pacemaker promotes at a promotion score of 0",
    GROUP_PARTIAL: "group: Pacemaker runs the members before the first that cannot run",
    NEGATIVE: "negative score: Pacemaker runs nothing on a node scoring below 0",
    CLONE_NEGATIVE: "clone: no instance where the clone's own score is below 0 (stickiness "
                    "and colocations do not lift it)",
    TIE: "tie: Pacemaker prefers the node with the fewest resources assigned so far",
    DEPENDENTS: "colocation: Pacemaker weighs the dependents' scores into the primary's "
                "placement",
    PROMOTE_TIE: "promotion tie: Pacemaker breaks it by its instance order, hactl by name",
    PROMOTE_STICKINESS: "promotion: Pacemaker adds no stickiness to the promoted instance",
    PROMOTE_LOCATION: "promotion: Pacemaker counts the clone's own node score (locations for "
                      "any role, dependents)",
    PROMOTE_PLACEMENT: "promotable clone: Pacemaker places instances where promotion scores "
                       "are high",
    PCMK_UNSETTLED: "Pacemaker does not settle (compared: its first transition)",
    UNCLASSIFIED: "differs (unclassified)",
}

# What each category means, and the rule of Pacemaker's it comes from (for the report).
CATEGORIES = {
    REFUSED: "hactl's loader refused the file (a feature hactl does not have yet); the first "
             "line of its error is the detail.",
    PCMK_ERROR: "cibadmin, crm_attribute or crm_simulate failed, or the status section did not "
                "hold what the generator meant: a bug of the generator, not a finding.",
    ORDER: "A Mandatory order makes `then` depend on `first` being runnable: when `first` "
           "cannot run, Pacemaker marks then's start (and its running pseudo-action) "
           "unrunnable and stops it (\"due to unrunnable FIRST start\"; "
           "pcmk__update_action_for_orderings, pe_order_runnable_left). hactl's orders only "
           "sequence actions and never change where something runs.",
    NEGATIVE: "pcmk__assign_primitive (pcmk_sched_primitive.c): when the best node's score is "
              "below 0 the resource is not assigned (\"node availability\"); clone instances "
              "likewise skip nodes scoring below 0. A negative score is a ban in Pacemaker, "
              "while hactl takes the best node whatever its score unless it is -inf. Also "
              "counted here: hactl runs it where Pacemaker's own sum is below 0 and hactl's "
              "is not, as when a group's later members are merged into its first member "
              "only while some node stays >= 0 (pcmk__add_colocated_node_scores rolls the "
              "merge back otherwise), so their stickiness is lost.",
    TIE: "compare_nodes (pcmk_sched_nodes.c) breaks equal scores by the number of resources "
         "already assigned to each node (fewest first), and only then by the node the "
         "resource runs on and the node name; hactl breaks them by where it runs, then name "
         "(docs/scheduler.md, stage 3).",
    PROMOTE_ZERO: "set_instance_role (pcmk_sched_promotable.c) refuses promotion only when the "
                  "instance's promotion score is below 0; a missing master score counts -1, an "
                  "explicit 0 may be promoted. hactl promotes only above 0.",
    DEPENDENTS: "Before placing a resource, Pacemaker adds the scores of the resources "
                "colocated with it, scaled by colocation score / INFINITY "
                "(pcmk__add_colocated_node_scores, add_node_scores_matching_attr; rolled "
                "back if no node would be left), so a dependent's location preference, "
                "stickiness or ban pulls its primary; a product that rounds to 0 counts +1 "
                "whatever the sign of the dependent's score. hactl places the primary on its "
                "own scores first.",
    CLONE_NEGATIVE: "can_run_instance (pcmk_sched_clone.c) checks the clone's own score on "
                    "the node (its locations; no instance's stickiness, and a colocation with "
                    "another clone counts only per instance, later): below 0 no instance runs "
                    "there, whatever would lift the instance's own score. hactl adds "
                    "stickiness and colocations to the clone's score before that test.",
    GROUP_PARTIAL: "A group is a chain of INFINITY colocations and orders of its members: its "
                   "node is the first member's (later members' bans are merged only if some "
                   "node stays available), and a member that cannot run there stops, with "
                   "those after it; hactl moves the whole group to a node where every member "
                   "can run.",
    PROMOTE_TIE: "cmp_promotable_instance (pcmk_sched_promotable.c): equal promotion "
                 "priorities go to the instance whose current role is higher, then to "
                 "pcmk__cmp_instance's order of the instances (their nodes' scores and "
                 "resource counts), not to the node name as in hactl.",
    PROMOTE_STICKINESS: "An instance's promotion priority is its promotion score plus the "
                        "promoted-role locations and colocations (sort_promotable_instances); "
                        "resource-stickiness counts only for where instances run. hactl adds "
                        "the stickiness to the promotion score of the instance promoted now.",
    PROMOTE_LOCATION: "set_sort_index_to_node_weight (pcmk_sched_promotable.c) makes the "
                      "final promotion priority the clone's own score on the instance's node "
                      "plus its promotion score, so location constraints for any role, and "
                      "the scores merged from resources colocated with the clone, count for "
                      "promotion; hactl counts only the agent's score and locations with "
                      "role: promoted.",
    PROMOTE_PLACEMENT: "pcmk__add_promotion_scores adds each positive promotion score to the "
                       "instance's score on that node before instances are placed, so with "
                       "clone-max below the number of nodes the instances go where they may "
                       "be promoted; hactl places instances without promotion scores.",
    PCMK_UNSETTLED: "crm_simulate kept scheduling actions for 5 transitions (seen with cloned "
                    "groups, whose members' histories it matches to different instances); the "
                    "first transition's outcome is compared.",
    UNCLASSIFIED: "None of the rules above explains it: read the case.",
}


def score(text):
    if text in ("INFINITY", "+INFINITY"):
        return INF
    if text == "-INFINITY":
        return -INF
    return int(text)


class Evidence:
    """What both schedulers said about one case."""

    def __init__(self, c, pc, ha, d, hactl):
        self.c, self.pc, self.ha, self.d, self.hactl = c, pc, ha, d, hactl
        decided = os.path.join(d, "decided.xml")  # the plan of the transition that settled
        plan = ET.parse(decided if os.path.exists(decided) else
                        os.path.join(d, "plan.xml")).getroot()
        self.actions = [a.attrib for a in plan.iter("rsc_action")]
        self.weights = {}  # (function, id, node) -> score
        for w in plan.iter("node_weight"):
            self.weights[(w.get("function"), w.get("id"), w.get("node"))] = score(w.get("score"))
        self.plan_promotion = {(p.get("id").split(":")[0], p.get("node")): score(p.get("score"))
                               for p in plan.iter("promotion_score") if p.get("node")}
        final = ET.parse(os.path.join(d, "final.xml")).getroot()
        # (primitive, node) -> its instance's promotion priority, once settled
        self.final_promotion = {(p.get("id").split(":")[0], p.get("node")): score(p.get("score"))
                                for p in final.iter("promotion_score") if p.get("node")}

        self._explained = {}

    def promotion_of(self, unit, node, plan=False):
        table = self.plan_promotion if plan else self.final_promotion
        return table.get((self.c.primitives_of(unit)[0], node))

    def pcmk_score(self, unit, node):
        """Pacemaker's final score for the unit on node in its first transition: its first
        primitive's (for a clone, the best of its instances')."""
        prim = self.c.primitives_of(unit)[0]
        if unit not in self.c.clones:
            return self.weights.get(("pcmk__primitive_assign", prim, node))
        found = [v for (fn, ident, n), v in self.weights.items()
                 if fn == "pcmk__primitive_assign" and n == node
                 and re.fullmatch(re.escape(prim) + r":\d+", ident)]
        return max(found) if found else None

    def hactl_promotion_sum(self, unit, node):
        """hactl's promotion score on node before its > 0 test: the agent's score and the
        promoted-role locations (no stickiness)."""
        scores, _ = self.explain(unit)
        reasons = scores.get(node, {}).get("reasons", [])
        return sum(r["score"] for r in reasons if r.get("promotion") and r["kind"] in (
            "promotion_score", "promotion_location"))

    def explain(self, unit):
        """hactl explain UNIT --json: {node: {score, promotion_score, reasons}}, tie_break."""
        if unit not in self._explained:
            r = subprocess.run([self.hactl, "explain", unit, "--config", "config.yaml",
                                "--state", "state.yaml", "--json"], cwd=self.d,
                               capture_output=True, text=True, timeout=60,
                               stdin=subprocess.DEVNULL)
            j = json.loads(r.stdout) if r.returncode == 0 else {"nodes": [], "tie_break": None}
            self._explained[unit] = ({n["node"]: n for n in j["nodes"]}, j.get("tie_break"))
        return self._explained[unit]

    def nodes(self, placed, unit, role=None):
        """Nodes where any primitive of the unit is active (in that role, if given)."""
        out = set()
        for p in self.c.primitives_of(unit):
            out |= {n for n, r in placed.get(p, ()) if role is None or r == role}
        return out


def unit_of(c, prim):
    return c.top_of(prim)


def depends_on(c, unit):
    """Units this one is colocated with (as the dependent): where they go, it follows."""
    out = set()
    for x in c.colocations:
        if unit_of(c, x["rsc"]) == unit:
            out.add(unit_of(c, x["with"]))
    for s in c.coloc_sets:
        members = [unit_of(c, r) for x in s["sets"] for r in x["resources"]]
        if unit in members:
            out |= set(members)
    out.discard(unit)
    return out


def order_blocked(ev, unit):
    """`unit` is `then` of a Mandatory order whose `first` does not run (or is not promoted,
    for first-action promote) in Pacemaker's outcome, and runs in fewer places there than in
    hactl's; or Pacemaker says so ("unrunnable FIRST ...", "required FIRST ...")."""
    c = ev.c
    if not (ev.nodes(ev.ha, unit) - ev.nodes(ev.pc, unit)):
        return None
    prims = set(c.primitives_of(unit))
    for o in c.orders:
        if unit_of(c, o["then"]) != unit or o["kind"] != "Mandatory":
            continue
        role = "promoted" if o["first_action"] == "promote" else None
        first = unit_of(c, o["first"])
        if ev.nodes(ev.pc, first, role) != ev.nodes(ev.ha, first, role):
            continue  # `first` differs: `then` follows it (classify_units)
        if not ev.nodes(ev.pc, first, role):
            what = "is not promoted" if role else "does not run"
            return f"{o['first']} {what} (Mandatory order {o['first']} -> {o['then']})"
        for a in ev.actions:
            m = re.match(r"(unrunnable|required) (\S+) ", a.get("reason", "") + " ")
            kept_off = a["action"] in ("stop", "demote") or a.get("blocked") == "true"
            if m and kept_off and a["resource"].split(":")[0] in prims and m.group(2) in \
                    c.primitives_of(first) + [o["first"], first]:
                return f"{a['resource']}: {a['action']} due to {a['reason']}"
    return None


def negative(ev, unit):
    """hactl runs the unit on a node it scores below 0."""
    scores, _ = ev.explain(unit)
    for n in sorted(ev.nodes(ev.ha, unit) - ev.nodes(ev.pc, unit)):
        s = scores.get(n, {}).get("score")
        if s is not None and -INF < s < 0:
            return f"hactl runs {unit} on {n}, which it scores {s}"
    return None


def negative_in_pacemaker(ev, unit):
    """hactl runs the unit on a node that Pacemaker scores below 0, for a reason other than
    its dependents (tried before): a group's merge of its members' scores is rolled back
    when it leaves every node below 0, their stickiness with it."""
    scores, _ = ev.explain(unit)
    for n in sorted(ev.nodes(ev.ha, unit) - ev.nodes(ev.pc, unit)):
        s, p = scores.get(n, {}).get("score"), ev.pcmk_score(unit, n)
        if unit not in ev.c.clones and s is not None and p is not None and -INF < p < 0 <= s:
            return f"hactl runs {unit} on {n} ({s}), which Pacemaker scores {p}"
    return None


def clone_negative(ev, unit):
    """hactl runs an instance where the clone's own score (without its instances'
    stickiness and its colocations) is below 0."""
    if unit not in ev.c.clones:
        return None
    scores, _ = ev.explain(unit)
    for n in sorted(ev.nodes(ev.ha, unit) - ev.nodes(ev.pc, unit)):
        node = scores.get(n, {})
        added = sum(r["score"] for r in node.get("reasons", [])
                    if r["kind"] in ("stickiness", "colocation") and not r.get("promotion")
                    and abs(r["score"]) < INF)  # a mandatory colocation's term reads +inf
        s = node.get("score")
        if s is not None and added and -INF < s - added < 0 <= s:
            return f"{unit} on {n}: {s - added} without its stickiness and colocations ({added})"
    return None


def promote_zero(ev, unit):
    if not ev.c.promotable(unit):
        return None
    extra, _ = promoted_diff(ev, unit)
    for node in sorted(extra):
        if 0 in (ev.promotion_of(unit, node), ev.promotion_of(unit, node, plan=True)) or \
                ev.hactl_promotion_sum(unit, node) == 0:
            return f"Pacemaker promotes {unit} on {node} at promotion score 0"
    return None


def promoted_diff(ev, unit):
    """(nodes promoted by Pacemaker only, by hactl only) when both run instances there."""
    if not ev.c.promotable(unit):
        return set(), set()
    both = ev.nodes(ev.pc, unit) & ev.nodes(ev.ha, unit)
    a = (ev.nodes(ev.pc, unit, "promoted") - ev.nodes(ev.ha, unit, "promoted")) & both
    b = (ev.nodes(ev.ha, unit, "promoted") - ev.nodes(ev.pc, unit, "promoted")) & both
    return a, b


def promote_tie(ev, unit):
    a_nodes, b_nodes = promoted_diff(ev, unit)
    for a in sorted(a_nodes):
        for b in sorted(b_nodes):
            pa, pb = ev.promotion_of(unit, a), ev.promotion_of(unit, b)
            if pa is not None and pa == pb:
                return f"{unit}: {a} and {b} both at promotion priority {pa} in Pacemaker; " \
                       f"it promotes {a}, hactl {b}"
    return None


def promote_stickiness(ev, unit):
    a_nodes, b_nodes = promoted_diff(ev, unit)
    scores, _ = ev.explain(unit)
    for b in sorted(b_nodes):
        reasons = scores.get(b, {}).get("reasons", [])
        sticky = sum(r["score"] for r in reasons if r["kind"] == "promotion_stickiness")
        hb = scores.get(b, {}).get("promotion_score")
        for a in sorted(a_nodes):
            ha = scores.get(a, {}).get("promotion_score")
            if sticky and ha is not None and hb is not None and hb - sticky <= ha < hb:
                return f"{unit}: hactl keeps {b} promoted ({hb} with its stickiness {sticky}, " \
                       f"{a} {ha}); Pacemaker promotes {a}"
    return None


def promote_location(ev, unit):
    """Pacemaker promotes a over b by the clone's own score on the nodes (its locations for
    any role, its dependents' scores), where hactl's promotion scores rank b first."""
    a_nodes, b_nodes = promoted_diff(ev, unit)
    scores, _ = ev.explain(unit)
    for a in sorted(a_nodes):
        for b in sorted(b_nodes):
            pa, pb = ev.promotion_of(unit, a), ev.promotion_of(unit, b)
            ha = scores.get(a, {}).get("promotion_score")
            hb = scores.get(b, {}).get("promotion_score")
            if None in (pa, pb, ha, hb) or not (pa > pb and ha <= hb):
                continue
            base = sum(ev.hactl_promotion_sum(unit, n) for n in (a, b))
            if pa + pb != base:  # something beyond the agent's and the role's scores
                return f"{unit}: Pacemaker's promotion priorities {a} {pa}, {b} {pb}; " \
                       f"hactl's {ha} and {hb}"
    return None


def promote_placement(ev, unit):
    """Instances on different nodes, Pacemaker's on nodes with higher promotion scores."""
    if not ev.c.promotable(unit):
        return None
    only_p = ev.nodes(ev.pc, unit) - ev.nodes(ev.ha, unit)
    only_h = ev.nodes(ev.ha, unit) - ev.nodes(ev.pc, unit)
    scores, _ = ev.explain(unit)
    for a in sorted(only_p):
        for b in sorted(only_h):
            ma = sum(int(ev.c.promo[a].get(f"master-{p}", 0)) for p in ev.c.primitives_of(unit))
            mb = sum(int(ev.c.promo[b].get(f"master-{p}", 0)) for p in ev.c.primitives_of(unit))
            ha, hb = scores.get(a, {}).get("score"), scores.get(b, {}).get("score")
            if ma > max(mb, 0) and ha is not None and hb is not None and ha <= hb < ha + ma:
                return f"{unit}: Pacemaker runs an instance on {a} (promotion score {ma}), " \
                       f"hactl on {b} ({mb}); hactl scores them {ha} and {hb}"
    return None


def tie(ev, unit):
    """Pacemaker and hactl each saw the nodes they chose as equal, and chose differently."""
    only_p = ev.nodes(ev.pc, unit) - ev.nodes(ev.ha, unit)
    only_h = ev.nodes(ev.ha, unit) - ev.nodes(ev.pc, unit)
    if not only_p or not only_h:
        return None
    scores, _ = ev.explain(unit)
    for a in sorted(only_p):
        for b in sorted(only_h):
            ha, hb = scores.get(a, {}).get("score"), scores.get(b, {}).get("score")
            pa, pb = ev.pcmk_score(unit, a), ev.pcmk_score(unit, b)
            if ha is not None and ha == hb and (pa is None or pa == pb):
                return (f"{unit}: {a} and {b} tie at {ha} in hactl"
                        + (f" and {pa} in Pacemaker" if pa is not None else "")
                        + f"; Pacemaker takes {a}, hactl {b}")
    return None


def dependents(ev, unit):
    """A primary placed by Pacemaker on a node hactl does not score higher, which Pacemaker
    scores higher once it has weighed in the resources colocated with it."""
    deps = [x for x in ev.c.colocations if unit_of(ev.c, x["with"]) == unit and x["score"] != 0]
    if not deps:
        return None
    scores, _ = ev.explain(unit)
    for a in sorted(ev.nodes(ev.pc, unit) - ev.nodes(ev.ha, unit)):
        for b in sorted(ev.nodes(ev.ha, unit) - ev.nodes(ev.pc, unit)) or [None]:
            ha = scores.get(a, {}).get("score")
            hb = scores.get(b, {}).get("score") if b else None
            pa, pb = ev.pcmk_score(unit, a), ev.pcmk_score(unit, b)
            if ha is None or (hb is not None and ha > hb):
                continue
            if pa is not None and (pb is None or pa > pb):
                names = ", ".join(sorted({x["rsc"] for x in deps}))
                return (f"{unit} on {a}: Pacemaker {pa}" + (f" against {pb} on {b}" if b else "")
                        + f", hactl {ha}" + (f" against {hb}" if b else "")
                        + f"; colocated with it: {names}")
    return None


def group_partial(ev, unit):
    """Pacemaker runs the group's first members (not all), hactl all of them or none."""
    if unit not in ev.c.groups:
        return None
    members = ev.c.groups[unit]
    on = [bool(ev.pc.get(m)) for m in members]
    if not on[0] or all(on) or any(on[on.index(False):]):
        return None
    h = [bool(ev.ha.get(m)) for m in members]
    if any(h) and not all(h):
        return None
    cut = on.index(False)
    return (f"Pacemaker runs {', '.join(members[:cut])} and stops {', '.join(members[cut:])}; "
            f"hactl runs " + ("the whole group" if all(h) else "none of it"))


DETECTORS = [(ORDER, order_blocked), (PROMOTE_ZERO, promote_zero),
             (GROUP_PARTIAL, group_partial), (NEGATIVE, negative),
             (CLONE_NEGATIVE, clone_negative),
             (PROMOTE_PLACEMENT, promote_placement), (TIE, tie), (DEPENDENTS, dependents),
             (NEGATIVE, negative_in_pacemaker),
             (PROMOTE_STICKINESS, promote_stickiness), (PROMOTE_LOCATION, promote_location),
             (PROMOTE_TIE, promote_tie)]


def ordered_after(c, unit):
    """Units this one is ordered after (Mandatory): if they do not run, neither does it."""
    return {unit_of(c, o["first"]) for o in c.orders
            if unit_of(c, o["then"]) == unit and o["kind"] == "Mandatory"} - {unit}


def cited_firsts(ev, unit, firsts):
    """Those of `firsts` that Pacemaker names as why it does not start or keep `unit`."""
    prims = set(ev.c.primitives_of(unit))
    out = []
    for a in ev.actions:
        m = re.match(r"(unrunnable|required) (\S+) ", a.get("reason", "") + " ")
        kept_off = a["action"] in ("stop", "demote") or a.get("blocked") == "true"
        if m and kept_off and a["resource"].split(":")[0] in prims:
            out += [f for f in firsts if m.group(2) == f or m.group(2) in
                    ev.c.primitives_of(f)]
    return sorted(set(out))


def own_rule(ev, unit):
    """(category, detail) of the first detector that explains the unit, or None."""
    for category, detect in DETECTORS:
        detail = detect(ev, unit)
        if detail:
            return category, detail
    return None


def classify_units(ev, diffs):
    """[(unit, category, detail)] for each differing unit; consequences as (unit, None, of):
    a unit colocated with one that differs follows it; one ordered after a differing one
    follows it unless a rule of its own explains it. Units that only follow each other (a
    colocation one way, an order the other) are classified on their own."""
    c = ev.c
    units = []
    for prim, _a, _b in diffs:
        u = unit_of(c, prim)
        if u not in units:
            units.append(u)
    found, upstream = {}, {}
    for u in units:
        primaries = sorted(depends_on(c, u) & set(units))
        firsts = sorted(ordered_after(c, u) & set(units))
        blocked = order_blocked(ev, u)  # Pacemaker's own reasons say so, whatever else differs
        if blocked:
            found[u] = (ORDER, blocked)
        elif primaries:
            found[u], upstream[u] = (None, f"follows {', '.join(primaries)}"), primaries
        elif cited_firsts(ev, u, firsts):
            cited = cited_firsts(ev, u, firsts)
            found[u] = (None, f"follows {', '.join(cited)} (Pacemaker: unrunnable "
                              f"{', '.join(cited)})")
            upstream[u] = cited
        else:
            found[u] = own_rule(ev, u)
            if found[u] is None and firsts:
                found[u] = (None, f"follows {', '.join(firsts)} (ordered after it)")
                upstream[u] = firsts
    rooted = spread({u for u in units if found[u] and found[u][0]}, upstream)
    for u in units:
        if u not in rooted:  # in a loop of consequences: its own rule, if any
            own = own_rule(ev, u)
            if own:
                found[u] = own
                upstream.pop(u, None)
    rooted = spread({u for u in units if found[u] and found[u][0]}, upstream)
    return [(u, *(found[u] if u in rooted else (UNCLASSIFIED, f"{u}: no rule found")))
            for u in units]


def spread(rooted, upstream):
    """The units explained: those with a rule, and those following an explained one."""
    rooted = set(rooted)
    for _ in range(len(upstream) + 1):  # each pass explains at least one more, or stops
        more = {u for u, ups in upstream.items() if u not in rooted and set(ups) & rooted}
        if not more:
            break
        rooted |= more
    return rooted


def classify(c, pc, ha, diffs, d, hactl):
    """(categories, detail): the categories of the case's root differences, in the order of
    DETECTORS, and one line per differing unit."""
    ev = Evidence(c, pc, ha, d, hactl)
    per_unit = classify_units(ev, diffs)
    cats = []
    for _u, cat, _detail in per_unit:
        if cat is not None and cat not in cats:
            cats.append(cat)
    if not cats:  # only consequences: of a cycle of differences
        cats = [UNCLASSIFIED]
    detail = "\n".join(f"  {u}: {cat or 'consequence'}: {detail}" for u, cat, detail in per_unit)
    return cats, detail
