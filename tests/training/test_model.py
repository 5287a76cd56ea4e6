"""OpenLM pieces checked by hand on tiny configs."""

import math

import pytest
import torch
import torch.nn.functional as F

from dcbench.training.model import GainLayerNorm, OpenLM, apply_rotary, init_weights, rotary_tables
from dcbench.training.scales import ModelConfig, param_count

TINY = ModelConfig(d_model=64, n_layers=3, n_heads=4, vocab_size=97, seq_len=32)


@pytest.fixture(scope="module")
def model():
    return OpenLM(TINY, seed=3).eval()


def test_norm_is_gain_only_layernorm_not_rms():
    norm = GainLayerNorm(8, eps=1e-5)
    assert [n for n, _ in norm.named_parameters()] == ["weight"]
    with torch.no_grad():
        norm.weight.copy_(torch.arange(1.0, 9.0))
    x = torch.randn(5, 8) + 3.0  # a mean offset tells LayerNorm from RMSNorm
    mu = x.mean(-1, keepdim=True)
    var = ((x - mu) ** 2).mean(-1, keepdim=True)
    expected = (x - mu) / torch.sqrt(var + 1e-5) * norm.weight
    torch.testing.assert_close(norm(x), expected)
    rms = x / torch.sqrt((x**2).mean(-1, keepdim=True) + 1e-5) * norm.weight
    assert not torch.allclose(norm(x), rms, atol=1e-2)


def test_norm_runs_in_autocast_dtype():
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert GainLayerNorm(8)(torch.randn(2, 8)).dtype == torch.bfloat16


def test_no_bias_untied_head_and_count(model):
    names = [n for n, _ in model.named_parameters()]
    assert not any(n.endswith("bias") for n in names)
    assert model.output.weight.data_ptr() != model.tok_embeddings.weight.data_ptr()
    assert sum(p.numel() for p in model.parameters()) == param_count(TINY)
    attn = model.layers[0].attention
    assert attn.q_norm.weight.shape == attn.k_norm.weight.shape == (TINY.d_model,)  # full width, gain only
    assert model.layers[0].feed_forward.w12.weight.shape == (2 * TINY.hidden, TINY.d_model)


def test_causal(model):
    x = torch.randint(0, TINY.vocab_size, (2, 16))
    y = x.clone()
    y[:, 10:] = (y[:, 10:] + 1) % TINY.vocab_size
    with torch.no_grad():
        a, b = model(x), model(y)
    torch.testing.assert_close(a[:, :10], b[:, :10])
    assert not torch.allclose(a[:, 10:], b[:, 10:])


def test_rotary_depends_only_on_relative_position():
    d = 16
    cos, sin = rotary_tables(40, d, 10000.0, "cpu")
    q, k = torch.randn(d), torch.randn(d)

    def score(i, j):
        qi = apply_rotary(q.view(1, 1, 1, d), cos[i], sin[i]).flatten()
        kj = apply_rotary(k.view(1, 1, 1, d), cos[j], sin[j]).flatten()
        return qi @ kj

    torch.testing.assert_close(score(3, 1), score(30, 28), rtol=1e-4, atol=1e-4)
    assert not torch.isclose(score(3, 1), score(3, 2), atol=1e-3)


def test_rotary_half_split_layout():
    # frequency i rotates the pair (i, i + d/2) at angle pos / base^(2i/d)
    d, pos = 8, 5
    cos, sin = rotary_tables(pos + 1, d, 10000.0, "cpu")
    x = torch.zeros(1, 1, 1, d)
    x[..., 1] = 1.0
    out = apply_rotary(x, cos[pos], sin[pos]).flatten()
    theta = pos / 10000 ** (2 / d)
    expected = torch.zeros(d)
    expected[1], expected[1 + d // 2] = math.cos(theta), math.sin(theta)
    torch.testing.assert_close(out, expected)


def test_init_std_per_layer():
    cfg = ModelConfig(d_model=256, n_layers=4, n_heads=4, vocab_size=512, seq_len=16)
    m = OpenLM(cfg, seed=None)
    init_weights(m, seed=7)
    d, h = cfg.d_model, cfg.hidden

    def close(t, std):
        assert abs(t.std().item() / std - 0.986) < 0.03  # a +-3 sigma truncation shrinks std by 1.3%
        assert t.abs().max().item() <= 3 * std + 1e-6

    close(m.tok_embeddings.weight, 1 / math.sqrt(d))
    close(m.output.weight, 1 / math.sqrt(d))
    for i, block in enumerate(m.layers):
        close(block.attention.in_proj.weight, 1 / math.sqrt(d))
        close(block.attention.out_proj.weight, 1 / math.sqrt(d) / math.sqrt(2 * (i + 1)))
        close(block.feed_forward.w12.weight, 1 / math.sqrt(d))
        close(block.feed_forward.w3.weight, 1 / math.sqrt(h) / math.sqrt(2 * (i + 1)))
        assert torch.all(block.attention_norm.weight == 1) and torch.all(block.attention.q_norm.weight == 1)
    again = OpenLM(cfg, seed=7)
    assert all(torch.equal(a, b) for a, b in zip(m.parameters(), again.parameters()))


def test_early_exit_and_meta(model):
    x = torch.randint(0, TINY.vocab_size, (1, 8))
    with torch.no_grad():
        h = model.tok_embeddings(x)
        cos, sin = rotary_tables(8, TINY.head_dim, TINY.rotary_base, "cpu")
        h = model.layers[0](h, cos, sin)
        torch.testing.assert_close(model(x, n_layers=1), model.output(model.norm(h)))
    assert model(x).dtype == torch.float32 and model(x).shape == (1, 8, TINY.vocab_size)
    with torch.device("meta"):
        meta = OpenLM(TINY)
    assert meta(torch.zeros(1, 4, dtype=torch.long, device="meta")).shape == (1, 4, TINY.vocab_size)


def test_backward_and_bf16_autocast(model):
    x = torch.randint(0, TINY.vocab_size, (2, 12))
    m = OpenLM(TINY, seed=1)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = m(x[:, :-1])
    loss = F.cross_entropy(logits.flatten(0, 1), x[:, 1:].flatten())
    loss.backward()
    assert torch.isfinite(loss) and all(p.grad is not None for p in m.parameters())
