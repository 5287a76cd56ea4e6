"""training.threads: the default thread rule, $DCBENCH_THREADS, --threads into torch, and the
count recorded in the model's manifest."""

from __future__ import annotations

import os

import pytest
import torch

from dcbench.errors import ConfigError
from dcbench.manifest import Manifest
from dcbench.training import threads as th
from dcbench.training.trainer import train

from tests.training.test_trainer import TINY, tokens  # noqa: F401  (the module's token fixture)


@pytest.fixture
def cpus(monkeypatch):
    def set_cpus(n: int) -> None:
        monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(n)))
    monkeypatch.delenv(th.THREADS_ENV, raising=False)
    monkeypatch.delenv("LOCAL_WORLD_SIZE", raising=False)
    return set_cpus


def test_default_leaves_one_cpu_spare_between_1_and_4(cpus, monkeypatch):
    for n, want in ((1, 1), (2, 1), (3, 2), (4, 3), (5, 4), (64, 4)):
        cpus(n)
        assert th.default_threads() == want, n
    cpus(8)
    monkeypatch.setenv("LOCAL_WORLD_SIZE", "2")  # torchrun's ranks on this machine share the CPUs
    assert th.default_threads() == 3


def test_environment_overrides_the_default_and_bad_values_are_refused(cpus, monkeypatch):
    cpus(2)
    monkeypatch.setenv(th.THREADS_ENV, "6")
    assert th.default_threads() == 6
    monkeypatch.setenv(th.THREADS_ENV, "two")
    with pytest.raises(ConfigError, match="DCBENCH_THREADS='two'"):
        th.default_threads()
    with pytest.raises(ConfigError, match="--threads must be at least 1"):
        th.use_threads(0)


def test_use_threads_sets_torch_and_says_who_chose(cpus, monkeypatch):
    before = torch.get_num_threads()
    try:
        got = th.use_threads(1)
        assert torch.get_num_threads() == 1 and got["threads"] == 1 and got["source"] == "--threads"
        cpus(3)
        got = th.use_threads(None)
        assert torch.get_num_threads() == 2 and got["source"] == "default"
        monkeypatch.setenv(th.THREADS_ENV, "1")
        assert th.use_threads(None) == {**got, "threads": 1, "source": "DCBENCH_THREADS"} | {
            "interop_threads": torch.get_num_interop_threads()}
    finally:
        torch.set_num_threads(before)


def test_train_records_its_threads_in_the_manifest(tokens, tmp_path):  # noqa: F811
    before = torch.get_num_threads()
    try:
        train("toy-250k-1x", tokens, tmp_path, max_steps=1, overrides=TINY, threads=1, log=lambda *_: None,
              warn=lambda *_: None)
    finally:
        torch.set_num_threads(before)
    extra = Manifest.load(str(tmp_path / "manifest.json")).extra
    assert extra["threads"]["threads"] == 1 and extra["threads"]["source"] == "--threads"
