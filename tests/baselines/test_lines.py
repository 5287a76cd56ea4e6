"""Line modifiers (DCLM recipe steps 19-25), expectations worked out by hand."""

from __future__ import annotations

import inspect
import math
import time

import pytest

from dcbench.baselines.registry import get
from dcbench.errors import ConfigError


def run(name: str, text: str, **params) -> str | None:
    """The page text after the step, or None when the page is dropped."""
    mapper = get(name).build(params)
    page = {"text": text, "url": "u"}
    out = mapper(page)
    if not out:
        return None
    assert out == [page] and page["url"] == "u"
    return page["text"]


# ---------------------------------------------------------------- signatures


@pytest.mark.parametrize("name, params, target", [
    ("uppercase_ratio_line_modifier", {"max_ratio": 0.5}, "uppercase_lines"),
    ("numeric_ratio_line_modifier", {"max_ratio": 1.0}, "numeric_lines"),
    ("counter_line_modifier", {}, "counter_lines"),
    ("line_length_modifier", {"min_length": 0, "max_length": math.inf}, "short_lines"),
    ("substring_line_modifier", {"banlist": inspect.Parameter.empty, "case_sensitive": False, "location": "any",
                                 "max_length": None, "remove_substring_only": False}, "boilerplate"),
])
def test_dclm_names_and_defaults(name, params, target):
    spec = get(name)
    assert spec.kind == "modifier" and spec.targets == (target,)
    assert {p: v.default for p, v in spec.params.items()} == params


def test_dclm_recipe_parameters_build():
    # Steps 19-25 of DCLM's dclm_baseline_refinedweb.yaml, as written there.
    get("uppercase_ratio_line_modifier").build({"max_ratio": 0.5})
    get("numeric_ratio_line_modifier").build({"max_ratio": 0.999999})
    get("counter_line_modifier").build({})
    get("line_length_modifier").build({"min_length": 2})
    get("substring_line_modifier").build({"banlist": "items in cart", "max_length": 10, "remove_substring_only": True})
    get("substring_line_modifier").build({"banlist": "Read more...", "location": "suffix", "max_length": 10,
                                          "remove_substring_only": True})
    get("substring_line_modifier").build({"banlist": "Sign-in", "location": "prefix", "max_length": 10,
                                          "remove_substring_only": True})
    with pytest.raises(ConfigError):
        get("substring_line_modifier").build({"max_length": 10})  # banlist is required
    with pytest.raises(ConfigError):
        get("substring_line_modifier").build({"banlist": "x", "location": "middle"})
    with pytest.raises(ConfigError):
        get("substring_line_modifier").build({"banlist": "(unclosed"})


# ------------------------------------------------------------------ uppercase


def test_uppercase_ratio_boundaries():
    # "Hello, World": 2 uppercase of 12 characters (space and comma count).
    assert run("uppercase_ratio_line_modifier", "Hello, World", max_ratio=2 / 12) == "Hello, World"
    assert run("uppercase_ratio_line_modifier", "Hello, World", max_ratio=2 / 12 - 1e-6) is None
    assert run("uppercase_ratio_line_modifier", "Hello, World", max_ratio=0.0) is None


def test_uppercase_removes_lines_keeps_blank_ones_and_strips():
    text = "HELLO WORLD\n\nhello world\nHello, World\n\nHello, world\n"
    # Ratios: 10/11, -, 0, 2/12, -, 1/12.
    assert run("uppercase_ratio_line_modifier", text) == "\n".join(
        ["", "hello world", "Hello, World", "", "Hello, world"]).strip()
    assert run("uppercase_ratio_line_modifier", text, max_ratio=1 / 12) == "hello world\n\nHello, world"
    assert run("uppercase_ratio_line_modifier", text, max_ratio=0) == "hello world"
    # Nothing removed: the text is still stripped.
    assert run("uppercase_ratio_line_modifier", "  ab\ncd  \n", max_ratio=0.5) == "ab\ncd"
    # Exactly half is kept (ratio not above 0.5); "AB c" has 2/4.
    assert run("uppercase_ratio_line_modifier", "AB c\nABC d") == "AB c"


