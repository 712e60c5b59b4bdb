# Runs before `configfile:`: every YAML file that drives the run (the default config file, named
# once here and read by the Snakefile's `configfile:`; each --configfile; the profiles in effect) is
# read strictly, so that a malformed file is reported with its name and line, and a repeated key
# with both lines (Snakemake's reader names neither and lets the last repeat win silently). See
# tradeoff.workflow.preflight.
import os
import sys
from pathlib import Path

REPO = Path(workflow.basedir)
sys.path.insert(0, str(REPO / "src"))

from tradeoff.workflow.config import ConfigError  # noqa: E402
from tradeoff.workflow.preflight import check_run_yaml_files  # noqa: E402
from tradeoff.workflow.snakemake_fixes import fix_params_change_listing  # noqa: E402

# Snakemake 9.27.1 lists unchanged files under --list-changes params (tradeoff.workflow.snakemake_fixes)
fix_params_change_listing()

DEFAULT_CONFIGFILE = "config/config.yaml"

if workflow.is_main_process:
    try:
        check_run_yaml_files(
            sys.argv, os.environ, Path.cwd(), getattr(workflow, "overwrite_configfiles", None) or ()
        )
    except ConfigError as err:
        raise WorkflowError(str(err)) from None
