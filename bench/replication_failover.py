"""Replicated databases under hactl, timed as a client sees them: Debian's PostgreSQL 15 with
its own ocf:heartbeat:pgsql agent (unchanged) as a synchronous promotable clone on three real
agents in network namespaces, a vip colocated with the primary, fence_netns as the fence device
(the configuration of tests/integration/test_pgsql.py and docs/replication.md). A client in the
switch's namespace writes numbered rows through the vip without pause (dbclient.py) and records
every acknowledged commit.

- crash: each trial on a fresh cluster. Once the client has 100 acknowledged rows, the
  primary's postgres, agent and guard are killed (SIGKILL) and its link cut at once; the time
  from that to the first write the client gets acknowledged again, and the acknowledged rows
  missing on the new primary (must be 0: synchronous replication).
- switchover: on one cluster, `hactl resource move pgsql-clone SYNC_STANDBY --promoted`, then
  the old primary rejoins (its lock file removed, `hactl resource cleanup`, as docs/replication.md
  says) before the next trial. The longest time the client went without an acknowledged write,
  from the command until writes flow on the new primary, and the rows lost.

Default timing (heartbeat 100 ms, node_timeout 300 ms). The anchor, measured on these machines
by the team (not in this run: no Pacemaker is installed here): Pacemaker with the pgsql agent, a
primary crashed, first write accepted again after 11.3 s (5.5 s with fast timing).

Usage (root): python3 bench/replication_failover.py [TRIALS] [crash] [switchover]
(default 20 trials of each)
"""

import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from netns import Cluster  # noqa: E402
from test_pgsql import Client, PgNodes, VIP, missing  # noqa: E402
from vip_failover import percentile  # noqa: E402


def summary(name, seconds, lost):
    if not seconds:
        print(f"{name}: no trial finished")
        return
    print(f"{name}: {len(seconds)} trials, median {statistics.median(seconds):.2f} s, "
          f"p95 {percentile(seconds, 95):.2f} s, min {min(seconds):.2f} s, "
          f"max {max(seconds):.2f} s; acknowledged rows lost: {sum(lost)} "
          f"(per trial {lost})", flush=True)


def fresh():
    c = Cluster()
    c.setup()
    pg = PgNodes(c)
    pg.configure()
    c.start_all()
    return c, pg


def crash_trial(k):
    c, pg = fresh()
    client = None
    try:
        old = pg.wait_steady()
        client = Client(c)
        c.wait_until(lambda: len(client.acked()) >= 100, 60, 0.05, "100 acknowledged rows")
        t_crash = pg.crash(old)
        t_dead = time.monotonic()
        c.wait_until(lambda: client.first_ack_after(t_dead) is not None, 120, 0.02,
                     "a write acknowledged after the crash")
        took = client.first_ack_after(t_dead) - t_crash
        survivors = sorted(set(c.nodes) - {old})
        new = pg.primaries(survivors)
        client.close()
        lost = len(set(client.acked()) - pg.rows(new[0])) if len(new) == 1 else -1
        print(f"  crash {k}: {old} crashed, {new} promoted, first write after {took:.2f} s, "
              f"{lost} lost", flush=True)
        return took, lost
    except BaseException:
        c.dump_logs(int(os.environ.get("DUMP_LINES", "60")))
        if client:
            print("client's last failures:", client.fails[-5:])
        raise
    finally:
        if client:
            client.close()
        pg.stop_all()
        c.cleanup()


def switchover_trials(trials):
    c, pg = fresh()
    client = None
    gaps, lost = [], []
    try:
        primary = pg.wait_steady()
        client = Client(c, deadline=3600)
        for k in range(trials):
            to = pg.sync_standbys(primary)[0]
            before = len(client.acked())
            c.wait_until(lambda: len(client.acked()) >= before + 50, 60, 0.05, "50 writes")
            t_move = time.monotonic()
            r = c.hactl(primary, "resource", "move", "pgsql-clone", to, "--promoted")
            if r.returncode != 0:
                raise RuntimeError(r.stdout + r.stderr)
            c.wait_until(lambda: pg.primaries() == [to] and c.holders(VIP) == [to], 60, 0.05,
                         f"{to} the only primary, with the vip")
            c.wait_until(lambda: client.first_ack_after(time.monotonic() - 0.2), 30, 0.02,
                         "writes flowing on the new primary")
            gap = client.longest_gap(t_move, time.monotonic())
            missing_rows = len(set(client.acked()) - pg.rows(to))
            gaps.append(gap)
            lost.append(missing_rows)
            print(f"  switchover {k}: {primary} -> {to}, longest time without a write "
                  f"{gap:.2f} s, {missing_rows} lost", flush=True)
            pg.rejoin_demoted(primary)
            primary = pg.wait_steady()
    finally:
        if client:
            client.close()
        pg.stop_all()
        c.cleanup()
    return gaps, lost


def main():
    args = sys.argv[1:]
    trials = int(args.pop(0)) if args and args[0].isdigit() else 20
    kinds = args or ["crash", "switchover"]
    why = missing()
    if why:
        raise SystemExit(f"replication_failover: {why}")
    print(f"PostgreSQL 15 + ocf:heartbeat:pgsql (sync), 3 nodes, default timing, "
          f"{trials} trials", flush=True)
    if "crash" in kinds:
        results = [crash_trial(k) for k in range(trials)]
        summary("crash of the primary to the first acknowledged write",
                [t for t, _ in results], [n for _, n in results])
    if "switchover" in kinds:
        gaps, lost = switchover_trials(trials)
        summary("switchover (resource move --promoted): longest time without a write",
                gaps, lost)


if __name__ == "__main__":
    main()
