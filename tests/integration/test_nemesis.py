"""The nemesis (tests/integration/nemesis.py, docs/nemesis.md) in CI: a short seeded run on 3
nodes and one on 2 nodes + a witness, each judged over its whole history (the VIP never on two
nodes at once, never more than promoted_max masters, app never on two nodes, convergence after
the last heal, a flap bound); and proof that the checker can fail: a VIP and a master injected
by hand must be reported, and made-up histories judged as they should be.

Seeds: fixed, or HACTL_NEMESIS_SEED for all three runs. A failure prints the seed, the command
that reproduces the schedule, the event history and the agents' logs.
Run as root: python3 tests/integration/test_nemesis.py
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nemesis  # noqa: E402
from nemesis import Run, first_samples_inside, moves, spans, taken_down  # noqa: E402
from nemesis import MS, env_seed as seed  # noqa: E402
from netns import cannot_run, main  # noqa: E402


def runs(*spec):
    """Runs from (flag, vip, from_ms, to_ms): samples at from and to, each 0.1 ms long."""
    return [Run(flag, f"{int(vip)},-,0", a * MS, a * MS + MS // 10, b * MS, b * MS + MS // 10)
            for flag, vip, a, b in spec]


def vip(r):
    return r.vip


class CheckerTest(unittest.TestCase):
    """The rules on made-up histories: no root needed."""

    def test_the_disruption_rule_sees_what_a_kept_node_lost(self):
        # Held at the fault's start (100 ms), lost at 250 ms, inside the window up to 400 ms.
        lost = runs(("g", 1, 0, 240), ("v", 0, 250, 500))
        self.assertEqual(taken_down(lost, vip, 100 * MS, 400 * MS), 250 * MS)
        self.assertIsNone(taken_down(lost, vip, 100 * MS, 200 * MS), "after the window")
        kept = runs(("g", 1, 0, 500))
        self.assertIsNone(taken_down(kept, vip, 100 * MS, 400 * MS))
        # Not held when the fault began: gaining it and losing it again is not the rule's.
        later = runs(("g", 0, 0, 140), ("v", 1, 150, 200), ("v", 0, 210, 500))
        self.assertIsNone(taken_down(later, vip, 100 * MS, 400 * MS))

    def test_a_clean_handover_is_no_violation(self):
        h = {"n1": runs(("g", 1, 0, 100), ("v", 0, 104, 300)),
             "n2": runs(("g", 0, 0, 150), ("v", 1, 154, 300))}
        self.assertEqual(first_samples_inside(h, vip, 1), [])

    def test_a_sample_of_a_second_holder_inside_a_span_is_a_violation(self):
        h = {"n1": runs(("g", 1, 0, 100), ("c", 1, 100, 300)),
             "n2": runs(("g", 0, 0, 150), ("v", 1, 154, 160), ("v", 0, 164, 300))}
        v = first_samples_inside(h, vip, 1)
        self.assertEqual(len(v), 1)
        self.assertEqual((v[0][0], v[0][1], v[0][2]), (154 * MS, "n2", ["n1"]))

    def test_overlapping_spans_are_reported_whichever_node_started_first(self):
        h = {"n1": runs(("g", 1, 50, 200)), "n2": runs(("g", 1, 10, 100))}
        self.assertEqual([x[1] for x in first_samples_inside(h, vip, 1)], ["n1"])

    def test_nothing_is_concluded_across_a_sampling_gap(self):
        # n1's samples at 100 and 400 ms both saw the VIP, but with a gap (flag g) between:
        # n1 may have let it go and taken it back, so n2 at 200 ms proves nothing.
        h = {"n1": runs(("g", 1, 0, 100), ("g", 1, 400, 500)),
             "n2": runs(("g", 0, 0, 190), ("v", 1, 200, 210), ("v", 0, 220, 500))}
        self.assertEqual(first_samples_inside(h, vip, 1), [])

    def test_a_span_continues_across_runs_without_a_gap(self):
        h = {"n1": runs(("g", 1, 0, 100), ("c", 1, 100, 200), ("c", 1, 200, 300))}
        self.assertEqual([(lo, hi) for _b, _e, lo, hi in spans(h["n1"], vip)],
                         [(MS // 10, 300 * MS)])

    def test_a_limit_of_two_allows_two_but_not_three(self):
        two = {"n1": runs(("g", 1, 0, 300)), "n2": runs(("g", 1, 50, 300)),
               "n3": runs(("g", 0, 0, 300))}
        self.assertEqual(first_samples_inside(two, vip, 2), [])
        three = dict(two, n3=runs(("g", 0, 0, 90), ("v", 1, 100, 300)))
        self.assertEqual([x[1] for x in first_samples_inside(three, vip, 2)], ["n3"])

    def test_moves_count_activations_elsewhere(self):
        h = {"n1": runs(("g", 1, 0, 100), ("v", 0, 104, 200), ("v", 1, 204, 300),
                        ("v", 0, 304, 400)),
             "n2": runs(("g", 0, 0, 150), ("v", 1, 154, 180), ("v", 0, 184, 330),
                        ("v", 1, 334, 400))}
        # after t=0: n2 (move), n1 (move), n2 (move); 3 activations
        self.assertEqual(moves(h, vip, 0, "n1"), (3, 3))
        # restarts in place are activations, not moves
        h = {"n1": runs(("g", 1, 0, 100), ("v", 0, 104, 200), ("v", 1, 204, 300))}
        self.assertEqual(moves(h, vip, 0, "n1"), (1, 0))


class NemesisTest(unittest.TestCase):
    """Real clusters in network namespaces under a seeded fault schedule."""

    def setUp(self):
        if os.geteuid() != 0:
            cannot_run("needs root for network namespaces")

    def nemesis(self, **kw):
        nem = nemesis.Nemesis(**kw)
        res = nem.run()
        self.assertEqual(res.harness_errors, [], f"seed {nem.seed}: the harness failed")
        return nem, res

    def test_three_nodes(self):
        nem, res = self.nemesis(seed=seed(20261127), duration=75, topology="3")
        self.assertTrue(res.passed, f"seed {nem.seed}: {res.violations}; reproduce with: "
                                    f"{nem.command()}")
        self.assertGreaterEqual(len(res.faults), 5)

    def test_two_nodes_and_a_witness(self):
        nem, res = self.nemesis(seed=seed(4242), duration=60, topology="2w")
        self.assertTrue(res.passed, f"seed {nem.seed}: {res.violations}; reproduce with: "
                                    f"{nem.command()}")
        self.assertGreaterEqual(len(res.faults), 4)

    def test_the_checker_reports_an_injected_violation(self):
        nem, res = self.nemesis(seed=seed(77), duration=20, topology="3", inject=True)
        self.assertEqual(sorted(r for r, _a, _b in res.injected), ["promoted", "vip"])
        self.assertEqual(sorted(res.caught), ["promoted", "vip"],
                         f"seed {nem.seed}: injected {res.injected}, reported "
                         f"{res.violations}")
        self.assertTrue(res.passed, f"seed {nem.seed}: {res.violations}")


if __name__ == "__main__":
    main()
