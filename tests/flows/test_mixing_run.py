"""`dcbench mix run`: one small model per mixture on the toy sources, its validation losses in
runs.jsonl (what `dcbench mix fit` reads), one shared tokenizer, and a re-run that redoes nothing."""

from __future__ import annotations

import json

import pytest

from dcbench.cli import main
from dcbench.mixture import Mixture, save_mixture
from dcbench.pools.toy_sources import build_toy_sources


@pytest.mark.slow
def test_mix_run_trains_each_mixture_once(ray_session, tmp_path, capsys):
    src = tmp_path / "src"
    build_toy_sources(str(src), docs_per_source=60, valid_docs=20, n_shards=1, seed=1)
    mixes = tmp_path / "mixes"
    for name, web in (("mix-a", 0.75), ("mix-b", 0.25)):
        sources = {"web": str(src / "web"), "reference": str(src / "reference")}
        save_mixture(Mixture(sources, {"web": web, "reference": 1 - web}), mixes / f"{name}.yaml")
    exp = tmp_path / "exp"
    command = ["mix", "run", str(mixes), "--valid", f"web={src / 'valid' / 'web'}",
               "--valid", f"reference={src / 'valid' / 'reference'}", "--tier", "toy-250k-1x",
               "--set", "multiplier=0.02", "--workers", "2", "-o", str(exp)]
    assert main(command) == 0
    first = capsys.readouterr().out
    runs = [json.loads(line) for line in (exp / "runs.jsonl").read_text().splitlines()]
    assert [r["mixture"] for r in runs] == ["mix-a", "mix-b"]
    for r in runs:
        assert set(r["losses"]) == {"web", "reference"} and all(v > 0 for v in r["losses"].values())
        assert r["step"] > 0 and (exp / "runs" / r["mixture"] / "model" / "manifest.json").is_file()
    assert (exp / "tokenizer.json").is_file() and "2 runs" in first

    assert main(command) == 0  # resumes: both mixtures are already in runs.jsonl
    assert capsys.readouterr().out.count("done earlier") == 2
    assert len((exp / "runs.jsonl").read_text().splitlines()) == 2
