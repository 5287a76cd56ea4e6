"""Inheritune: the inherited model equals the reference's early exit before training."""

import pytest
import torch

from dcbench.training.inheritune import grow, inherit, inherit_state_dict, new_parameter_names
from dcbench.training.model import OpenLM
from dcbench.training.scales import ModelConfig

REF = ModelConfig(d_model=32, n_layers=6, n_heads=2, vocab_size=61, seq_len=16)


@pytest.fixture(scope="module")
def reference():
    return OpenLM(REF, seed=11).eval()


@pytest.fixture(scope="module")
def x():
    return torch.randint(0, REF.vocab_size, (2, 16), generator=torch.Generator().manual_seed(0))


def test_inherit_equals_early_exit(reference, x):
    child = inherit(reference, 3).eval()
    assert len(child.layers) == 3 and child.cfg.n_layers == 3
    with torch.no_grad():
        assert torch.equal(child(x), reference(x, n_layers=3))
    # copies, not shared storage
    assert child.output.weight.data_ptr() != reference.output.weight.data_ptr()


def test_every_entry_copied(reference):
    child = inherit(reference, 2)
    ref_state = reference.state_dict()
    for key, value in child.state_dict().items():
        assert torch.equal(value, ref_state[key]), key
    assert {"tok_embeddings.weight", "norm.weight", "output.weight"} <= child.state_dict().keys()


def test_inherit_state_dict_from_checkpoint(tmp_path, reference, x):
    path = tmp_path / "ckpt.pt"
    state = {f"_orig_mod.{k}": v for k, v in reference.state_dict().items()}
    torch.save({"state_dict": state, "step": 5}, path)
    loaded = torch.load(path, weights_only=True)
    child = OpenLM(ModelConfig(**{**REF.__dict__, "n_layers": 4}), seed=None).eval()
    child.load_state_dict(inherit_state_dict(loaded, 4), strict=True)
    with torch.no_grad():
        assert torch.equal(child(x), reference(x, n_layers=4))
    with pytest.raises(ValueError):
        inherit_state_dict(loaded, 7)


def test_grow_fresh_and_from_reference(reference, x):
    child = inherit(reference, 2)
    fresh = grow(child, 2, seed=124)
    assert len(fresh.layers) == 4 and fresh.cfg.n_layers == 4
    assert len(child.layers) == 2  # the input is untouched
    for key, value in child.state_dict().items():
        assert torch.equal(fresh.state_dict()[key], value)  # existing layers unchanged
    assert sorted({n.split(".")[1] for n in new_parameter_names(2, fresh)}) == ["2", "3"]
    scratch = OpenLM(fresh.cfg, seed=124)  # new layers follow init_weights' rule at their depth
    assert torch.equal(fresh.layers[3].attention.out_proj.weight, scratch.layers[3].attention.out_proj.weight)
    copied = grow(child, 2, reference=reference)
    with torch.no_grad():
        assert torch.equal(copied.eval()(x), reference(x, n_layers=4))
    with pytest.raises(ValueError):
        grow(copied, 4, reference=reference)
