"""URL steps, pinned on cases worked out from specs/dclm.md section 2 (steps 1-6)."""

from __future__ import annotations

import logging
import random
import re

import pytest

from dcbench.baselines.registry import get
from dcbench.baselines.resources import read_word_list
from dcbench.baselines.steps import urls
from dcbench.errors import ConfigError

BANLISTS = "baselines/mappers/banlists/"  # DCLM's paths, resolved to our shipped copies


def build(name, **params):
    return get(name).build(params)


def kept(mapper, url):
    page = {"url": url, "text": "x"}
    out = mapper(page)
    assert out in ([], [page])
    return bool(out)


# ------------------------------------------------------------------- move_url


def test_move_url_copies_the_warc_target_uri():
    move = build("move_url_modifier")
    page = {"text": "t", "metadata": {"WARC-Target-URI": "https://a.org/x"}}
    assert move(page) == [page] and page["url"] == "https://a.org/x"


def test_move_url_without_metadata_raises():
    move = build("move_url_modifier")
    with pytest.raises(KeyError):
        move({"text": "t"})
    with pytest.raises(KeyError):
        move({"text": "t", "metadata": {}})


# ------------------------------------------------------- url_substring_filter


@pytest.fixture(scope="module")
def strict():
    return build("url_substring_filter",
                 banlist_from_fname=BANLISTS + "refinedweb_banned_words_strict_reverse_engineered.txt",
                 ignore_chars=["-", "."])


@pytest.fixture(scope="module")
def hard():
    return build("url_substring_filter",
                 banlist_from_fname=BANLISTS + "refinedweb_banned_words_hard_reverse_engineered.txt",
                 match_substrings=False)


@pytest.fixture(scope="module")
def soft():
    return build("url_substring_filter",
                 banlist_from_fname=BANLISTS + "refinedweb_banned_words_soft_reverse_engineered.txt",
                 num_banned_substrs=2, match_substrings=False)


def test_shipped_lists_have_the_sizes_the_spec_gives():
    assert len(read_word_list("refinedweb_banned_words_strict")) == 117
    assert len(read_word_list("refinedweb_banned_words_hard")) == 176
    assert len(read_word_list("refinedweb_banned_words_soft")) == 83


def test_strict_list_deletes_dashes_and_dots_before_matching(strict):
    # "gang-bang" -> "gangbang" (strict entry) once "-" is deleted; "hand.job" -> "handjob".
    assert not kept(strict, "https://www.Gang-Bang.example.com/")
    assert not kept(strict, "https://blog.example.com/hand.job-tips")
    assert kept(strict, "https://example.com/cooking-tips")
    # Without ignore_chars the split-up word is not seen.
    plain = build("url_substring_filter", banlist=["handjob"])
    assert kept(plain, "https://blog.example.com/hand.job-tips")
    assert not kept(plain, "https://blog.example.com/handjob")


def test_strict_entry_with_a_dash_can_never_match(strict):
    # The list holds "g-spot", but the URL has lost its "-" before matching.
    assert "g-spot" in read_word_list("refinedweb_banned_words_strict")
    assert kept(strict, "https://example.com/g-spot")
    assert kept(strict, "https://example.com/gspot")


def test_strict_list_matches_substrings_case_insensitively(strict):
    # Substring mode: "threesome" inside a longer word still counts.
    assert not kept(strict, "https://example.com/ThreeSomething-Threesomes")


def test_hard_list_needs_word_boundaries(hard):
    assert not kept(hard, "https://example.com/porn/page")
    assert not kept(hard, "https://example.com/free-porn-videos")  # "-" is a boundary
    assert not kept(hard, "https://example.com/PORN")  # lowercased first
    assert kept(hard, "https://example.com/free_porn_videos")  # "_" is a word character
    assert kept(hard, "https://example.com/pornography")  # neither "porn" nor "porno" ends at a boundary
    assert kept(hard, "https://www.cocktail.com/scattered")  # "cock", "scat" only inside words


def test_hard_words_would_match_as_substrings():
    sub = build("url_substring_filter",
                banlist_from_fname=BANLISTS + "refinedweb_banned_words_hard_reverse_engineered.txt")
    assert not kept(sub, "https://example.com/scattered")
    assert not kept(sub, "https://www.cocktail.com/")


def test_soft_list_needs_two_distinct_words(soft):
    assert not kept(soft, "https://example.com/sexy/escort")
    assert not kept(soft, "https://example.com/nude-escort")
    assert not kept(soft, "https://example.com/s&m/escort")  # "s&m" is a soft entry
    assert kept(soft, "https://example.com/sex/sex/sex")  # one distinct word, repeated
    assert kept(soft, "https://example.com/nudes-escort")  # "nudes" is not "nude" at a boundary
    assert kept(soft, "https://example.com/escort")


