"""Per-rule conda environments, checked statically (conda channels are unreachable here).

Every rule names an env in envs/; every env is conda-forge only, every package pinned exactly, the
versions agree with the pip lock we test with, and each env holds every third-party package that the
code of the rules using it imports (so the project's package imports inside it).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from tradeoff.provenance import _module_file, module_closure

ENVS = sorted((REPO / "envs").glob("*.yaml"))
PIP_LOCK = dict(
    line.split("==", 1) for line in (REPO / "requirements" / "lock.txt").read_text().splitlines()
    if "==" in line and not line.startswith("#")
)
PIP_LOCK = {k.lower(): v for k, v in PIP_LOCK.items()}
# conda-forge name -> pip name, where they differ
CONDA_TO_PIP = {"pytorch": "torch"}
# imported top-level module -> conda-forge package
MODULE_TO_CONDA = {
    "sklearn": "scikit-learn", "yaml": "pyyaml", "torch": "pytorch", "torchvision": "torchvision",
    "numpy": "numpy", "scipy": "scipy", "pandas": "pandas", "matplotlib": "matplotlib", "seaborn": "seaborn",
    "threadpoolctl": "threadpoolctl", "jsonschema": "jsonschema", "safetensors": "safetensors",
    "mlxtend": "mlxtend", "torchattacks": "torchattacks", "tqdm": "tqdm",
}


def _env(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for dep in _env(path)["dependencies"]:
        assert isinstance(dep, str), f"{path.name}: nested entries (pip:) are not allowed: {dep!r}"
        m = re.fullmatch(r"([A-Za-z0-9_.-]+)=(\d+(?:\.\d+)*(?:\.post\d+)?)", dep)
        assert m, f"{path.name}: {dep!r} is not pinned exactly as name=version"
        pins[m.group(1)] = m.group(2)
    return pins


def _rule_envs() -> dict[str, str]:
    """rule name -> env file it names (from workflow/rules/*.smk)."""
    out = {}
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for m in re.finditer(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", smk.read_text(), re.M):
            env = re.search(r'\n    conda:\n\s+"([^"]+)"', "\n" + m.group(2))
            script = re.search(r'\n    script:\n\s+"([^"]+)"', "\n" + m.group(2))
            if script:
                assert env, f"rule {m.group(1)} runs a script but names no conda env"
                out[m.group(1)] = (smk.parent / env.group(1)).resolve(), (smk.parent / script.group(1)).resolve()
    return out


def test_there_are_envs_per_rule_family() -> None:
    assert {p.stem for p in ENVS} >= {"theory", "torch", "plots"}


@pytest.mark.parametrize("path", ENVS, ids=[p.name for p in ENVS])
def test_env_is_conda_forge_only_and_pinned(path: Path) -> None:
    env = _env(path)
    assert env["channels"] == ["conda-forge", "nodefaults"]
    pins = _pins(path)
    assert pins["python"] == "{}.{}.{}".format(*sys.version_info[:3]) or pins["python"].startswith("3.11")


@pytest.mark.parametrize("path", ENVS, ids=[p.name for p in ENVS])
def test_env_versions_agree_with_pip_lock(path: Path) -> None:
    for name, version in _pins(path).items():
        if name == "python":
            continue
        pip_name = CONDA_TO_PIP.get(name, name).lower()
        assert pip_name in PIP_LOCK, f"{path.name}: {name} is not in requirements/lock.txt"
        assert PIP_LOCK[pip_name] == version, f"{path.name}: {name}={version} but the pip lock has {PIP_LOCK[pip_name]}"


def _third_party_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return {n for n in names if n in MODULE_TO_CONDA}


def _stage_of(script: Path) -> str:
    m = re.search(r"from (tradeoff\.stages\.\w+) import", script.read_text())
    assert m, f"{script.name} does not call a stage function"
    return m.group(1)


def test_every_rule_env_provides_what_its_code_imports() -> None:
    rules = _rule_envs()
    assert rules, "no rules found"
    for rule, (env, script) in rules.items():
        assert env.is_file(), f"rule {rule}: env {env} does not exist"
        pins = _pins(env)
        modules = module_closure(_stage_of(script), "tradeoff.runtime")
        needed = set().union(*(_third_party_imports(_module_file(m)) for m in modules))
        needed |= _third_party_imports(script)
        missing = {MODULE_TO_CONDA[n] for n in needed} - set(pins)
        assert not missing, f"rule {rule}: env {env.name} lacks {sorted(missing)} (imported by its stage)"
