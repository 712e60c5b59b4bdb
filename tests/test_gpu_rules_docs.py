"""The GPU rules the docs and profile comments name are tradeoff.workflow.cluster.GPU_RULES, all of them.

A list of GPU rules in prose is written as ``GPU rules (a, b, ...)`` (or ``torch rules (...)``),
backticks optional, so that this test finds it; any other parenthesised list of two or more GPU rule
names, and a count such as "the four GPU rules", fails it. A user who follows a stale list sends the
missing rule's GPU job to the CPU partition."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from conftest import REPO

from tradeoff.workflow.cluster import GPU_RULES

NUMBERS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9,
           "ten": 10}
MARKED = re.compile(r"\b(?:GPU|torch) rules\s*\(([^()]*)\)")
PARENS = re.compile(r"\(([^()]*)\)")
COUNT = re.compile(r"\b(\w+) GPU rules\b", re.I)


def doc_files() -> list[Path]:
    files = [REPO / "README.md", REPO / "CHANGELOG.md", REPO / "config" / "README.md", REPO / "envs" / "README.md"]
    files += sorted((REPO / "docs").glob("*.md")) + sorted((REPO / "envs").glob("*.yaml"))
    files += sorted((REPO / "profiles").glob("*/*.yaml"))
    return [f for f in files if f.is_file()]


def prose(path: Path) -> str:
    """The file's text as one line, comment leaders gone, so a list may wrap across comment lines."""
    return " ".join(line.strip().lstrip("#").strip() for line in path.read_text().splitlines())


def names(listed: str) -> list[str]:
    return [n.strip().strip("`").removeprefix("and ").strip().strip("`") for n in listed.split(",")]


RULE_NAME = re.compile(r"[a-z]+(?:_[a-z]+)+")


def gpu_rule_lists(text: str) -> list[str]:
    """The marked lists: ``GPU rules (...)`` whose items look like rule names (not "(training, ...)")."""
    return [m.group(1) for m in MARKED.finditer(text) if any(RULE_NAME.fullmatch(n) for n in names(m.group(1)))]


def problems(text: str) -> list[str]:
    """What is stale in one document's prose: a marked list that is not GPU_RULES, an unmarked list of
    two or more GPU rules, a count of GPU rules that is not len(GPU_RULES)."""
    out = [f"GPU rules ({listed})" for listed in gpu_rule_lists(text) if sorted(names(listed)) != sorted(GPU_RULES)]
    marked = {m.start(1) for m in MARKED.finditer(text)}
    for m in PARENS.finditer(text):
        if len([n for n in names(m.group(1)) if n in GPU_RULES]) >= 2 and m.start(1) not in marked:
            out.append(f"an unmarked list of GPU rules ({m.group(1)})")
    for m in COUNT.finditer(text):
        word = m.group(1).lower()
        if (word in NUMBERS or word.isdigit()) and (NUMBERS.get(word) or int(word)) != len(GPU_RULES):
            out.append(f"'{m.group(0)}', but there are {len(GPU_RULES)}")
    return out


def test_the_documented_lists_are_the_gpu_rules() -> None:
    found = set()
    for path in doc_files():
        text, rel = prose(path), str(path.relative_to(REPO))
        assert problems(text) == [], rel
        if gpu_rule_lists(text):
            found.add(rel)
    # the places a cluster user reads them
    assert {"docs/CLUSTER.md", "envs/README.md", "profiles/slurm/profile.yaml", "profiles/slurm-conda/profile.yaml"} <= found


def test_the_slurm_profiles_example_gives_every_gpu_rule_a_partition() -> None:
    for name in ("slurm", "slurm-conda"):
        lines = (REPO / "profiles" / name / "profile.yaml").read_text().splitlines()
        example = [re.fullmatch(r"\s*#\s+(\w+):\s*", a).group(1)  # type: ignore[union-attr]
                   for a, b in zip(lines, lines[1:], strict=False)
                   if re.fullmatch(r"\s*#\s+\w+:\s*", a) and "slurm_partition: \"gpu\"" in b]
        assert sorted(example) == sorted(GPU_RULES), name


@pytest.mark.parametrize(("text", "ok"), [
    ("the GPU rules (`mnist_train`, `mnist_eval`, `saliency_judge`, `saliency_robust_judge`, `saliency_extract`)", True),
    ("the GPU rules (mnist_train, mnist_eval, saliency_judge, saliency_extract)", False),  # one missing
    ("the rules (mnist_train, mnist_eval) ask for a GPU", False),  # a list the test cannot find
    ("the four GPU rules", False),
    ("the GPU rules (training, attacks, saliency)", True),  # a description, not a list of rules
])
def test_the_check_tells_a_stale_list(text: str, ok: bool) -> None:
    assert (problems(text) == []) == ok
