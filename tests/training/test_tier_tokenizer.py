"""The tier fixes the tokenizer: toy tiers use one shipped BPE, pinned by sha256 in the tier
table and rebuilt byte for byte from the toy generator's text, whatever data is tokenized."""

from __future__ import annotations

import pytest

from dcbench.errors import ConfigError
from dcbench.flows.tier_tokenizers import build_tier_tokenizer, toy_tokenizer_names
from dcbench.tiers import TIERS, TOKENIZER_SHA256
from dcbench.training.scales import get_tier
from dcbench.training.tier_tokenizer import SHIPPED_DIR, shipped_tokenizer, tokenizer_for
from dcbench.training.tokenizer import file_sha256, load_tokenizer, train_bpe, vocab_size


def test_every_tier_names_a_known_tokenizer_and_toy_ones_are_shipped():
    assert {t.tokenizer for t in TIERS.values()} <= set(TOKENIZER_SHA256)
    for name in toy_tokenizer_names():
        path = shipped_tokenizer(name)
        assert path.parent == SHIPPED_DIR and file_sha256(path) == TOKENIZER_SHA256[name]
        assert vocab_size(load_tokenizer(path)) == int(name.removeprefix("bpe-"))


def test_toy_tier_tokenizer_is_the_shipped_file_whatever_the_data(tmp_path):
    tier = get_tier("toy-250k-1x")
    said: list[str] = []
    a = tokenizer_for(tier, tmp_path / "a", log=said.append)
    b = tokenizer_for(tier, tmp_path / "b", log=said.append)
    assert file_sha256(a) == file_sha256(b) == TOKENIZER_SHA256["bpe-1024"]
    assert a == str(tmp_path / "a" / "tokenizer.json") and "bpe-1024" in said[0]
    assert tokenizer_for(tier, tmp_path / "a", log=said.append) == a and len(said) == 2  # reused, not rewritten


def test_another_tokenizer_in_the_output_folder_is_refused(tmp_path):
    train_bpe(["some text of my own"] * 20, 300, tmp_path / "tokenizer.json")
    with pytest.raises(ConfigError, match="new output directory"):
        tokenizer_for(get_tier("toy-250k-1x"), tmp_path)


def test_a_given_tokenizer_is_used_with_a_note(tmp_path):
    mine = train_bpe(["some text of my own"] * 20, 300, tmp_path / "mine.json")
    said: list[str] = []
    assert tokenizer_for(get_tier("toy-1m-1x"), tmp_path / "out", str(mine), log=said.append) == str(mine)
    assert "not tier toy-1m-1x's tokenizer" in said[0] and "dcbench submit" in said[0]
    own = shipped_tokenizer("bpe-1024")
    said.clear()
    tokenizer_for(get_tier("toy-1m-1x"), tmp_path / "out", str(own), log=said.append)
    assert said == []  # the tier's own file, given by path: nothing to say


@pytest.mark.slow
def test_the_shipped_bpe_1024_is_rebuilt_byte_for_byte(tmp_path):
    built = build_tier_tokenizer("bpe-1024", tmp_path / "bpe-1024.json")
    assert built.read_bytes() == shipped_tokenizer("bpe-1024").read_bytes()


@pytest.mark.slow
def test_the_shipped_bpe_2048_is_rebuilt_byte_for_byte(tmp_path):
    built = build_tier_tokenizer("bpe-2048", tmp_path / "bpe-2048.json")
    assert built.read_bytes() == shipped_tokenizer("bpe-2048").read_bytes()
