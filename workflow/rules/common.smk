# Shared by the stage files: the validated config, code hashes and wildcard constraints. What to
# build and with which params is computed in tradeoff.workflow.plan (unit-tested), not here.
# (preflight.smk, included first, put the package on sys.path and set REPO.)
import re

from tradeoff.workflow import plan
from tradeoff.workflow.config import ConfigError, validate_config
from tradeoff.datasets.mnist import DataError
from tradeoff.provenance import report_safe_json

try:
    # Validated, the schema's defaults filled in, keys sorted: every rule reads CONFIG, not config.
    CONFIG = validate_config(config, REPO / "workflow/schemas/config.schema.yaml")
except ConfigError as err:
    raise WorkflowError(str(err)) from None

THEORY = CONFIG["theory"]
MNIST = CONFIG.get("mnist")  # optional sections: None when absent
SALIENCY = CONFIG.get("saliency")
# the headline models (config/headline.yaml): explicit targets only
HEADLINE = CONFIG.get("headline")
STYLE = CONFIG["plots"]  # figure styling: changing it re-runs only the figures
CODE = plan.stage_code_hashes()  # stage -> hash of the package modules it imports
try:  # the MNIST source files are the data rule's inputs; a missing one stops the run here
    MNIST_SOURCE_FILES = plan.mnist_source_files(CONFIG, REPO) if MNIST else []
except DataError as err:
    raise WorkflowError(f"mnist.data: {err}") from None


wildcard_constraints:
    p=r"[0-9.]+",
    d=r"[0-9]+",
    eta=r"[0-9.]+",
    n=r"[0-9]+",
    m=r"[0-9]+",
    C=r"[0-9.e-]+",
    model=r"svm|(linf|l2)_eps~[0-9.]+",
    sweep="|".join(plan.theory_sweeps(CONFIG)),
    recipe="|".join(map(re.escape, sorted(plan.mnist_recipes(CONFIG) if MNIST else []))) or "$^",
    size=r"[0-9]+",
    seed=r"[0-9]+",


def stage_targets():
    """The targets of every configured stage (the rules theory, mnist and saliency)."""
    names = ["theory"] + ["mnist"] * bool(MNIST) + ["saliency"] * bool(SALIENCY)
    beside = list(rules.claims_reference.output) if plan.reference_claims(CONFIG) else []
    return [f for name in names for f in getattr(rules, name).input] + beside
