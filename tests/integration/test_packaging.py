"""The .deb and .rpm packages, built by CPack from the build tree, checked, installed on this
machine, upgraded, run under a real systemd, and purged. Two of each: hactl (agent and CLI) and
hactl-arbiter (the arbiter daemon).

- PackageContentsTest: the files, conffiles, dependencies and scripts of both packages
  (dpkg-deb; rpm -qpl / -qpR, as no rpm-based host is available), lintian with no error, both
  changelogs at the project's version.
- InstallTest: dpkg -i, the files, the haclient group, the unit (systemd-analyze verify), the
  binaries' --version, hactl-agent --check-config against the shipped example with and without
  a proper key; an edited cluster.yaml kept across an upgrade to the next revision; a purge that
  leaves nothing of the package.
- ArbiterPackageTest: hactl-arbiter's package: its files, its own Depends (not the agent's),
  lintian with no error, its unit verified, installed and purged without touching hactl's files.
- SystemdTest: the installed hactl-agent.service under a real systemd, PID 1 of a private PID
  and mount namespace joined to node n1's network namespace (../shared/GUIDE.md 2b), in a
  3-node netns cluster whose other two agents run directly: a start fails, without a restart
  loop, when the key is missing, and otherwise returns only once the agent serves; the journal
  gets the agent's lines without a second time stamp and with their priority; `systemctl
  reload` applies a changed file and refuses an invalid one; the watchdog restarts an agent
  that hangs (SIGSTOP) while its VIP goes to another node and never to two; `systemctl stop`
  hands the VIP over and leaves the unit inactive, not failed; in maintenance it keeps the VIP,
  and the guard outlives the agent (KillMode=process) until a new agent takes over.

It installs and purges the package named hactl on this machine, so it refuses to run (skips)
where hactl is installed or /etc/hactl or /var/lib/hactl exist. Needs root, dpkg, rpm
(rpmbuild), lintian, systemd. Run: HACTL_BIN_DIR=build/bin python3 tests/integration/test_packaging.py
"""

import glob
import gzip
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from netns import (BIN_DIR, HACTL, REPO, AddressWatch, Cluster, ClusterTestCase,  # noqa: E402
                   cannot_run, main, run)

BUILD_DIR = os.path.dirname(os.path.abspath(BIN_DIR))
UNIT = "/usr/lib/systemd/system/hactl-agent.service"
VIP = "10.213.0.100"
VIP2 = "10.213.0.101"
ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive", LC_ALL="C.UTF-8")

PACKAGES = {}  # "deb1", "deb2", "rpm1" -> path
ARBITER_PACKAGES = {}  # "deb1", "rpm1", ... -> path
_tmp = None


def version():
    return run(HACTL, "--version").stdout.split()[-1]


def installed(package="hactl"):
    r = run("dpkg-query", "-W", "-f=${Status}", package, check=False)
    return r.returncode == 0 and "installed" in r.stdout and "not-installed" not in r.stdout


def why_not():
    if os.geteuid() != 0:
        return "needs root"
    for tool in ("dpkg", "cpack", "rpmbuild", "rpm", "lintian", "systemd-analyze"):
        if shutil.which(tool) is None:
            return f"{tool} not found (scripts/setup.sh installs it)"
    if not os.path.exists(os.path.join(BUILD_DIR, "CPackConfig.cmake")):
        return f"no {BUILD_DIR}/CPackConfig.cmake (configure and build first)"
    for package in ("hactl", "hactl-arbiter"):
        r = run("dpkg-query", "-W", "-f=${Status}", package, check=False)
        if r.returncode == 0 and "not-installed" not in r.stdout:
            return f"a {package} package is on this machine ({r.stdout.strip()}): not touching it"
    for path in ("/etc/hactl", "/var/lib/hactl", "/etc/hactl-arbiter", "/var/lib/hactl-arbiter"):
        if os.path.exists(path):
            return f"{path} exists on this machine: not touching it"
    return None