def test_distinct_hits_are_leftmost_longest_and_non_overlapping():
    # At "abcd" the longest entry "abc" wins, which leaves "d": "cd" is not found.
    f = build("url_substring_filter", banlist=["ab", "abc", "cd"], num_banned_substrs=2)
    assert kept(f, "https://x.org/abcd")
    # Overlapping entries: "abc" consumes the "bc" that "bcd" needs.
    f = build("url_substring_filter", banlist=["abc", "bcd"], num_banned_substrs=2)
    assert kept(f, "https://abcd.org")
    assert not kept(f, "https://abc.org/bcd")
    # Two different entries inside one word, substring mode.
    f = build("url_substring_filter", banlist=["cat", "dog", "cow"], num_banned_substrs=2)
    assert not kept(f, "https://catdog.com")
    assert kept(f, "https://cattle.com/cat")
    # The same with word boundaries: "catdog" is no word of the list.
    f = build("url_substring_filter", banlist=["cat", "dog", "cow"], num_banned_substrs=2, match_substrings=False)
    assert kept(f, "https://catdog.com")
    assert not kept(f, "https://cat.com/dog")


def test_num_banned_substrs_threshold_is_inclusive():
    f = build("url_substring_filter", banlist=["a1", "b2", "c3"], num_banned_substrs=3)
    assert not kept(f, "https://x.org/a1/b2/c3")
    assert kept(f, "https://x.org/a1/b2/b2")


def test_single_string_banlist_and_case_sensitivity():
    f = build("url_substring_filter", banlist="BadWord")
    assert not kept(f, "https://x.com/badword")
    f = build("url_substring_filter", banlist="BadWord", case_sensitive=True)
    assert not kept(f, "https://x.com/BadWord")
    assert kept(f, "https://x.com/badword")


def test_exact_domain_match_deletes_www_anywhere_in_the_netloc():
    f = build("url_substring_filter", banlist=["example.com", "aards.com"], exact_domain_match=True,
              ignore_chars=["www"])
    assert not kept(f, "https://example.com/x")
    assert not kept(f, "HTTPS://EXAMPLE.COM/")  # lowercased
    # "www.example.com" becomes ".example.com": the dot stays, so it is not banned.
    assert kept(f, "https://www.example.com/x")
    # "awwwards.com" -> "aards.com": "www" is deleted wherever it is.
    assert not kept(f, "https://awwwards.com/")
    # Only the netloc counts, port included; the path is ignored.
    assert kept(f, "https://example.com:8080/")
    assert kept(f, "https://other.org/example.com")
    # No scheme: urlparse finds no netloc.
    assert kept(f, "example.com/x")


def test_exact_domain_match_with_www_dot_deleted():
    f = build("url_substring_filter", banlist=["xxx.com"], exact_domain_match=True, ignore_chars=["www."])
    assert not kept(f, "https://www.xxx.com")


def test_page_without_url_raises(hard):
    with pytest.raises(KeyError):
        hard({"text": "x"})


def test_missing_banlist_file_says_where_to_put_it():
    with pytest.raises(ConfigError) as e:
        build("url_substring_filter", banlist_from_fname=BANLISTS + "refinedweb_banned_domains_curated.txt",
              exact_domain_match=True, ignore_chars=["www"])
    msg = str(e.value)
    assert "url_substring_filter" in msg and "refinedweb_banned_domains_curated.txt" in msg
    assert "baselines/data" in msg and "if_missing" in msg


def test_missing_banlist_file_can_be_skipped(caplog):
    with caplog.at_level(logging.WARNING):
        f = build("url_substring_filter", banlist_from_fname="/nonexistent/refinedweb_banned_domains_curated.txt",
                  exact_domain_match=True, ignore_chars=["www"], if_missing="skip")
    assert kept(f, "https://anything.example/")
    assert kept(f, "https://porn.example/")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "keeps every page" in warnings[0].getMessage()


def test_banlist_file_from_a_path(tmp_path):
    path = tmp_path / "domains.txt"
    path.write_text("spam.example\n\nads.example\n")
    f = build("url_substring_filter", banlist_from_fname=str(path), exact_domain_match=True)
    assert not kept(f, "http://ads.example/x")
    assert kept(f, "http://good.example/x")


@pytest.mark.parametrize("params, needle", [
    ({"banlist": "x", "num_banned_substr": 2}, "'num_banned_substr'"),
    ({"banlist": "x", "num_banned_substrs": "2"}, "'num_banned_substrs'"),
    ({"banlist": "x", "if_missing": "ignore"}, "'if_missing'"),
    ({"banlist": 3}, "'banlist'"),
    ({"banlist": "x", "ignore_chars": "-"}, "'ignore_chars'"),
])
def test_bad_parameters_name_step_and_parameter(params, needle):
    with pytest.raises(ConfigError) as e:
        build("url_substring_filter", **params)
    assert "url_substring_filter" in str(e.value) and needle in str(e.value)


def test_unusable_banlists_are_config_errors():
    for params in ({}, {"banlist": []}, {"banlist": ["a", ""]}, {"banlist": "a", "num_banned_substrs": 0},
                   {"banlist_from_fname": "x.pkl"}):
        with pytest.raises(ConfigError, match="url_substring_filter"):
            build("url_substring_filter", **params)


