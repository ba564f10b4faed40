"""PostgreSQL streaming replication under hactl, with Debian's own ocf:heartbeat:pgsql.

Debian 12's PostgreSQL 15 and the pgsql agent, unchanged, as a promotable clone on three netns
nodes, in synchronous mode, with a vip colocated with the promoted instance (docs/replication.md
has the same configuration as a guide). Each node's data directory is /run/pg/data in its
private /run. A client in the switch's namespace writes numbered rows through the vip all the
time and records every commit the server acknowledged (dbclient.py).
  - a crash of the primary's node (its agent, its guard and postgres killed with SIGKILL, its
    link cut): a replica holding every acknowledged row is promoted, the vip follows, the client
    writes again, and every acknowledged row is on the new primary. The old primary then comes
    back as a replica after the manual step pgsql asks for (its lock file, and a fresh copy of
    the new primary's data, as docs/replication.md says);
  - a planned switchover (`hactl resource move CLONE NODE --promoted`): the primary is demoted,
    NODE promoted, 0 acknowledged rows lost.
Run as root.
"""

import json
import os
import pwd
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
import replication  # noqa: E402
from replication import VIP, Client  # noqa: E402

PGBIN = "/usr/lib/postgresql/15/bin"

# What every node's postgresql.conf adds to initdb's: streaming replication to the others, and
# no restart after a crash (pgsql decides that). The pgsql agent adds its own include lines.
POSTGRESQL_CONF = """
listen_addresses = '*'
port = 5432
unix_socket_directories = '/run/postgresql'
wal_level = replica
max_wal_senders = 10
wal_keep_size = 256MB
hot_standby = on
hot_standby_feedback = on
restart_after_crash = off
wal_receiver_status_interval = 1
max_standby_streaming_delay = -1
synchronous_commit = on
logging_collector = off
"""
PG_HBA = f"""
local all all trust
host all all 127.0.0.1/32 trust
host all all {netns.SUBNET}.0/24 trust
host replication all {netns.SUBNET}.0/24 trust
"""


def resources(names):
    return f"""
resources:
  - id: pgsql
    type: ocf:heartbeat:pgsql
    params:
      pgctl: {PGBIN}/pg_ctl
      psql: {PGBIN}/psql
      pgdata: /run/pg/data
      config: /run/pg/data/postgresql.conf
      tmpdir: /run/pg/tmp
      socketdir: /run/postgresql
      logfile: /run/pg/postgres.log
      rep_mode: sync
      node_list: "{' '.join(names)}"
      master_ip: {VIP}
      primary_conninfo_opt: "keepalives_idle=5 keepalives_interval=1 keepalives_count=3"
      stop_escalate: "5"
    ops:
      monitor: {{interval: 2s, timeout: 30s}}
      start: {{timeout: 60s}}
      stop: {{timeout: 20s}}
      promote: {{timeout: 60s}}
      demote: {{timeout: 60s}}
""" + replication.clone_yaml("pgsql-clone", "pgsql", PROMOTION_RULE)


# Never promote a replica pgsql itself says is out of date (docs/replication.md, "Location
# rules"): a rule on the node attribute the agent keeps, applied by hactl's scheduler.
PROMOTION_RULE = """    - resource: pgsql-clone
      rule: >-
        defined pgsql-data-status and pgsql-data-status ne LATEST
        and pgsql-data-status ne "STREAMING|SYNC"
      score: -inf
      role: promoted
"""


def score(text):
    """A promotion score as Pacemaker writes it: an integer, or +/-INFINITY."""
    text = (text or "0").strip().upper()
    if text.endswith("INFINITY"):
        return float("-inf") if text.startswith("-") else float("inf")
    return int(text)


def chown_tree(path, user):
    for root, dirs, files in os.walk(path):
        for name in [root] + [os.path.join(root, x) for x in dirs + files]:
            os.lchown(name, user.pw_uid, user.pw_gid)


