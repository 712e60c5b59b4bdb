# Included last, once every rule is defined: run settings (profile keys or their command-line
# flags) that Snakemake checks late or never stop the run here, before any job starts, naming the
# key, the value and where it was written (tradeoff.profile_check reads the profile files and the
# command line itself). Jobs that Snakemake spawns re-parse the workflow with settings it derived
# itself; the main process has checked them already.
import os
import sys

from tradeoff.profile_check import ProfileError, check_run, snakemake_arguments

if workflow.is_main_process and snakemake_arguments(sys.argv) is not None:
    try:
        check_run(
            snakemake_arguments(sys.argv),
            os.environ,
            REPO,
            {r.name for r in workflow.rules},
        )
    except ProfileError as err:
        raise WorkflowError(str(err)) from None
