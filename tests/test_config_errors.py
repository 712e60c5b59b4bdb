"""Config mistakes named so that a user can fix them: a misspelt key gets "did you mean"
(tradeoff.workflow.config_errors); a malformed or missing ``--configfile``, which Snakemake reads before the
workflow (so the workflow cannot speak first), is named in one line by ``python -m tradeoff.workflow.preflight``."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from conftest import REPO

from tradeoff.workflow.config import ConfigError, validate_config
from tradeoff.workflow.config_errors import close_keys, unknown_key_lines
from tradeoff.workflow.preflight import main

SCHEMA = REPO / "workflow" / "schemas" / "config.schema.yaml"
DEFAULT = yaml.safe_load((REPO / "config" / "config.yaml").read_text())


def rename(path: str, new: str) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        node = cfg
        for key in parents:
            node = node[key]
        node[new] = node.pop(last)

    return edit


@pytest.mark.parametrize(("edit", "message"), [
    (rename("theory", "thoery"), "config key thoery: unknown key; did you mean theory? (allowed here: "),
    (rename("theory.base.n_train", "n_trian"), "config key theory.base.n_trian: unknown key; did you mean n_train?"),
    (rename("theory.base.C", "c"), "config key theory.base.c: unknown key; did you mean C?"),
    (rename("mnist.evaluation.batch_size", "batchsize"),
     "config key mnist.evaluation.batchsize: unknown key; did you mean batch_size?"),
    (rename("saliency.judge.iterations", "itterations"),
     "config key saliency.judge.itterations: unknown key; did you mean iterations?"),
    (rename("plots.palette", "pallete"), "config key plots.pallete: unknown key; did you mean palette?"),
], ids=["top", "base", "case", "evaluation", "saliency", "plots"])
def test_a_misspelt_key_gets_did_you_mean(edit: Callable[[dict[str, Any]], None], message: str) -> None:
    cfg = copy.deepcopy(DEFAULT)
    edit(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg, SCHEMA)
    assert message in str(err.value), str(err.value)


def test_a_misspelt_recipe_field_gets_did_you_mean() -> None:
    cfg = copy.deepcopy(DEFAULT)
    recipe = next(iter(cfg["mnist"]["recipes"]))
    cfg["mnist"]["recipes"][recipe]["objectve"] = "pgd"
    with pytest.raises(ConfigError, match=rf"config key mnist.recipes.{recipe}.objectve: unknown key; did you mean "
                                          r"objective\?"):
        validate_config(cfg, SCHEMA)


def test_every_unknown_key_of_a_level_is_named_and_a_far_one_gets_no_guess() -> None:
    schema = {"properties": {"eps": {}, "steps": {}, "alpha": {}}}
    lines = unknown_key_lines(["mnist", "defaults"], {"eps": 0.3, "step": 40, "temperature": 1}, schema)
    assert lines == [
        "config key mnist.defaults.step: unknown key; did you mean steps? (allowed here: alpha, eps, steps)",
        "config key mnist.defaults.temperature: unknown key (allowed here: alpha, eps, steps)",
    ]
    assert unknown_key_lines([], {"x": 1}, {"additionalProperties": {}}) == []  # free names: not this check
    assert close_keys("EPS", ["eps", "eta"]) == ["eps"]
    assert close_keys("zzz", ["eps", "eta"]) == []


# --configfile mistakes: Snakemake's own messages come first, so preflight names them


def preflight(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "tradeoff.workflow.preflight", *args], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "PYTHONPATH": str(REPO / "src")}, timeout=120)


def test_preflight_names_a_missing_file_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nosuch.yaml"
    proc = preflight(str(missing))
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"{missing}: no such file (for a --configfile that does not exist Snakemake 9 prints a Python traceback "
        "ending in FileNotFoundError before the workflow starts)"]
    assert "Traceback" not in proc.stderr


def test_preflight_reads_a_snakemake_command_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "config.yaml").write_text("theory: {}\n")
    bad = tmp_path / "bad.yaml"
    bad.write_text("theory:\n  base: {p: 0.9\n")
    profile = tmp_path / "prof"
    profile.mkdir()
    (profile / "profile.yaml").write_text("cores: 1\nset-resources:\n  x: [1\n")
    monkeypatch.chdir(tmp_path)
    status = main(["--cores", "1", "--configfile", str(bad), "nosuch.yaml", "--profile", str(profile),
                   "--workflow-profile", "none"])
    out, err = capsys.readouterr()
    assert status == 1
    assert f"{tmp_path / 'config' / 'config.yaml'}: ok" in out
    assert f'{bad}: malformed YAML' in err and f'in "{bad}", line 2' in err, err
    assert f'in "{profile / "profile.yaml"}", line 3' in err, err
    assert "nosuch.yaml: no such file" in err
    # a profile folder may be named like a file
    assert main([str(profile)]) == 1
    assert f'in "{profile / "profile.yaml"}", line 3' in capsys.readouterr().err
    assert main([str(REPO / "profiles" / "slurm"), str(REPO / "config" / "config.yaml")]) == 0


@pytest.mark.slow
def test_snakemake_speaks_first_about_a_configfile(tmp_path: Path) -> None:
    """What Snakemake 9 itself prints for a malformed or missing --configfile, before the workflow runs
    (why the README and docs/BAD_INPUT.md point to preflight): when this fails, Snakemake names the
    file, and the docs can say so."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("theory:\n  base: {p: 0.9\n")
    run = [sys.executable, "-m", "snakemake", "-n", "--cores", "1"]
    proc = subprocess.run([*run, "--configfile", str(bad)], cwd=REPO, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Config file is not valid JSON or YAML" in out, out
    assert str(bad) not in out and "line 2" not in out, out
    missing = tmp_path / "nosuch.yaml"
    proc = subprocess.run([*run, "--configfile", str(missing)], cwd=REPO, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "Traceback" in out and "FileNotFoundError" in out, out
