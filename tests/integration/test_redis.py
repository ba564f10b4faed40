"""Redis replication under hactl, with Debian's own ocf:heartbeat:redis.

Debian 12's redis-server and the redis agent, unchanged, as a promotable clone on three netns
nodes, with a vip colocated with the primary and fence_netns as the fence device
(replication.py). Each node's configuration, data and socket are in /run/redis-ha in its
private /run; an /etc/hosts of the cluster's own lets the replicas reach the primary by node
name, as the agent asks them to (`slaveof NODE`, from the redis_REPL_INFO cluster property).
A client in the switch's namespace adds numbered members to a set through the vip and records
every acknowledged write (dbclient.py).

Redis replicates asynchronously: a primary acknowledges a write before any replica has it, so a
crash can lose the last acknowledged writes. The test reports how many, with the replication
lag just before the crash, and checks that what is lost is only the tail of what the primary
acknowledged (a replica holds a prefix of the primary's stream, nothing out of order):
  - a crash of the primary's node (redis-server, the agent and its guard killed, the link cut):
    a replica is promoted, the vip follows, the client writes again; the old primary comes
    back as a replica of the new one when its agent starts again (no manual step);
  - a planned switchover (`hactl resource move redis-clone NODE --promoted`).
Run as root.
"""

import os
import pwd
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import netns  # noqa: E402
import replication  # noqa: E402
from replication import VIP, Client  # noqa: E402

REDIS_SERVER = "/usr/bin/redis-server"
REDIS_CLI = "/usr/bin/redis-cli"
REDIS_CONF = """bind 0.0.0.0
protected-mode no
port 6379
dir /run/redis-ha/data
dbfilename dump.rdb
save ""
appendonly no
replica-read-only yes
"""


def resources():
    return """
resources:
  - id: redis
    type: ocf:heartbeat:redis
    params: {config: /run/redis-ha/redis.conf, rundir: /run/redis-ha, user: redis}
    ops:
      monitor: {interval: 2s, timeout: 30s}
      start: {timeout: 60s}
      stop: {timeout: 20s}
      promote: {timeout: 30s}
      demote: {timeout: 60s}
""" + replication.clone_yaml("redis-clone", "redis")


def missing():
    """Why Redis replication cannot run here, or None."""
    for path in (REDIS_SERVER, REDIS_CLI, "/usr/lib/ocf/resource.d/heartbeat/redis"):
        if not os.access(path, os.X_OK):
            return f"{path} is not installed (redis-server, resource-agents)"
    return replication.python_missing("redis", "python3-redis")


def info(text):
    """redis-cli INFO's lines as a dict."""
    out = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition(":")
        if sep and not key.startswith("#"):
            out[key] = value
    return out


class RedisNodes:
    """The Redis side of a netns cluster: configuration, processes, queries."""

    def __init__(self, cluster):
        self.c = cluster
        self.user = pwd.getpwnam("redis")

    def home(self, name):
        return os.path.join(self.c.nodes[name].run_dir, "redis-ha")

    def configure(self):
        """The redis clone, the vip, fencing and a hosts file; each node's configuration and
        data directory. The cluster is set up and not started."""
        replication.write_config(self.c, resources())
        self.c.write_hosts()
        for name in self.c.nodes:
            os.makedirs(os.path.join(self.home(name), "data"))
            with open(os.path.join(self.home(name), "redis.conf"), "w") as f:
                f.write(REDIS_CONF)
            for root, dirs, files in os.walk(self.home(name)):
                for x in [root] + [os.path.join(root, d) for d in dirs + files]:
                    os.lchown(x, self.user.pw_uid, self.user.pw_gid)

    def server(self, name):
        """The PID of NAME's redis-server, or None."""
        try:
            with open(os.path.join(self.home(name), "redis-server.pid")) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/comm") as f:
                return pid if f.read().strip().startswith("redis-server") else None
        except (OSError, ValueError):
            return None

    def cli(self, name, *args):
        node = self.c.nodes[name]
        r = netns.run("ip", "netns", "exec", node.ns, REDIS_CLI, "-h", node.ip, *args,
                      check=False, timeout=10)
        return r.stdout if r.returncode == 0 else None

    def info(self, name):
        return info(self.cli(name, "info", "replication") or "")

    def primaries(self, names=None):
        return [n for n in (names or self.c.nodes)
                if self.server(n) and self.info(n).get("role") == "master"]

    def members(self, name):
        out = self.cli(name, "smembers", "hactl_acked") or ""
        return {int(x) for x in out.split()}

    def lag(self, primary):
        """How far each replica is behind the primary, in bytes of its replication stream."""
        i = self.info(primary)
        top = int(i.get("master_repl_offset", "0"))
        out = {}
        for key, value in i.items():
            if key.startswith("slave") and "offset=" in value:
                fields = dict(x.split("=", 1) for x in value.split(","))
                out[fields["ip"]] = top - int(fields["offset"])
        return out

    def wait_steady(self, names=None, timeout=90):
        """One primary holding the vip, every other node of `names` its replica with the link
        up (the agent names the primary by its node name), and nothing in flight (the agent's
        post-promote notify on a replica waits until its link is up). Returns the primary."""
        return replication.wait_primary(self, self.replicas_ready, "replicas", names, timeout)

    def replicas_ready(self, primary, replicas):
        for n in replicas:
            i = self.info(n)
            if i.get("master_host") != primary or i.get("master_link_status") != "up":
                return False
        return int(self.info(primary).get("connected_slaves", "0")) == len(replicas)

    def crash(self, name):
        return replication.crash(self.c, name, self.server(name))

    # What bench/replication_failover.py asks of each database.
    rows = members
    kind = "redis"
    clone = "redis-clone"

    def switch_target(self, primary):
        return sorted(set(self.c.nodes) - {primary})[0]

    def after_switchover(self, old):
        """Nothing to do: the demoted primary follows the new one by itself."""

    def stop_all(self):
        replication.stop_agents(self.c)
        for name in self.c.nodes:
            pid = self.server(name)
            if pid:
                replication.kill([pid])

    def rejoin_crashed(self, name):
        """The crashed primary's node back: its data is gone with the process (no persistence
        here) and the agent makes it a replica of the primary the cluster property names."""
        self.c.link_up(name)
        shutil.rmtree(os.path.join(self.home(name), "data", "dump.rdb"), ignore_errors=True)
        self.c.start(name)


