# Included last, once every rule is defined: run settings (profile keys or their command-line
# flags) that Snakemake checks late or never stop the run here, before any job starts, naming the
# key and the value (tradeoff.profile_check). Jobs that Snakemake spawns re-parse the workflow
# with settings it derived itself; the main process has checked them already.
from tradeoff.profile_check import ProfileError, check_resource_settings  # noqa: E402

if workflow.is_main_process:
    try:
        check_resource_settings(workflow.resource_settings, {r.name for r in workflow.rules})
    except ProfileError as err:
        raise WorkflowError(str(err)) from None
