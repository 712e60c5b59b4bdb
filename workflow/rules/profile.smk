# Included last, once every rule is defined: run settings (profile keys or their command-line
# flags) that Snakemake checks late or never stop the run here, before any job starts, naming the
# key, the value and where it was written (tradeoff.workflow.profile_check reads the profile files and the
# command line itself), among them a resource name close to one the SLURM plugin reads (a typo
# such as slurm_partion) and a gpu_model on a rule that requests no GPU. Jobs that Snakemake spawns
# re-parse the workflow with settings it derived itself; the main process has checked them already.
import os
import sys

from tradeoff.workflow.cluster import GPU_RULES
from tradeoff.workflow.profile_check import ProfileError, check_run, snakemake_arguments

if workflow.is_main_process and snakemake_arguments(sys.argv) is not None:
    try:
        check_run(
            snakemake_arguments(sys.argv),
            os.environ,
            REPO,
            {r.name for r in workflow.rules},
            # each rule's own gpu resource: the GPU rules' follows mnist.device, the others have none
            rule_gpus={
                r.name: plan.mnist_gpus(CONFIG) if r.name in GPU_RULES else None
                for r in workflow.rules
            },
        )
    except ProfileError as err:
        raise WorkflowError(str(err)) from None
