"""`hactl status --json` against its schema, docs/status.schema.json (JSON Schema 2020-12).

FixtureSchemaTest (no cluster, no root): the schema is itself a valid schema; the golden
fixtures tests/golden/status-*.json (rendered by tests/unit/status_golden_test.cpp) validate,
so the golden screens are drawn from answers an agent could give; and the schema is not
vacuous (it rejects a missing field, a wrong type, an unknown enum value) while it accepts
fields it does not know (adding a field is not a breaking change).

LiveSchemaTest (root: network namespaces): a real 3-node cluster with one VIP; the output of
`hactl status --json` on every node validates, in steady state, with a node in standby and
operator intents (a move with a lifetime, a ban until cleared), and on the survivors after an
agent is killed (an offline node with a reason).

Needs python3-jsonschema (scripts/setup.sh installs it). Run:
HACTL_BIN_DIR=build/bin python3 tests/integration/test_status_schema.py
"""

import copy
import glob
import json
import os
import signal
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import REPO, ClusterTestCase  # noqa: E402

try:
    import jsonschema
except ImportError:  # pragma: no cover - reported as a failure, not a skip
    jsonschema = None

SCHEMA_PATH = os.path.join(REPO, "docs", "status.schema.json")
FIXTURES = sorted(glob.glob(os.path.join(REPO, "tests", "golden", "status-*.json")))
VIP = "10.213.0.100"

RESOURCES = f"""
resources:
  - id: web-ip
    type: vip
    params: {{address: {VIP}/24, interface: eth0}}
    ops: {{monitor: {{interval: 500ms, timeout: 5s}}}}
"""


def load(path):
    with open(path) as f:
        return json.load(f)


def validator():
    if jsonschema is None:
        raise AssertionError("python3-jsonschema is not installed (scripts/setup.sh installs it)")
    schema = load(SCHEMA_PATH)
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(schema)


def problems(v, doc):
    """Every schema violation, one line each with its JSON path."""
    return ["$" + "".join(f"[{p!r}]" for p in e.absolute_path) + ": " + e.message
            for e in sorted(v.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))]


class SchemaAssertions:
    def assertValid(self, v, doc, what):
        errs = problems(v, doc)
        self.assertEqual(errs, [], f"{what} does not match {SCHEMA_PATH}:\n" + "\n".join(errs)
                         + "\n" + json.dumps(doc, indent=1)[:6000])

    def assertConsistent(self, doc, what):
        """What the schema cannot say: relations between fields."""
        names = [n["name"] for n in doc["nodes"]]
        selves = [n["name"] for n in doc["nodes"] if n["self"]]
        self.assertEqual(selves, [doc["node"]], f"{what}: exactly one self entry, the answerer")
        coords = [n["name"] for n in doc["nodes"] if n["coordinator"]]
        self.assertEqual(coords, [doc["coordinator"]] if doc["coordinator"] else [],
                         f"{what}: the coordinator flag marks the coordinator named")
        # (A lone voter has quorum and a lease that never ends: null too.)
        if not doc["quorum"]:
            self.assertIsNone(doc["lease_remaining_ms"], f"{what}: no lease without quorum")
        if len(names) > 1 and doc["quorum"]:
            self.assertIsNotNone(doc["lease_remaining_ms"], f"{what}: a lease with quorum")
        for n in doc["nodes"]:
            self.assertEqual(n["reason"] != "", n["state"] == "offline",
                             f"{what}: a reason exactly when offline: {n}")
        for r in doc["resources"]:
            self.assertEqual(r["fail_count"], sum(r["fail_counts"].values()), f"{what}: {r}")
            self.assertLessEqual(set(r["nodes"]) | set(r["fail_counts"]), set(names), what)
        d = doc["document"]
        self.assertLessEqual(set(d["standby"]), set(names), what)
        for p in d["placements"]:
            self.assertEqual(p["expires"] is None, p["expires_in_s"] is None, f"{what}: {p}")


