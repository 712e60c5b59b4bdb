"""A private single-node SLURM cluster on localhost, for integration tests.

``local_slurm_cluster()`` (a context manager; the fixture ``slurm_cluster`` wraps it) writes a
slurm.conf for this host (its real CPUs and memory, from ``slurmd -C``) with one partition,
starts its own ``munged``, ``slurmctld`` and ``slurmd`` in the foreground (PID files in a fresh
run directory), waits until the node is idle and, on exit, cancels what is left in the queue and
stops exactly those three daemons by their PIDs (SIGTERM, then SIGKILL after 20 s).

The cluster is private: its own munge key and socket, free TCP ports, state, spool and logs in
the run directory, and ``SLURM_CONF`` pointing at its slurm.conf (set in ``os.environ`` while the
cluster is up, so that sbatch/squeue called by Snakemake and the jobs, which inherit the
environment through ``sbatch --export=ALL``, talk to it). One global path is needed:
snakemake-executor-plugin-slurm-jobstep removes every ``SLURM_*`` variable (``SLURM_CONF``
included) before it runs the rule through ``srun`` inside the job, so that ``srun`` falls back to
/etc/slurm/slurm.conf ("fetch_config: DNS SRV lookup failed" otherwise). While the cluster is up,
/etc/slurm/slurm.conf is a symlink to the private config; it is created only where no such file
exists (a dangling link left by a killed run is replaced) and removed on exit. No systemd is used
and no process is looked up by name. No accounting (slurmdbd): clients must use ``squeue`` for job
states (``sacct`` exits 1).

Everything that can hang is bounded by a timeout. Needs root (slurmd starts jobs as the
submitting user) and the Debian packages ``slurm-wlm`` and ``munge``; without them
``need(False, ...)`` skips on a developer's machine and fails in CI.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from conftest import need

PARTITION = "snaketest"
CLUSTER_NAME = "snaketest"
#: executables the cluster and its clients need (Debian: slurm-wlm, munge)
REQUIRED = (
    "munged",
    "munge",
    "unmunge",
    "slurmctld",
    "slurmd",
    "sbatch",
    "squeue",
    "sinfo",
    "scontrol",
    "scancel",
)
SYSTEM_CONF = Path("/etc/slurm/slurm.conf")  # where srun looks when SLURM_CONF is unset
SBIN_PATH = os.pathsep.join([os.environ.get("PATH", ""), "/usr/local/sbin", "/usr/sbin", "/sbin"])

START_TIMEOUT = 90  # seconds until the node must be idle
CMD_TIMEOUT = 20  # seconds for one client command (sinfo, squeue, scancel, slurmd -C)
STOP_TIMEOUT = 20  # seconds a daemon gets to exit after SIGTERM (then SIGKILL)


class SlurmClusterError(RuntimeError):
    pass


@dataclass
class Daemon:
    name: str
    proc: subprocess.Popen[bytes]
    log: Path
    pid_file: Path


@dataclass
class SlurmCluster:
    """A running cluster: where its files are and how to reach it."""

    run_dir: Path
    conf: Path
    node: str
    partition: str
    cpus: int
    real_memory_mb: int
    env: dict[str, str]
    daemons: dict[str, Daemon] = field(default_factory=dict)

    @property
    def slurmctld_log(self) -> Path:
        return self.run_dir / "log" / "slurmctld.log"

    @property
    def slurmd_log(self) -> Path:
        return self.run_dir / "log" / "slurmd.log"

    def run(
        self, *cmd: str, timeout: float = CMD_TIMEOUT, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """Run a SLURM client command against this cluster (bounded)."""
        proc = subprocess.run(
            list(cmd),
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        if check and proc.returncode != 0:
            raise SlurmClusterError(
                f"{' '.join(cmd)} failed ({proc.returncode}): {proc.stdout}{proc.stderr}"
            )
        return proc

    def jobs(self) -> list[dict[str, str]]:
        """Every job slurmctld still knows (finished ones stay for MinJobAge=3600 s)."""
        fields = ("id", "state", "name", "cpus", "mem", "time_limit", "comment", "partition")
        out = self.run(
            "squeue", "--states=all", "--noheader", "--format=%i|%T|%j|%C|%m|%l|%k|%P"
        ).stdout
        return [
            dict(zip(fields, line.split("|"), strict=True))
            for line in out.splitlines()
            if line.strip()
        ]

    def diagnostics(self, lines: int = 40) -> str:
        """The tails of the daemons' logs, for assertion messages."""
        parts = []
        for path in sorted((self.run_dir / "log").glob("*")):
            text = path.read_text(errors="replace").splitlines()[-lines:]
            parts.append(f"--- {path.name} (last {lines} lines) ---\n" + "\n".join(text))
        return "\n".join(parts)


def missing_executables() -> list[str]:
    return [exe for exe in REQUIRED if shutil.which(exe, path=SBIN_PATH) is None]


