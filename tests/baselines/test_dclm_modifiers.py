"""DCLM's C4, page-shape and arXiv modifiers: cases worked out from DCLM's code.

"DCLM" below is mlfoundations/dclm `baselines/mappers/modifiers.py` (snapshot
361714b); each quirk names the function and the line of it that it mirrors.
"""

from __future__ import annotations

import logging
import random
import re
import time

import pytest

from dcbench.baselines.registry import get
from dcbench.baselines.steps import pagekeys
from dcbench.errors import ConfigError
from tests.baselines.test_lines import run


def test_listed_with_dclm_parameters():
    params = {
        "citation_removal_modifier": {},
        "punctuation_line_modifier": {"remove_ellipses": False},
        "word_length_modifier": {"max_length": 1000, "model": "fasttext", "ignore_punctuation": False,
                                 "ignore_whitespace": True},
        "within_page_dedup": {"granularity": "line", "normalize": True},
        "key_name_modifier": {"old_key": "content", "new_key": "text", "allow_overwrite": False},
        "split_lines_modifier": {"delimiter": "\n"},
        "join_lines_modifier": {"delimiter": "\n"},
        "html_content_extraction_modifier": {"extractor": "justext"},
        "arxiv_appendix_modifier": {},
        "arxiv_comment_modifier": {"remove_multiline": False},
        "arxiv_macro_modifier": {},
        "arxiv_section_strip_modifier": {},
    }
    for name, defaults in params.items():
        spec = get(name)
        assert spec.kind == "modifier" and spec.summary, name
        assert {p: v.default for p, v in spec.params.items()} == defaults, name
    # Contract 2: the steps that see text that is not a str (a list, or absent).
    assert {n for n in params if get(n).any_text} == {"key_name_modifier", "split_lines_modifier",
                                                       "join_lines_modifier"}


def test_c4_yaml_parameters_build():
    # The steps of DCLM's c4.yaml owned here, as written there.
    get("key_name_modifier").build({})
    get("word_length_modifier").build({"max_length": 1000, "model": "split"})
    get("citation_removal_modifier").build({})
    get("punctuation_line_modifier").build({"remove_ellipses": True})
    get("split_lines_modifier").build({"delimiter": "\n"})
    get("join_lines_modifier").build({"delimiter": "\n"})
    get("within_page_dedup").build({"granularity": "line", "normalize": True})


# ------------------------------------------------------ citation_removal_modifier


def test_citation_removal():
    # DCLM: re.compile(r"\[\d*\]|\[edit\]|\[citation needed\]"), case-sensitive, `\d` any digit.
    assert run("citation_removal_modifier", "Paris[1] is[12][] big[edit].[citation needed]") == "Paris is big."
    assert run("citation_removal_modifier", "[Edit] [ 1] [a] [1a]") == "[Edit] [ 1] [a] [1a]"
    assert run("citation_removal_modifier", "x[٣]") == "x"  # Arabic-Indic three is \d
    assert run("citation_removal_modifier", "[[1]]") == "[]"  # one pass: the "[]" it leaves stays


def test_citation_removal_empty_and_blank():
    # DCLM: `if new_doc == '': return []`, no strip, so blank text is kept.
    assert run("citation_removal_modifier", "") is None
    assert run("citation_removal_modifier", "[1][edit]") is None
    assert run("citation_removal_modifier", " \u00a0[1] ") == " \u00a0 "


def test_citation_removal_long_line():
    assert run("citation_removal_modifier", "a[1]" * 200_000) == "a" * 200_000


# ------------------------------------------------------ punctuation_line_modifier


