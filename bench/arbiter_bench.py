"""One hactl-arbiter serving many simulated 2-node clusters over UDP on loopback: its CPU (% of
one core, utime+stime from /proc/PID/stat over the measured window), its resident memory
(VmRSS at the end), the answers it sent per second, and the round trip of claims (p50, p95) as
the nodes measured it.

The nodes are arbiter_client's (tests/tools/arbiter_client.cpp, `load`): PAIRS clusters of two
nodes, every node with its own UDP socket by default (--sockets to multiplex names over fewer),
each probing every --probe-ms (2 s), and in a --split fraction of the pairs both nodes claiming
every --claim-ms (100 ms), as a pair that lost its link does. The load generator runs on the
same machine, so on a small machine it competes with the arbiter for the CPU.

Measured 2026-12-06 on a 2-core VM shared with other work (load average 3.6), generator on the
same cores, 30 s (20 s for the others):
  1,000 pairs, 100 split, 2,000 sockets: CPU 6.6 % of a core, RSS 7.8 MiB, 2,900 answers/s,
    claim round trip p50 0.10 ms, p95 0.36 ms, p99 0.75 ms
  the same over 16 sockets: CPU 6.4 %, RSS 7.9 MiB, p50 0.10 ms, p95 0.25 ms
  1,000 pairs all split (20,000 claims/s): CPU 21.8 %, RSS 9.8 MiB, p50 0.57 ms, p95 3.0 ms

Usage: python3 bench/arbiter_bench.py [--pairs 1000] [--split 0.1] [--seconds 30] [--sockets N]
       [--probe-ms 2000] [--claim-ms 100]   (HACTL_BIN_DIR: where the binaries are; no root)"""

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
from arbiter_host import cpu_seconds, rss_kib  # noqa: E402

BIN_DIR = os.environ.get("HACTL_BIN_DIR", os.path.join(REPO, "build", "bin"))
ARBITER = os.path.join(BIN_DIR, "hactl-arbiter")
CLIENT = os.path.join(BIN_DIR, "arbiter_client")
WARMUP_S = 5


def start_arbiter(root):
    log_path = os.path.join(root, "arbiter.log")
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [ARBITER, "--listen", "127.0.0.1:0", "--metrics", "127.0.0.1:0", "--keys",
             os.path.join(root, "keys"), "--state-dir", os.path.join(root, "state"),
             "--log-level", "warn"],
            stdout=subprocess.DEVNULL, stderr=log, stdin=subprocess.DEVNULL)
    # --log-level warn hides the start line: find the ports from the socket table instead.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        udp = re.findall(rf"127\.0\.0\.1:(\d+) .*pid={proc.pid},",
                         subprocess.run(["ss", "-Hulnp"], capture_output=True, text=True).stdout)
        tcp = re.findall(rf"127\.0\.0\.1:(\d+) .*pid={proc.pid},",
                         subprocess.run(["ss", "-Htlnp"], capture_output=True, text=True).stdout)
        if udp and tcp:
            return proc, int(udp[0]), int(tcp[0])
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    with open(log_path) as f:
        raise SystemExit(f"hactl-arbiter did not start:\n{f.read()}")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--pairs", type=int, default=1000)
    p.add_argument("--split", type=float, default=0.1)
    p.add_argument("--seconds", type=int, default=30)
    p.add_argument("--sockets", type=int, default=0, help="default: one per node")
    p.add_argument("--probe-ms", type=int, default=2000)
    p.add_argument("--claim-ms", type=int, default=100)
    a = p.parse_args()
    root = tempfile.mkdtemp(prefix="hactl-arbiter-bench-")
    proc = None
    try:
        for d in ("keys", "state"):
            os.makedirs(os.path.join(root, d))
        subprocess.run([CLIENT, "keys", "--dir", os.path.join(root, "keys"), "--clusters",
                        str(a.pairs)], check=True, timeout=120)
        proc, udp, http = start_arbiter(root)
        sockets = a.sockets or 2 * a.pairs
        load = subprocess.Popen(
            [CLIENT, "load", "--arbiter", f"127.0.0.1:{udp}", "--pairs", str(a.pairs), "--sockets",
             str(sockets), "--split", str(a.split), "--probe-ms", str(a.probe_ms), "--claim-ms",
             str(a.claim_ms), "--warmup", str(WARMUP_S), "--duration", str(a.seconds)],
            stdout=subprocess.PIPE, text=True)
        time.sleep(WARMUP_S)
        t0, c0 = time.monotonic(), cpu_seconds(proc.pid)
        out, _ = load.communicate(timeout=a.seconds + 60)
        t1, c1 = time.monotonic(), cpu_seconds(proc.pid)
        r = json.loads(out)
        with urllib.request.urlopen(f"http://127.0.0.1:{http}/metrics", timeout=10) as m:
            metrics = m.read().decode()
        dropped = re.findall(r'(?m)^hactl_arbiter_dropped_total\{reason="(\w+)"\} (\S+)$', metrics)
        cpu = (c1 - c0) / (t1 - t0) * 100
        split_pairs = int(a.split * a.pairs)
        print(f"arbiter: {a.pairs} pairs ({split_pairs} split, claiming every {a.claim_ms} ms; "
              f"the rest probing every {a.probe_ms} ms), {2 * a.pairs} node names over "
              f"{r['sockets']} sockets, {a.seconds} s measured")
        print(f"  arbiter CPU {cpu:.1f} % of one core, RSS {rss_kib(proc.pid) / 1024:.1f} MiB")
        print(f"  answers {r['answers_per_s']:.0f}/s (nodes sent {r['sent_per_s']:.0f}/s), "
              f"grants {r['grants']}, challenges {r['challenges']}")
        c = r["claim_rtt_ms"]
        print(f"  claim round trip: p50 {c['p50']:.3f} ms, p95 {c['p95']:.3f} ms, "
              f"p99 {c['p99']:.3f} ms (n={c['n']}); probes p50 {r['probe_rtt_ms']['p50']:.3f} ms")
        print(f"  arbiter drops: {dict(dropped) or 'none'}")
    finally:
        if proc and proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(timeout=10)
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
