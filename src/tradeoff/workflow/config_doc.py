"""The config key reference of ``config/README.md``, generated from the schema's descriptions.

``workflow/schemas/config.schema.yaml`` describes every key (its ``description``, type, bounds,
default, whether it is required); this module renders them as one table per section, below a marker
line of ``config/README.md`` (above it: the hand-written guide). A test holds the committed file equal
to what this renders, so a key added to the schema without a description, or a description changed
without regenerating, fails it.

    python -m tradeoff.workflow.config_doc --write    # regenerate config/README.md's reference in place
    python -m tradeoff.workflow.config_doc --check    # exit 1 if the committed reference is stale
    python -m tradeoff.workflow.config_doc            # print the reference
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

SCHEMA = Path("workflow/schemas/config.schema.yaml")  # run from the repository's root
README = Path("config/README.md")
MARKER = "<!-- Generated below from workflow/schemas/config.schema.yaml by `python -m tradeoff.workflow.config_doc --write`; edit the schema, not this part. -->"
#: object definitions rendered once, in their own table, and referred to by name elsewhere
SHARED = {"recipe": "Recipe fields"}


@dataclass(frozen=True)
class Key:
    """One config key: its dotted path, the schema node that describes it, whether it is required."""

    path: str
    node: Mapping[str, Any]
    required: bool


def _resolve(node: Mapping[str, Any], schema: Mapping[str, Any]) -> Mapping[str, Any]:
    """``node`` with a ``$ref`` (and an ``allOf`` of refs) merged in; its own keys win."""
    out: dict[str, Any] = {}
    refs = [node["$ref"]] if "$ref" in node else []
    refs += [sub["$ref"] for sub in node.get("allOf", []) if isinstance(sub, Mapping) and "$ref" in sub]
    for ref in refs:
        out.update(_resolve(schema["$defs"][ref.rsplit("/", 1)[-1]], schema))
    out.update({k: v for k, v in node.items() if k not in ("$ref", "allOf")})
    return out


def _shared(node: Mapping[str, Any]) -> str | None:
    ref = node.get("$ref", "")
    name = ref.rsplit("/", 1)[-1] if ref.startswith("#/$defs/") else ""
    return name if name in SHARED else None


def keys(node: Mapping[str, Any], schema: Mapping[str, Any], prefix: str = "") -> Iterator[Key]:
    """Every key under ``node`` (an object schema), depth first, in schema order. Free names (a
    mapping of recipes, sweeps, ...) appear as ``<name>``, list items as ``[]``; a shared object
    definition (a recipe) is not expanded here (see :data:`SHARED`)."""
    node = _resolve(node, schema)
    required = set(node.get("required", []))
    for name, sub in (node.get("properties") or {}).items():
        path = f"{prefix}.{name}" if prefix else str(name)
        yield Key(path, sub, name in required)
        yield from _children(sub, schema, path)


def _children(sub: Mapping[str, Any], schema: Mapping[str, Any], path: str) -> Iterator[Key]:
    if _shared(sub):
        return
    sub = _resolve(sub, schema)
    if sub.get("properties"):
        yield from keys(sub, schema, path)
    extra = sub.get("additionalProperties")
    if isinstance(extra, Mapping):
        free = f"{path}.<name>"
        if _resolve(extra, schema).get("properties") or _shared(extra):
            yield Key(free, extra, False)
        yield from _children(extra, schema, free)
    items = sub.get("items")
    if isinstance(items, Mapping) and _resolve(items, schema).get("properties"):
        yield from keys(items, schema, f"{path}[]")


def description(node: Mapping[str, Any], schema: Mapping[str, Any]) -> str | None:
    """A key's description: its own, else its ``$ref``'s, else its list items' ("each: ...")."""
    own = node.get("description") or _resolve(node, schema).get("description")
    if own:
        return " ".join(str(own).split())
    items = _resolve(node, schema).get("items")
    if isinstance(items, Mapping):
        inner = description(items, schema)
        return f"each: {inner}" if inner else None
    return None


def missing_descriptions(schema: Mapping[str, Any]) -> list[str]:
    """The keys (and shared definitions' fields) without a description."""
    found = [k.path for k in keys(schema, schema) if not description(k.node, schema)]
    for name in SHARED:
        if name in schema.get("$defs", {}):
            found += [f"$defs.{name}.{k.path}" for k in keys(schema["$defs"][name], schema)
                      if not description(k.node, schema)]
    return found


def _fmt(value: Any) -> str:
    return yaml.safe_dump(value, default_flow_style=True, width=10_000).strip().removesuffix("...").strip()


