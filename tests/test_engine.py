"""The fast engine (tradeoff.adversarial.engine): same math as the reference on the CPU; GPU checks with CUDA.

CPU tests: the engine's eager training step equals ``training._train_step`` (bit for bit with the
reference projection, to float rounding with the fused one), FastPGD equals
``attacks.pgd_with_info`` (same starts, keep-best, restarts, padding), attacks stay in the
eps-ball and the box, bf16 is refused on the CPU, ``train(engine="graph")`` runs and resumes
exactly, eager config hashes are unchanged, and both bench scripts run end to end in tiny modes.
GPU tests (marker ``gpu``) skip without CUDA; when run they append their results, with device,
torch version and commit, to ``$TRADEOFF_GPU_LOG`` (default ``bench/gpu_tests.log``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import subprocess
import sys
import time
from contextlib import nullcontext
from pathlib import Path

import pytest
import torch
from conftest import synthetic, train_config

from tradeoff.adversarial.attacks import pgd, pgd_with_info
from tradeoff.adversarial.engine import (
    EngineOptions,
    FastPGD,
    TrainStep,
    madry_flops,
    make_fast_optimizer,
    resolve_engine,
)
from tradeoff.adversarial.objectives import OBJECTIVES
from tradeoff.adversarial.robust_eval import evaluate_grid, sanity_checks
from tradeoff.adversarial.training import TrainConfig, _train_step, config_hash, train
from tradeoff.nets.models import build_model

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
CPU = torch.device("cpu")
EPS = {"linf": 0.1, "l2": 1.0}


def _cfg(objective: str = "pgd", norm: str = "linf", **kw) -> TrainConfig:
    base = dict(model="small", objective=objective, norm=norm, eps=EPS[norm],
                alpha=EPS[norm] / 3, steps=OBJECTIVES[objective].max_steps or 3, lr=1e-3,
                batch_size=16, iterations=3, device="cpu")
    return train_config(**{**base, **kw})


def _pair() -> tuple[torch.nn.Module, torch.optim.Optimizer, torch.nn.Module,
                     torch.optim.Optimizer]:
    torch.manual_seed(0)
    a = build_model("small")
    b = build_model("small")
    b.load_state_dict(a.state_dict())
    return (a, torch.optim.Adam(a.parameters(), lr=1e-3), b,
            torch.optim.Adam(b.parameters(), lr=1e-3))


def _max_diff(a: torch.nn.Module, b: torch.nn.Module) -> float:
    return max((p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters(),
                                                           strict=True))


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    return synthetic(64, seed=3)


@pytest.fixture(scope="module")
def model(synthetic_model: torch.nn.Module) -> torch.nn.Module:
    return synthetic_model


def test_resolve_engine() -> None:
    assert resolve_engine("auto", CPU) == "eager"
    assert resolve_engine("auto", torch.device("cuda")) == "graph"
    assert resolve_engine("graph", CPU) == "graph"
    assert resolve_engine("eager", torch.device("cuda")) == "eager"
    with pytest.raises(ValueError, match="unknown engine"):
        resolve_engine("fast", CPU)
    with pytest.raises(ValueError, match="engine"):
        train_config(iterations=1, engine="turbo")


@pytest.mark.parametrize(("objective", "norm"), [(o, n) for o, obj in OBJECTIVES.items()
                                                 for n in obj.norms])
@pytest.mark.parametrize("fused", [False, True], ids=["reference-projection", "fused"])
def test_train_step_equals_reference(data, objective, norm, fused) -> None:
    """Three steps (a ragged last batch included) from the same weights and the same starts."""
    x, y = data
    cfg = _cfg(objective, norm)
    m1, o1, m2, o2 = _pair()
    g1, g2 = torch.Generator().manual_seed(5), torch.Generator().manual_seed(5)
    step = TrainStep(cfg, m2, o2, x, y, g2, EngineOptions(fused_projection=fused))
    loss = torch.zeros(())
    for lo, hi, scale in ((0, 16, 0.5), (16, 32, 1.0), (32, 40, 1.0)):
        idx = torch.arange(lo, hi)
        lsum, _, _ = _train_step(cfg, m1, o1, x[idx], y[idx], g1, nullcontext, scale)
        loss += lsum
        step.step(idx, scale)
    total, _, _ = step.totals()
    # fused l_inf projection (PGD, FGSM): rounding only
    exact = not fused or objective not in ("pgd", "fgsm") or norm != "linf"
    if exact:
        assert _max_diff(m1, m2) == 0.0
        assert total.item() == loss.item()
    else:
        assert _max_diff(m1, m2) < 1e-4
        assert total.item() == pytest.approx(loss.item(), rel=1e-4)
    assert torch.equal(g1.get_state(), g2.get_state())  # the same random numbers were drawn


@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_fast_pgd_equals_reference(model, data, norm) -> None:
    x, y = data
    kw = dict(norm=norm, eps=EPS[norm], alpha=EPS[norm] / 4, steps=5, restarts=3)
    ref = pgd_with_info(model, x, y, generator=torch.Generator().manual_seed(1), **kw)
    fast = FastPGD(model, trajectory=True, options=EngineOptions(fused_projection=False), **kw)
    res = fast(x, y, torch.Generator().manual_seed(1))
    assert torch.equal(ref.x_adv, res.x_adv)
    assert torch.equal(ref.success, res.success)
    assert torch.equal(ref.loss, res.loss)
    torch.testing.assert_close(ref.trajectory, res.trajectory, rtol=1e-5, atol=1e-6)
    # fused projection: the same attack up to float rounding
    fused = FastPGD(model, **kw)(x, y, torch.Generator().manual_seed(1))
    assert (fused.success != ref.success).sum() <= 1
    assert (fused.x_adv - ref.x_adv).abs().max() < 1e-3


def test_fast_pgd_padding_and_generator_stream(model, data) -> None:
    """A smaller second batch is padded to the first's size; the starts follow the reference."""
    x, y = data
    kw = dict(norm="linf", eps=0.1, alpha=0.03, steps=4, restarts=2)
    g_ref, g_fast = torch.Generator().manual_seed(7), torch.Generator().manual_seed(7)
    fast = FastPGD(model, options=EngineOptions(fused_projection=False), **kw)
    for sl in (slice(0, 40), slice(40, 64)):
        ref = pgd(model, x[sl], y[sl], generator=g_ref, **kw)
        assert torch.equal(fast(x[sl], y[sl], g_fast).x_adv, ref)
    assert fast._cap == 40


