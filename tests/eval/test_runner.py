"""eval.model and eval.runner: loading our checkpoints, the padded forward, CORE on the real task
files with a few items each, and the Hugging Face path's error without transformers."""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import random
from pathlib import Path

import pytest
import torch

from dcbench.errors import ConfigError, DataError
from dcbench.eval.model import EvalModel, load_model
from dcbench.eval.runner import default_tasks_dir, run_suite
from dcbench.eval.suites import get_suite
from dcbench.manifest import MANIFEST_NAME, Manifest
from dcbench.pools.toy_grammar import Prose
from dcbench.training.model import OpenLM
from dcbench.training.scales import get_tier
from dcbench.training.tokenizer import file_sha256, train_bpe
from dcbench.training.trainer import _shard_entry, tier_record


def make_run(root: Path, vocab: int = 384, seq_len: int = 128) -> tuple[Path, Manifest, Manifest]:
    """A run dir as `dcbench train` writes it (model/model.pt, model/config.json, manifest.json),
    beside the token shards' dir that holds the BPE and the tokens manifest."""
    tokens = root / "tokens"
    tokens.mkdir(parents=True)
    texts = [Prose(random.Random(i), hq=i % 4 == 0).document(100) for i in range(80)]
    train_bpe(texts, vocab, tokens / "tokenizer.json")
    tman = Manifest(kind="tokens", name="toy", shards=[],
                    inputs={"dataset": "dataset-0123456789abcdef", "tokenizer": file_sha256(tokens / "tokenizer.json"),
                            "seq_len": seq_len, "seed": 0},
                    extra={"vocab_size": vocab, "eot": 0, "pad": 1})
    tman.save(str(tokens / MANIFEST_NAME))
    tier = get_tier("toy-250k-1x")
    tier = dataclasses.replace(tier, model=dataclasses.replace(tier.model, vocab_size=vocab, seq_len=seq_len))
    run = root / "run"
    (run / "model").mkdir(parents=True)
    torch.save(OpenLM(tier.model, seed=3).state_dict(), run / "model" / "model.pt")
    (run / "model" / "config.json").write_text(json.dumps(
        {"tier": tier_record(tier), "model": dataclasses.asdict(tier.model), "steps": 0}))
    man = Manifest(kind="model", name=tier.name, shards=[_shard_entry(run / "model" / "model.pt", run)],
                   inputs={"tokens": tman.id, "tier": tier.name, "overrides": {}})
    man.save(str(run / MANIFEST_NAME))
    return run, tman, man


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("runs"))


def test_load_model_from_run_model_dir_and_pt(run_dir):
    run, tman, man = run_dir
    chain = {"dataset": tman.inputs["dataset"], "tokens": tman.id, "model": man.id}
    for path in (run, run / "model", run / "model" / "model.pt"):
        m = load_model(path, device="cpu")
        assert isinstance(m, EvalModel) and isinstance(m, torch.nn.Module)
        assert m.id_chain == chain
        assert (m.eot_id, m.pad_id, m.max_seq_len, m.vocab_size) == (0, 1, 128, 384)
        assert m.info["tokenizer"].endswith("tokens/tokenizer.json")
    ids = m.encode("The cat sat on the mat.")
    assert m.decode(ids) == "The cat sat on the mat."
    assert m.decode(ids + [0], skip_special_tokens=True) == "The cat sat on the mat."


def test_padded_forward_matches_unpadded(run_dir):
    m = load_model(run_dir[0], device="cpu")  # fp32 by default
    assert m.dtype_name == "float32"
    a, b = m.encode("Some words here and there."), m.encode("Short.")
    batch = torch.full((2, len(a)), m.pad_id, dtype=torch.long)
    batch[0, :len(a)], batch[1, :len(b)] = torch.tensor(a), torch.tensor(b)
    logits = m(batch)
    assert logits.dtype == torch.float32 and logits.shape == (2, len(a), 384)
    alone = m(torch.tensor([b]))
    torch.testing.assert_close(logits[1, :len(b)], alone[0], rtol=1e-4, atol=1e-4)