def test_punctuation_lines():
    # DCLM: keep `line` when r'[.!?"\u2026]\s*$' is found in it, or `not line`; no strip at the end.
    text = 'Good.\nbad line\n\nQ?\n"quoted"\nend…  \n   \nWow!\t'
    assert run("punctuation_line_modifier", text) == 'Good.\n\nQ?\n"quoted"\nend…  \nWow!\t'
    # Unicode spaces are \s; a zero-width space is not.
    assert run("punctuation_line_modifier", "End.\u00a0\u3000\nx.\u200b") == "End.\u00a0\u3000"
    # Lines end at \n only: "\r" is trailing whitespace of its line.
    assert run("punctuation_line_modifier", "Line.\r\nNext") == "Line.\r"


def test_punctuation_ellipses():
    # DCLM: with remove_ellipses, drop lines where r'(?:\.\.\.|\u2026)\s*$' is found; ". . ." is no ellipsis.
    text = "Done.\nWait...\nHmm…\t\nEh. . .\nSo....\n"
    assert run("punctuation_line_modifier", text) == text
    assert run("punctuation_line_modifier", text, remove_ellipses=True) == "Done.\nEh. . .\n"


def test_punctuation_empty_and_blank():
    assert run("punctuation_line_modifier", "") is None  # DCLM: new_doc == '' -> []
    assert run("punctuation_line_modifier", "   ") is None  # a blank line is not an empty line
    assert run("punctuation_line_modifier", "no mark") is None
    assert run("punctuation_line_modifier", "\n\n") == "\n\n"  # empty lines stay, and the text is not stripped
    assert run("punctuation_line_modifier", "no\nyes.") == "yes."


def test_punctuation_matches_dclm_regex_on_random_lines():
    # Our test is "the rstripped line ends with a mark"; check it against DCLM's regexes themselves.
    end, ellipsis = re.compile(r'[.!?"\u2026]\s*$'), re.compile(r'(?:\.\.\.|\u2026)\s*$')
    rng = random.Random(7)
    alphabet = ['a', '.', '!', '?', '"', '\u2026', ' ', '\t', '\r', '\u00a0', '\u3000', '\u200b', '\x0b', '\x1c']
    for _ in range(3000):
        lines = ["".join(rng.choices(alphabet, k=rng.randint(0, 6))) for _ in range(rng.randint(1, 4))]
        for remove in (False, True):
            kept = [s for s in lines if end.search(s) or not s]
            kept = [s for s in kept if not (remove and ellipsis.search(s))]
            expected = "\n".join(kept) or None
            assert run("punctuation_line_modifier", "\n".join(lines), remove_ellipses=remove) == expected, lines


def test_punctuation_long_lines_are_linear():
    text = ". " * 500_000 + "\n" + "x" + " " * 1_000_000
    start = time.perf_counter()
    assert run("punctuation_line_modifier", text) == ". " * 500_000
    assert time.perf_counter() - start < 2


# ----------------------------------------------------------- word_length_modifier


def test_word_length_lines():
    # DCLM: keep a line when all(len(word) <= max_length for word in split_words(line, **kwargs)); no strip.
    text = "short words here\nthis has aVeryLongWord\n\n   \nfive5"
    assert run("word_length_modifier", text, max_length=5) == "short words here\n\n   \nfive5"
    assert run("word_length_modifier", "x" * 1001 + "\nok", max_length=1000, model="split") == "ok"
    assert run("word_length_modifier", "x" * 1000, max_length=1000, model="split") == "x" * 1000


def test_word_length_tokenizers_differ_on_unicode_spaces():
    # fastText splits only at ASCII whitespace and NUL; str.split() at every Unicode space.
    assert run("word_length_modifier", "abc\u00a0def", max_length=5) is None
    assert run("word_length_modifier", "abc\u00a0def", max_length=5, model="split") == "abc\u00a0def"
    assert run("word_length_modifier", "abc\u3000def", max_length=5, model="uniseg") == "abc\u3000def"


def test_word_length_ignore_punctuation():
    # split_words(ignore_punctuation=True) leaves out tokens whose first character is not alphanumeric.
    assert run("word_length_modifier", "------------ ok", max_length=5) is None
    assert run("word_length_modifier", "------------ ok", max_length=5, ignore_punctuation=True) == "------------ ok"


