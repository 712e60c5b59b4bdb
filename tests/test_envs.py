"""Per-rule conda environments and the pip route, checked statically (conda channels are
unreachable here).

Every conda pin has an evidence row in envs/README.md (feedstock, recipe file, commit) with the same
version and a channel the env lists; no env asks a channel for a package that is not on it; the GPU
rules' CUDA env cannot resolve to a CPU build of PyTorch; each env holds what its rules' code
imports; and neither route (pip lock, conda envs) can bring back a known-vulnerable requests or
urllib3 (torchattacks, which asks for requests~=2.25.1, is installed with --no-deps on both).
"""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from conftest import REPO

from tradeoff.provenance import _module_file, module_closure
from tradeoff.workflow.cluster import GPU_RULES, torch_env

ENVS = sorted((REPO / "envs").glob("*.yaml"))
EVIDENCE_FILE = REPO / "envs" / "README.md"
PIP_LOCK = {
    k.lower(): v
    for k, v in (
        line.split("==", 1)
        for line in (REPO / "requirements" / "lock.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
}
NO_DEPS = REPO / "requirements" / "no-deps.txt"
# imported top-level module -> conda-forge package
MODULE_TO_CONDA = {
    "sklearn": "scikit-learn", "yaml": "pyyaml", "torch": "pytorch", "torchvision": "torchvision",
    "numpy": "numpy", "scipy": "scipy", "pandas": "pandas", "matplotlib": "matplotlib", "seaborn": "seaborn",
    "threadpoolctl": "threadpoolctl", "jsonschema": "jsonschema", "safetensors": "safetensors",
    "mlxtend": "mlxtend", "torchattacks": "torchattacks", "tqdm": "tqdm",
}
# packages a channel does not have, whatever a pin says (checked against the feedstocks: no
# torchattacks feedstock; Snakemake and its plugins are bioconda's)
NOT_ON = {
    "conda-forge": {"torchattacks", "snakemake", "snakemake-minimal", "snakemake-executor-plugin-slurm"},
}
# installed after the env is created (envs/<env>.post-deploy.sh), not by conda
POST_DEPLOY = {"torchattacks"}
# the oldest versions without a known advisory (requests: CVE-2023-32681, CVE-2024-35195 and
# CVE-2024-47081 fixed in 2.31.0, 2.32.0 and 2.32.4; urllib3: CVE-2025-50181/50182 in 2.5.0, CVE-2025-66418/66471 in 2.6.0,
# CVE-2026-21441 in 2.6.3)
SAFE = {"requests": (2, 32, 4), "urllib3": (2, 6, 3)}


def _env(path: Path) -> dict:
    return yaml.safe_load(path.read_text())


PIN = re.compile(r"([A-Za-z0-9_.-]+)=(\d+(?:\.\d+)*(?:\.post\d+)?)(?:=([A-Za-z0-9_.*]+))?")


def _pins(env: dict, name: str = "env") -> dict[str, tuple[str, str | None]]:
    """Package -> (version, build string or None); every entry pinned exactly, no pip: section."""
    pins = {}
    for dep in env["dependencies"]:
        assert isinstance(dep, str), f"{name}: nested entries (pip:) are not allowed: {dep!r}"
        m = PIN.fullmatch(dep)
        assert m, f"{name}: {dep!r} is not pinned exactly as name=version[=build]"
        pins[m.group(1)] = (m.group(2), m.group(3))
    return pins


def evidence(text: str) -> dict[str, dict[str, str]]:
    """The evidence table of envs/README.md: package -> its row."""
    rows = {}
    for line in text.splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) == 8 and cells[0] not in ("package", "---"):
            pkg, version, channel, feedstock, recipe, commit, _when, python = cells
            assert pkg not in rows, f"envs/README.md: two rows for {pkg}"
            rows[pkg] = {"version": version, "channel": channel, "feedstock": feedstock,
                         "recipe": recipe, "commit": commit, "python": python}
    return rows


def env_problems(env: dict, rows: dict[str, dict[str, str]], name: str = "env") -> list[str]:
    """What is wrong with an env's pins given the evidence rows (empty: nothing)."""
    out = []
    channels = env["channels"]
    if channels[-1] != "nodefaults" or not set(channels[:-1]) <= {"conda-forge", "bioconda"}:
        out.append(f"{name}: channels {channels} are not conda-forge/bioconda then nodefaults")
    for pkg, (version, _build) in _pins(env, name).items():
        for channel, absent in NOT_ON.items():
            if pkg in absent and channel in channels:
                out.append(f"{name}: {pkg} is not on {channel}")
        row = rows.get(pkg)
        if row is None:
            out.append(f"{name}: {pkg}={version} has no evidence row in envs/README.md")
            continue
        if row["version"] != version:
            out.append(f"{name}: {pkg}={version} but the evidence is for {row['version']}")
        if row["channel"] not in channels:
            out.append(f"{name}: {pkg} is evidenced on {row['channel']}, a channel the env does not list")
        expected = {"conda-forge": r"conda-forge/[a-z0-9_.-]+-feedstock", "bioconda": r"bioconda/bioconda-recipes"}
        if not re.fullmatch(expected.get(row["channel"], "$^"), row["feedstock"]):
            out.append(f"{name}: {pkg}: {row['feedstock']} is not a {row['channel']} recipe repository")
        if not re.fullmatch(r"[0-9a-f]{40}", row["commit"]):
            out.append(f"{name}: {pkg}: commit {row['commit']!r} is not a full git hash")
        if not re.fullmatch(r"(recipes/[\w.-]+/)?recipe/(meta|recipe)\.yaml|recipes/[\w.-]+/meta\.yaml", row["recipe"]):
            out.append(f"{name}: {pkg}: {row['recipe']!r} is not a recipe file")
    return out


def cpu_torch_possible(env: dict) -> bool:
    """Whether the env can resolve to a CPU build of PyTorch (it must name a CUDA build to be safe)."""
    pins = _pins(env)
    if "pytorch-gpu" in pins:  # conda-forge builds the pytorch-gpu output in CUDA variants only
        return False
    version_build = pins.get("pytorch")
    return not (version_build and version_build[1] and version_build[1].startswith("cuda"))


ROWS = evidence(EVIDENCE_FILE.read_text())


def test_there_are_envs_per_rule_family() -> None:
    assert {p.stem for p in ENVS} >= {"theory", "torch", "torch-gpu", "plots"}


@pytest.mark.parametrize("path", ENVS, ids=[p.name for p in ENVS])
def test_every_pin_has_evidence_on_its_channel(path: Path) -> None:
    env = _env(path)
    assert env["channels"] == ["conda-forge", "nodefaults"]
    assert env_problems(env, ROWS, path.name) == []
    assert _pins(env)["python"][0].startswith("3.11.")  # the Python the evidence is for


def test_every_evidence_row_is_used_and_names_python_311() -> None:
    used = set().union(*(_pins(_env(p)) for p in ENVS))
    assert set(ROWS) == used, f"rows without a pin: {set(ROWS) - used}"
    for pkg, row in ROWS.items():
        assert "3.11" in row["python"] or "noarch" in row["python"], (pkg, row["python"])


def test_the_check_catches_missing_evidence_and_wrong_channels() -> None:
    # The checks above can fail: a pin without a row, a version the row does not show, a package
    # asked of a channel that does not have it, a row whose channel the env does not list.
    base = {"channels": ["conda-forge", "nodefaults"]}
    assert "has no evidence row" in env_problems({**base, "dependencies": ["numpy=2.4.6", "nosuch=1.0"]}, ROWS)[0]
    assert "but the evidence is for 2.4.6" in env_problems({**base, "dependencies": ["numpy=2.5.1"]}, ROWS)[0]
    problems = env_problems({**base, "dependencies": ["torchattacks=3.5.1"]}, ROWS)
    assert "torchattacks is not on conda-forge" in problems[0]
    rows = {**ROWS, "snakemake": {**ROWS["numpy"], "version": "9.27.1", "channel": "bioconda",
                                  "feedstock": "bioconda/bioconda-recipes", "recipe": "recipes/snakemake/meta.yaml"}}
    problems = env_problems({**base, "dependencies": ["snakemake=9.27.1"]}, rows)
    assert any("snakemake is not on conda-forge" in p for p in problems)
    assert any("a channel the env does not list" in p for p in problems)
    bad_row = {**ROWS, "numpy": {**ROWS["numpy"], "commit": "main", "feedstock": "numpy/numpy"}}
    assert len(env_problems({**base, "dependencies": ["numpy=2.4.6"]}, bad_row)) == 2


def _rule_blocks() -> dict[str, str]:
    out = {}
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        for m in re.finditer(r"^rule (\w+):\n((?:[ \t]+.*\n|\n)*)", smk.read_text(), re.M):
            out[m.group(1)] = "\n" + m.group(2)
    return out


def _rule_envs() -> dict[str, tuple[list[Path], Path]]:
    """rule name -> (env files it may name, script) from workflow/rules/*.smk."""
    rules_dir = REPO / "workflow" / "rules"
    out = {}
    for rule, body in _rule_blocks().items():
        script = re.search(r'\n    script:\n\s+"([^"]+)"', body)
        if not script:
            continue
        env = re.search(r'\n    conda:\n\s+"([^"]+)"', body)
        if re.search(r"\n    conda:\n\s+plan.torch_env\(CONFIG\)", body):
            envs = [(rules_dir / torch_env(d)).resolve() for d in ("auto", "cpu", "cuda")]
        else:
            assert env, f"rule {rule} runs a script but names no conda env"
            envs = [(rules_dir / env.group(1)).resolve()]
        out[rule] = (envs, (rules_dir / script.group(1)).resolve())
    return out


def test_gpu_rules_env_cannot_be_a_cpu_torch() -> None:
    blocks = _rule_blocks()
    for rule in GPU_RULES:
        assert re.search(r"\n    conda:\n\s+plan.torch_env\(CONFIG\)", blocks[rule]), f"{rule} does not use plan.torch_env"
        assert re.search(r"\n        gpu=plan.mnist_gpus\(CONFIG\),", blocks[rule]), f"{rule} requests no GPU"
    gpu_env = _env(REPO / "workflow" / "rules" / torch_env("cuda"))
    assert not cpu_torch_possible(gpu_env), f"{torch_env('cuda')} can resolve to a CPU build of PyTorch"
    cpu_env = _env(REPO / "workflow" / "rules" / torch_env("cpu"))
    assert _pins(cpu_env)["pytorch"][1].startswith("cpu") and "pytorch-cpu" in _pins(cpu_env)
    assert torch_env("auto") == torch_env("cpu")
    # every rule that can request a GPU is a GPU rule (and so uses torch_env())
    assert {r for r, b in blocks.items() if "gpu=" in b} == set(GPU_RULES)
    # the check itself: a plain pytorch pin, or a cpu build, can be a CPU torch
    assert cpu_torch_possible({"dependencies": ["pytorch=2.13.0"]})
    assert cpu_torch_possible({"dependencies": ["pytorch=2.13.0=cpu_*"]})
    assert not cpu_torch_possible({"dependencies": ["pytorch=2.13.0=cuda*"]})


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
    for rule, (envs, script) in rules.items():
        modules = module_closure(_stage_of(script), "tradeoff.runtime")
        needed = set().union(*(_third_party_imports(_module_file(m)) for m in modules))
        needed |= _third_party_imports(script)
        for env in envs:
            assert env.is_file(), f"rule {rule}: env {env} does not exist"
            provided = set(_pins(_env(env))) | POST_DEPLOY
            if POST_DEPLOY & {MODULE_TO_CONDA[n] for n in needed}:
                assert env.with_suffix(".post-deploy.sh").is_file(), f"{env.name} has no post-deploy script"
            missing = {MODULE_TO_CONDA[n] for n in needed} - provided
            assert not missing, f"rule {rule}: env {env.name} lacks {sorted(missing)} (imported by its stage)"


# --- requests, urllib3 and torchattacks on both routes ---------------------------------------


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text)[:3])