def test_trie_pattern_matches_like_a_longest_first_alternation():
    words = ["ab", "abc", "abcd", "b", "bcd", "x.y", "a-b", "é", "日本"]
    trie = re.compile(urls.trie_pattern(words))
    flat = re.compile("|".join(re.escape(w) for w in sorted(words, key=len, reverse=True)))
    rnd = random.Random(7)
    alphabet = ["a", "b", "c", "d", "x", ".", "y", "-", "é", "日", "本", " "]
    for _ in range(2000):
        s = "".join(rnd.choice(alphabet) for _ in range(rnd.randint(0, 12)))
        assert trie.findall(s) == flat.findall(s), s
    assert urls.trie_pattern([]) == ""


# -------------------------------------------------------- url_removal_modifier


@pytest.fixture(scope="module")
def remover():
    return build("url_removal_modifier")


def run(mapper, text):
    page = {"text": text}
    out = mapper(page)
    return out[0]["text"] if out else None


def test_tld_urls_are_removed_when_the_text_starts_with_a_tld(remover):
    # "The" starts with "th" (Thailand), so the TLD regex runs; the space before the URL goes too.
    assert run(remover, "The site example.com is down.") == "The site is down."
    assert run(remover, "The link https://www.example.org/a?b=1&c=2 works") == "The link works"
    assert run(remover, "The list\nexample.com\nnext") == "The list\nnext"
    # The start test ignores case.
    assert run(remover, "THE SITE example.com is down.") == "THE SITE is down."


def test_tld_urls_stay_when_the_text_does_not_start_with_a_tld(remover):
    # No TLD is a prefix of "hello" (nor of "example"): DCLM's start-of-text .match() quirk.
    assert run(remover, "hello example.com is down.") == "hello example.com is down."
    assert run(remover, "example.com is here") == "example.com is here"


def test_url_regex_itself_is_case_sensitive(remover):
    assert run(remover, "The site EXAMPLE.COM is down.") == "The site EXAMPLE.COM is down."


def test_at_most_ten_whitespace_characters_are_eaten(remover):
    # 12 spaces before the URL: the match starts after 2 of them; the space after the URL stays.
    assert run(remover, "The x" + " " * 12 + "example.com end") == "The x" + " " * 2 + " end"


def test_ipv4_urls_are_always_removed(remover):
    assert run(remover, "hello 192.168.0.1 there") == "hello there"
    assert run(remover, "hello http://10.0.0.1:8080/admin now") == "hello now"
    # Only three groups, or a first group of three digits above 2xx: no IPv4.
    assert run(remover, "hello version 1.2.3 here") == "hello version 1.2.3 here"
    assert run(remover, "hello 999.1.1.1 here") == "hello 999.1.1.1 here"


def test_page_left_empty_is_dropped(remover):
    assert run(remover, "https://example.com") is None  # starts with "ht" (Haiti)
    assert run(remover, "10.0.0.1") is None
    assert run(remover, "") is None
    # Starts with no TLD: the URL stays and the page too.
    assert run(remover, "example.com") == "example.com"


def test_dclm_url_forms_are_removed(remover):
    forms = ["https://www.example.com", "www.example.org", "blog.samplewebsite.org:8081/post.html",
             "ftp://files.example.net:21/downloads", "https://en.wikipedia.org/wiki/Random_topic",
             "http://username:password@example.com", "https://www.example.com#section1", "http://bit.ly/abcdef",
             "http://192.168.1.1", "https://10.0.0.1:8080", "1.1.1.1"]
    for url in forms:
        assert run(remover, f"This URL {url} should be removed.") == "This URL should be removed.", url
    for not_url in ["U.S.A.", "e.g.", "3.14", "v3.12.7.4"]:
        text = f"This text {not_url} is not a URL.\n{not_url}"
        assert run(remover, text) == text


def test_fast_removal_equals_dclm_regexes_on_random_text():
    """Our windowed search must give exactly `regex.sub` over the whole text."""
    tlds = [re.escape(t) for t in read_word_list("iana_tlds")]
    alt = urls.trie_pattern(tlds)
    url_regex = re.compile(r"\s{0,10}(?:((https?|ftp)://))?[-a-zA-Z0-9@:%._\+~#=]{1,256}\.(" + alt
                           + r")\b([-a-zA-Z0-9()@:%_\+.~#?&//=]*)")
    dot = re.compile(r"\.(?:" + alt + r")\b")
    rnd = random.Random(3)
    pieces = ["a", "x", "com", "org", "co", "uk", "in", ".", ".", " ", " " * 10, " " * 11, "\n", "http://",
              "https://", "ftp://", "/", ":", "-", "1", "25", "192", ".168", "é", "th", "_", "(", "?", "q" * 120,
              "m" * 256, "\t" * 6, "#", "测试", "\u00a0"]
    for _ in range(3000):
        text = "".join(rnd.choice(pieces) for _ in range(rnd.randint(1, 30)))
        assert urls._sub_tld_urls(text, url_regex, dot) == url_regex.sub("", text), repr(text)
        assert urls._sub_ipv4(text) == urls._IPV4.sub("", text), repr(text)


def test_tlds_file_is_resolved_or_reported():
    with pytest.raises(ConfigError, match="url_removal_modifier"):
        build("url_removal_modifier", tlds_filepath="/nonexistent/tlds.txt")
