#!/usr/bin/python3
"""A client that writes numbered rows to a database all the time and reports each write.

Run by the replication tests and benchmarks (test_pgsql.py, test_redis.py,
bench/replication_failover.py) inside a namespace that reaches the database's VIP, with
Debian's python (/usr/bin/python3), where python3-psycopg2 and python3-redis are importable:

    /usr/bin/python3 dbclient.py pgsql|redis HOST DEADLINE_S [INTERVAL_S]

It writes rows 1, 2, 3, ... one at a time (PostgreSQL: each a row of table hactl_acked, in a
transaction of its own; Redis: each a member of the set hactl_acked), and prints one line per
attempt, flushed at once:

    ack N T       row N was written and the server said so (T: time.monotonic())
    fail N T WHY  the attempt failed (the row may or may not be in: it was not acknowledged)

A failed attempt closes the connection; the next one connects again, with a short connect
timeout and a TCP user timeout, so that a server that vanished is noticed within a second.
Each number is tried once. It stops after DEADLINE_S seconds, when its stdin closes, or on
SIGTERM.
"""

import os
import select
import signal
import sys
import time

TABLE = "hactl_acked"


def pgsql_connect(host):
    import psycopg2
    conn = psycopg2.connect(host=host, port=5432, user="postgres", dbname="postgres",
                            connect_timeout=1, tcp_user_timeout=1000, keepalives=1,
                            keepalives_idle=1, keepalives_interval=1, keepalives_count=2,
                            application_name="hactl-dbclient")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"CREATE TABLE IF NOT EXISTS {TABLE} (id bigint PRIMARY KEY)")
    return conn


def pgsql_write(conn, n):
    with conn.cursor() as cur:
        cur.execute(f"INSERT INTO {TABLE} (id) VALUES (%s)", (n,))


def redis_connect(host):
    import redis
    conn = redis.Redis(host=host, port=6379, socket_timeout=1, socket_connect_timeout=1)
    conn.ping()
    return conn


def redis_write(conn, n):
    conn.sadd(TABLE, n)


CLIENTS = {"pgsql": (pgsql_connect, pgsql_write), "redis": (redis_connect, redis_write)}


def stdin_closed():
    ready, _, _ = select.select([sys.stdin], [], [], 0)
    return bool(ready) and not sys.stdin.buffer.read1(1)


def main():
    kind, host, deadline = sys.argv[1], sys.argv[2], float(sys.argv[3])
    interval = float(sys.argv[4]) if len(sys.argv) > 4 else 0.01
    if kind not in CLIENTS:
        raise SystemExit(f"dbclient: unknown database {kind!r}")
    connect, write = CLIENTS[kind]
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    end = time.monotonic() + deadline
    conn = None
    n = 0
    while time.monotonic() < end and not stdin_closed():
        n += 1
        try:
            if conn is None:
                conn = connect(host)
            write(conn, n)
            print(f"ack {n} {time.monotonic():.6f}", flush=True)
        except Exception as e:  # every failure is reported, and the connection made again
            why = " ".join(str(e).split())[:200] or type(e).__name__
            print(f"fail {n} {time.monotonic():.6f} {why}", flush=True)
            if conn is not None:
                try:
                    conn.close()
                except Exception:
                    pass
            conn = None
            time.sleep(0.05)
            continue
        time.sleep(interval)
    os._exit(0)


if __name__ == "__main__":
    main()
