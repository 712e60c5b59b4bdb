#!/usr/bin/env bash
# Snakemake runs this inside the env it has just created (--use-conda), beside the env file of the
# same name. torchattacks is on PyPI only (not on conda-forge), and its metadata asks for
# requests~=2.25.1 (known advisories), which it never imports: install it without dependencies,
# hash-checked. What torchattacks imports (torch, numpy, scipy, tqdm) the env file pins; the same
# line is requirements/no-deps.txt, which the pip route (Makefile) installs (tests/test_envs.py).
set -euo pipefail
req=$(mktemp)
trap 'rm -f "$req"' EXIT
cat >"$req" <<'REQ'
torchattacks==3.5.1 --hash=sha256:10c1b05f3a0b52869a91dfa9f9d5adf613750276a15f41fdbd361127cc6bd703
REQ
python -m pip install --no-deps --require-hashes --no-input -r "$req"
python -c "import requests, torchattacks; print('torchattacks', torchattacks.__version__, 'requests', requests.__version__)"