@pytest.mark.parametrize("norm", ["linf", "l2"])
@pytest.mark.parametrize("fused", [False, True])
def test_attacks_stay_in_ball_and_box(model, data, norm, fused) -> None:
    x, y = data
    eps = {"linf": 0.3, "l2": 3.0}[norm]
    res = FastPGD(model, norm=norm, eps=eps, alpha=eps / 2, steps=4, restarts=2,
                  options=EngineOptions(fused_projection=fused))(x, y,
                                                                 torch.Generator().manual_seed(0))
    d = (res.x_adv - x).flatten(1)
    size = d.abs().max(1).values if norm == "linf" else d.norm(dim=1)
    assert (size <= eps + 1e-5).all()
    assert res.x_adv.min() >= 0 and res.x_adv.max() <= 1
    # the training attack too
    cfg = _cfg("pgd", norm, eps=eps, alpha=eps / 2, steps=4)
    step = TrainStep(cfg, model, torch.optim.SGD(model.parameters(), lr=0.0), x, y,
                     torch.Generator().manual_seed(0), EngineOptions(fused_projection=fused))
    model.eval()
    x_adv = step._pgd(x, y, [torch.rand(x.shape, generator=torch.Generator().manual_seed(1))]
                      if norm == "linf" else
                      [torch.randn(x.shape), torch.rand(x.shape[0], 1, 1, 1)])
    d = (x_adv - x).flatten(1)
    size = d.abs().max(1).values if norm == "linf" else d.norm(dim=1)
    assert (size <= eps + 1e-5).all() and x_adv.min() >= 0 and x_adv.max() <= 1


def test_restarts_keep_strongest_and_count_robust_only_if_all_fail(model, data) -> None:
    x, y = data
    kw = dict(norm="linf", eps=0.05, alpha=0.02, steps=3)
    three = FastPGD(model, restarts=3, **kw)(x, y, torch.Generator().manual_seed(2))
    single = FastPGD(model, restarts=1, **kw)
    g = torch.Generator().manual_seed(2)  # the same stream: restart r of three == call r
    broken = torch.zeros(len(y), dtype=torch.bool)
    for _ in range(3):
        broken |= single(x, y, g).success
    assert torch.equal(three.success, broken)
    assert 0 < broken.sum() < len(y)  # the test model is partly robust here
    with torch.no_grad():
        assert torch.equal(model(three.x_adv).argmax(1) != y, three.success)