def test_word_length_empty_blank_and_surrogates():
    assert run("word_length_modifier", "") is None
    assert run("word_length_modifier", " \u3000 ") == " \u3000 "  # no words: kept, not stripped
    with pytest.raises(ValueError, match="surrogates"):  # fastText cannot encode it; DCLM errors on the page
        run("word_length_modifier", "ab\ud800", max_length=5)
    assert run("word_length_modifier", "ab\ud800", max_length=5, model="split") == "ab\ud800"


def test_word_length_long_lines():
    words = "word " * 400_000
    start = time.perf_counter()
    assert run("word_length_modifier", words + "\n" + "y" * 2000, max_length=1000) == words
    assert time.perf_counter() - start < 5


# -------------------------------------------------------------- within_page_dedup


def test_within_page_dedup_lines_normalized():
    # DCLM: normalized = text.strip().lower(); kept when `normalized not in seen or not normalized`.
    assert run("within_page_dedup", "A\n a \nb\n\n\n  \n  \nB") == "A\nb\n\n\n  \n  "
    assert run("within_page_dedup", "a\u00a0\na\n\u3000A") == "a\u00a0"  # Unicode spaces strip


def test_within_page_dedup_lines_exact():
    # normalize=False: blank lines are non-empty keys, so a repeated "  " goes; empty lines never do.
    assert run("within_page_dedup", "a\na\n  \n  \n\n\nA", normalize=False) == "a\n  \n\n\nA"


def test_within_page_dedup_paragraphs():
    # DCLM: split_paragraphs(text, paragraph_end='\n\n', remove_empty=False), joined with '\n\n':
    # "\n\n\n" leaves a paragraph starting with "\n"; "\n\n\n\n" an empty one, which stays.
    assert run("within_page_dedup", "p1\n\nP1\n\n\np2\n\np1", granularity="paragraph") == "p1\n\n\np2"
    assert run("within_page_dedup", "p\n\n\n\np", granularity="paragraph") == "p\n\n"


def test_within_page_dedup_never_drops():
    # DCLM returns [page] whatever the text, even empty.
    assert run("within_page_dedup", "") == ""
    assert run("within_page_dedup", "   ", normalize=False) == "   "


def test_within_page_dedup_granularity():
    # DCLM leaves `split_text` unbound for any other granularity: every page fails. Refused here.
    with pytest.raises(ConfigError, match="granularity"):
        get("within_page_dedup").build({"granularity": "sentence"})


def test_within_page_dedup_long():
    text = "\n".join(f"line {i % 1000}" for i in range(200_000))
    start = time.perf_counter()
    assert run("within_page_dedup", text) == "\n".join(f"line {i}" for i in range(1000))
    assert time.perf_counter() - start < 5


# -------------------------------------------------------------- key_name_modifier


def key_name(page: dict, **params) -> dict:
    assert get("key_name_modifier").build(params)(page) == [page]
    return page


def test_key_name_renames():
    assert key_name({"content": "hi", "url": "u"}) == {"text": "hi", "url": "u"}
    assert key_name({"content": ["a", "b"]}) == {"text": ["a", "b"]}  # any value moves as it is
    assert key_name({"body": "x"}, old_key="body", new_key="content") == {"content": "x"}
    assert key_name({"text": "t"}) == {"text": "t"}  # DCLM: no-op without old_key


def test_key_name_existing_key_is_kept_and_counted(caplog):
    # DCLM: `if new_key not in page or allow_overwrite` ... else warnings.warn, page unchanged.
    mapper = get("key_name_modifier").build({})
    with caplog.at_level(logging.WARNING, logger=pagekeys.__name__):
        for i in range(12):
            page = {"content": "c", "text": f"t{i}"}
            assert mapper(page) == [page] and page == {"content": "c", "text": f"t{i}"}
    counts = [r.args[0] for r in caplog.records]
    assert counts == [1, 10]  # logged at the 1st and the 10th such page
    assert "allow_overwrite" in caplog.records[0].getMessage()
    assert key_name({"content": "c", "text": "t"}, allow_overwrite=True) == {"text": "c"}


