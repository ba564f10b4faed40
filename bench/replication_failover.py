"""Replicated databases under hactl, timed as a client sees them: Debian's PostgreSQL 15 with
its own ocf:heartbeat:pgsql agent (unchanged) as a synchronous promotable clone, and Debian's
redis-server with ocf:heartbeat:redis (asynchronous), each on three real agents in network
namespaces, a vip colocated with the primary, fence_netns as the fence device (the
configurations of tests/integration/test_pgsql.py, test_redis.py and docs/replication.md). A
client in the switch's namespace writes numbered rows through the vip without pause
(dbclient.py) and records every acknowledged write.

- crash: each trial on a fresh cluster. Once the client has 100 acknowledged rows, the
  primary's postgres, agent and guard are killed (SIGKILL) and its link cut at once; the time
  from that to the first write the client gets acknowledged again, and the acknowledged rows
  missing on the new primary (PostgreSQL: must be 0, synchronous replication; Redis: the tail
  its asynchronous replication had not sent yet).
- switchover: on one cluster, `hactl resource move CLONE NODE --promoted` (PostgreSQL: to the
  synchronous standby, and the old primary rejoins before the next trial: its lock file
  removed, `hactl resource cleanup`, as docs/replication.md says). The longest time the client
  went without an acknowledged write, from the command until writes flow on the new primary,
  and the rows lost.

Default timing (heartbeat 100 ms, node_timeout 300 ms). The anchor, measured on these machines
by the team (not in this run: no Pacemaker is installed here): Pacemaker with the pgsql agent, a
primary crashed, first write accepted again after 11.3 s (5.5 s with fast timing).

Usage (root): python3 bench/replication_failover.py [TRIALS] [pgsql] [redis] [crash] [switchover]
(default 20 trials of each, both databases; HACTL_BENCH_DUMP_SLOWER_THAN=SECONDS prints the
agents' logs of a crash trial slower than that)
"""

import os
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))
from netns import Cluster  # noqa: E402
import test_pgsql  # noqa: E402
import test_redis  # noqa: E402
from replication import VIP, Client  # noqa: E402
from vip_failover import percentile  # noqa: E402


def summary(name, seconds, lost):
    if not seconds:
        print(f"{name}: no trial finished")
        return
    print(f"{name}: {len(seconds)} trials, median {statistics.median(seconds):.2f} s, "
          f"p95 {percentile(seconds, 95):.2f} s, min {min(seconds):.2f} s, "
          f"max {max(seconds):.2f} s; acknowledged rows lost: {sum(lost)} "
          f"(per trial {lost})", flush=True)


DATABASES = {"pgsql": (test_pgsql.PgNodes, test_pgsql.missing),
             "redis": (test_redis.RedisNodes, test_redis.missing)}


def fresh(db):
    c = Cluster()
    c.setup()
    pg = DATABASES[db][0](c)
    pg.configure()
    c.start_all()
    return c, pg


def crash_trial(db, k):
    c, pg = fresh(db)
    client = None
    try:
        old = pg.wait_steady()
        client = Client(c, pg.kind)
        c.wait_until(lambda: len(client.acked()) >= 100, 60, 0.05, "100 acknowledged rows")
        # Redis: how far behind each replica was, as the primary last heard (its replicas
        # acknowledge their offset once a second).
        lag = pg.lag(old) if hasattr(pg, "lag") else None
        t_crash = pg.crash(old)
        t_dead = time.monotonic()
        c.wait_until(lambda: client.first_ack_after(t_dead) is not None, 120, 0.02,
                     "a write acknowledged after the crash")
        took = client.first_ack_after(t_dead) - t_crash
        survivors = sorted(set(c.nodes) - {old})
        new = pg.primaries(survivors)
        client.close()
        lost = len(set(client.acked()) - pg.rows(new[0])) if len(new) == 1 else -1
        if took > float(os.environ.get("HACTL_BENCH_DUMP_SLOWER_THAN", "inf")):
            c.dump_logs(int(os.environ.get("DUMP_LINES", "400")))
        print(f"  crash {k}: {old} crashed, {new} promoted, first write after {took:.2f} s, "
              f"{lost} lost" + (f" (replication lag before, bytes: {lag})" if lag else ""),
              flush=True)
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


def switchover_trials(db, trials):
    c, pg = fresh(db)
    client = None
    gaps, lost = [], []
    try:
        primary = pg.wait_steady()
        client = Client(c, pg.kind, deadline=3600)
        for k in range(trials):
            to = pg.switch_target(primary)
            before = len(client.acked())
            c.wait_until(lambda: len(client.acked()) >= before + 50, 60, 0.05, "50 writes")
            t_move = time.monotonic()
            r = c.hactl(primary, "resource", "move", pg.clone, to, "--promoted")
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
            pg.after_switchover(primary)
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
    dbs = [a for a in args if a in DATABASES] or list(DATABASES)
    kinds = [a for a in args if a in ("crash", "switchover")] or ["crash", "switchover"]
    for db in dbs:
        why = DATABASES[db][1]()
        if why:
            raise SystemExit(f"replication_failover: {why}")
        title = {"pgsql": "PostgreSQL 15 + ocf:heartbeat:pgsql (synchronous)",
                 "redis": "redis-server 7 + ocf:heartbeat:redis (asynchronous)"}[db]
        print(f"{title}, 3 nodes, default timing, {trials} trials", flush=True)
        if "crash" in kinds:
            results = [crash_trial(db, k) for k in range(trials)]
            summary(f"{db}: crash of the primary to the first acknowledged write",
                    [t for t, _ in results], [n for _, n in results])
        if "switchover" in kinds:
            gaps, lost = switchover_trials(db, trials)
            summary(f"{db}: switchover (resource move --promoted), longest time without a "
                    "write", gaps, lost)


if __name__ == "__main__":
    main()
