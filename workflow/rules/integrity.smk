# Included once every rule is defined (it reads the target rules' inputs). Snakemake keeps a corrupt
# model file that is not older than its inputs, and does not rebuild a removed one while what was
# made from it is up to date. The stage targets (rule all, mnist, stage_*, saliency) list every
# model's files, so a missing model that they ask for is rebuilt, with everything made from it: said
# here, one line each. Anything else stops the run first, naming each file and the command that
# rebuilds it (tradeoff.nets.integrity; header and size only, cheap).
from snakemake.logging import logger  # noqa: E402
from tradeoff.nets.integrity import (  # noqa: E402
    asked_for,
    corrupt_weights_message,
    model_files,
    rebuilt_models,
    run_targets,
)


def _inputs_of_target_rule(name):
    """The input files of the rule ``name`` where it runs nothing (a target rule), else None."""
    if not workflow.is_rule(name) or not workflow.get_rule(name).norun:
        return None
    return [str(f) for f in workflow.get_rule(name).input if not callable(f)]


if workflow.is_main_process:
    _models = model_files("results/mnist")
    _rebuilt = rebuilt_models(
        _models,
        sys.argv,
        lambda: asked_for(run_targets(sys.argv), workflow.default_target, _inputs_of_target_rule),
    )
    for _path, _why in _rebuilt:
        logger.warning(f"rebuilding {_path}: {_why}")
    _corrupt = corrupt_weights_message(_models, sys.argv, [p for p, _ in _rebuilt])
    if _corrupt:
        raise WorkflowError(_corrupt)
