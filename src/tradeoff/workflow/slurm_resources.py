"""The resource names the pinned SLURM executor plugins read, and what a profile gets wrong with them.

Snakemake passes every resource of a job to the executor plugin, which reads the names it knows and
ignores the rest without a word: ``slurm_partion: gpu`` (for ``slurm_partition``) sends the job to
the default partition. And ``gpu_model`` on a job that requests no GPU is not ignored: the plugin
then writes ``--gpus=<model>:<gpu>`` with the job's ``gpu`` resource, or ``1`` when the job has none
(``snakemake_executor_plugin_slurm.utils.set_gres_string``), so the job asks for a GPU it does not
use, or for ``--gpus=<model>:0``.

:data:`PLUGIN_RESOURCES` is the list of names the pinned plugins read (``snakemake-executor-plugin-slurm``
and the ``-jobstep`` plugin that runs inside each job); :func:`installed_plugin_resources` reads it
from the installed plugins' source (parsed, not imported), and a test holds the constant equal to it,
so a plugin upgrade that reads a new name fails a test rather than this check. The checks themselves
(:mod:`tradeoff.workflow.profile_check` raises their messages) use the constant: pure Python, no plugin needed.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

#: the pinned plugins (requirements/lock.txt, pyproject.toml) whose source PLUGIN_RESOURCES is read from
PLUGINS = {"snakemake_executor_plugin_slurm": "2.8.0", "snakemake_executor_plugin_slurm_jobstep": "0.6.1"}

PLUGIN_RESOURCES = frozenset({
    "cluster", "clusters", "constraint", "cpus_per_gpu", "cpus_per_task", "gpu", "gpu_model", "gpus",
    "gres", "mem_mb", "mem_mb_per_cpu", "mpi", "mpi_tasks", "node", "nodes", "nvidia_gpu", "qos",
    "runtime", "slurm_account", "slurm_cluster", "slurm_extra", "slurm_nodes", "slurm_partition",
    "tasks", "tasks_per_gpu", "tasks_per_node", "threads",
})  # fmt: skip
"""Every resource name the pinned SLURM plugins read from a job (tests/test_slurm_resources.py
checks it against their installed source)."""

SNAKEMAKE_RESOURCES = frozenset({"mem", "mem_mb", "mem_mib", "disk", "disk_mb", "disk_mib", "runtime", "tmpdir", "threads"})
"""Snakemake's own resources (sizes and times it converts, the temporary folder); names starting
with ``_`` (``_cores``, ``_nodes``) are Snakemake's too."""