def test_uppercase_drops_empty_pages():
    assert run("uppercase_ratio_line_modifier", "") is None
    assert run("uppercase_ratio_line_modifier", "   \n\n ") is None
    assert run("uppercase_ratio_line_modifier", "SHOUTING ONLY\nALL CAPS") is None


# -------------------------------------------------------------------- numeric


def test_numeric_digits_only_lines_with_the_recipe_ratio():
    text = "12345\n1a\n3.14\n2024 \n\n\u0661\u0662\nText"
    # Removed: "12345" (5/5), "\u0661\u0662" (Arabic-Indic digits, isdigit). Kept: "1a" (1/2),
    # "3.14" (3/4), "2024 " (4/5: the space counts), the empty line.
    assert run("numeric_ratio_line_modifier", text, max_ratio=0.999999) == "1a\n3.14\n2024 \n\nText"
    assert run("numeric_ratio_line_modifier", "12345", max_ratio=0.999999) is None
    assert run("numeric_ratio_line_modifier", "1a", max_ratio=0.999999) == "1a"


def test_numeric_ratios():
    text = "1a\n\n2bb\n\n3cc\nabcd"
    assert run("numeric_ratio_line_modifier", text) == text  # default 1.0: nothing removed
    assert run("numeric_ratio_line_modifier", text, max_ratio=0.5) == text
    assert run("numeric_ratio_line_modifier", text, max_ratio=1 / 3) == "2bb\n\n3cc\nabcd"
    assert run("numeric_ratio_line_modifier", text, max_ratio=0.0) == "abcd"
    # Even with nothing removed the result is stripped; an empty page is dropped.
    assert run("numeric_ratio_line_modifier", "\n 12 \n") == "12"
    assert run("numeric_ratio_line_modifier", " \n ") is None


# ------------------------------------------------------------------- counters


@pytest.mark.parametrize("line", [
    "1,234 likes", "12K views!", "3 comments", " 5.1M   followers  ", "123k shares", "7 Retweets",
    "12K VIEWS", "#1 likes", "(3 upvotes)", "3,000 downvotes", "9.9b downloads", "2 bookmarks", "1 reposts",
    "4 quotes", "\u20ac5 likes",
])
def test_counter_lines_are_removed(line):
    assert run("counter_line_modifier", f"Intro text here.\n{line}\nOutro text.") == "Intro text here.\nOutro text."


@pytest.mark.parametrize("line", [
    "Hello, World with 3 views.", "3views", "likes 3", "3 likes and more", "a3 likes", "3 like", "K3 likes",
    "3 kk likes", "- likes",
])
def test_other_lines_are_kept(line):
    assert run("counter_line_modifier", f"Intro.\n{line}") == f"Intro.\n{line}"


def test_counter_strips_and_drops():
    assert run("counter_line_modifier", "\n Some text \n") == "Some text"
    assert run("counter_line_modifier", "3 likes\n12 views") is None
    assert run("counter_line_modifier", "123K quotes\n\nHello, World.\n\nHello, World with 3 views.\n3 views") == (
        "Hello, World.\n\nHello, World with 3 views.")


def test_counter_is_linear_on_hostile_input():
    start = time.perf_counter()
    run("counter_line_modifier", "12345" * 10 + "\n" + "12345" * 10 + " likes")
    run("counter_line_modifier", "x" + "\n" * 100_000 + "y" + "-\n" * 50_000 + "1" + " " * 100_000 + "z")
    assert time.perf_counter() - start < 1.0


# ---------------------------------------------------------------- line length


def test_line_length_min_two_words():
    text = "Short line\n\nHi\n  Two words  \n   \nOne\nthree words here"
    # "Hi" and "One" have 1 word, "   " has 0 (and is not empty): removed. No strip.
    assert run("line_length_modifier", text, min_length=2) == "Short line\n\n  Two words  \nthree words here"


