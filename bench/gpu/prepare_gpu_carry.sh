#!/usr/bin/env bash
# Make the two git-ignored folders that bench/gpu/gpu_session.sh needs on the device machine, which sees
# neither /work/shared nor a package registry: run this here, then carry: [".data", ".whl"].
#   .data/mnist/  the four MNIST IDX files (and SHA256SUMS), copied from the shared datasets folder
#   .whl/         torchattacks from the shared GPU wheels, and safetensors + pytest (with its
#                 dependencies) for Python 3.12, downloaded from PyPI as binary wheels
set -euo pipefail
cd "$(dirname "$0")/.."
SHARED="${SHARED:-../shared}"
mkdir -p .data/mnist .whl
cp "$SHARED"/datasets/mnist/* .data/mnist/
(cd "$(mktemp -d)" && cp "$OLDPWD"/.data/mnist/*.gz . && gunzip ./*.gz && sha256sum -c --quiet "$OLDPWD"/.data/mnist/SHA256SUMS)
cp "$SHARED"/wheels/gpu-py312/torchattacks-*.whl .whl/
python3 -m pip download -q --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
    --implementation cp -d .whl safetensors==0.8.0 pytest==9.2.0
du -sh .data .whl