class PgNodes:
    """The PostgreSQL side of a netns cluster: data directories, processes, queries."""

    def __init__(self, cluster):
        self.c = cluster
        self.user = pwd.getpwnam("postgres")

    def data(self, name):
        return os.path.join(self.c.nodes[name].run_dir, "pg", "data")

    def prepare(self):
        """One initdb, copied to every node (the same system identifier, one checkpoint: each
        copy can follow the primary as a standby)."""
        os.chmod(self.c.tmp, 0o711)  # the postgres user reaches the nodes' data directories
        first = None
        for name, node in self.c.nodes.items():
            for d in ("pg", "pg/tmp", "postgresql"):
                os.makedirs(os.path.join(node.run_dir, d), mode=0o700)
                os.chown(os.path.join(node.run_dir, d), self.user.pw_uid, self.user.pw_gid)
            if first is None:
                first = self.data(name)
                self.as_postgres(f"{PGBIN}/initdb", "-D", first, "-A", "trust", timeout=60)
                with open(os.path.join(first, "postgresql.conf"), "a") as f:
                    f.write(POSTGRESQL_CONF)
                with open(os.path.join(first, "pg_hba.conf"), "w") as f:
                    f.write(PG_HBA)
            else:
                shutil.copytree(first, self.data(name), symlinks=True)
                chown_tree(self.data(name), self.user)

    def as_postgres(self, *cmd, ns=None, timeout=30):
        prefix = ["ip", "netns", "exec", ns] if ns else []
        return netns.run(*prefix, "runuser", "-u", "postgres", "--", *cmd, timeout=timeout)

    def postmaster(self, name):
        try:
            with open(os.path.join(self.data(name), "postmaster.pid")) as f:
                pid = int(f.readline())
            with open(f"/proc/{pid}/comm") as f:
                return pid if f.read().strip() == "postgres" else None
        except (OSError, ValueError):
            return None

    def kill(self, name):
        """SIGKILL the node's postmaster and every process it started."""
        pid = self.postmaster(name)
        if pid is None:
            return
        replication.kill([pid] + netns.Cluster._children(pid))

    def stop_all(self):
        """Cleanup: the agents first (so nothing starts postgres again), then every postmaster."""
        replication.stop_agents(self.c)
        for name in self.c.nodes:
            self.kill(name)

    def sql(self, name, query, host=None):
        """Run `query` on NAME's postgres over its address; its rows as text, or None."""
        node = self.c.nodes[name]
        r = netns.run("ip", "netns", "exec", node.ns, f"{PGBIN}/psql", "-h", host or node.ip,
                      "-U", "postgres", "-d", "postgres", "-Atc", query, check=False, timeout=10,
                      env={**os.environ, "PGCONNECT_TIMEOUT": "2"})
        return r.stdout.strip() if r.returncode == 0 else None

    def primaries(self, names=None):
        """The nodes whose postgres runs and is not in recovery."""
        return [n for n in (names or self.c.nodes)
                if self.postmaster(n) and self.sql(n, "select pg_is_in_recovery()") == "f"]

    def sync_standbys(self, primary):
        rows = self.sql(primary, "select application_name from pg_stat_replication "
                                 "where sync_state = 'sync' and state = 'streaming'")
        return rows.split() if rows else []

    def rows(self, name):
        out = self.sql(name, "select id from hactl_acked")
        return {int(x) for x in out.split()} if out else set()

    def configure(self):
        """The pgsql clone, the vip and fencing (replication.py), then the data directories.
        The cluster is set up and not started."""
        replication.write_config(self.c, resources(list(self.c.nodes)))
        self.prepare()

    def steady(self, names=None):
        """The primary, when one node of `names` (default: every node) is the only primary and
        holds the vip, every other node of `names` is its standby, streaming, one of them
        synchronous, and the pgsql agent says so too (standbys_why). Else None. Does not wait
        (the nemesis judges with it)."""
        return self.steady_why(names)[0]

    def steady_why(self, names=None):
        """(the primary, "") when steady(), else (None, what is not so yet)."""
        names = sorted(names or self.c.nodes)
        prim = self.primaries(names)
        holders = self.c.holders(VIP)
        if len(prim) != 1 or holders != prim:
            return None, f"primaries {prim}, the vip on {holders}"
        why = self.standbys_why(prim[0], sorted(set(names) - set(prim)))
        return (None, why) if why else (prim[0], "")

    def wait_steady(self, names=None, timeout=90):
        """Waits until steady() and the coordinator has nothing in flight; returns the
        primary."""
        return replication.wait_primary(self, self.standbys_ready, "standbys", names, timeout)

    def standbys_ready(self, primary, standbys):
        return self.standbys_why(primary, standbys) == ""

    def standbys_why(self, primary, standbys):
        """"" when `standbys` (sorted) all stream from `primary`, one of them synchronous, and
        pgsql says so: the primary's pgsql-status PRI, the synchronous standby's HS:sync with a
        positive promotion score (until pgsql has seen a standby in sync, it lets none be
        promoted: its data may lack the last commits). Else what is not so yet."""
        streaming = self.sql(primary, "select application_name from pg_stat_replication "
                                      "where state = 'streaming'")
        sync = self.sync_standbys(primary)
        if sorted((streaming or "").split()) != standbys or not sync:
            return (f"primary {primary}, streaming to {(streaming or '').split()}, "
                    f"synchronous {sync}")
        attrs = self.attributes(primary)
        status = (attrs.get((primary, "pgsql-status")), attrs.get((sync[0], "pgsql-status")),
                  attrs.get((sync[0], "master-pgsql"), "0"))
        if status[:2] == ("PRI", "HS:sync") and score(status[2]) > 0:
            return ""
        return (f"primary {primary}, synchronous {sync[0]}; pgsql says "
                f"{primary} {status[0]}, {sync[0]} {status[1]} score {status[2]}")

    def attributes(self, name):
        return replication.attributes(self.c, name)

    def crash(self, name):
        return replication.crash(self.c, name, self.postmaster(name))

    def rejoin_crashed(self, name, primary):
        """What docs/replication.md tells the operator to do before a crashed primary's node
        comes back: remove pgsql's lock file and take a fresh copy of the primary's data.
        Then its agent starts."""
        c = self.c
        os.unlink(self.lock(name))
        c.link_up(name)
        self.fresh_copy(name, primary)
        c.start(name)

    def fresh_copy(self, name, primary):
        """NAME's data directory replaced by a copy of the primary's (pg_basebackup from its
        address, a fast checkpoint first). NAME's postgres must not run."""
        c = self.c
        shutil.rmtree(self.data(name), ignore_errors=True)
        self.as_postgres(f"{PGBIN}/pg_basebackup", "-h", c.nodes[primary].ip, "-U", "postgres",
                         "-D", self.data(name), "-X", "stream", "-c", "fast",
                         ns=c.nodes[name].ns, timeout=120)

    def rejoin_demoted(self, name):
        """After a switchover: pgsql's demote stopped postgres and kept its lock file, so the
        instance failed its next monitor and cannot start until the operator removes the lock
        and cleans the failure up (as under Pacemaker). Its data is the new primary's past (a
        clean shutdown the synchronous standby received): it follows as a standby."""
        c = self.c
        c.wait_until(lambda: os.path.exists(self.lock(name)) and not self.postmaster(name), 30,
                     0.2, f"{name} stopped, its lock file kept")
        os.unlink(self.lock(name))
        r = c.hactl(name, "resource", "cleanup", "pgsql", "--node", name)
        if r.returncode != 0:
            raise AssertionError(f"hactl resource cleanup: {r.stdout}{r.stderr}")

    # What bench/replication_failover.py asks of each database.
    kind = "pgsql"
    clone = "pgsql-clone"

    def switch_target(self, primary):
        return self.sync_standbys(primary)[0]

    def after_switchover(self, old):
        self.rejoin_demoted(old)

    def lock(self, name):
        return os.path.join(self.c.nodes[name].run_dir, "pg", "tmp", "PGSQL.lock")


