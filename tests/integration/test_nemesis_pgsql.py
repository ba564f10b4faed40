"""The nemesis with PostgreSQL (tests/integration/nemesis.py --db pgsql; docs/nemesis.md,
"PostgreSQL") in CI: Debian's PostgreSQL 15 under the unchanged ocf:heartbeat:pgsql agent, a
synchronous promotable clone on 3 nodes with fencing, a client writing through the VIP all
along, and a short seeded schedule of faults, judged over its whole history: never two
primaries accepting writes at once, the VIP never on two powered nodes, app never on two,
convergence after the last heal, the flap bounds, and every acknowledged row (the client's and
the probes') on the final primary. Then proof that the checker can fail: a second primary
started by hand, a VIP added by hand and an acknowledged row deleted must be reported, and
nothing else; and made-up probe histories judged as they should be.

Seeds: fixed, or HACTL_NEMESIS_SEED for both runs. A failure prints the seed, the command that
reproduces the schedule, the event history and the agents' logs. About 3 minutes.
Run as root: python3 tests/integration/test_nemesis_pgsql.py
"""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import nemesis  # noqa: E402
import test_pgsql  # noqa: E402
from nemesis import PG_RULES, PgRun, Run, first_samples_inside, settled  # noqa: E402
from nemesis import MS, env_seed as seed  # noqa: E402
from netns import cannot_run, main  # noqa: E402


def probes(*spec):
    """Probe runs from (flag, role, from_ms, to_ms): samples at from and to, each 5 ms long."""
    return [PgRun(flag, role, a * MS, a * MS + 5 * MS, b * MS, b * MS + 5 * MS)
            for flag, role, a, b in spec]


def writes(r):
    return PG_RULES["writes"][1](r)


class PgCheckerTest(unittest.TestCase):
    """The pgsql rules on made-up histories: no root needed."""

    def test_a_second_primary_writing_inside_the_first_ones_writes_is_a_violation(self):
        h = {"n1": probes(("g", "write", 0, 1000)),
             "n2": probes(("g", "standby", 0, 400), ("v", "write", 450, 600),
                          ("v", "down", 650, 1000))}
        v = first_samples_inside(h, writes, 1)
        self.assertEqual([(t, x, others) for t, x, others in v], [(450 * MS, "n2", ["n1"])])

    def test_a_failover_is_no_violation(self):
        # n1 writes, then is gone (fenced); n2 promoted afterwards.
        h = {"n1": probes(("g", "write", 0, 500), ("v", "down", 550, 2000)),
             "n2": probes(("g", "standby", 0, 900), ("v", "write", 950, 2000))}
        self.assertEqual(first_samples_inside(h, writes, 1), [])

    def test_a_blocked_commit_ends_a_span(self):
        # n1's commit blocked in between: nothing is concluded about n1 then.
        h = {"n1": probes(("g", "write", 0, 300), ("v", "blocked", 350, 700),
                          ("v", "write", 750, 1000)),
             "n2": probes(("g", "standby", 0, 400), ("v", "write", 450, 600),
                          ("v", "standby", 650, 1000))}
        self.assertEqual(first_samples_inside(h, writes, 1), [])

    def test_slow_probes_keep_the_role_for_moves_but_not_for_writes(self):
        rs = probes(("g", "write", 0, 100), ("v", "slow", 150, 150), ("v", "write", 200, 300))
        self.assertEqual([r.role for r in settled(rs)], ["write", "write", "write"])
        self.assertEqual([r.role for r in rs], ["write", "slow", "write"])
        self.assertEqual([r.role for r in settled(probes(("g", "error", 0, 10)))], ["down"])

    def test_a_powered_off_node_holds_nothing(self):
        on = Run("g", "1,-,1,0", 0, 1, 2, 3)
        off = Run("g", "1,-,1,1", 0, 1, 2, 3)
        self.assertTrue(PG_RULES["vip"][1](on) and PG_RULES["app"][1](on))
        self.assertFalse(PG_RULES["vip"][1](off) or PG_RULES["app"][1](off))
        self.assertFalse(Run("g", "1,-,1", 0, 1, 2, 3).off, "the Stateful sampler's value")


class PgNemesisTest(unittest.TestCase):
    """A real cluster with PostgreSQL in network namespaces under a seeded fault schedule."""

    def setUp(self):
        if os.geteuid() != 0:
            cannot_run("needs root for network namespaces")
        why = test_pgsql.missing()
        if why:
            cannot_run(why)

    def nemesis(self, **kw):
        nem = nemesis.Nemesis(db="pgsql", topology="3", **kw)
        res = nem.run()
        self.assertEqual(res.harness_errors, [], f"seed {nem.seed}: the harness failed")
        return nem, res

    def test_faults_with_postgres(self):
        nem, res = self.nemesis(seed=seed(20261127), duration=60)
        self.assertTrue(res.passed, f"seed {nem.seed}: {res.violations}; reproduce with: "
                                    f"{nem.command()}")
        # The schedule runs on wall-clock time, the operator's steps between waves included:
        # 3 to 7 faults in 60 s in the runs of docs/nemesis.md.
        self.assertGreaterEqual(len(res.faults), 3)
        self.assertGreater(res.rows.get("acked", 0), 500, res.rows)
        self.assertEqual((res.rows.get("lost"), res.rows.get("lost_probes")), (0, 0), res.rows)

    def test_the_checker_reports_injected_violations(self):
        nem, res = self.nemesis(seed=seed(77), duration=20, inject=True)
        self.assertEqual(sorted(r for r, _a, _b in res.injected), ["lost", "vip", "writes"])
        self.assertEqual(sorted(res.caught), ["lost", "vip", "writes"],
                         f"seed {nem.seed}: injected {res.injected}, reported "
                         f"{res.violations}")
        self.assertTrue(res.passed, f"seed {nem.seed}: {res.violations}")


if __name__ == "__main__":
    main()
