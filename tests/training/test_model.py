"""OpenLM pieces checked by hand on tiny configs."""

import math

import pytest
import torch
import torch.nn.functional as F

from dcbench.training.model import GainLayerNorm, KVCache, OpenLM, apply_rotary, init_weights, rotary_tables
from dcbench.training.scales import ModelConfig, get_tier, param_count

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


def test_rotary_tables_follow_openlm_dtype():
    # OpenLM builds cos/sin in q/k's dtype: under DCLM's bf16 policies the positions are rounded
    # to bf16, so 1001 falls on 1000 (8 significant bits); fp32 tables keep them apart
    cos32, sin32 = rotary_tables(1002, 64, 10000.0, "cpu")
    cos16, sin16 = rotary_tables(1002, 64, 10000.0, "cpu", torch.bfloat16)
    assert cos16.dtype == sin16.dtype == torch.bfloat16 and cos32.dtype == torch.float32
    assert torch.equal(cos16[1000], cos16[1001]) and not torch.equal(cos32[1000], cos32[1001])
    # the angle pos·inv_freq is itself rounded to bf16, so only the first positions stay close
    torch.testing.assert_close(cos16[:3].float(), cos32[:3], atol=2e-2, rtol=0)


def test_model_uses_bf16_rotary_under_autocast_and_fp32_without():
    model = OpenLM(TINY, seed=0)
    ids = torch.randint(0, TINY.vocab_size, (1, 8))
    model(ids)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        model(ids)
    assert {key[2] for key in model._rotary} == {torch.float32, torch.bfloat16}


# ---------------------------------------------------------------- key/value cache (inference)


def _greedy_uncached(model, prompt: list[int], n: int) -> list[int]:
    seq = list(prompt)
    with torch.no_grad():
        for _ in range(n):
            seq.append(int(model(torch.tensor([seq]))[0, -1].argmax()))
    return seq[len(prompt):]


def _greedy_cached(model, prompts: list[list[int]], n: int) -> list[list[int]]:
    """Ragged prompts right-padded in one batch, then one token per row against the cache."""
    lengths = torch.tensor([len(p) for p in prompts])
    ids = torch.zeros(len(prompts), int(lengths.max()), dtype=torch.long)
    for r, p in enumerate(prompts):
        ids[r, :len(p)] = torch.tensor(p)
    cache = KVCache(lengths, capacity=int(lengths.max()) + n)
    out: list[list[int]] = [[] for _ in prompts]
    with torch.no_grad():
        logits = model(ids, cache=cache)
        nxt = logits[torch.arange(len(prompts)), lengths - 1].argmax(-1)
        for _ in range(n):
            for r, t in enumerate(nxt.tolist()):
                out[r].append(t)
            nxt = model(nxt[:, None], cache=cache)[:, 0].argmax(-1)
    return out


def test_cached_step_logits_match_the_full_forward(model):
    ids = torch.randint(0, TINY.vocab_size, (1, 20), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        full = model(ids)
        cache = KVCache(torch.tensor([12]), capacity=20)
        torch.testing.assert_close(model(ids[:, :12], cache=cache), full[:, :12])
        for t in range(12, 20):
            step = model(ids[:, t:t + 1], cache=cache)
            torch.testing.assert_close(step[:, 0], full[:, t], rtol=1e-5, atol=1e-5)
    assert cache.lengths.tolist() == [20]
    with pytest.raises(ValueError, match="full"):
        model(ids[:, :1], cache=cache)


@pytest.mark.parametrize("shape", ["tiny", "toy-1m-1x"])
def test_cached_greedy_decoding_is_token_identical(shape, model):
    if shape == "tiny":
        net, vocab = model, TINY.vocab_size
    else:  # the toy tier's real shape, randomly initialised
        cfg = get_tier(shape).model
        net, vocab = OpenLM(cfg, seed=5).eval(), cfg.vocab_size
    gen = torch.Generator().manual_seed(2)
    prompts = [torch.randint(0, vocab, (int(n),), generator=gen).tolist() for n in (9, 3, 14, 1)]
    cached = _greedy_cached(net, prompts, 12)
    assert cached == [_greedy_uncached(net, p, 12) for p in prompts]


def test_cache_drops_finished_rows(model):
    prompts = [[5, 6, 7], [8, 9], [10, 11, 12, 13]]
    cache = KVCache(torch.tensor([3, 2, 4]), capacity=8)
    ids = torch.tensor([[5, 6, 7, 0], [8, 9, 0, 0], [10, 11, 12, 13]])
    with torch.no_grad():
        model(ids, cache=cache)
        cache.keep(torch.tensor([0, 2]))
        step = model(torch.tensor([[1], [2]]), cache=cache)
        for r, (p, t) in enumerate(((prompts[0], 1), (prompts[2], 2))):
            torch.testing.assert_close(step[r, 0], model(torch.tensor([p + [t]]))[0, -1], rtol=1e-5, atol=1e-5)
