# Two set-up commands (README): `make run` and `make test`. Both create .venv on first use.
VENV ?= .venv
PY := $(VENV)/bin/python
CORES ?= 8

.PHONY: run test lint clean-results

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

test: $(VENV)/.installed  ## install, then run the test suite
	$(PY) -m pytest

lint: $(VENV)/.installed
	$(VENV)/bin/snakemake --lint
	$(VENV)/bin/snakefmt --check Snakefile workflow/rules

clean-results:
	rm -rf results logs benchmarks
