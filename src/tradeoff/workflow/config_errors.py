"""Messages for config mistakes that JSON Schema reports tersely: a misspelt key gets "did you mean".

``tradeoff.workflow.config.validate_config`` formats the schema's errors; for an ``additionalProperties``
error (a key the schema does not allow at that level) it asks :func:`unknown_key_lines`, which names
each unknown key as a dotted path, the closest allowed key(s) at the same level (``difflib``), and
every key allowed there.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def dotted(path: Iterable[Any]) -> str:
    """``("theory", "base", "p")`` -> ``theory.base.p``; list indices as ``[i]``."""
    parts = [str(p) if not isinstance(p, int) else f"[{p}]" for p in path]
    return ".".join(parts).replace(".[", "[")


def close_keys(key: str, allowed: Iterable[str], absent: Iterable[str] | None = None) -> list[str]:
    """The allowed keys ``key`` is most likely a misspelling of: the same key in other case, else
    difflib's closest matches (ratio >= 0.6, ties kept, at most three). Keys in ``absent`` (allowed
    here and not written: a key written correctly cannot also be the one misspelt) are preferred."""
    allowed = sorted(set(allowed))
    same = [a for a in allowed if a.lower() == key.lower()]
    if same:
        return same
    for pool in ([a for a in allowed if a in set(absent)] if absent is not None else [], allowed):
        near = difflib.get_close_matches(key, pool, n=3, cutoff=0.6)
        if near:
            best = difflib.SequenceMatcher(None, key, near[0]).ratio()
            return [n for n in near if difflib.SequenceMatcher(None, key, n).ratio() == best]
    return []


def unknown_key_lines(path: Sequence[Any], instance: Mapping[Any, Any], schema: Mapping[str, Any]) -> list[str]:
    """One message per key of ``instance`` (the mapping at ``path``) that ``schema`` does not allow:
    ``config key theory.base.temprature: unknown key; did you mean temperature? (allowed here: ...)``.
    Empty when the schema names no allowed keys (a mapping of free names, such as recipes)."""
    allowed = [str(k) for k in schema.get("properties") or {}]
    if not allowed:
        return []
    lines = []
    for key in sorted(map(str, set(instance) - set(allowed))):
        where = ".".join(filter(None, [dotted(path), key]))
        near = close_keys(key, allowed, absent=set(allowed) - set(map(str, instance)))
        hint = f"; did you mean {' or '.join(near)}?" if near else ""
        lines.append(f"config key {where}: unknown key{hint} (allowed here: {', '.join(sorted(allowed))})")
    return lines