def test_tokenizer_errors_and_explicit_tokenizer(tmp_path, run_dir):
    run, tman, man = run_dir
    lone = tmp_path / "lone"
    (lone / "model").mkdir(parents=True)
    for name in ("model.pt", "config.json"):
        (lone / "model" / name).write_bytes((run / "model" / name).read_bytes())
    with pytest.raises(ConfigError, match="--tokenizer"):
        load_model(lone / "model")
    m = load_model(lone / "model", tokenizer=run.parent / "tokens" / "tokenizer.json")
    assert m.id_chain["model"].startswith("weights-")
    bare = tmp_path / "bare.pt"
    bare.write_bytes((run / "model" / "model.pt").read_bytes())
    with pytest.raises(ConfigError, match="config.json"):
        load_model(bare, tokenizer=run.parent / "tokens" / "tokenizer.json")
    with pytest.raises(ConfigError, match="not found"):
        load_model(tmp_path / "nowhere")


def test_hf_dir_without_transformers_says_pip_install(tmp_path):
    if importlib.util.find_spec("transformers") is not None:
        pytest.skip("transformers is installed here; the error path needs it absent")
    hf = tmp_path / "hf"
    hf.mkdir()
    (hf / "config.json").write_text(json.dumps({"model_type": "gpt2", "architectures": ["GPT2LMHeadModel"]}))
    with pytest.raises(ConfigError, match="pip install transformers"):
        load_model(hf)


def test_default_tasks_dir_env(monkeypatch, tmp_path):
    monkeypatch.delenv("DCBENCH_EVAL_DATA", raising=False)
    assert default_tasks_dir() == Path("~/.cache/dcbench/eval/local_data").expanduser()
    monkeypatch.setenv("DCBENCH_EVAL_DATA", str(tmp_path))
    assert default_tasks_dir() == tmp_path


def test_missing_tasks_dir_is_a_config_error(run_dir, tmp_path):
    with pytest.raises(ConfigError, match="dcbench eval download"):
        run_suite(run_dir[0], "core", tasks_dir=tmp_path / "absent", progress=False)


@pytest.mark.slow
def test_core_on_real_task_files_with_limit(run_dir, shared_data, tmp_path, capsys):
    local = shared_data / "eval" / "local_data"
    if not local.is_dir():
        pytest.skip(f"{local} is absent")
    out = tmp_path / "core.json"
    res = run_suite(run_dir[0], "core", tasks_dir=local, out_path=out, limit=2, batch_size=8)
    assert "CORE" in capsys.readouterr().out  # the table is printed
    saved = json.loads(out.read_text())
    core = get_suite("core").task_names
    present = [n for n in core if (local / next(t.dataset for t in get_suite("core") if t.name == n)).is_file()]
    assert len(present) >= 18
    assert sorted(saved["tasks"]) == sorted(present)
    assert sorted(saved["missing"]) == sorted(set(core) - set(present))
    for name in present:
        t = saved["tasks"][name]
        assert t["n"] == 2 and 0.0 <= t["accuracy"] <= 1.0
    assert saved["complete"] is False and saved["limit"] == 2
    assert isinstance(saved["aggregates"]["CORE"], str) == bool(saved["missing"])
    assert saved["model"]["id_chain"]["model"] == run_dir[2].id
    assert res["id"].startswith("eval-")


def test_mmlu_per_subject_with_limit(run_dir, shared_data, tmp_path):
    local = shared_data / "eval" / "local_data"
    if not (local / "world_knowledge" / "mmlu.jsonl").is_file():
        pytest.skip("mmlu.jsonl is absent")
    res = run_suite(run_dir[0], "mmlu", tasks_dir=local, limit=3, progress=False)
    t = res["tasks"]["mmlu_fewshot"]
    assert t["n"] == 3 and t["per_category"]
    assert t["accuracy"] == pytest.approx(sum(t["per_category"].values()) / len(t["per_category"]))
    assert res["aggregates"]["MMLU"] == pytest.approx(t["accuracy"])


def test_bad_weights_are_a_data_error(tmp_path, run_dir):
    run = run_dir[0]
    broken = tmp_path / "broken" / "model"
    broken.mkdir(parents=True)
    (broken / "config.json").write_text((run / "model" / "config.json").read_text())
    torch.save({"tok_embeddings.weight": torch.zeros(3, 3)}, broken / "model.pt")
    with pytest.raises(DataError):
        load_model(broken, tokenizer=run.parent / "tokens" / "tokenizer.json")
