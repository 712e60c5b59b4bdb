# Reproduce "Robustness May Be at Odds with Accuracy" (Tsipras et al., ICLR 2019).
# Thin entry point: everything else lives in workflow/rules/*.smk and the tradeoff package.
from snakemake.utils import min_version

min_version("9.0")


include: "workflow/rules/preflight.smk"


configfile: DEFAULT_CONFIGFILE


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/theory.smk"


if MNIST:

    include: "workflow/rules/mnist.smk"


if MNIST and HEADLINE:

    include: "workflow/rules/headline.smk"


if SALIENCY:

    include: "workflow/rules/saliency.smk"


if plan.reference_claims(CONFIG):

    include: "workflow/rules/reference.smk"


include: "workflow/rules/provenance.smk"


rule all:
    default_target: True
    input:
        stage_targets(),
        rules.provenance.output.json,


if MNIST:

    include: "workflow/rules/integrity.smk"


include: "workflow/rules/profile.smk"
