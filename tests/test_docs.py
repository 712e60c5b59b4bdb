"""The README is short and newcomer-first, its generated key results match the committed files, its
model-loading lines work as written, and every repository path the docs name exists."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from tradeoff.claims.verdicts import KEY_BEGIN, KEY_END, key_results_block, update_block

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = [README, *sorted((ROOT / "docs").glob("*.md")), ROOT / "config" / "README.md",
        ROOT / "envs" / "README.md", ROOT / "data" / "mnist" / "README.md"]


def _verdict_tables() -> dict[str, pd.DataFrame]:
    from test_claims_doc import VERDICT_TABLES

    return {title: pd.read_csv(path) for title, path in VERDICT_TABLES.items()}


def test_readme_is_short_and_carries_no_commit_hash() -> None:
    text = README.read_text()
    assert len(text.splitlines()) <= 150, f"README.md has {len(text.splitlines())} lines (at most 150)"
    hashes = [h for h in re.findall(r"\b[0-9a-f]{7,40}\b", text) if re.search(r"[a-f]", h) and re.search(r"\d", h)]
    assert not hashes, f"README.md names commits {hashes}: measurement history belongs in bench/RESULTS.md"
    for heading in ("## Set-up (two commands)", "## Key results", "## Load a trained model", "## Watching a long job"):
        assert heading in text, heading
    assert "make run" in text and "make test" in text


def test_readme_key_results_are_generated_from_the_committed_files() -> None:
    text = README.read_text()
    block = key_results_block(_verdict_tables(), ROOT / "docs/results/cpu/headline")
    assert update_block(text, block, KEY_BEGIN, KEY_END) == text, (
        "README.md's key results differ from the committed files: regenerate them with "
        "python -m tradeoff.claims.verdicts ... --key-results README.md (the tables of tests/test_claims_doc.py)")
    # an independent read of one headline number: the 3-minute recipe's clean accuracy on 10,000 images
    import json

    record = json.loads((ROOT / "docs/results/cpu/headline/linf-0.3-wong-pgd2.test.json").read_text())
    clean = next(r for r in record["results"] if r["attack"] == "clean")
    assert f"{100 * clean['accuracy']:.2f}% (10,000)" in block


def test_key_results_block_counts_verdicts_per_level() -> None:
    table = pd.DataFrame({"level": ["recipe", "recipe", "models", "models"],
                          "counted": [True, False, True, True],
                          "verdict": ["holds", "holds", "inconclusive", "not testable (1 seed)"]})
    block = key_results_block({"T": table}, ROOT / "docs/results/cpu/headline")
    assert "| T | recipe | 1 | 0 | 0 | 0 |" in block
    assert "| T | models | 0 | 0 | 1 | 1 |" in block


def test_readme_loads_a_committed_model_as_written() -> None:
    """The README's three lines, run as they stand on the first 500 shipped MNIST test images."""
    from tradeoff.datasets.mnist import read_idx_split

    code = re.search(r"## Load a trained model\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert code, "README.md: the model-loading example is missing"
    x, y = read_idx_split(ROOT / "data/mnist/t10k-images-idx3-ubyte.gz", ROOT / "data/mnist/t10k-labels-idx1-ubyte.gz")
    images = torch.from_numpy(x[:500].astype(np.float32) / 255.0).unsqueeze(1)  # N x 1 x 28 x 28, [0, 1]
    scope: dict[str, object] = {"images": images}
    old = Path.cwd()
    try:
        import os

        os.chdir(ROOT)
        with torch.no_grad():
            exec(code.group(1), scope)
    finally:
        os.chdir(old)
    logits = scope["logits"]
    assert isinstance(logits, torch.Tensor) and logits.shape == (500, 10)
    accuracy = float((logits.argmax(1).numpy() == y[:500]).mean())
    assert accuracy > 0.97, accuracy  # the committed model: 98.87% on all 10,000


# Paths the docs name as history: removed on purpose (git keeps them). CHANGELOG.md, all history, is not
# checked.
REMOVED = {"bench/fast_mnist.py": "issue 28: its recipes are config/headline.yaml's trials",
           "docs/results/cpu_small_cnn_plan/": "issue 31: the superseded plan's records, in git at 386f338"}

# Paths the docs name that a run makes, or that only exist on a user's machine
_GENERATED = ("results/", "logs/", "benchmarks/", "resources/", ".snakemake/", ".venv/", "build/", "dist/")
_TOP = ("docs/", "src/", "tests/", "bench/", "config/", "workflow/", "envs/", "profiles/", "data/",
        "requirements/", ".ci/")


def _named_paths(text: str) -> set[str]:
    found = set(re.findall(r"`([^`\s]+)`", text)) | set(re.findall(r"\]\(([^)\s#]+)", text))
    out = set()
    for p in found:
        p = p.strip().rstrip(".,:;)")
        p = p.split("::")[0]
        if not p.startswith(_TOP) and p not in {"Snakefile", "Makefile", "README.md", "CHANGELOG.md", "LICENSE",
                                                "pyproject.toml"}:
            continue
        if p.startswith(_GENERATED) or any(c in p for c in "<>{}*~$|") or "..." in p:
            continue
        out.add(p)
    return out


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_path_the_docs_name_exists(doc: Path) -> None:
    if not doc.exists():
        pytest.fail(f"{doc.relative_to(ROOT)} is missing")
    base = doc.parent
    missing = []
    for p in sorted(_named_paths(doc.read_text())):
        # a markdown link is relative to its page; a path in backticks to the repository
        gone = next((r for r in REMOVED if p == r or (r.endswith("/") and p.startswith(r))), None)
        if gone is not None:
            assert not (ROOT / gone).exists(), f"{gone} is listed as removed ({REMOVED[gone]}) but exists"
            continue
        if not ((ROOT / p).exists() or (base / p).exists()):
            missing.append(p)
    assert not missing, f"{doc.relative_to(ROOT)} names paths that do not exist: {missing}"