def cpack(outdir, release):
    """The packages at packaging revision `release`, in outdir: hactl's .deb and .rpm (returned)
    and hactl-arbiter's (in ARBITER_PACKAGES)."""
    os.makedirs(outdir)
    r = subprocess.run(["cpack", "--config", os.path.join(BUILD_DIR, "CPackConfig.cmake"), "-B",
                        outdir, "-D", f"CPACK_DEBIAN_PACKAGE_RELEASE={release}", "-D",
                        f"CPACK_RPM_PACKAGE_RELEASE={release}"],
                       capture_output=True, text=True, timeout=600, cwd=outdir)
    if r.returncode != 0:
        raise RuntimeError(f"cpack failed:\n{r.stdout}\n{r.stderr}")
    debs = glob.glob(os.path.join(outdir, "hactl_*.deb"))
    rpms = glob.glob(os.path.join(outdir, "hactl-[0-9]*.rpm"))
    arbiter = glob.glob(os.path.join(outdir, "hactl-arbiter[_-]*"))
    assert len(debs) == 1 and len(rpms) == 1 and len(arbiter) == 2, (debs, rpms, arbiter, r.stdout)
    for path in arbiter:
        ARBITER_PACKAGES[f"{path.rsplit('.', 1)[1]}{release}"] = path
    return debs[0], rpms[0]


def setUpModule():
    global _tmp
    reason = why_not()
    if reason:
        cannot_run(reason)
    _tmp = tempfile.mkdtemp(prefix="hactl-pkg-")
    try:
        PACKAGES["deb1"], PACKAGES["rpm1"] = cpack(os.path.join(_tmp, "r1"), 1)
        PACKAGES["deb2"], _ = cpack(os.path.join(_tmp, "r2"), 2)
    except BaseException:
        tearDownModule()  # not called when setUpModule fails
        raise


def tearDownModule():
    if installed():
        dpkg("--purge", "hactl")
    if installed("hactl-arbiter"):
        dpkg("--purge", "hactl-arbiter")
    if _tmp:
        shutil.rmtree(_tmp, ignore_errors=True)