def kind(node: Mapping[str, Any], schema: Mapping[str, Any]) -> str:
    """Type and bounds in a few words: ``integer >= 1``, ``one of: linf, l2``, ``list of number > 0``."""
    shared = _shared(node)
    if shared:
        return f"a recipe ({SHARED[shared]})"
    node = _resolve(node, schema)
    if "enum" in node:
        return "one of: " + ", ".join(_fmt(v) for v in node["enum"])
    types = node.get("type", "")
    text = " or ".join(types) if isinstance(types, list) else str(types)
    if text == "array":
        items = node.get("items")
        inner = kind(items, schema) if isinstance(items, Mapping) else ""
        text = f"list of {inner}" if inner else "list"
        if node.get("minItems") == node.get("maxItems") and node.get("minItems"):
            text += f" (exactly {node['minItems']})"
        return text
    if text == "object" and isinstance(node.get("additionalProperties"), Mapping) and not node.get("properties"):
        return "mapping of names"
    low = ("[", node["minimum"]) if "minimum" in node else ("(", node["exclusiveMinimum"]) \
        if "exclusiveMinimum" in node else None
    high = (node["maximum"], "]") if "maximum" in node else (node["exclusiveMaximum"], ")") \
        if "exclusiveMaximum" in node else None
    if low and high:
        text += f" in {low[0]}{_fmt(low[1])}, {_fmt(high[0])}{high[1]}"
    elif low:
        text += f" {'>=' if low[0] == '[' else '>'} {_fmt(low[1])}"
    elif high:
        text += f" {'<=' if high[1] == ']' else '<'} {_fmt(high[0])}"
    return text


def _cell(text: str) -> str:
    """Table-cell text: pipes escaped, and ``<`` too (``<sweep>`` would be taken for an HTML tag)."""
    return text.replace("|", "\\|").replace("<", "&lt;").replace("\n", " ")


def _table(rows: Sequence[Key], schema: Mapping[str, Any]) -> list[str]:
    out = ["| key | type | default | description |", "| --- | --- | --- | --- |"]
    for key in rows:
        node = _resolve(key.node, schema)
        default = f"`{_fmt(node['default'])}`" if "default" in node else ("required" if key.required else "")
        out.append(f"| `{key.path}` | {_cell(kind(key.node, schema))} | {_cell(default)} | "
                   f"{_cell(description(key.node, schema) or '')} |")
    return out


def render(schema: Mapping[str, Any]) -> str:
    """The generated reference: one table per top-level section, then the shared definitions."""
    lines = ["## Every key", "",
             "Generated from the schema: type and bounds, the default filled in when a key is left out "
             "(`required` where it may not be), and the description. `<name>` is a name you choose "
             "(a recipe, a sweep); `[]` an entry of a list.", ""]
    required = set(schema.get("required", []))
    for name, node in (schema.get("properties") or {}).items():
        opt = "" if name in required else " (optional)"
        lines += [f"### `{name}`{opt}", "", _cell(description(node, schema) or ""), ""]
        rows = list(_children(node, schema, name))
        lines += (_table(rows, schema) if rows else [f"Type: {kind(node, schema)}."]) + [""]
    for name, title in SHARED.items():
        if name not in schema.get("$defs", {}):
            continue
        lines += [f"### {title}", "", _cell(description(schema["$defs"][name], schema) or ""), "",
                  *_table(list(keys(schema["$defs"][name], schema)), schema), ""]
    return "\n".join(lines).rstrip() + "\n"


def updated(readme: str, schema: Mapping[str, Any]) -> str:
    """``readme`` with everything after :data:`MARKER` replaced by :func:`render` (the marker is
    appended when absent)."""
    head = readme.split(MARKER, 1)[0].rstrip() + "\n\n"
    return head + MARKER + "\n\n" + render(schema)


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tradeoff.workflow.config_doc", description=__doc__.split("\n\n")[0])
    ap.add_argument("--schema", type=Path, default=SCHEMA)
    ap.add_argument("--readme", type=Path, default=README)
    mode = ap.add_mutually_exclusive_group()
    mode.add_argument("--write", action="store_true", help="regenerate the README's reference in place")
    mode.add_argument("--check", action="store_true", help="exit 1 if the README's reference is stale")
    args = ap.parse_args(argv)
    schema = yaml.safe_load(args.schema.read_text())
    missing = missing_descriptions(schema)
    if missing:
        print(f"{args.schema}: keys without a description: {', '.join(missing)}", file=sys.stderr)
        return 1
    if not (args.write or args.check):
        sys.stdout.write(render(schema))
        return 0
    current = args.readme.read_text()
    new = updated(current, schema)
    if args.check:
        if new != current:
            print(f"{args.readme} is stale: run python -m tradeoff.workflow.config_doc --write", file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