def test_bf16_on_cpu_refused(model, data, monkeypatch) -> None:
    x, y = data
    # a CPU with bf16 hardware (mocked), so that train() keeps bf16 and the graph engine is what refuses
    # it; without bf16 hardware the capability check drops bf16 first (tests/test_cpu_levers.py)
    monkeypatch.setattr("tradeoff.runtime.cpu_capabilities",
                        lambda cpuinfo=None: {"avx2": True, "avx512f": True, "avx512_bf16": True,
                                              "amx_tile": False, "amx_bf16": False, "bf16": True})
    with pytest.raises(ValueError, match="CUDA only"):
        FastPGD(model, norm="linf", eps=0.1, alpha=0.1, steps=1,
                options=EngineOptions(precision="bf16"))(x, y)
    with pytest.raises(ValueError, match="CUDA only"):
        TrainStep(_cfg(), model, torch.optim.SGD(model.parameters(), lr=0.1), x, y, None,
                  EngineOptions(precision="bf16"))
    with pytest.raises(ValueError, match="CUDA only"):
        train(_cfg(engine="graph", precision="bf16", iterations=1), x, y)
    with pytest.raises(ValueError, match="precision"):
        EngineOptions(precision="fp16")


def test_eager_config_hash_unchanged_graph_hash_differs(data) -> None:
    x, y = data
    x = x.contiguous()
    cfg = _cfg()
    d = cfg.to_dict()
    d.pop("engine"), d.pop("channels_last"), d.pop("compile"), d.pop("init")  # enter only when not default
    d["device"] = "cpu"
    h = hashlib.sha256()  # the hash as it was computed before the engine existed
    h.update(json.dumps({"format": 1, "config": d}, sort_keys=True).encode())
    h.update(x.numpy().tobytes())
    h.update(y.numpy().tobytes())
    old = h.hexdigest()
    assert config_hash(cfg, CPU, x, y) == old
    assert config_hash(dataclasses.replace(cfg, engine="eager"), CPU, x, y) == old
    assert config_hash(dataclasses.replace(cfg, engine="graph"), CPU, x, y) != old


def test_train_with_graph_engine_on_cpu_resumes_exactly(tmp_path, data) -> None:
    """The engine's path through train(): epochs, a ragged batch, checkpoints, exact resume."""
    x, y = data
    cfg = _cfg(engine="graph", batch_size=24, iterations=None, epochs=3, eps_warmup=4)
    ref, hist = train(cfg, x, y)
    assert [r["iteration"] for r in hist] == [3, 6, 9]
    assert all(0 <= r["adv_acc"] <= r["clean_acc"] + 1 for r in hist)

    class Stop(Exception):
        pass

    def stop_after_two(epoch: int, _record: dict) -> None:
        if epoch == 2:
            raise Stop

    with pytest.raises(Stop):
        train(cfg, x, y, checkpoint_dir=tmp_path, on_epoch_end=stop_after_two)
    resumed, hist2 = train(cfg, x, y, checkpoint_dir=tmp_path)
    assert _max_diff(ref, resumed) == 0.0
    strip = [{k: v for k, v in r.items() if k not in ("seconds", "examples_per_s")}
             for r in hist]
    assert strip == [{k: v for k, v in r.items() if k not in ("seconds", "examples_per_s")}
                     for r in hist2]


def test_evaluate_grid_and_sanity_with_engine_on_cpu(model, data) -> None:
    x, y = data
    grid = [{"attack": "clean"}, {"attack": "pgd", "norm": "linf", "eps": 0.05, "steps": 4,
                                  "restarts": 2}]
    eager = evaluate_grid(model, x, y, grid, batch_size=24, engine="eager")
    fast = evaluate_grid(model, x, y, grid, batch_size=24, engine="graph")
    assert (eager["n_correct"] - fast["n_correct"]).abs().max() <= 1
    assert torch.equal(torch.tensor(eager["n_correct"].to_numpy()),
                       torch.tensor(evaluate_grid(model, x, y, grid, batch_size=24)
                                    ["n_correct"].to_numpy()))  # auto on the CPU is eager
    a = sanity_checks(model, x, y, norm="linf", eps=0.05, steps=4, batch_size=24,
                      engine="eager")
    b = sanity_checks(model, x, y, norm="linf", eps=0.05, steps=4, batch_size=24,
                      engine="graph")
    assert b["loss_trajectory"] == pytest.approx(a["loss_trajectory"], rel=1e-3, abs=1e-4)
    assert abs(a["whitebox_accuracy"] - b["whitebox_accuracy"]) <= 1 / len(y)


def test_counting() -> None:
    c = madry_flops(50, 40)
    assert c["params"] == sum(p.numel() for p in build_model("madry").parameters())
    assert c["forward_flops_per_example"] == pytest.approx(27.77e6, rel=1e-3)
    assert c["flops"] == pytest.approx(116.6e9, rel=1e-3)  # (1 + 2*40 + 3) forward-equivalents
    sys.path.insert(0, str(REPO / "bench" / "gpu"))
    from bench_gpu import iteration_counts

    assert iteration_counts(build_model("madry"), 50, 40) == c