def dpkg(*args, check=True):
    # stdin closed: a conffile question would fail the command rather than wait.
    r = subprocess.run(["dpkg", *args], capture_output=True, text=True, timeout=120, env=ENV,
                       stdin=subprocess.DEVNULL)
    if check and r.returncode != 0:
        raise AssertionError(f"dpkg {' '.join(args)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r


def deb_paths(deb):
    paths = set()
    for line in run("dpkg-deb", "-c", deb).stdout.splitlines():
        path = line.split()[5]
        paths.add(path[1:].rstrip("/") or "/")
    return paths


EXPECTED = {
    "/usr/sbin/hactl-agent", "/usr/bin/hactl", "/etc/hactl/cluster.yaml", UNIT,
    "/usr/lib/sysusers.d/hactl.conf", "/usr/share/bash-completion/completions/hactl",
    "/usr/share/man/man8/hactl.8.gz", "/usr/share/man/man8/hactl-agent.8.gz",
    "/usr/share/man/man5/hactl.yaml.5.gz", "/usr/share/doc/hactl/copyright",
    "/usr/lib/hactl/bin/hactl-crm",
}
# hactl-crm's links, one per Pacemaker tool it stands in for (docs/pacemaker-tools.md).
CRM_TOOLS = ("crm_attribute", "crm_master", "attrd_updater", "crm_node", "crm_mon", "cibadmin",
             "crm_resource", "pacemakerd")
EXPECTED |= {f"/usr/lib/hactl/bin/{t}" for t in CRM_TOOLS}


class PackageContentsTest(unittest.TestCase):
    def test_deb_files_modes_and_owners(self):
        paths = deb_paths(PACKAGES["deb1"])
        self.assertLessEqual(EXPECTED | {"/usr/share/doc/hactl/changelog.Debian.gz"}, paths)
        listing = run("dpkg-deb", "-c", PACKAGES["deb1"]).stdout
        for line in listing.splitlines():
            mode, owner, *_rest, path = line.split()[:6]
            self.assertEqual(owner, "root/root", line)
            if path in ("./usr/sbin/hactl-agent", "./usr/bin/hactl", "./usr/lib/hactl/bin/hactl-crm"):
                self.assertEqual(mode, "-rwxr-xr-x", line)
            elif mode.startswith("l"):
                self.assertIn(path.rsplit("/", 1)[-1], CRM_TOOLS, line)
                self.assertTrue(line.endswith(" -> hactl-crm"), line)
            elif not mode.startswith("d"):
                self.assertEqual(mode, "-rw-r--r--", line)
        # Stripped (CPACK_STRIP_FILES): no debug sections in what is installed.
        with tempfile.TemporaryDirectory() as d:
            run("dpkg-deb", "-x", PACKAGES["deb1"], d)
            sections = run("readelf", "-S", os.path.join(d, "usr/sbin/hactl-agent")).stdout
            self.assertNotIn(".debug_info", sections)

    def test_deb_control_conffiles_and_dependencies(self):
        deb = PACKAGES["deb1"]
        field = lambda f: run("dpkg-deb", "-f", deb, f).stdout.strip()  # noqa: E731
        self.assertEqual(field("Package"), "hactl")
        self.assertEqual(field("Version"), f"{version()}-1")
        self.assertEqual(field("Section"), "admin")
        # Computed from the binaries' shared libraries by dpkg-shlibdeps: every library the
        # agent links (readelf NEEDED) is named by the package that ships it.
        depends = field("Depends")
        with tempfile.TemporaryDirectory() as d:
            run("dpkg-deb", "-x", deb, d)
            needed = re.findall(r"\(NEEDED\).*\[(.+)\]",
                                run("readelf", "-d", os.path.join(d, "usr/sbin/hactl-agent")).stdout)
        self.assertGreater(len(needed), 5, needed)
        names = {d.split()[0] for d in depends.split(", ")}
        for soname in needed:
            # The installed package that ships it, or a name it provides, is depended on.
            owners = {o.split(":")[0] for line in run("dpkg", "-S", f"*/{soname}").stdout.splitlines()
                      for o in line.split(": ")[0].split(", ")}
            aliases = set(owners)
            for o in owners:
                provides = run("dpkg-query", "-W", "-f=${Provides}", o).stdout
                aliases |= {p.split()[0] for p in provides.split(", ") if p.strip()}
            self.assertTrue(aliases & names, f"{soname} ({aliases}) not in Depends: {depends}")
        self.assertEqual(run("dpkg-deb", "-I", deb, "conffiles").stdout.split(),
                         ["/etc/hactl/cluster.yaml"])
        for script in ("postinst", "prerm", "postrm"):
            self.assertTrue(run("dpkg-deb", "-I", deb, script).stdout.startswith("#!/bin/sh"))

    def test_lintian_reports_no_error(self):
        # Its temporary files go to the test's directory (it leaves some behind).
        r = subprocess.run(["lintian", "--fail-on", "error", "--display-info", PACKAGES["deb1"]],
                           capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, TMPDIR=_tmp))
        print(f"\nlintian {os.path.basename(PACKAGES['deb1'])}:\n{r.stdout}{r.stderr}", end="")
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertNotRegex(r.stdout, r"(?m)^E: ")

    def test_rpm_contents_requires_and_scripts(self):
        rpm = PACKAGES["rpm1"]
        q = lambda *a: run("rpm", "-qp", *a, rpm).stdout  # noqa: E731
        self.assertEqual(q("--queryformat", "%{NAME} %{VERSION}-%{RELEASE}"), f"hactl {version()}-1")
        files = set(q("-l").split())
        self.assertLessEqual(EXPECTED, files)
        # Only the package's own directories, never /etc or /usr/lib/systemd themselves.
        for d in ("/etc", "/usr", "/usr/lib/systemd/system", "/usr/share/man/man8"):
            self.assertNotIn(d, files)
        self.assertEqual(q("--configfiles").split(), ["/etc/hactl/cluster.yaml"])
        with open(self._spec()) as f:
            self.assertIn("%config(noreplace)", f.read())
        requires = q("-R")
        for lib in ("libuv.so.1", "libsodium.so", "libyaml-cpp.so", "libsdbus-c++.so",
                    "libsystemd.so.0", "libnl-route-3.so", "libstdc++.so.6"):
            self.assertIn(lib, requires)
        scripts = q("--scripts")
        self.assertIn("systemd-sysusers hactl.conf", scripts)
        self.assertIn("disable --now hactl-agent.service", scripts)

    def _spec(self):
        specs = glob.glob(os.path.join(_tmp, "r1", "_CPack_Packages", "*", "RPM", "SPECS", "hactl.spec"))
        self.assertEqual(len(specs), 1, specs)
        return specs[0]

    def test_changelogs_start_at_this_version(self):
        v = version()
        with open(os.path.join(REPO, "packaging", "changelog")) as f:
            self.assertTrue(f.readline().startswith(f"hactl ({v}-1) "))
        with open(os.path.join(REPO, "packaging", "rpm", "changelog")) as f:
            self.assertTrue(f.readline().rstrip().endswith(f" - {v}-1"))