def test_key_name_same_key_refused():
    with pytest.raises(ConfigError, match="old_key != new_key"):
        get("key_name_modifier").build({"old_key": "text", "new_key": "text"})


# ------------------------------------------------------- split / join lines


def test_split_lines():
    # DCLM: list -> unchanged; str -> [] when empty, else content.split(delimiter).
    assert run("split_lines_modifier", "a\nb\n") == ["a", "b", ""]
    assert run("split_lines_modifier", "  ") == ["  "]
    assert run("split_lines_modifier", "a\u2028b\r\nc") == ["a\u2028b\r", "c"]  # only the delimiter splits
    assert run("split_lines_modifier", "a\n\nb\n\n", delimiter="\n\n") == ["a", "b", ""]
    assert run("split_lines_modifier", "") is None
    assert run("split_lines_modifier", ["x", ""]) == ["x", ""]
    assert run("split_lines_modifier", []) == []  # a list passes, even empty (join drops it)


def test_split_lines_bad_text():
    # DCLM raises TypeError (and drops the page); here the page is quarantined with the reason.
    with pytest.raises(TypeError, match="string or a list"):
        run("split_lines_modifier", 3)
    with pytest.raises(KeyError, match="key_name_modifier"):
        get("split_lines_modifier").build({})({"content": "x"})
    with pytest.raises(ConfigError, match="delimiter is not empty"):
        get("split_lines_modifier").build({"delimiter": ""})


def test_join_lines():
    # DCLM: str -> unchanged; list -> [] when empty, else delimiter.join(content).
    assert run("join_lines_modifier", ["a", "b"]) == "a\nb"
    assert run("join_lines_modifier", ["a", "b"], delimiter="") == "ab"
    assert run("join_lines_modifier", []) is None
    assert run("join_lines_modifier", [""]) == ""  # a non-empty list of empty lines gives a kept empty page
    assert run("join_lines_modifier", "") == ""  # a str passes unchanged, even empty
    assert run("join_lines_modifier", "a b") == "a b"
    with pytest.raises(TypeError):
        run("join_lines_modifier", ["a", 1])
    with pytest.raises(TypeError, match="list or a string"):
        run("join_lines_modifier", {"a": 1})


def test_split_then_join_round_trips():
    rng = random.Random(3)
    for _ in range(500):
        text = "".join(rng.choices(["a", "\n", " ", "\u3000", "\r"], k=rng.randint(1, 12)))
        lines = run("split_lines_modifier", text)
        assert run("join_lines_modifier", lines) == text


# ------------------------------------------------- html_content_extraction_modifier

HTML = "<html><body><p>Hello  world</p><div>Second\npara</div><script>x=1</script></body></html>"


def test_html_extraction_justext():
    pytest.importorskip("justext", reason="jusText is not installed (`pip install justext`)")
    # DCLM: "\n\n".join(p.text for p in justext.justext(html, ())), every paragraph, boilerplate too.
    assert run("html_content_extraction_modifier", HTML) == "Hello world\n\nSecond\npara"
    assert run("html_content_extraction_modifier", "plain text") == "plain text"
    # DCLM: lxml's ParserError ("Document is empty") -> [].
    assert run("html_content_extraction_modifier", "") is None
    assert run("html_content_extraction_modifier", " \n ") is None


def test_html_extraction_resiliparse():
    pytest.importorskip("resiliparse", reason="Resiliparse is not installed")
    assert run("html_content_extraction_modifier", HTML, extractor="resiliparse") == "Hello world\n\nSecond para"
    assert run("html_content_extraction_modifier", "", extractor="resiliparse") is None


def test_html_extraction_missing_package_names_it(monkeypatch):
    monkeypatch.setattr(pagekeys, "extract_plain_text", None)
    with pytest.raises(ConfigError, match="pip install resiliparse"):
        get("html_content_extraction_modifier").build({"extractor": "resiliparse"})