def lost_tail(acked, stored):
    """The acknowledged writes missing from `stored`, and whether they are a tail: every one of
    them later than every acknowledged write the replica has."""
    lost = sorted(set(acked) - stored)
    kept = set(acked) & stored
    return lost, not lost or not kept or min(lost) > max(kept)


class RedisReplication(replication.DatabaseTestCase):
    nodes = RedisNodes
    missing = staticmethod(missing)

    def test_primary_crash(self):
        c, r = self.start()
        old = r.wait_steady()
        client = Client(c, "redis")
        self.addCleanup(client.close)
        c.wait_until(lambda: len(client.acked()) >= 300, 60, 0.1, "300 acknowledged writes")
        lag = r.lag(old)
        t_crash = r.crash(old)
        t_dead = time.monotonic()
        c.wait_until(lambda: client.first_ack_after(t_dead) is not None, 120, 0.1,
                     "a write acknowledged through the vip after the crash")
        first = client.first_ack_after(t_dead)
        survivors = sorted(set(c.nodes) - {old})
        new = r.primaries(survivors)
        self.assertEqual(len(new), 1, new)
        self.assertEqual([n for n in c.holders(VIP) if n != old], new)
        before = client.acked_before(t_crash)
        lost, tail = lost_tail(before, r.members(new[0]))
        print(f"\nredis: crash of {old} to the first write accepted {first - t_crash:.2f} s; "
              f"{len(lost)} of {len(before)} acknowledged writes lost (replication lag before "
              f"the crash, bytes by replica: {lag})", flush=True)
        self.assertTrue(tail, f"lost writes not a tail of the stream: {lost}")
        client.close()
        self.assertEqual(set(client.acked()) - set(before) - r.members(new[0]), set(),
                         "writes acknowledged by the new primary lost")
        r.rejoin_crashed(old)
        self.assertEqual(r.wait_steady(), new[0])

    def test_switchover(self):
        c, r = self.start()
        old = r.wait_steady()
        to = sorted(set(c.nodes) - {old})[0]
        client = Client(c, "redis")
        self.addCleanup(client.close)
        c.wait_until(lambda: len(client.acked()) >= 300, 60, 0.1, "300 acknowledged writes")
        t_move, gap = self.switchover(c, r, client, old, to)
        client.close()
        # What the old primary acknowledged: every write before the first one refused.
        refused = client.first_fail_after(t_move) or time.monotonic()
        lost, tail = lost_tail(client.acked_before(refused), r.members(to))
        self.assertEqual(set(client.acked()) - set(client.acked_before(refused)) -
                         r.members(to), set(), "writes acknowledged by the new primary lost")
        print(f"\nredis: switchover {old} -> {to}: longest time without a write {gap:.2f} s, "
              f"{len(lost)} acknowledged writes lost", flush=True)
        self.assertTrue(tail, f"lost writes not a tail of the stream: {lost}")
        self.assertEqual(r.wait_steady(), to)


if __name__ == "__main__":
    netns.main()
