"""A crafted pickle in place of a checkpoint is refused with dcbench's own error (exit 3),
on every path that reads weights: eval, train --init-from, and resume."""

import os
import subprocess
import sys

import pytest
import torch

from dcbench.errors import DataError
from dcbench.training.trainer import load_checkpoint, load_weights


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo PWNED",))


@pytest.fixture
def evil(tmp_path):
    path = tmp_path / "model.pt"
    torch.save({"model": {"w": _Evil()}}, path)
    return path


def test_init_from_refuses_pickle(evil):
    with pytest.raises(DataError, match="not a dcbench/PyTorch state dict") as info:
        load_weights(evil)
    assert "weights_only" not in str(info.value)


def test_resume_refuses_pickle(evil):
    with pytest.raises(DataError, match="not a dcbench/PyTorch state dict"):
        load_checkpoint(evil, None, None, None)


def test_truncated_checkpoint_is_data_error(tmp_path):
    path = tmp_path / "cut.pt"
    path.write_bytes(b"PK\x03\x04 not a zip")
    with pytest.raises(DataError, match="not a readable dcbench/PyTorch state dict"):
        load_weights(path)


@pytest.mark.slow
def test_eval_cli_exit_3_without_weights_only_hint(evil, tmp_path):
    tasks = tmp_path / "toy_eval"
    subprocess.run([sys.executable, "-m", "dcbench.cli", "eval", "toy-suite", "--out", str(tasks)],
                   check=True, capture_output=True)
    r = subprocess.run([sys.executable, "-m", "dcbench.cli", "eval", str(evil), "--suite", "toy",
                        "--tasks-dir", str(tasks)], capture_output=True, text=True)
    assert r.returncode == 3, r.stderr
    assert "not a dcbench/PyTorch state dict" in r.stderr
    assert "weights_only" not in r.stderr + r.stdout and "PWNED" not in r.stdout