def test_line_length_bounds_are_inclusive():
    text = "Short line\n\na b c d e f g h i j k\n  There are exactly 10 words present in this line here\nHi"
    assert run("line_length_modifier", text, min_length=2, max_length=10) == (
        "Short line\n\n  There are exactly 10 words present in this line here")
    assert run("line_length_modifier", text, max_length=10) == (
        "Short line\n\n  There are exactly 10 words present in this line here\nHi")


def test_line_length_keeps_text_unstripped_and_drops_empty_pages():
    assert run("line_length_modifier", "\ntwo words\n", min_length=2) == "\ntwo words\n"
    assert run("line_length_modifier", "one\nword", min_length=2) is None
    assert run("line_length_modifier", "", min_length=0) is None
    # Only empty lines kept: one empty line joins to "" (dropped), two to "\n", which is
    # not empty, so that page stays (DCLM does not strip here).
    assert run("line_length_modifier", "one\n\nword", min_length=2) is None
    assert run("line_length_modifier", "one\n\n\nword", min_length=2) == "\n"


# ----------------------------------------------------------------- substrings


def sub(text: str, banlist, **params) -> str | None:
    return run("substring_line_modifier", text, banlist=banlist, **params)


RW = {"max_length": 10, "remove_substring_only": True}


def test_items_in_cart_anywhere():
    text = ("You have 7 items in cart right now\n  Items In Cart  \n"
            "You have 7 items in cart right now but you can add more by clicking back onto the homepage.")
    # Line 1 (8 words): " items in cart" deleted. Line 2 left blank: dropped.
    # Line 3 has 18 words (> 10): untouched.
    assert sub(text, "items in cart", **RW) == (
        "You have 7 right now\n"
        "You have 7 items in cart right now but you can add more by clicking back onto the homepage.")


def test_read_more_suffix_is_an_unescaped_pattern():
    assert sub("Intro.\nPlease read more...", "Read more...", location="suffix", **RW) == "Intro.\nPlease"
    # "..." matches any three characters, so "Read moreXYZ" goes too (the whole line: dropped).
    assert sub("Intro.\nRead moreXYZ", "Read more...", location="suffix", **RW) == "Intro."
    # Only at the end of the line; a single "…" is one character, not three.
    assert sub("Read more...and find out!\nRead more\u2026", "Read more...", location="suffix", **RW) == (
        "Read more...and find out!\nRead more\u2026")
    # Lines of more than 10 words are left alone.
    long = "This is a short summary which can be expanded upon if you wish. Read more..."
    assert sub(long, "Read more...", location="suffix", **RW) == long


def test_sign_in_prefix():
    text = "Sign-in to comment\nsign-in  \nHow to sign-in here\nSIGN-IN"
    # Prefix only: "How to sign-in here" is untouched; "sign-in  " and "SIGN-IN" are left blank: dropped.
    assert sub(text, "Sign-in", location="prefix", **RW) == "to comment\nHow to sign-in here"


def test_blank_lines_quirk_with_remove_substring_only():
    # A line of only spaces is "left blank" even without a match, so it is removed;
    # empty lines stay; the result is stripped.
    text = "first\n   \n\nsecond\n\t\nthird"
    assert sub(text, "nothing matches this", **RW) == "first\n\nsecond\nthird"


def test_whole_line_removal_case_and_lists():
    text = "JavaScript must be enabled\n\nThis is an article about JavaScript.\njava script enabled "
    assert sub(text, "javascript") == "java script enabled"
    assert sub(text, "javascript", case_sensitive=True) == (
        "JavaScript must be enabled\n\nThis is an article about JavaScript.\njava script enabled")
    assert sub(text, ["javascript", "enabled"]) is None
    assert sub(text, "enabled", max_length=4) == "This is an article about JavaScript."


def test_substring_drops_empty_pages():
    assert sub("", "x") is None
    assert sub("Sign-in", "sign-in", location="prefix", **RW) is None