# -------------------------------------------------------------------- arXiv


def test_arxiv_appendix():
    # DCLM: r"(\\appendix|\\begin\{references\}|...|\\bibliography\{.*?\}).*$" with DOTALL, replaced by "".
    text = "Intro\n\\section{A}\nbody\n\\appendix\nmore\n\\section{B}"
    assert run("arxiv_appendix_modifier", text) == "Intro\n\\section{A}\nbody\n"
    assert run("arxiv_appendix_modifier", "x\\appendixA y") == "x"  # no word boundary
    assert run("arxiv_appendix_modifier", "a\\bibliography{r\ns}b") == "a"  # braces may span lines
    assert run("arxiv_appendix_modifier", "a\\bibliographystyle{plain}\nb") == "a\\bibliographystyle{plain}\nb"
    assert run("arxiv_appendix_modifier", "a \\begin{thebibliography}{9}") == "a "
    assert run("arxiv_appendix_modifier", "\\begin{references} x") is None  # empty -> dropped
    assert run("arxiv_appendix_modifier", "") is None


def test_arxiv_comments():
    # DCLM: r'(?m)^%.*\n?' then r'[^\\]%.+$' (MULTILINE): the character before "%" goes too.
    text = "% full line\ntext 50% of all\nescaped \\% stays\nend %\n%last"
    assert run("arxiv_comment_modifier", text) == "text 5\nescaped \\% stays\nend %\n"
    env = "a\\begin{comment}x\ny\\end{comment}b"
    assert run("arxiv_comment_modifier", env) == env
    assert run("arxiv_comment_modifier", env, remove_multiline=True) == "ab"
    assert run("arxiv_comment_modifier", "%only\n%comments") is None
    assert run("arxiv_comment_modifier", "  ") == "  "


def test_arxiv_macros():
    # DCLM: definitions that end their line; the definition itself is rewritten too.
    text = "\\newcommand{\\R}{\\mathbb{R}}\nLet $x\\in\\R$ and \\Rn.\n"
    assert run("arxiv_macro_modifier", text) == "\\newcommand{\\mathbb{R}}{\\mathbb{R}}\nLet $x\\in\\mathbb{R}$ and \\Rn.\n"
    # \def; a use at the very end of the text has no following character and stays.
    assert run("arxiv_macro_modifier", "\\def\\eps{\\varepsilon}\n$\\eps$ \\eps") == \
        "\\def\\varepsilon{\\varepsilon}\n$\\varepsilon$ \\eps"
    assert run("arxiv_macro_modifier", "no macros") == "no macros"
    assert run("arxiv_macro_modifier", "") is None


def test_arxiv_macro_non_ascii_value_fails():
    # DCLM escapes the value with "unicode-escape": "é" becomes "\xe9", a bad escape for re.sub.
    with pytest.raises(ValueError, match="cannot expand"):
        run("arxiv_macro_modifier", "\\newcommand{\\e}{é}\nA \\e here")


def test_arxiv_section_strip():
    text = "\\documentclass{article}\n\\begin{document}\n\\section*{Intro}\nBody"
    assert run("arxiv_section_strip_modifier", text) == "\\section*{Intro}\nBody"
    assert run("arxiv_section_strip_modifier", "pre \\chapter[s]{Long} x") == "\\chapter[s]{Long} x"
    assert run("arxiv_section_strip_modifier", "no header") is None
    assert run("arxiv_section_strip_modifier", "") is None
    # DCLM's missing "|": \paragraph starts the body only right before a \subparagraph.
    assert run("arxiv_section_strip_modifier", "a \\paragraph{P} b") is None
    assert run("arxiv_section_strip_modifier", "a \\subparagraph{Q} b") is None
    assert run("arxiv_section_strip_modifier", "a\\paragraph{P}\\subparagraph{Q}b") == "\\paragraph{P}\\subparagraph{Q}b"