class FixtureSchemaTest(unittest.TestCase, SchemaAssertions):
    def setUp(self):
        self.v = validator()

    def test_fixtures_exist(self):
        names = [os.path.basename(f) for f in FIXTURES]
        self.assertIn("status-healthy.json", names)
        self.assertIn("status-no-quorum.json", names)

    def test_golden_fixtures_match_the_schema(self):
        for path in FIXTURES:
            with self.subTest(fixture=os.path.basename(path)):
                doc = load(path)
                self.assertValid(self.v, doc, path)
                self.assertConsistent(doc, path)

    def test_schema_rejects_what_the_agent_never_sends(self):
        base = load(FIXTURES[0])
        cases = {
            "missing quorum": lambda d: d.pop("quorum"),
            "missing document": lambda d: d.pop("document"),
            "term as a string": lambda d: d.__setitem__("term", "7"),
            "unknown node state": lambda d: d["nodes"][0].__setitem__("state", "up"),
            "unknown role": lambda d: d.__setitem__("role", "leader"),
            "unknown policy": lambda d: d.__setitem__("no_quorum_policy", "panic"),
            "unknown resource state": lambda d: d["resources"][0].__setitem__("state", "running"),
            "resource without top": lambda d: d["resources"][0].pop("top"),
            "negative counter": lambda d: d["transport"].__setitem__("sent", -1),
            "drop reason missing": lambda d: d["transport"]["dropped"].pop("auth_failed"),
            "placement kind": lambda d: d["document"]["placements"].append(
                dict(kind="avoid", resource="x", node="n1", created=1, expires=None,
                     expires_in_s=None, by="uid 0")),
            "document version": lambda d: d["document"].__setitem__("version", 3),
        }
        for what, mutate in cases.items():
            with self.subTest(case=what):
                doc = copy.deepcopy(base)
                mutate(doc)
                self.assertNotEqual(problems(self.v, doc), [], f"{what} was accepted")

    def test_schema_accepts_added_fields(self):
        doc = copy.deepcopy(load(FIXTURES[0]))
        doc["some_future_field"] = {"x": 1}
        doc["nodes"][0]["zone"] = "a"
        doc["resources"][0]["since"] = 12
        doc["document"]["notes"] = []
        doc["transport"]["dropped"]["some_new_reason"] = 0
        self.assertValid(self.v, doc, "a status with fields added")


@unittest.skipUnless(os.geteuid() == 0, "needs root (network namespaces)")
class LiveSchemaTest(ClusterTestCase, SchemaAssertions):
    def check_all(self, c, what, names=None):
        names = names or list(c.nodes)
        for name in names:
            doc = c.status(name)
            self.assertIsNotNone(doc, f"{what}: hactl status --json on {name} failed")
            self.assertValid(self.v, doc, f"{what}: {name}'s status")
            self.assertConsistent(doc, f"{what}: {name}'s status")
        return doc

    def ok(self, c, node, *args):
        r = c.hactl(node, *args)
        self.assertEqual(r.returncode, 0, f"hactl {' '.join(args)}: {r.stdout}{r.stderr}")

    def test_live_status_matches_the_schema(self):
        self.v = validator()
        c = self.cluster(resources_yaml=RESOURCES)
        c.start_all()
        c.wait_until(lambda: c.agreed_coordinator(), 10, 0.1, "a coordinator")
        holder = c.wait_until(lambda: (lambda h: h[0] if len(h) == 1 else None)(c.holders(VIP)),
                              15, 0.05, "the VIP on one node")
        c.wait_until(lambda: all(s and s["resources"][0]["state"] == "started"
                                 for s in c.views().values()), 10, 0.1, "web-ip started")
        self.check_all(c, "steady state")

        # A standby node, and both shapes of placement intent.
        others = [n for n in c.nodes if n != holder]
        self.ok(c, holder, "node", "standby", others[0])
        self.ok(c, holder, "resource", "ban", "web-ip", others[0], "--lifetime", "forever")
        self.ok(c, holder, "resource", "move", "web-ip", others[1], "--lifetime", "1h")

        def intents_everywhere():
            for s in c.views().values():
                if not s or len(s["document"]["placements"]) != 2:
                    return False
                if not any(n["state"] == "standby" for n in s["nodes"]):
                    return False
            return True

        c.wait_until(intents_everywhere, 10, 0.1, "the intents and standby on every node")
        doc = self.check_all(c, "with intents")
        self.assertEqual(sorted(p["expires_in_s"] is None for p in doc["document"]["placements"]),
                         [False, True])

        # An agent killed: the survivors show it offline, with a reason.
        coordinator = c.agreed_coordinator()
        victim = next(n for n in c.nodes if n != coordinator)
        c.kill(victim, signal.SIGKILL)
        survivors = [n for n in c.nodes if n != victim]
        c.wait_until(lambda: all(s and next(n for n in s["nodes"] if n["name"] == victim)
                                 ["state"] == "offline" for s in c.views(survivors).values()),
                     10, 0.1, f"{victim} offline on the survivors")
        self.check_all(c, "one agent killed", survivors)


if __name__ == "__main__":
    unittest.main(verbosity=2)