def test_fast_optimizer_on_cpu_is_the_plain_one() -> None:
    m = build_model("small")
    opt = make_fast_optimizer("adam", m, lr=1e-3, momentum=0.9, weight_decay=0.0, device=CPU)
    assert type(opt) is torch.optim.Adam and not opt.defaults["capturable"]
    with pytest.raises(ValueError, match="optimizer"):
        make_fast_optimizer("lamb", m, lr=1e-3, momentum=0.9, weight_decay=0.0, device=CPU)


def _run(args: list[str], timeout: int = 240) -> subprocess.CompletedProcess[str]:
    path = os.pathsep.join(p for p in (str(REPO / "src"), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, *args], cwd=REPO, capture_output=True, text=True,
                          timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


@pytest.mark.slow
def test_bench_gpu_runs_on_cpu_tiny(tmp_path) -> None:
    out = tmp_path / "bench.json"
    proc = _run(["bench/gpu/bench_gpu.py", "--device", "cpu", "--tiny", "--iters", "1",
                 "--repeats", "1", "--warmup", "1", "--variants", "eager", "graph",
                 "--json", str(out), "--markdown", str(tmp_path / "bench.md")])
    res = json.loads(out.read_text())
    assert [r["variant"] for r in res["training"]] == ["eager", "graph"]
    assert all("error" not in r and r["ms_per_iter"] > 0 for r in res["training"])
    assert res["training"][0]["launches"]["aten_kernel_ops"] > 0
    assert res["speedup"]["ratio"] > 0
    assert {r["what"].split(",")[0] for r in res["evaluation"]} >= {
        "eager reference (attacks.pgd)", "engine FastPGD"}
    assert "| variant | ms/iter" in proc.stdout


@pytest.mark.slow
def test_gpu_run_script_on_cpu_tiny(tmp_path) -> None:
    _run(["bench/gpu/gpu_run.py", "--recipe", "linf-0.3", "--device", "cpu", "--synthetic", "256",
          "--model", "small", "--iterations", "6", "--batch-size", "32", "--steps", "2",
          "--eval-n", "64", "--pgd", "5x2", "--out", str(tmp_path / "run")])
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["train"]["iterations"] == 6
    assert summary["train"]["seconds_to_final_checkpoint"] > 0
    assert {r["attack"] for r in summary["eval"]} == {"clean", "pgd"}
    assert subprocess.run(["bash", "-n", str(REPO / "bench" / "gpu" / "gpu_session.sh")]).returncode == 0


# --------------------------------------------------------------------------- GPU (skip elsewhere)

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (no GPU here)")


def _gpu_log(name: str, result: dict) -> None:
    path = Path(os.environ.get("TRADEOFF_GPU_LOG", REPO / "bench" / "gpu_tests.log"))
    commit = os.environ.get("TRADEOFF_COMMIT")
    if not commit:
        try:
            commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True,
                                    text=True, timeout=10).stdout.strip() or "unknown"
        except (OSError, subprocess.SubprocessError):
            commit = "unknown"
    rec = {"test": name, "device": torch.cuda.get_device_name(), "torch": torch.__version__,
           "cuda": torch.version.cuda, "commit": commit,
           "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **result}
    with path.open("a") as f:
        f.write(json.dumps(rec) + "\n")


@pytest.fixture(scope="module")
def gpu_data() -> tuple[torch.Tensor, torch.Tensor]:
    x, y = synthetic(4096, seed=11)
    return x.cuda(), y.cuda()


@pytest.mark.gpu
@needs_cuda
@pytest.mark.parametrize("objective", ["pgd", "trades", "standard"])
def test_gpu_graph_step_equals_eager_step(gpu_data, objective) -> None:
    x, y = gpu_data
    dev = x.device
    cfg = train_config(model="madry", objective=objective, eps=0.3, alpha=0.01, steps=10,
                       batch_size=50, iterations=1, device="cuda")
    models = []
    for capture in (False, True):
        torch.manual_seed(0)
        m = build_model("madry").to(dev)
        opt = make_fast_optimizer("adam", m, lr=1e-4, momentum=0.9, weight_decay=0.0,
                                  device=dev)
        step = TrainStep(cfg, m, opt, x, y, torch.Generator(device=dev).manual_seed(1),
                         EngineOptions(capture=capture))
        for i in range(5):
            step.step(torch.arange(50 * i, 50 * i + 50, device=dev))
        step.step(torch.arange(300, 320, device=dev))  # ragged: eager after the capture
        assert step.captured == capture
        models.append((m, step.totals()))
    (a, ta), (b, tb) = models
    diff = _max_diff(a, b)
    _gpu_log(f"graph_step_equals_eager[{objective}]", {"max_param_diff": diff})
    assert diff < 1e-4
    torch.testing.assert_close(ta[0], tb[0], rtol=1e-3, atol=1e-3)


@pytest.mark.gpu
@needs_cuda
def test_gpu_graph_pgd_matches_fp32_reference(gpu_data) -> None:
    x, y = gpu_data
    dev = x.device
    cfg = train_config(model="madry", objective="pgd", eps=0.3, alpha=0.01, steps=10,
                       batch_size=50, iterations=1, device="cuda")
    torch.manual_seed(0)
    m = build_model("madry").to(dev)
    opt = make_fast_optimizer("adam", m, lr=1e-3, momentum=0.9, weight_decay=0.0, device=dev)
    step = TrainStep(cfg, m, opt, x, y, torch.Generator(device=dev).manual_seed(1))
    for i in range(60):
        step.step(torch.arange(50 * (i % 80), 50 * (i % 80) + 50, device=dev), min(1, i / 30))
    m.eval()
    grid = [{"attack": "pgd", "norm": "linf", "eps": e, "steps": 20, "restarts": 2}
            for e in (0.05, 0.1, 0.2)]
    xc, yc = x.cpu(), y.cpu()
    ref = evaluate_grid(m, xc, yc, grid, batch_size=1000, engine="eager")["accuracy"].tolist()
    fast = evaluate_grid(m, xc, yc, grid, batch_size=1000, engine="graph")["accuracy"].tolist()
    with torch.autocast("cuda", dtype=torch.bfloat16):
        bf = evaluate_grid(m, xc, yc, grid, batch_size=1000, engine="graph")["accuracy"].tolist()
    _gpu_log("graph_pgd_vs_fp32", {"eps": [0.05, 0.1, 0.2], "reference_fp32": ref,
                                   "graph_fp32": fast, "graph_bf16": bf})
    assert any(0.05 < a < 0.95 for a in ref), ref  # a partly robust model: a sensitive check
    for r, f, b in zip(ref, fast, bf, strict=True):
        assert abs(f - r) <= 0.003  # the bound, fp32 graph vs fp32 reference
        # bf16 on this synthetic task: a looser bound; the 0.3 points on MNIST is
        # measured by bench/gpu/bench_gpu.py (evaluation table, "diff vs fp32 ref")
        assert abs(b - r) <= 0.01


@pytest.mark.gpu
@needs_cuda
def test_gpu_graph_throughput_floor(gpu_data) -> None:
    """The graph engine beats the plain eager loop at batch 50 by a wide margin (>= 3x here, a
    regression guard; bench/gpu/bench_gpu.py measures the issue's 15x goal)."""
    x, y = gpu_data
    dev = x.device
    cfg = train_config(model="madry", objective="pgd", eps=0.3, alpha=0.01, steps=40,
                       batch_size=50, iterations=1, device="cuda")
    times = {}
    for kind in ("eager", "graph"):
        torch.manual_seed(0)
        m = build_model("madry").to(dev)
        if kind == "eager":
            opt = torch.optim.Adam(m.parameters(), lr=1e-4)
            g = torch.Generator().manual_seed(0)

            def one(i: int, m=m, opt=opt, g=g) -> None:
                idx = torch.arange(50 * i, 50 * i + 50, device=dev)
                _train_step(cfg, m, opt, x[idx], y[idx], g, nullcontext, 1.0)
        else:
            opt = make_fast_optimizer("adam", m, lr=1e-4, momentum=0.9, weight_decay=0.0,
                                      device=dev)
            step = TrainStep(cfg, m, opt, x, y, torch.Generator(device=dev).manual_seed(0))

            def one(i: int, step=step) -> None:
                step.step(torch.arange(50 * i, 50 * i + 50, device=dev))
        for i in range(3):
            one(i)
        torch.cuda.synchronize()
        t0 = time.perf_counter()
        for i in range(20):
            one(i % 80)
        torch.cuda.synchronize()
        times[kind] = (time.perf_counter() - t0) / 20 * 1e3
    ratio = times["eager"] / times["graph"]
    _gpu_log("graph_throughput", {"eager_ms": times["eager"], "graph_ms": times["graph"],
                                  "ratio": ratio})
    assert ratio >= 3.0, times
