"""CPU throughput behind tradeoff.workflow.cluster.CPU_EXAMPLES_PER_S (the SLURM runtimes of torch rules).

Forward+backward passes of one 28x28 example per second (loss gradient w.r.t. weights and inputs,
as in training and PGD), batch 64, one thread:  OMP_NUM_THREADS=1 python bench/throughput_cpu/throughput_cpu.py
"""

import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))
from tradeoff.nets.models import build_model  # noqa: E402

torch.set_num_threads(1)
for name in ("small", "mlp", "madry"):
    net = build_model(name)
    x = torch.rand(64, 1, 28, 28, requires_grad=True)
    y = torch.randint(0, 10, (64,))
    for _ in range(3):
        F.cross_entropy(net(x), y).backward()
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < 4:
        F.cross_entropy(net(x), y).backward()
        n += 64
    print(f"{name}: {n / (time.perf_counter() - t):.0f} examples/s (fwd+bwd, batch 64, 1 thread)")
