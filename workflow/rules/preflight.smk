# Runs before `configfile:`: every YAML file that drives the run (config/config.yaml, each
# --configfile, the profiles in effect) is read strictly, so that a malformed file is reported
# with its name and line, and a repeated key with both lines (Snakemake's reader names neither and
# lets the last repeat win silently). See tradeoff.preflight.
import os as _os
import sys as _sys
from pathlib import Path as _Path

_sys.path.insert(0, str(_Path(workflow.basedir) / "src"))
from tradeoff.config import ConfigError as _ConfigError  # noqa: E402
from tradeoff.preflight import check_run_yaml_files  # noqa: E402

if workflow.is_main_process:
    try:
        check_run_yaml_files(
            _sys.argv,
            _os.environ,
            _Path.cwd(),
            getattr(workflow, "overwrite_configfiles", None) or (),
        )
    except _ConfigError as _err:
        raise WorkflowError(str(_err)) from None
