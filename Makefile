# Two set-up commands (README): `make run` and `make test`. Both create .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
# `make run` uses every core of this machine; `make run CORES=N` chooses
CORES ?= $(shell nproc 2>/dev/null || echo 2)

.PHONY: run test test-fast lint clean-results paper-grade

$(VENV)/.installed: requirements/lock.txt requirements/no-deps.txt pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements/lock.txt
	# torchattacks without its stale requests~=2.25.1 requirement (requirements/no-deps.txt)
	$(PY) -m pip install --quiet --no-deps --require-hashes -r requirements/no-deps.txt
	$(PY) -m pip install --quiet --no-deps --config-settings editable_mode=compat -e .
	touch $@

run: $(VENV)/.installed  ## install, then run the whole pipeline on the embedded default config
	$(VENV)/bin/snakemake --cores $(CORES)

# Both test targets run on TEST_WORKERS pytest-xdist processes (default 2: the 2-core machines the
# times in bench/RESULTS.md are for). --dist loadgroup selects tests/conftest.py's scheduler: the
# tests that share and change the tiny run stay on one worker, every other test stays with its module
# (module fixtures are built once), and the SLURM test, which mostly waits on its cluster, starts
# first. TEST_WORKERS=0: one process, no xdist.
TEST_WORKERS ?= 2
XDIST := $(if $(filter 0,$(TEST_WORKERS)),,-n $(TEST_WORKERS) --dist loadgroup)

test: $(VENV)/.installed  ## install, then run the test suite (all of it: what CI runs)
	$(PY) -m pytest $(XDIST)

# The development loop: the tests that start no Snakemake and train no more than a few steps
# (pyproject's markers: slow, slurm, gpu are left out). tests/conftest.py's snakemake() refuses to
# run in a test not marked slow.
FAST := not slow and not slurm and not gpu
test-fast: $(VENV)/.installed
	$(PY) -m pytest $(XDIST) -m "$(FAST)"

# The paper-grade CPU run (config/cpu.yaml), cold, stage by stage, each stage timed; then its report,
# and the run copied into docs/results/cpu/ (tradeoff.workflow.publish). Planned 45 min on 2 Zen 4 cores;
# measured 107 min cold on a 2-core AMD EPYC with AVX2 only (bench/RESULTS.md, run times).
CPU_RUN := $(VENV)/bin/snakemake --cores 2 --configfile config/cpu.yaml --replace-workflow-config
CPU_DEST ?= docs/results/cpu
paper-grade: $(VENV)/.installed
	$(PY) -m tradeoff.workflow.costing config/cpu.yaml --preflight $(if $(ALLOW_NO_BF16),--allow-no-bf16)
	mkdir -p $(CPU_DEST)/times
	for t in stage_fig1_linf stage_fig1_l2 stage_fig7 all; do \
	  /usr/bin/time -v -o $(CPU_DEST)/times/$$t.txt $(CPU_RUN) $$t || exit 1; done
	$(CPU_RUN) --report $(CPU_DEST)/report.html
	$(PY) -m tradeoff.workflow.publish results $(CPU_DEST)

lint: $(VENV)/.installed
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules

clean-results:
	rm -rf results logs benchmarks