def resource_reads(source: str) -> set[str]:
    """The resource names a plugin module reads from ``<x>.resources``: ``.get("name")``,
    ``.name``, ``["name"]``, ``getattr(<x>.resources, "name")``, ``"name" in <x>.resources(.keys())``,
    and ``.get(key)`` where ``key`` runs over a literal tuple, list or dict of names. A read whose name
    cannot be resolved this way is returned as ``?<expression>`` (so that a test notices it)."""
    tree = ast.parse(source)

    def is_resources(node: ast.AST) -> bool:
        return (isinstance(node, ast.Attribute) and node.attr == "resources") or (
            isinstance(node, ast.Name) and node.id == "resources")

    dicts = {t.id: [k.value for k in n.value.keys if isinstance(k, ast.Constant) and isinstance(k.value, str)]
             for n in ast.walk(tree) if isinstance(n, ast.Assign) and isinstance(n.value, ast.Dict)
             for t in n.targets if isinstance(t, ast.Name)}
    loops: dict[str, list[str]] = {}
    for node in ast.walk(tree):
        if not isinstance(node, ast.For):
            continue
        it, names = node.iter, []
        if isinstance(it, (ast.Tuple, ast.List, ast.Set)):
            names = [e.value for e in it.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
        elif isinstance(it, ast.Call) and isinstance(it.func, ast.Attribute) and it.func.attr in ("items", "keys") \
                and isinstance(it.func.value, ast.Name):
            names = dicts.get(it.func.value.id, [])
        target = node.target.elts[0] if isinstance(node.target, ast.Tuple) else node.target
        if isinstance(target, ast.Name) and names:
            loops.setdefault(target.id, []).extend(names)

    def named(arg: ast.AST) -> list[str]:
        if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
            return [arg.value]
        if isinstance(arg, ast.Name) and arg.id in loops:
            return loops[arg.id]
        return ["?" + ast.unparse(arg)]

    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            if isinstance(f, ast.Attribute) and f.attr == "get" and is_resources(f.value) and node.args:
                found.update(named(node.args[0]))
            elif isinstance(f, ast.Name) and f.id in ("getattr", "hasattr") and len(node.args) > 1 \
                    and is_resources(node.args[0]):
                found.update(named(node.args[1]))
        elif isinstance(node, ast.Attribute) and is_resources(node.value) \
                and node.attr not in ("get", "keys", "items", "values"):
            found.add(node.attr)
        elif isinstance(node, ast.Subscript) and is_resources(node.value):
            found.update(named(node.slice))
        elif isinstance(node, ast.Compare) and isinstance(node.left, ast.Constant) \
                and isinstance(node.left.value, str) and isinstance(node.ops[0], (ast.In, ast.NotIn)):
            c = node.comparators[0]
            if is_resources(c) or (isinstance(c, ast.Call) and isinstance(c.func, ast.Attribute)
                                   and c.func.attr == "keys" and is_resources(c.func.value)):
                found.add(node.left.value)
    return found


def installed_plugin_resources(packages: Iterable[str] = PLUGINS) -> set[str]:
    """The resource names the installed plugin packages read (their ``*.py`` files parsed, not
    imported). Raises ModuleNotFoundError naming a package that is not installed."""
    found: set[str] = set()
    for package in packages:
        spec = importlib.util.find_spec(package)
        if spec is None or not spec.submodule_search_locations:
            raise ModuleNotFoundError(f"{package} is not installed")
        for folder in spec.submodule_search_locations:
            for path in sorted(Path(folder).glob("*.py")):
                found |= resource_reads(path.read_text(encoding="utf-8"))
    return found


def edit_distance(a: str, b: str) -> int:
    """Optimal-string-alignment distance: insertions, deletions, substitutions and swaps of two
    neighbouring characters (``gpu_modle`` is 1 from ``gpu_model``)."""
    d = [[i + j if i * j == 0 else 0 for j in range(len(b) + 1)] for i in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def _near(name: str, known: Iterable[str]) -> list[str]:
    limit = 1 if len(name) <= 4 else 2
    scored = sorted((edit_distance(name, k), k) for k in known)
    return [k for dist, k in scored if dist <= limit and dist == scored[0][0]] if scored else []


def unknown_resource(name: str, limits: Iterable[str] = ()) -> str | None:
    """Why resource ``name`` in a profile's ``set-resources``/``default-resources`` looks like a
    typo, or None: it is neither read by the SLURM plugins nor one of Snakemake's nor a resource
    given a global limit (``resources:``, a user throttle such as ``gpu: 1``), and it is within a
    small edit distance of a name the plugins read (or starts with ``slurm_``, a prefix only the
    plugin's names use)."""
    known = PLUGIN_RESOURCES | SNAKEMAKE_RESOURCES
    if name.startswith("_") or name in known or name in set(limits):
        return None
    near = _near(name, known)
    version = PLUGINS["snakemake_executor_plugin_slurm"]
    if near:
        return (f"{name!r} is not a resource Snakemake or the SLURM executor plugin ({version}) reads, so it would "
                f"be ignored silently; did you mean {' or '.join(near)}?")
    if name.startswith("slurm_"):
        slurm = sorted(n for n in PLUGIN_RESOURCES if n.startswith("slurm_"))
        return (f"{name!r} is not a resource the SLURM executor plugin ({version}) reads, so it would be ignored "
                f"silently; its slurm_ resources are {', '.join(slurm)} (anything else for sbatch goes in "
                "slurm_extra)")
    return None


def gpus_emitted(model: str, gpu: Any) -> str:
    """The ``--gpus`` flag the pinned plugin writes for a job with ``gpu_model`` ``model`` and
    ``gpu`` resource ``gpu`` (None: the job has none, and the plugin assumes 1)."""
    return f"--gpus={model}:{1 if gpu is None else gpu}"


def requests_gpu(gpu: Any, gres: Any = None) -> bool | None:
    """Whether a job with this ``gpu`` (and ``gres``) resource requests a GPU; None when ``gpu`` is
    an expression that is only known per job."""
    if isinstance(gres, str) and "gpu" in gres:
        return True
    if gpu is None:
        return False
    if isinstance(gpu, str):
        try:
            gpu = float(gpu.strip())
        except ValueError:
            return None
    if isinstance(gpu, bool) or not isinstance(gpu, (int, float)):
        return None
    return gpu > 0


def gpu_model_problem(rule: str, model: Any, resources: Mapping[str, Any]) -> str | None:
    """Why ``gpu_model: model`` on ``rule`` is a mistake, or None: the rule's resources (its own,
    over ``default-resources``, under ``set-resources``) request no GPU, so the plugin would write
    ``--gpus=<model>:0`` or ask for a GPU the job does not use."""
    if requests_gpu(resources.get("gpu"), resources.get("gres")) is not False:
        return None
    gpu = resources.get("gpu")
    version = PLUGINS["snakemake_executor_plugin_slurm"]
    asks = "no gpu resource" if gpu is None else f"gpu={gpu}"
    effect = ("a GPU for a job that asks for none" if gpu is None
              else "a request for zero GPUs of that model, which is not what was meant")
    return (f"is set for rule {rule}, which requests no GPU ({asks}): the SLURM executor plugin ({version}) "
            f"would submit it with {gpus_emitted(str(model), gpu)}, {effect}. Set gpu_model only where the "
            "rule requests a GPU (this workflow's GPU rules request one with mnist.device: cuda), or drop it")