def missing():
    """Why PostgreSQL replication cannot run here, or None."""
    if not os.access(f"{PGBIN}/initdb", os.X_OK):
        return f"PostgreSQL 15 is not installed ({PGBIN}/initdb)"
    if not os.access("/usr/lib/ocf/resource.d/heartbeat/pgsql", os.X_OK):
        return "resource-agents' pgsql agent is not installed"
    return replication.python_missing("psycopg2", "python3-psycopg2")


class PgsqlReplication(replication.DatabaseTestCase):
    nodes = PgNodes
    missing = staticmethod(missing)

    def test_primary_crash_loses_no_acknowledged_row(self):
        c, pg = self.start()
        old = pg.wait_steady()
        print(f"\nprimary {old}, synchronous standby {pg.sync_standbys(old)}", flush=True)
        # The promotion rule reads what pgsql wrote: the asynchronous standby (STREAMING|ASYNC)
        # is kept from promotion by it, the synchronous one is not.
        asynchronous = sorted(set(c.nodes) - {old} - set(pg.sync_standbys(old)))[0]
        self.assertEqual(self.rule_nodes(c, old), [asynchronous])
        client = Client(c, "pgsql")
        self.addCleanup(client.close)
        c.wait_until(lambda: len(client.acked()) >= 200, 60, 0.1, "200 acknowledged rows")

        # The crash: postgres, the agent and its guard killed at once, the link cut.
        t_crash = pg.crash(old)
        t_dead = time.monotonic()  # no write can be acknowledged by the old primary from here
        survivors = sorted(set(c.nodes) - {old})
        c.wait_until(lambda: client.first_ack_after(t_dead) is not None, 120, 0.1,
                     "a write accepted through the vip after the crash")
        first = client.first_ack_after(t_dead)
        new = pg.primaries(survivors)
        print(f"crash of {old} to the first write accepted: {first - t_crash:.2f} s; "
              f"new primary {new}", flush=True)
        self.assertEqual(len(new), 1, new)
        # (the crashed node's namespace keeps its address, as a dead host's NIC would: its
        # link is down and nothing there answers)
        self.assertEqual([n for n in c.holders(VIP) if n != old], new)
        after = len(client.acked())
        c.wait_until(lambda: len(client.acked()) >= after + 50, 30, 0.1, "50 more writes")
        client.close()
        acked = set(client.acked())
        lost = sorted(acked - pg.rows(new[0]))
        print(f"{len(acked)} rows acknowledged, {len(lost)} of them missing on {new[0]}",
              flush=True)
        self.assertEqual(lost, [], "acknowledged rows lost")

        # The old primary comes back as a replica, after the step pgsql asks for.
        pg.rejoin_crashed(old, new[0])
        self.assertEqual(pg.wait_steady(), new[0])
        c.wait_until(lambda: acked <= pg.rows(old), 30, 0.2,
                     f"every acknowledged row on {old}, now a standby")

    @staticmethod
    def rule_nodes(c, name):
        """The nodes where `hactl explain pgsql-clone` shows the promotion rule matched."""
        r = c.hactl(name, "explain", "pgsql-clone", "--json")
        if r.returncode != 0:
            raise AssertionError(r.stdout + r.stderr)
        return sorted(n["node"] for n in json.loads(r.stdout)["nodes"]
                      if any(x.get("rule") and x["promotion"] for x in n["reasons"]))

    def test_switchover_loses_no_acknowledged_row(self):
        c, pg = self.start()
        old = pg.wait_steady()
        to = pg.sync_standbys(old)[0]
        client = Client(c, "pgsql")
        self.addCleanup(client.close)
        c.wait_until(lambda: len(client.acked()) >= 200, 60, 0.1, "200 acknowledged rows")
        _t_move, gap = self.switchover(c, pg, client, old, to)
        print(f"\nswitchover {old} -> {to}: longest time without a write {gap:.2f} s",
              flush=True)
        client.close()
        acked = set(client.acked())
        lost = sorted(acked - pg.rows(to))
        print(f"{len(acked)} rows acknowledged, {len(lost)} of them missing on {to}", flush=True)
        self.assertEqual(lost, [], "acknowledged rows lost")
        pg.rejoin_demoted(old)
        self.assertEqual(pg.wait_steady(), to)
        c.wait_until(lambda: acked <= pg.rows(old), 30, 0.2,
                     f"every acknowledged row on {old}, now a standby")


if __name__ == "__main__":
    netns.main()
