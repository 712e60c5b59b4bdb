"""Read every YAML file a run is driven by strictly, before Snakemake uses any of it.

Snakemake reads config files and profiles with PyYAML's default rules: a repeated key silently
replaces the first (a second ``linf-0.3:`` recipe wins unnoticed). The workflow checks each file
again with :func:`tradeoff.config.parse_yaml` (syntax errors with file and line, duplicate keys with
both lines) from ``workflow/rules/preflight.smk``, before the ``configfile:`` directive.

Which files: the default config, every ``--configfile``, and the profiles in effect: each
``--profile`` (or ``$SNAKEMAKE_PROFILE``) and the workflow profile (``--workflow-profile``, else
``profiles/default``), found by :func:`tradeoff.profile_check.profile_files`, the way Snakemake
documents it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from tradeoff.config import ConfigError, parse_yaml
from tradeoff.profile_check import profile_files, snakemake_major


def run_yaml_files(argv: Sequence[str], environ: Mapping[str, str], workdir: Path,
                   configfiles: Iterable[str | Path] = ()) -> list[Path]:
    """Every YAML file that drives this run, de-duplicated, in the order Snakemake reads them."""
    files: list[Path] = []
    default = workdir / "config" / "config.yaml"
    if default.is_file():
        files.append(default)
    files += [Path(f) for f in configfiles]  # Snakemake's own list of --configfile files
    # the profiles in effect, found as the profile check finds them (one implementation)
    files += profile_files(argv, environ, workdir, snakemake_major())
    unique: dict[Path, None] = {}
    for f in files:
        unique.setdefault(Path(os.path.abspath(f)), None)
    return list(unique)


def check_run_yaml_files(argv: Sequence[str], environ: Mapping[str, str], workdir: Path,
                         configfiles: Iterable[str | Path] = ()) -> None:
    """Parse each file strictly; raise ConfigError naming the file (relative to ``workdir`` where it
    lies inside it) and the line(s) of the first problem."""
    for path in run_yaml_files(argv, environ, workdir, configfiles):
        try:
            shown: Path = path.relative_to(workdir.resolve())
        except ValueError:
            shown = path
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue  # Snakemake names a missing file itself
        except UnicodeDecodeError as err:
            raise ConfigError(f"{shown}: not UTF-8 text ({err.reason} at byte {err.start})") from None
        parse_yaml(text, shown)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tradeoff.preflight FILE...``: check YAML files strictly, naming file and line.

    Snakemake reads ``--configfile`` files and profiles before the workflow, so for a syntax error in
    one of them it prints its own message ("Config file is not valid JSON or YAML"), naming neither
    file nor line; this command names both (the workflow's check covers duplicate keys)."""
    import sys

    files = list(sys.argv[1:] if argv is None else argv)
    if not files:
        print("usage: python -m tradeoff.preflight FILE.yaml...", file=sys.stderr)
        return 2
    status = 0
    for f in files:
        try:
            parse_yaml(Path(f).read_text(), f)
        except (ConfigError, OSError, UnicodeDecodeError) as err:
            print(err, file=sys.stderr)
            status = 1
        else:
            print(f"{f}: ok")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
