"""Banlists read as DCLM reads them (`open(f).read().splitlines()`), and pickles read without running code."""

from __future__ import annotations

import os
import pickle

import pytest

from dcbench.baselines.registry import get
from dcbench.baselines.resources import read_banlist, read_word_list
from dcbench.errors import ConfigError


def write(tmp_path, name, data: bytes):
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# ------------------------------------------------------------------ text files


@pytest.mark.parametrize("data, entries", [
    (b"a\nb\n", ["a", "b"]),                      # the final newline makes no entry
    (b"a\nb", ["a", "b"]),
    (b"", []),                                     # an empty file: no entries
    (b"\n", [""]),                                 # a blank line is an empty entry
    (b"a\n\nb\n", ["a", "", "b"]),
    (b" a \n\tb\n", [" a ", "\tb"]),               # nothing is stripped
    (b"# not a comment\na\n", ["# not a comment", "a"]),
    (b"a\r\nb\rc\n", ["a", "b", "c"]),             # universal newlines
    ("a\u2028b\x0cc\n".encode(), ["a", "b", "c"]),  # str.splitlines boundaries
    ("pörn\n日本\n".encode(), ["pörn", "日本"]),
    (b"   \n", ["   "]),
])
def test_text_banlist_lines_as_dclm_reads_them(tmp_path, data, entries):
    path = write(tmp_path, "list.txt", data)
    assert read_banlist(path) == entries
    with open(path) as f:  # DCLM's reading, for the record
        assert f.read().splitlines() == entries


def test_shipped_lists_skip_only_our_source_header():
    strict = read_banlist("refinedweb_banned_words_strict")
    assert len(strict) == 117 and not any(e.startswith("#") for e in strict)
    assert strict == list(read_word_list("refinedweb_banned_words_strict"))
    # DCLM's path names resolve to the shipped copy.
    dclm_path = "baselines/mappers/banlists/refinedweb_banned_words_hard_reverse_engineered.txt"
    assert read_banlist(dclm_path) == list(read_word_list("refinedweb_banned_words_hard"))


def test_non_utf8_text_is_a_config_error(tmp_path):
    path = write(tmp_path, "latin1.txt", "pörn\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_banlist(path)


def test_missing_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        read_banlist(str(tmp_path / "nope.pkl"))


# --------------------------------------------------------------------- pickles


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
@pytest.mark.parametrize("obj, entries", [
    ({"b", "a", "c"}, ["a", "b", "c"]),
    (frozenset({"y", "x"}), ["x", "y"]),
    (["z", "a"], ["z", "a"]),
    (("p", "q"), ["p", "q"]),
    ({"k1": 1, "k2": None}, ["k1", "k2"]),
    (set(), []),
])
def test_pickled_containers_of_str_load(tmp_path, obj, entries, protocol):
    path = write(tmp_path, "list.pkl", pickle.dumps(obj, protocol=protocol))
    assert read_banlist(path) == entries


class Payload:
    """Unpickling this would call os.system and touch a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


class Plain:
    pass


def test_a_reduce_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran"
    data = pickle.dumps(Payload(marker))
    path = write(tmp_path, "evil.pkl", data)
    with pytest.raises(ConfigError, match=r"refers to (posix|os|nt)\.system"):
        read_banlist(path)
    assert not marker.exists()
    # The same payload nested in an allowed container is refused too.
    path = write(tmp_path, "nested.pkl", pickle.dumps(["a", Payload(marker)]))
    with pytest.raises(ConfigError, match="refused"):
        read_banlist(path)
    assert not marker.exists()
    # Sanity: the payload is real, a plain pickle.loads would run it.
    pickle.loads(data)
    assert marker.exists()


@pytest.mark.parametrize("obj", [Plain(), print, os.path.join, __import__("re").compile("porn|xxx")])
def test_objects_functions_and_regexes_are_refused(tmp_path, obj):
    path = write(tmp_path, "obj.pkl", pickle.dumps(obj))
    with pytest.raises(ConfigError, match="list, tuple, set, frozenset or dict of strings"):
        read_banlist(path)


@pytest.mark.parametrize("obj, needle", [
    ("porn", "holds a str"),
    (["a", 1], "entry of type int"),
    ({1: "a"}, "entry of type int"),
    ([["nested"]], "entry of type list"),
])
def test_wrong_shapes_are_refused(tmp_path, obj, needle):
    path = write(tmp_path, "bad.pkl", pickle.dumps(obj))
    with pytest.raises(ConfigError, match=needle):
        read_banlist(path)


def test_truncated_pickle_is_a_config_error(tmp_path):
    path = write(tmp_path, "cut.pkl", pickle.dumps(["a", "b"])[:-3])
    with pytest.raises(ConfigError, match="refused"):
        read_banlist(path)


# ----------------------------------------------------- url_substring_filter use


def build(**params):
    return get("url_substring_filter").build(params)


def kept(mapper, url):
    page = {"url": url, "text": "x"}
    return bool(mapper(page))


def test_url_filter_reads_a_pickled_set(tmp_path):
    path = write(tmp_path, "domains.pkl", pickle.dumps({"bad.com", "worse.org"}))
    f = build(banlist_from_fname=path, exact_domain_match=True)
    assert not kept(f, "https://bad.com/x") and kept(f, "https://good.com/bad.com")
    f = build(banlist_from_fname=path)
    assert not kept(f, "https://good.com/bad.com")


def test_url_filter_keeps_entries_unstripped(tmp_path):
    path = write(tmp_path, "words.txt", b" porn\n")
    f = build(banlist_from_fname=path)
    assert kept(f, "https://porn.com/") and not kept(f, "https://a.com/x porn")


def test_url_filter_exact_domains_keep_a_blank_line_as_dclm(tmp_path):
    f = build(banlist_from_fname=write(tmp_path, "domains.txt", b"bad.com\n\n"), exact_domain_match=True)
    assert kept(f, "https://good.com/") and not kept(f, "https://bad.com/")
    assert not kept(f, "no-scheme.com/path")  # urlparse gives no netloc: "" is banned


def test_url_filter_refuses_blank_lines_and_empty_files(tmp_path):
    with pytest.raises(ConfigError, match=r"url_substring_filter: .*empty entry \(entry 2 of"):
        build(banlist_from_fname=write(tmp_path, "blank.txt", b"a\n\nb\n"))
    with pytest.raises(ConfigError, match="url_substring_filter: the banlist is empty"):
        build(banlist_from_fname=write(tmp_path, "empty.txt", b""))


def test_url_filter_refuses_an_unsafe_pickle(tmp_path):
    marker = tmp_path / "ran"
    path = write(tmp_path, "evil.pkl", pickle.dumps(Payload(marker)))
    with pytest.raises(ConfigError, match="url_substring_filter: banlist .* was refused"):
        build(banlist_from_fname=path)
    assert not marker.exists()


def test_url_removal_reads_its_tld_list_the_same_way(tmp_path):
    spec = get("url_removal_modifier")
    remove = spec.build({"tlds_filepath": write(tmp_path, "tlds.txt", b"com\norg\n")})
    page = {"text": "com is here: visit example.com now"}
    assert remove(page)[0]["text"] == "com is here: visit now"
    with pytest.raises(ConfigError, match="url_removal_modifier: no usable TLDs .*blank line"):
        spec.build({"tlds_filepath": write(tmp_path, "blank.txt", b"com\n\norg\n")})
    with pytest.raises(ConfigError, match="url_removal_modifier: no usable TLDs"):
        spec.build({"tlds_filepath": write(tmp_path, "empty.txt", b"")})
