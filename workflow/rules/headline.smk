# The headline models (docs/CLAIMS.md 4a; config/headline.yaml): validation trials on the full
# training split with the guard -> each headline model's written rule -> its one logged test look.


wildcard_constraints:
    trial="|".join(map(re.escape, plan.headline_trials(CONFIG))),
    headline="|".join(map(re.escape, plan.headline_models(CONFIG))),


rule headline_train:
    input:
        data=rules.mnist_data.output[0],
    output:
        weights="results/headline/trials/{trial}/weights.safetensors",
        history="results/headline/trials/{trial}/history.json",
    log:
        "logs/headline_train/{trial}.log",
    benchmark:
        "benchmarks/headline_train/{trial}.tsv"
    conda:
        plan.torch_env(CONFIG)
    threads: lambda w: plan.headline_trial_threads(CONFIG, w.trial)
    params:
        recipe=lambda w: plan.headline_trial_params(CONFIG, w.trial),
        code=CODE["headline_trials"],
    message:
        "Training headline trial {wildcards.trial} on the full training split (long); progress in {log}"
    script:
        "../scripts/headline_train.py"


rule headline_validate:
    input:
        data=rules.mnist_data.output[0],
        weights=rules.headline_train.output.weights,
        history=rules.headline_train.output.history,
    output:
        json="results/headline/trials/{trial}.json",
    log:
        "logs/headline_validate/{trial}.log",
    benchmark:
        "benchmarks/headline_validate/{trial}.tsv"
    conda:
        plan.torch_env(CONFIG)
    threads: lambda w: plan.headline_trial_threads(CONFIG, w.trial)
    params:
        validation=plan.headline_validation_params(CONFIG),
        code=CODE["headline_trials"],
    message:
        "Validating headline trial {wildcards.trial} (PGD on held-out training images); progress with ETA in {log}"
    script:
        "../scripts/headline_validate.py"


rule headline_select:
    input:
        records=lambda w: expand(
            rules.headline_validate.output.json,
            trial=plan.headline_rule(CONFIG, w.headline)["trials"],
        ),
        weights=lambda w: expand(
            rules.headline_train.output.weights,
            trial=plan.headline_rule(CONFIG, w.headline)["trials"],
        ),
    output:
        json="results/headline/{headline}.selection.json",
        weights="results/headline/{headline}.safetensors",
    log:
        "logs/headline_select/{headline}.log",
    conda:
        plan.torch_env(CONFIG)
    threads: 1
    params:
        rule=lambda w: plan.headline_rule(CONFIG, w.headline),
        code=CODE["headline_trials"],
    script:
        "../scripts/headline_select.py"


rule headline_look:
    input:
        data=rules.mnist_data.output[0],
        selection=rules.headline_select.output.json,
        weights=rules.headline_select.output.weights,
    output:
        json="results/headline/test/{headline}.json",
    log:
        "logs/headline_look/{headline}.log",
    conda:
        plan.torch_env(CONFIG)
    threads: 2
    params:
        look=lambda w: plan.headline_look_params(CONFIG, w.headline),
        code=CODE["headline"],
    message:
        "The one logged test-set look at headline model {wildcards.headline} (PGD, AutoAttack: up to hours on a CPU); progress per component with ETA in {log}"
    script:
        "../scripts/headline_look.py"


rule headline_validation:
    input:
        expand(rules.headline_validate.output.json, trial=plan.headline_trials(CONFIG)),


rule headline_selection:
    input:
        expand(rules.headline_select.output.json, headline=plan.headline_models(CONFIG)),