class InstallTest(unittest.TestCase):
    def tearDown(self):
        if installed():
            dpkg("--purge", "hactl")

    def test_install_check_upgrade_purge(self):
        out = dpkg("-i", PACKAGES["deb1"]).stdout
        self.assertIn("hactl keygen /etc/hactl/authkey", out)  # first-install guidance
        files = [p for p in run("dpkg", "-L", "hactl").stdout.split() if os.path.isfile(p)]
        self.assertLessEqual(EXPECTED, set(files))
        self.assertTrue(run("getent", "group", "haclient", check=False).stdout.startswith("haclient:"))
        # Not enabled, not started: it needs this cluster's configuration and key first.
        self.assertFalse(glob.glob("/etc/systemd/system/*.wants/hactl-agent.service"))

        r = run("systemd-analyze", "verify", UNIT, check=False, timeout=60)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
        v = version()
        self.assertEqual(run("/usr/bin/hactl", "--version").stdout.strip(), f"hactl {v}")
        self.assertEqual(run("/usr/sbin/hactl-agent", "--version").stdout.strip(), f"hactl-agent {v}")
        self.assertEqual(run("man", "-w", "hactl.yaml").stdout.strip(),
                         "/usr/share/man/man5/hactl.yaml.5.gz")

        # The shipped example, without a key, with a key others can read, with a proper one.
        check = ("/usr/sbin/hactl-agent", "--check-config", "--node", "n1")
        r = run(*check, check=False)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("/etc/hactl/authkey does not exist: create one with `hactl keygen", r.stderr)
        run("/usr/bin/hactl", "keygen", "/etc/hactl/authkey")
        os.chmod("/etc/hactl/authkey", 0o644)
        r = run(*check, check=False)
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("chmod 600 /etc/hactl/authkey", r.stderr)
        os.chmod("/etc/hactl/authkey", 0o600)
        r = run(*check, check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("/etc/hactl/cluster.yaml: valid", r.stdout)

        # An edit survives the upgrade to the next revision, without a question.
        edit = f"# local edit {os.getpid()}\n"
        with open("/etc/hactl/cluster.yaml", "a") as f:
            f.write(edit)
        out = dpkg("-i", PACKAGES["deb2"]).stdout
        self.assertNotIn("hactl keygen", out)  # guidance only on a first install
        self.assertEqual(run("dpkg-query", "-W", "-f=${Version}", "hactl").stdout, f"{v}-2")
        with open("/etc/hactl/cluster.yaml") as f:
            self.assertTrue(f.read().endswith(edit))
        self.assertFalse(glob.glob("/etc/hactl/cluster.yaml.dpkg-*"))
        self.assertTrue(os.path.exists("/etc/hactl/authkey"))

        dpkg("--purge", "hactl")
        self.assertFalse(installed())
        left = [p for p in files + ["/etc/hactl", "/var/lib/hactl"] if os.path.lexists(p)]
        self.assertEqual(left, [])


ARBITER_UNIT = "/usr/lib/systemd/system/hactl-arbiter.service"
ARBITER_FILES = {"/usr/sbin/hactl-arbiter", ARBITER_UNIT, "/usr/share/man/man8/hactl-arbiter.8.gz",
                 "/usr/share/doc/hactl-arbiter/copyright"}


class ArbiterPackageTest(unittest.TestCase):
    def tearDown(self):
        if installed("hactl-arbiter"):
            dpkg("--purge", "hactl-arbiter")

    def test_contents_and_dependencies(self):
        deb = ARBITER_PACKAGES["deb1"]
        self.assertEqual(run("dpkg-deb", "-f", deb, "Package").stdout.strip(), "hactl-arbiter")
        paths = deb_paths(deb)
        self.assertLessEqual(ARBITER_FILES, paths)
        self.assertFalse(paths & EXPECTED, "hactl's files are hactl's package's alone")
        self.assertFalse(paths & deb_paths(PACKAGES["deb1"]) - {
            "/", "/usr", "/usr/sbin", "/usr/lib", "/usr/lib/systemd", "/usr/lib/systemd/system",
            "/usr/share", "/usr/share/man", "/usr/share/man/man8", "/usr/share/doc"})
        depends = run("dpkg-deb", "-f", deb, "Depends").stdout
        self.assertIn("libuv1", depends)
        self.assertNotIn("libsdbus", depends)  # the agent's libraries are not the arbiter's
        self.assertNotIn("adduser", depends)
        rpm = ARBITER_PACKAGES["rpm1"]
        self.assertEqual(run("rpm", "-qp", "--queryformat", "%{NAME}", rpm).stdout, "hactl-arbiter")
        self.assertLessEqual(ARBITER_FILES, set(run("rpm", "-qpl", rpm).stdout.split()))
        self.assertIn("disable --now hactl-arbiter.service", run("rpm", "-qp", "--scripts", rpm).stdout)

    def test_lintian_reports_no_error(self):
        r = subprocess.run(["lintian", "--fail-on", "error", ARBITER_PACKAGES["deb1"]],
                           capture_output=True, text=True, timeout=600,
                           env=dict(os.environ, TMPDIR=_tmp))
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)

    def test_install_verify_purge(self):
        out = dpkg("-i", ARBITER_PACKAGES["deb1"]).stdout
        self.assertIn("hactl arbiter key", out)  # first-install guidance
        self.assertFalse(glob.glob("/etc/systemd/system/*.wants/hactl-arbiter.service"))
        r = run("systemd-analyze", "verify", ARBITER_UNIT, check=False, timeout=60)
        self.assertEqual((r.returncode, r.stdout + r.stderr), (0, ""))
        self.assertEqual(run("/usr/sbin/hactl-arbiter", "--version").stdout.strip(),
                         f"hactl-arbiter {version()}")
        dpkg("--purge", "hactl-arbiter")
        self.assertEqual([p for p in ARBITER_FILES | {"/var/lib/hactl-arbiter"}
                          if os.path.lexists(p)], [])


