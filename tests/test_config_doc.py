"""config/README.md's key reference is generated from the schema (tradeoff.workflow.config_doc) and current;
every schema key has a description; the repository's conventions (LICENSE, the workflow catalog's
file, the top-level layout) hold."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import REPO

from tradeoff.workflow.config_doc import (
    MARKER,
    description,
    keys,
    main,
    missing_descriptions,
    render,
    updated,
)

SCHEMA = yaml.safe_load((REPO / "workflow" / "schemas" / "config.schema.yaml").read_text())
KEYWORDS = {"$schema", "$defs", "$ref", "description", "type", "enum", "minimum", "maximum", "exclusiveMinimum",
            "exclusiveMaximum", "default", "properties", "additionalProperties", "required", "items", "allOf",
            "minItems", "maxItems", "uniqueItems", "minProperties", "propertyNames", "pattern", "minLength"}


def test_the_committed_reference_is_the_generated_one(monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (REPO / "config" / "README.md").read_text()
    assert MARKER in readme
    assert readme == updated(readme, SCHEMA), "config/README.md is stale: python -m tradeoff.workflow.config_doc --write"
    monkeypatch.chdir(REPO)  # the command's defaults: the repository's schema and config/README.md
    assert main(["--check"]) == 0


def test_every_key_has_a_description() -> None:
    assert missing_descriptions(SCHEMA) == []
    # and every key of the default and paper-grade configs is in the reference
    reference = render(SCHEMA)
    for name in ("config.yaml", "cpu.yaml"):
        cfg = yaml.safe_load((REPO / "config" / name).read_text())
        for section, body in cfg.items():
            assert f"### `{section}`" in reference, (name, section)
            if isinstance(body, dict):
                for key in body:
                    assert f"`{section}.{key}`" in reference, (name, section, key)


def test_the_schema_uses_only_known_keywords() -> None:
    """A YAML slip such as an unquoted comma in a flow mapping (``{description: a (b, c), ...}``)
    splits the description and leaves a keyword-like key that JSON Schema ignores silently."""
    odd = []

    def walk(node: object, path: str, names: bool = False) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if names:  # the keys of properties/$defs are names, their values schemas
                    walk(v, f"{path}/{k}")
                    continue
                if k not in KEYWORDS:
                    odd.append(f"{path}/{k}")
                if k != "default":
                    walk(v, f"{path}/{k}", names=k in ("properties", "$defs"))
        elif isinstance(node, list):
            for i, item in enumerate(node):
                walk(item, f"{path}[{i}]")

    walk(SCHEMA, "")
    assert odd == []


def test_a_key_without_a_description_is_caught(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    schema = {"type": "object", "properties": {"a": {"type": "object", "description": "section",
                                                     "properties": {"b": {"type": "integer"}}}}}
    assert missing_descriptions(schema) == ["a.b"]
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(schema, sort_keys=False))
    assert main(["--schema", str(path)]) == 1
    assert "keys without a description: a.b" in capsys.readouterr().err


def test_render_and_update(tmp_path: Path) -> None:
    schema = {"type": "object", "required": ["a"], "$defs": {"recipe": {"description": "a recipe", "type": "object",
                                                                        "properties": {}},
                                                             "p": {"description": "a probability", "type": "number",
                                                                   "minimum": 0.5, "exclusiveMaximum": 1}},
              "properties": {"a": {"type": "object", "description": "section a", "required": ["p"],
                                   "properties": {"p": {"$ref": "#/$defs/p"},
                                                  "xs": {"type": "array", "items": {"$ref": "#/$defs/p"}},
                                                  "n": {"description": "a count of <things>", "type": "integer",
                                                        "minimum": 1, "default": 3}}}}}
    text = render(schema)
    assert "| `a.p` | number in [0.5, 1) | required | a probability |" in text
    assert "| `a.xs` | list of number in [0.5, 1) |  | each: a probability |" in text
    assert "| `a.n` | integer >= 1 | `3` | a count of &lt;things> |" in text
    assert [k.path for k in keys(schema, schema)] == ["a", "a.p", "a.xs", "a.n"]
    assert description({"items": {"$ref": "#/$defs/p"}}, schema) == "each: a probability"
    readme = tmp_path / "README.md"
    readme.write_text("# guide\n\nhand-written\n")
    assert main(["--readme", str(readme), "--check"]) == 1  # no reference yet
    path = tmp_path / "schema.yaml"
    path.write_text(yaml.safe_dump(schema, sort_keys=False))
    assert main(["--schema", str(path), "--readme", str(readme), "--write"]) == 0
    written = readme.read_text()
    assert written.startswith("# guide\n\nhand-written\n\n" + MARKER) and text in written
    assert main(["--schema", str(path), "--readme", str(readme), "--check"]) == 0
    readme.write_text(written.replace("a probability", "a prob"))
    assert main(["--schema", str(path), "--readme", str(readme), "--check"]) == 1


# conventions of a Snakemake workflow repository


def test_license_is_the_one_pyproject_names() -> None:
    import tomllib

    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert project["license"] == "MIT"
    text = (REPO / "LICENSE").read_text()
    assert text.startswith("MIT License\n\nCopyright (c) 2026 ")
    assert "THE SOFTWARE IS PROVIDED \"AS IS\", WITHOUT WARRANTY OF ANY KIND" in text


def test_workflow_catalog_file() -> None:
    catalog = yaml.safe_load((REPO / ".snakemake-workflow-catalog.yml").read_text())
    usage = catalog["usage"]
    assert set(usage) <= {"mandatory-flags", "software-stack-deployment", "report"}
    assert usage["software-stack-deployment"]["conda"] is True  # envs/*.yaml, profiles/slurm-conda
    assert usage["report"] is True  # workflow/report/workflow.rst
    assert (REPO / "workflow" / "report" / "workflow.rst").is_file()
    assert all((REPO / "envs" / f).is_file() for f in ("torch.yaml", "torch-gpu.yaml"))


def test_top_level_layout_stays() -> None:
    for name in ("Snakefile", "workflow", "config", "envs", "tests", "README.md", "LICENSE", "config/README.md",
                 "workflow/schemas/config.schema.yaml", ".snakemake-workflow-catalog.yml"):
        assert (REPO / name).exists(), name
    assert "results/" in (REPO / ".gitignore").read_text() or (REPO / "results").is_dir()
