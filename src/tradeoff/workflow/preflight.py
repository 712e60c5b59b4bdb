"""Read every YAML file a run is driven by strictly, before Snakemake uses any of it.

Snakemake reads config files and profiles with PyYAML's default rules: a repeated key silently
replaces the first (a second ``linf-0.3:`` recipe wins unnoticed). The workflow checks each file
again with :func:`tradeoff.workflow.config.parse_yaml` (syntax errors with file and line, duplicate keys with
both lines) from ``workflow/rules/preflight.smk``, before the ``configfile:`` directive.

Which files: the default config, every ``--configfile``, and the profiles in effect: each
``--profile`` (or ``$SNAKEMAKE_PROFILE``) and the workflow profile (``--workflow-profile``, else
``profiles/default``), found by :func:`tradeoff.workflow.profile_check.profile_files`, the way Snakemake
documents it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from tradeoff.workflow.config import ConfigError, parse_yaml
from tradeoff.workflow.profile_check import profile_file, profile_files, snakemake_major


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


def _command_line_configfiles(argv: Sequence[str]) -> list[str]:
    """The ``--configfile``/``--configfiles`` files of a Snakemake command line."""
    import argparse

    ap = argparse.ArgumentParser(add_help=False, allow_abbrev=False)
    ap.add_argument("--configfile", "--configfiles", nargs="+", action="extend", default=[])
    known, _ = ap.parse_known_args(list(argv))
    return list(known.configfile)


def _check_file(f: str | Path) -> str | None:
    """The problem of one YAML file (or profile folder) in one line, or None."""
    path = Path(f)
    if path.is_dir():  # a profile folder: the file Snakemake reads in it
        found = profile_file(path, snakemake_major())
        if found is None:
            return f"{f}: a folder with no profile.yaml or config.yaml"
        path = found
    try:
        parse_yaml(path.read_text(), path)
    except FileNotFoundError:
        return (f"{path}: no such file (for a --configfile that does not exist Snakemake 9 prints a Python "
                "traceback ending in FileNotFoundError before the workflow starts)")
    except UnicodeDecodeError as err:
        return f"{path}: not UTF-8 text ({err.reason} at byte {err.start})"
    except (ConfigError, OSError) as err:
        return str(err)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m tradeoff.workflow.preflight FILE...`` or ``python -m tradeoff.workflow.preflight SNAKEMAKE-ARGS...``:
    check YAML files strictly, naming file and line.

    Snakemake reads ``--configfile`` files and profiles before the workflow, so for a syntax error in
    a ``--configfile`` it prints its own message ("Config file is not valid JSON or YAML"), naming
    neither file nor line, and for one that does not exist a Python traceback; this command names the
    file and the line, or says the file is missing, in one line each (the workflow's check covers
    duplicate keys). Given a Snakemake command line's arguments instead of files (the first argument
    starts with ``-``: ``--configfile my.yaml --profile profiles/slurm``), it checks every YAML file
    that run reads: ``config/config.yaml``, each ``--configfile``, the profiles in effect."""
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if not args:
        print("usage: python -m tradeoff.workflow.preflight FILE.yaml... | SNAKEMAKE-ARGUMENTS (--configfile F --profile P ...)",
              file=sys.stderr)
        return 2
    files: list[str | Path] = list(args)
    if args[0].startswith("-"):  # a Snakemake command line: every YAML file of that run
        configfiles = _command_line_configfiles(args)
        files = [*run_yaml_files(args, os.environ, Path.cwd(), [c for c in configfiles if Path(c).exists()])]
        files += [c for c in configfiles if not Path(c).exists()]
    status = 0
    for f in files:
        problem = _check_file(f)
        if problem is not None:
            print(problem, file=sys.stderr)
            status = 1
        else:
            print(f"{f}: ok")
    return status


if __name__ == "__main__":
    raise SystemExit(main())