def test_no_known_vulnerable_requests_or_urllib3_on_either_route() -> None:
    for pkg, floor in SAFE.items():
        assert _version(PIP_LOCK[pkg]) >= floor, f"requirements/lock.txt: {pkg}=={PIP_LOCK[pkg]} < {floor}"
        for path in ENVS:
            pins = _pins(_env(path), path.name)
            assert pkg in pins, f"{path.name} does not pin {pkg} (the solver could pick any)"
            assert _version(pins[pkg][0]) >= floor, f"{path.name}: {pkg}={pins[pkg][0]} < {floor}"
        assert _version(metadata.version(pkg)) >= floor, f"installed {pkg} {metadata.version(pkg)} < {floor}"
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert not [d for d in deps if d.lower().startswith("torchattacks")], (
        "pyproject.toml lists torchattacks: `pip install .` would pull requests~=2.25.1 back"
    )
    assert "requests==" + PIP_LOCK["requests"] in deps


def test_torchattacks_is_installed_without_its_stale_requirements_on_both_routes() -> None:
    assert "torchattacks" not in PIP_LOCK, "lock.txt pins torchattacks: `pip install -r` would fail to resolve"
    line = next(ln for ln in NO_DEPS.read_text().splitlines() if ln.startswith("torchattacks=="))
    assert re.fullmatch(r"torchattacks==3\.5\.1 --hash=sha256:[0-9a-f]{64}", line)
    make = (REPO / "Makefile").read_text()
    assert "pip install --quiet --no-deps --require-hashes -r requirements/no-deps.txt" in make
    for path in ENVS:
        if "pytorch" not in _pins(_env(path)):
            continue
        script = path.with_suffix(".post-deploy.sh").read_text()
        assert line in script.splitlines(), f"{path.stem}.post-deploy.sh installs another torchattacks"
        assert re.search(r"pip install --no-deps --require-hashes", script)
        # what torchattacks imports is in the env (it installs no dependencies of its own)
        assert {"pytorch", "numpy", "scipy", "tqdm", "pip"} <= set(_pins(_env(path)))
    # and in the pip lock
    assert {"torch", "numpy", "scipy", "tqdm"} <= set(PIP_LOCK)


def test_what_torchattacks_imports_is_what_we_list() -> None:
    # The real dependencies, from its installed source: every top-level import of torchattacks/.
    dist = metadata.distribution("torchattacks")
    imported: set[str] = set()
    for f in dist.files or []:
        if f.parts[0] == "torchattacks" and f.suffix == ".py":
            imported |= _imports(Path(dist.locate_file(f)))
    third_party = imported - set(sys.stdlib_module_names) - {"torchattacks", "__future__"}
    assert third_party == {"torch", "numpy", "scipy", "tqdm"}, third_party


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module.split(".")[0])
    return names


def test_build_requirements_support_pep_639_license() -> None:
    py = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert py["project"]["license"] == "MIT"
    (req,) = [r for r in py["build-system"]["requires"] if r.startswith("setuptools")]
    assert _version(req.split(">=")[1]) >= (77,), req