def require_slurm() -> None:
    """Skip (fail in CI) unless a local SLURM cluster can be started here."""
    missing = missing_executables()
    need(
        not missing,
        f"SLURM test cluster needs {', '.join(missing)} "
        "(apt-get install --no-install-recommends slurm-wlm munge)",
    )
    need(
        hasattr(os, "geteuid") and os.geteuid() == 0,
        "SLURM test cluster needs root (slurmd, munged)",
    )


def _link_system_conf(conf: Path) -> bool:
    """Point /etc/slurm/slurm.conf at ``conf``; False if a real config (or a live test cluster's) is there."""
    if SYSTEM_CONF.is_symlink() and not SYSTEM_CONF.exists():
        SYSTEM_CONF.unlink()  # dangling: left behind by a test cluster that was killed
    if SYSTEM_CONF.exists() or SYSTEM_CONF.is_symlink():
        return False
    SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
    SYSTEM_CONF.symlink_to(conf)
    return True


def _unlink_system_conf(conf: Path) -> None:
    if SYSTEM_CONF.is_symlink() and Path(os.readlink(SYSTEM_CONF)) == conf:
        SYSTEM_CONF.unlink()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def node_hardware(env: dict[str, str]) -> dict[str, str]:
    """This host as slurmd sees it: ``slurmd -C``'s NodeName line as a dict."""
    proc = subprocess.run(
        [shutil.which("slurmd", path=SBIN_PATH) or "slurmd", "-C"],
        env=env,
        capture_output=True,
        text=True,
        timeout=CMD_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("NodeName=")), None)
    if proc.returncode != 0 or line is None:
        raise SlurmClusterError(f"slurmd -C failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return dict(item.split("=", 1) for item in line.split())


def write_slurm_conf(run_dir: Path, hw: dict[str, str], ctld_port: int, slurmd_port: int) -> Path:
    node = hw["NodeName"]
    # keep slurmd -C's topology (Boards, Sockets, Cores, Threads) and memory: the node is this host
    node_line = " ".join(f"{k}={v}" for k, v in hw.items() if k != "NodeName")
    conf = run_dir / "slurm.conf"
    conf.write_text(
        f"""# Private single-node test cluster written by tests/slurm_cluster.py (no accounting, no cgroups)
ClusterName={CLUSTER_NAME}
SlurmctldHost=localhost
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket={run_dir}/munge/munge.socket
StateSaveLocation={run_dir}/state
SlurmdSpoolDir={run_dir}/spool
SlurmctldPidFile={run_dir}/run/slurmctld.pid
SlurmdPidFile={run_dir}/run/slurmd.pid
SlurmctldLogFile={run_dir}/log/slurmctld.log
SlurmdLogFile={run_dir}/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
MailProg=/bin/true
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=500
ReturnToService=2
# finished jobs stay visible to squeue this long (default 300): the plugin's squeue status mode
# needs MinJobAge >= 3 x --slurm-init-seconds-before-status-checks, and tests list them afterwards
MinJobAge=3600
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
NodeName={node} NodeAddr=127.0.0.1 {node_line} State=UNKNOWN
PartitionName={PARTITION} Nodes={node} Default=YES MaxTime=INFINITE State=UP
"""
    )
    return conf


def _start(name: str, cmd: list[str], run_dir: Path, env: dict[str, str], pid_file: Path) -> Daemon:
    log = run_dir / "log" / f"{name}.out"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Daemon(name, proc, log, pid_file)


def _wait_until(
    what: str, check, timeout: float, daemons: dict[str, Daemon], interval: float = 0.25
) -> None:
    deadline = time.monotonic() + timeout
    while True:
        for d in daemons.values():
            if d.proc.poll() is not None:
                raise SlurmClusterError(
                    f"{d.name} exited ({d.proc.returncode}) while waiting for {what}"
                )
        try:
            if check():
                return
        except subprocess.TimeoutExpired:
            pass
        if time.monotonic() > deadline:
            raise SlurmClusterError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(interval)


def _stop(d: Daemon) -> None:
    """SIGTERM the daemon by its PID, wait, SIGKILL if it does not go."""
    if d.proc.poll() is None:
        try:
            os.kill(d.proc.pid, signal.SIGTERM)
            d.proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.kill(d.proc.pid, signal.SIGKILL)
            d.proc.wait(timeout=STOP_TIMEOUT)
        except ProcessLookupError:
            pass
    d.pid_file.unlink(missing_ok=True)


def _cancel_all_jobs(cluster: SlurmCluster) -> None:
    """Cancel whatever is still queued or running, and wait (bounded) until it is gone."""
    try:
        active = [
            j["id"]
            for j in cluster.jobs()
            if j["state"] in ("PENDING", "RUNNING", "CONFIGURING", "COMPLETING")
        ]
        if active:
            cluster.run("scancel", *active, check=False)
            _wait_until(
                "cancelled jobs to finish",
                lambda: not [j for j in cluster.jobs() if j["state"] in ("RUNNING", "COMPLETING")],
                30,
                {},
            )
    except (SlurmClusterError, subprocess.TimeoutExpired, OSError):
        pass  # the daemons get stopped regardless


@contextmanager
def local_slurm_cluster(base: Path | None = None, keep: bool = False) -> Iterator[SlurmCluster]:
    """Start a private single-node SLURM cluster; stop it (by PID) on exit.

    ``base``: where the run directory is created (default: /tmp; keep it short, the munge
    socket path must fit in 108 bytes). ``keep``: leave the run directory (config, logs) behind.
    """
    require_slurm()
    run_dir = Path(tempfile.mkdtemp(prefix="slurm-", dir=base))
    for sub in ("munge", "state", "spool", "run", "log"):
        (run_dir / sub).mkdir(mode=0o700)
    conf_path = run_dir / "slurm.conf"
    env = dict(os.environ, SLURM_CONF=str(conf_path), PATH=SBIN_PATH)
    for var in [v for v in env if v.startswith(("SLURM_", "SBATCH_", "SRUN_", "SQUEUE_"))]:
        if var != "SLURM_CONF":  # never inherit an outer job's or user's SLURM settings
            del env[var]
    daemons: dict[str, Daemon] = {}
    cluster: SlurmCluster | None = None
    saved_environ = dict(os.environ)
    try:
        hw = node_hardware(env)
        conf = write_slurm_conf(run_dir, hw, _free_port(), _free_port())
        if not _link_system_conf(conf):
            need(
                False,
                f"{SYSTEM_CONF} exists (a real SLURM installation or another test cluster): srun inside "
                "the jobs would not find the test cluster's config",
            )
        cluster = SlurmCluster(
            run_dir=run_dir,
            conf=conf,
            node=hw["NodeName"],
            partition=PARTITION,
            cpus=int(hw["CPUs"]),
            real_memory_mb=int(hw["RealMemory"]),
            env=env,
            daemons=daemons,
        )

        # munged: own key, socket, pid, seed and log; as root it needs --force
        munge_dir = run_dir / "munge"
        key = munge_dir / "munge.key"
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        socket_path = munge_dir / "munge.socket"
        daemons["munged"] = _start(
            "munged",
            [
                shutil.which("munged", path=SBIN_PATH),
                "--foreground",
                "--force",
                f"--socket={socket_path}",
                f"--key-file={key}",
                f"--pid-file={run_dir / 'run' / 'munged.pid'}",
                f"--seed-file={munge_dir / 'munged.seed'}",
                f"--log-file={run_dir / 'log' / 'munged.log'}",
            ],
            run_dir,
            env,
            run_dir / "run" / "munged.pid",
        )

        def munge_works() -> bool:
            cred = subprocess.run(
                ["munge", "-n", "-S", str(socket_path)],
                env=env,
                capture_output=True,
                timeout=CMD_TIMEOUT,
            )
            if cred.returncode != 0:
                return False
            back = subprocess.run(
                ["unmunge", "-S", str(socket_path)],
                input=cred.stdout,
                env=env,
                capture_output=True,
                timeout=CMD_TIMEOUT,
            )
            return back.returncode == 0

        _wait_until("munged", munge_works, 30, daemons)

        daemons["slurmctld"] = _start(
            "slurmctld",
            [shutil.which("slurmctld", path=SBIN_PATH), "-D", "-f", str(conf)],
            run_dir,
            env,
            run_dir / "run" / "slurmctld.pid",
        )
        daemons["slurmd"] = _start(
            "slurmd",
            [shutil.which("slurmd", path=SBIN_PATH), "-D", "-f", str(conf), "-N", cluster.node],
            run_dir,
            env,
            run_dir / "run" / "slurmd.pid",
        )

        def node_idle() -> bool:
            proc = cluster.run(
                "sinfo", "--noheader", "-n", cluster.node, "-o", "%t", check=False, timeout=10
            )
            return proc.returncode == 0 and proc.stdout.strip() == "idle"

        _wait_until(f"node {cluster.node} to be idle", node_idle, START_TIMEOUT, daemons)
        for d in daemons.values():
            d.pid_file.parent.mkdir(exist_ok=True)
            if not d.pid_file.exists():  # munged and slurm* write their own; keep one for each
                d.pid_file.write_text(f"{d.proc.pid}\n")

        os.environ.clear()
        os.environ.update(env)
        yield cluster
    except SlurmClusterError as err:
        detail = cluster.diagnostics() if cluster else ""
        raise SlurmClusterError(f"{err}\n{detail}") from None
    finally:
        os.environ.clear()
        os.environ.update(saved_environ)
        if cluster is not None and "slurmctld" in daemons:
            _cancel_all_jobs(cluster)
        for name in ("slurmd", "slurmctld", "munged"):
            if name in daemons:
                _stop(daemons[name])
        _unlink_system_conf(conf_path)
        if not keep:
            shutil.rmtree(run_dir, ignore_errors=True)


@pytest.fixture
def slurm_cluster() -> Iterator[SlurmCluster]:
    """The cluster as a fixture: ``from slurm_cluster import slurm_cluster`` in a test module."""
    with local_slurm_cluster() as cluster:
        yield cluster
