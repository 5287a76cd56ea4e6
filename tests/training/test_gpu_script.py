"""benchmarks/gpu_train_eval.py: its CPU twin runs the GPU script's own code at toy shapes
(so the script cannot rot before a GPU runs it), and without CUDA the GPU mode refuses clearly."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu_train_eval.py"


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=300)


@pytest.mark.slow
def test_cpu_twin_trains_under_dclms_policy_and_prints_the_loss_gap():
    res = _run("--cpu-twin")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "precision fsdp-amp" in out  # 400M-1x's policy, at toy shapes
    assert re.search(r"[\d,]+ tokens/s per GPU, MFU n/a", out), out
    gap = re.search(r"max \|loss gap\| over 2 steps: (\d+\.\d+)", out)
    assert gap and float(gap.group(1)) < 0.1, out  # bf16 compute stays near the fp32 reference
    assert "CORE evaluation timing: skipped" in out


@pytest.mark.slow
@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the refusal on a machine without CUDA")
def test_gpu_mode_without_cuda_exits_2_with_a_clear_message():
    res = _run("--steps", "1")
    assert res.returncode == 2
    assert "no CUDA device" in res.stderr and "--cpu-twin" in res.stderr
