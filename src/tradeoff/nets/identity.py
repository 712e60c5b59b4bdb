"""What a weights file says it is, and the check of that against what its reader asked for.

Every weights file the workflow writes names, in its metadata, the model it holds: ``recipe`` (the
config's name for it), ``recipe_hash`` (:func:`recipe_hash` of the recipe's parameters), ``size``
(training images), ``seed``, besides ``architecture``; a judge's names its ``role`` and ``seed``.
Readers (evaluation, saliency, the workflow's model check) ask for an identity and refuse a file
whose metadata disagrees, naming both. No torch here: the workflow's check runs while it is parsed.
Every training job imports this module (its hash is in the training code's): checks of other files
live in :mod:`tradeoff.nets.integrity`.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from typing import Any

MODEL_PATH = re.compile(r"(?:^|/)models/(?P<recipe>[^/]+)/n~(?P<size>[0-9]+)/seed~(?P<seed>[0-9]+)/weights\.safetensors$")
"""A trained model's weights path (``results/mnist/models/<recipe>/n~<size>/seed~<seed>/...``)."""

JUDGE_PATH = re.compile(r"(?:^|/)saliency/(?P<role>judge|robust_judge)/seed~(?P<seed>[0-9]+)/weights\.safetensors$")
"""A saliency judge's weights path (``results/mnist/saliency/<role>/seed~<seed>/...``)."""


def recipe_hash(recipe: Mapping[str, Any]) -> str:
    """SHA-256 (16 hex digits) of a recipe's parameters, independent of key order."""
    text = json.dumps(dict(recipe), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def model_identity(recipe_name: str, recipe: Mapping[str, Any], size: int | str, seed: int | str) -> dict[str, str]:
    """What a trained model's weights file must say it is (metadata values are strings)."""
    return {"recipe": str(recipe_name), "recipe_hash": recipe_hash(recipe), "size": str(int(size)),
            "seed": str(int(seed))}


def path_identity(path: str) -> dict[str, str] | None:
    """The identity a weights file's path claims (recipe, size and seed of a model; role and seed of a
    judge), or None for a path of neither kind."""
    text = path.replace("\\", "/")
    for pattern in (MODEL_PATH, JUDGE_PATH):
        found = pattern.search(text)
        if found:
            return {k: str(int(v)) if k in ("size", "seed") else v for k, v in found.groupdict().items()}
    return None


def identity_problem(metadata: Mapping[str, str], expected: Mapping[str, str]) -> str | None:
    """Where a weights file's ``metadata`` disagrees with the ``expected`` identity, naming both
    (None if it agrees): ``recipe: the file holds 'standard', asked for 'linf-0.3'; ...``."""
    wrong = [f"{key}: the file holds {metadata.get(key, 'nothing')!r}, asked for {value!r}"
             for key, value in expected.items() if metadata.get(key) != value]
    if not wrong:
        return None
    missing = [k for k in expected if k not in metadata]
    hint = (f" (it records no {', '.join(missing)}: written before weights files named them, or not a model of "
            "this workflow; retrain it)") if missing else ""
    return "not the model asked for: " + "; ".join(wrong) + hint