# ---------------------------------------------------------------- a real systemd on node n1

# A VIP and a daemon (a process of its own, in the agent's cgroup when n1 runs it), both
# preferring n1 above the default stickiness (100).
RESOURCES = f"""resources:
  - id: web-ip
    type: vip
    params: {{address: {VIP}/24, interface: eth0}}
    ops: {{monitor: {{interval: 500ms, timeout: 5s}}}}
  - id: worker
    type: exec:WORKER
    ops: {{monitor: {{interval: 1s, timeout: 5s}}, stop: {{timeout: 2s}}}}
constraints:
  location:
    - {{resource: web-ip, node: n1, score: 200}}
    - {{resource: worker, node: n1, score: 200}}
"""

# An exec: resource (LSB style: start, stop, status exiting 3 when not running). Each node's
# /run is its own, so is the pid file.
WORKER = """#!/bin/sh
pidf=/run/hactl-test-worker.pid
running() { [ -f $pidf ] && kill -0 "$(cat $pidf)" 2>/dev/null; }
case "$1" in
start) running && exit 0
       setsid sleep 100000 </dev/null >/dev/null 2>&1 &
       echo $! > $pidf; exit 0 ;;
stop) running && kill "$(cat $pidf)"; rm -f $pidf; exit 0 ;;
status) running && exit 0; exit 3 ;;
*) exit 3 ;;
esac
"""

RESOURCES2 = RESOURCES.replace("constraints:", f"""  - id: api-ip
    type: vip
    params: {{address: {VIP2}/24, interface: eth0}}
    ops: {{monitor: {{interval: 500ms, timeout: 5s}}}}
constraints:""")

DROPIN = """[Service]
Environment="HACTL_AGENT_OPTS=--config {config} --node n1 --socket {socket} --state-dir {state}"
# No core file from the watchdog's SIGABRT on this shared filesystem.
LimitCORE=0
"""


class SystemdTest(ClusterTestCase):
    """One cluster for the whole class: the steps build on each other, in name order."""

    log_lines = 80

    @classmethod
    def setUpClass(cls):
        dpkg("-i", PACKAGES["deb1"])
        cls.sd = None
        cls.holder = tempfile.mkdtemp(prefix="hactl-systemd-test-", dir="/var/lib")
        try:
            cls._bring_up()
        except BaseException:
            cls.tearDownClass()
            raise

    @classmethod
    def _bring_up(cls):
        worker = os.path.join(cls.holder, "worker.sh")
        with open(worker, "w") as f:
            f.write(WORKER)
        os.chmod(worker, 0o755)
        cls.worker = worker
        cls.resources = RESOURCES.replace("WORKER", worker)
        cls.c = Cluster(resources_yaml=cls.resources, tmp_parent=cls.holder)
        cls.c.setup()
        cls.c.start("n2")
        cls.c.start("n3")
        n1 = cls.c.nodes["n1"]
        # systemd joins n1's network namespace (nsenter keeps the host's /sys, where its
        # cgroups are) with a PID and mount namespace of its own and private /run, /tmp and
        # /var/tmp (GUIDE 2b: it empties /tmp at boot). The cluster's files are under /var/lib.
        boot = ("mount -t tmpfs tmpfs /run && mount -t tmpfs tmpfs /tmp && "
                "mount -t tmpfs tmpfs /var/tmp && mount -t proc proc /proc && "
                "exec /lib/systemd/systemd --system --unit=basic.target")
        cls.log = open(os.path.join(cls.holder, "systemd.log"), "w")
        cls.unshare = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{n1.ns}", "--", "unshare", "--pid", "--fork",
             "--mount", "--propagation", "private", "sh", "-c", boot],
            stdout=cls.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and cls.sd is None:
            kids = Cluster._children(cls.unshare.pid)
            cls.sd = kids[0] if kids else None
            time.sleep(0.05)
        assert cls.sd, "systemd did not start"
        while time.monotonic() < deadline:
            state = cls.ctl("is-system-running").stdout.strip()
            if state in ("running", "degraded"):
                break
            time.sleep(0.2)
        else:
            raise AssertionError(f"systemd not up: {state}")
        cls.dropin_dir = "/run/systemd/system/hactl-agent.service.d"
        cls.write(f"{cls.dropin_dir}/test.conf", DROPIN.format(
            config=cls.c.config, socket=n1.socket, state=n1.state_dir))
        cls.ctl("daemon-reload", check=True)

    @classmethod
    def tearDownClass(cls):
        if cls.sd:
            try:
                print(cls.inside("journalctl", "-u", "hactl-agent", "--no-pager", "-n", "60",
                                 check=False).stdout[-6000:])
            except Exception:  # noqa: BLE001 (best effort, before the kill)
                pass
            os.kill(cls.sd, signal.SIGKILL)  # the whole PID namespace goes with it
            cls.unshare.wait(timeout=10)
        if getattr(cls, "c", None):
            cls.c.cleanup()
        if getattr(cls, "log", None):
            cls.log.close()
        shutil.rmtree(cls.holder, ignore_errors=True)
        if installed():
            dpkg("--purge", "hactl")

    def setUp(self):
        self.clusters.append(self.c)  # its agents' logs are printed if the step fails
        self.t0 = time.time()

    # ------------------------------------------------------------ helpers
    @classmethod
    def inside(cls, *cmd, check=False, timeout=60):
        return subprocess.run(["nsenter", "-t", str(cls.sd), "-m", "-p", "--", *cmd],
                              capture_output=True, text=True, timeout=timeout, check=check)

    @classmethod
    def ctl(cls, *args, check=False, timeout=60):
        return cls.inside("systemctl", *args, check=check, timeout=timeout)

    @classmethod
    def write(cls, path, text):
        cls.inside("mkdir", "-p", os.path.dirname(path), check=True)
        subprocess.run(["nsenter", "-t", str(cls.sd), "-m", "-p", "--", "sh", "-c",
                        f"cat > {path}"], input=text, text=True, check=True, timeout=10)

    def show(self, *props):
        out = self.ctl("show", "hactl-agent", *[f"-p{p}" for p in props]).stdout
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def journal(self, *args, this_step=False):
        since = ["--since", f"@{int(self.t0)}"] if this_step else []
        return self.inside("journalctl", "-u", "hactl-agent", "--no-pager", "-o", "cat", *since,
                           *args).stdout

    def wait(self, predicate, timeout, what):
        return self.c.wait_until(predicate, timeout, interval=0.1, what=what)

    def worker_on(self, node):
        """Whether node n2's view has the worker started on `node` alone."""
        st = self.c.status("n2") or {}
        r = next((r for r in st.get("resources", []) if r["id"] == "worker"), {})
        return r.get("nodes") == [node] and r.get("state") == "started"

    def one_holder(self, address, among=("n1", "n2", "n3")):
        h = self.c.holders(address)
        return h[0] if len(h) == 1 and h[0] in among else None

    # ------------------------------------------------------------ steps
    def test_1_missing_key_fails_the_start_without_a_restart_loop(self):
        bad = os.path.join(self.holder, "bad.yaml")
        with open(self.c.config) as f:
            text = f.read().replace(self.c.key, self.c.key + ".missing")
        with open(bad, "w") as f:
            f.write(text)
        n1 = self.c.nodes["n1"]
        self.write(f"{self.dropin_dir}/zz-bad.conf", DROPIN.format(
            config=bad, socket=n1.socket, state=n1.state_dir))
        self.ctl("daemon-reload", check=True)
        try:
            r = self.ctl("start", "hactl-agent")
            self.assertNotEqual(r.returncode, 0)
            time.sleep(2.5)  # RestartSec=1s: a restart would have happened by now
            s = self.show("ActiveState", "Result", "ExecMainStatus", "NRestarts")
            self.assertEqual(s, {"ActiveState": "failed", "Result": "exit-code",
                                 "ExecMainStatus": "78", "NRestarts": "0"})
            errors = self.journal("-p", "err")
            self.assertIn(f"key file {self.c.key}.missing does not exist", errors)
        finally:
            self.inside("rm", f"{self.dropin_dir}/zz-bad.conf", check=True)
            self.ctl("daemon-reload", check=True)
            self.ctl("reset-failed", "hactl-agent")

    def test_2_start_returns_once_the_agent_serves(self):
        t0 = time.monotonic()
        r = self.ctl("start", "hactl-agent")
        self.assertEqual(r.returncode, 0, r.stderr)
        # Type=notify: start returned after READY=1, sent once the socket and loop run.
        self.assertEqual(self.show("ActiveState")["ActiveState"], "active")
        st = self.c.status("n1")
        self.assertIsNotNone(st, "the control socket did not answer right after start")
        print(f"\n  systemctl start returned after {time.monotonic() - t0:.2f} s (READY=1)")
        self.assertLess(time.monotonic() - t0, 30)
        self.wait(lambda: self.one_holder(VIP) == "n1", 30, "the VIP on n1 (its preference)")
        # STATUS= for `systemctl status`.
        pattern = r"^(coordinator|follower of n[23]), term \d+, quorum \(node n1 of cluster netns\)$"
        self.wait(lambda: re.match(pattern, self.show("StatusText")["StatusText"]), 10,
                  "systemctl status saying n1's role and quorum")
        # The journal stamps lines itself: the agent adds no time of its own, and each line
        # carries its priority (info for the start, nothing at warning or worse).
        lines = [x for x in self.journal().splitlines() if x.strip()]
        self.assertTrue(any(x.startswith("info ") for x in lines), lines[:10])
        for line in lines:
            self.assertNotRegex(line, r"^\d{4}-\d\d-\d\d|^<\d>")
        self.assertEqual(self.journal("-p", "warning", this_step=True).strip(), "")

    def test_3_reload_applies_a_changed_file_and_refuses_a_bad_one(self):
        pid = self.show("MainPID")["MainPID"]
        with open(self.c.config) as f:
            good = f.read()
        try:
            with open(self.c.config, "w") as f:
                f.write(good + "resources: [\n")  # a YAML error
            r = self.ctl("reload", "hactl-agent")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(self.c.config, self.journal("-p", "err", this_step=True))
            self.assertEqual(self.show("MainPID", "ActiveState"),
                             {"MainPID": pid, "ActiveState": "active"})

            with open(self.c.config, "w") as f:
                f.write(good.replace(self.resources.strip("\n"),
                                     RESOURCES2.replace("WORKER", self.worker).strip("\n")))
            r = self.ctl("reload", "hactl-agent")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.wait(lambda: self.one_holder(VIP2) is not None, 30, "api-ip started by the reload")
            self.assertEqual(self.show("MainPID")["MainPID"], pid)
            self.assertEqual(self.one_holder(VIP), "n1")  # untouched
        finally:
            with open(self.c.config) as f:
                if f.read().endswith("resources: [\n"):  # failed half-way: the later steps
                    with open(self.c.config, "w") as w:  # (re)start agents from this file
                        w.write(good)

    def test_4_watchdog_restarts_a_hung_agent_and_the_vip_moves_once(self):
        self.wait(lambda: self.one_holder(VIP) == "n1", 30, "the VIP on n1")
        before = self.show("MainPID", "NRestarts")
        with AddressWatch(self.c, VIP) as watch:
            self.inside("kill", "-STOP", before["MainPID"], check=True)
            stopped = time.monotonic()
            # The stopped agent's guard removes the VIP at its lease deadline; another node
            # takes it once that lease has run out.
            self.wait(lambda: self.one_holder(VIP, ("n2", "n3")), 20, "the VIP on n2 or n3")
            moved = time.monotonic() - stopped
            # WatchdogSec=10s: killed (SIGABRT) and started again by systemd.
            self.wait(lambda: self.show("NRestarts")["NRestarts"] == str(int(before["NRestarts"]) + 1)
                      and self.show("ActiveState")["ActiveState"] == "active", 40,
                      "systemd restarting the agent")
            after = self.show("MainPID", "Result")
            self.assertNotEqual(after["MainPID"], before["MainPID"])
            self.wait(lambda: (self.c.status("n1") or {}).get("quorum"), 30, "n1 back with quorum")
            # The handover from the hung agent (by its lease: hundreds of milliseconds apart).
            # The failback below is ordered by the coordinator only, stop then start, a UDP
            # round trip apart: closer than these userspace time stamps of `ip monitor`
            # resolve on a loaded machine.
            self.assertEqual(watch.longest_overlap(), 0.0, watch.intervals())
        self.wait(lambda: self.one_holder(VIP) == "n1", 30, "the VIP back on n1")
        print(f"\n  VIP on another node {moved:.2f} s after SIGSTOP; agent restarted by the watchdog")
        self.assertLess(moved, 10, "the VIP left the hung agent before the watchdog fired")
        self.assertIn("watchdog", self.inside("journalctl", "--no-pager", "-o", "cat", "-u",
                                              "hactl-agent").stdout.lower())

    def test_5_stop_hands_the_vip_over(self):
        self.wait(lambda: self.one_holder(VIP) == "n1", 30, "the VIP on n1")
        with AddressWatch(self.c, VIP) as watch:
            t0 = time.monotonic()
            r = self.ctl("stop", "hactl-agent", timeout=120)
            stop_took = time.monotonic() - t0
            self.assertEqual(r.returncode, 0, r.stderr)
            self.wait(lambda: self.one_holder(VIP, ("n2", "n3")), 10, "the VIP on n2 or n3")
            self.assertEqual(self.show("ActiveState", "Result"),
                             {"ActiveState": "inactive", "Result": "success"})
            self.assertEqual(watch.longest_overlap(), 0.0, watch.intervals())
        print(f"\n  systemctl stop returned after {stop_took:.2f} s, the VIP elsewhere")
        self.assertLess(stop_took, 30)
        self.wait(lambda: self.worker_on("n2") or self.worker_on("n3"), 15, "worker elsewhere")
        self.assertNotEqual(self.inside("test", "-e", "/run/hactl-test-worker.pid").returncode, 0)
        # Nothing of the agent is left: its guard ended with nothing to hold.
        self.wait(lambda: self.inside("pgrep", "-x", "hactl-agent").stdout.strip() == "", 10,
                  "no hactl-agent process left in n1's namespace")

    def test_6_stop_in_maintenance_keeps_what_runs(self):
        # An operator upgrading the agent: maintenance, stop, start, online. In maintenance
        # the agent and its guard leave everything running, and KillMode=process keeps
        # systemd from killing the daemon the worker resource started in the agent's cgroup.
        r = self.ctl("start", "hactl-agent")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait(lambda: self.one_holder(VIP) == "n1" and self.worker_on("n1"), 30,
                  "the VIP and the worker back on n1")
        pid = self.inside("cat", "/run/hactl-test-worker.pid", check=True).stdout.strip()
        r = self.c.hactl("n1", "node", "maintenance", "n1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.wait(lambda: "n1" in self.c.status("n2")["document"].get("maintenance", []), 10,
                  "n1 in maintenance")
        with AddressWatch(self.c, VIP) as watch:
            r = self.ctl("stop", "hactl-agent", timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.show("ActiveState")["ActiveState"], "inactive")
            time.sleep(3)  # well past a lease and a takeover delay
            self.assertEqual(self.c.holders(VIP), ["n1"])
            self.assertEqual(self.inside("kill", "-0", pid).returncode, 0, "the daemon was killed")
            r = self.ctl("start", "hactl-agent")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.wait(lambda: (self.c.status("n1") or {}).get("quorum"), 30, "n1 back")
            r = self.c.hactl("n1", "node", "online", "n1")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.wait(lambda: not self.c.status("n1")["document"].get("maintenance"), 10, "online")
            time.sleep(2)
            self.assertEqual(self.c.holders(VIP), ["n1"])
            self.assertEqual(watch.intervals(), {"n1": [(0.0, None)]}, "never moved")
        self.assertTrue(self.worker_on("n1"))
        self.assertEqual(self.inside("cat", "/run/hactl-test-worker.pid").stdout.strip(), pid,
                         "the same daemon, not restarted")


if __name__ == "__main__":
    main()
