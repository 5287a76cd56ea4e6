"""ProX executor, parser and chunker: every rule of seeds.md D.B, worked out by hand."""

from __future__ import annotations

import pytest

from dcbench.baselines.prox.chunking import (CHUNK_TOKENS, SYSTEM_PROMPT, chat_messages, count_words, make_chunks, pack,
                                     reassemble, tag_lines, truncate_words)
from dcbench.baselines.prox.program import (Call, Normalize, RemoveLines, apply_post_rules, doc_keeps,
                                    execute_chunk_program, parse_line, parse_program, run_chunk_program,
                                    to_operation)


def numbered(n: int, words: int = 3) -> str:
    """n lines 'lineI w w ...' of `words` words each (so word counts are easy to reason about)."""
    return "\n".join(" ".join([f"line{i}"] + ["w"] * (words - 1)) for i in range(n))


def op(line: str):
    return to_operation(parse_line(line))


# ------------------------------------------------------------------ parsing


def test_keyword_and_positional_forms_parse_alike():
    assert op("remove_lines(line_start=3, line_end=5)") == RemoveLines(3, 5)
    assert op("remove_lines(3, 5)") == RemoveLines(3, 5)
    assert op("remove_lines(start=3, end=5)") == RemoveLines(3, 5)  # the annotation prompts' names
    assert op("remove_lines(3, line_end=5)") == RemoveLines(3, 5)
    assert op("remove_lines( 0,0 )") == RemoveLines(0, 0)  # Fig. 2's spelling
    assert op("remove_lines(all=True)") == RemoveLines(all=True)
    assert op('normalize(source_str="a", target_str="b")') == Normalize("a", "b")
    assert op("normalize('a', 'b')") == Normalize("a", "b")
    assert op("normalize('a')") == Normalize("a", "")
    assert op("normalize(source='a', target='b',)") == Normalize("a", "b")  # trailing comma


def test_no_op_names_are_all_accepted():
    for name in ("keep_chunk", "skip_chunk", "untouch_doc", "keep_doc"):
        assert op(f"{name}()") is None


def test_string_literals_and_escapes():
    call = parse_line(r'''normalize("say \"hi\"\n", 'it\'s\t\\ \u00e9\x41 \d')''')
    assert call == Call("normalize", ('say "hi"\n', "it's\t\\ \u00e9A \\d"))
    assert parse_line("f('#not a comment') # a comment") == Call("f", ("#not a comment",))


def test_blank_and_comment_lines_are_ignored():
    calls, errors = parse_program("\n  # a comment\nremove_lines(0, 1)\n\n   \nkeep_chunk()  # trailing\n")
    assert calls == [Call("remove_lines", (0, 1)), Call("keep_chunk")] and errors == []


@pytest.mark.parametrize("line", [
    "remove_lines(1, 2",                    # unclosed
    "remove_lines 1 2",                     # not a call
    "remove_lines(1, 2) extra",             # trailing junk
    "remove_lines(1, 2); keep_chunk()",     # two statements
    'normalize("unterminated)',
    "remove_lines(line_start=1, 2)",        # positional after keyword
    "remove_lines(1,, 2)",
    "normalize(source_str='a', source_str='b')",
])
def test_malformed_lines_are_parse_errors(line):
    calls, errors = parse_program(line)
    assert calls == [] and len(errors) == 1 and errors[0].startswith("line 0:")


@pytest.mark.parametrize("line", [
    "remove_lines(x=1, y=2)",               # unknown keywords
    "remove_lines('1', '2')",               # wrong types
    "remove_lines(True, 2)",                # a bool is not a line number
    "remove_lines(1)",                      # missing line_end
    "remove_lines(1, 2, 3)",
    "remove_lines(1, line_start=2)",        # the same argument twice
    "remove_lines(all=False)",
    "normalize()",
    "normalize(1, 2)",
    "keep_chunk(1)",
    "drop_doc()",                           # a doc-level call in a chunk program
    "frobnicate()",
])
def test_malformed_calls_are_errors(line):
    text = numbered(12)
    refined, errors = run_chunk_program(text, line)
    assert refined == text and len(errors) == 1


# ----------------------------------------------------------------- safety


@pytest.mark.parametrize("line", [
    "__import__('os').system('touch {marker}')",
    "exec(\"open('{marker}', 'w')\")",
    "eval(\"open('{marker}', 'w')\")",
    "open('{marker}', 'w')",
    "import os; os.system('touch {marker}')",
    "remove_lines(line_start=int(open('{marker}', 'w') is None), line_end=2)",
    "normalize(source_str=__import__('os').system('touch {marker}'))",
    "[remove_lines(0, 0) for _ in range(3)]",
])
def test_python_in_a_program_is_never_run_and_counts_as_an_error(line, tmp_path):
    marker = tmp_path / "pwned"
    text = numbered(12)
    result = execute_chunk_program(text, line.format(marker=marker))
    assert not marker.exists()
    assert result.errors and len(result.errors) == 1
    assert result.text == text and result.outcome == "kept"  # one error: the (empty) program's output stands


def test_two_python_lines_revert_to_the_original(tmp_path):
    marker = tmp_path / "pwned"
    text = numbered(12)
    program = f"remove_lines(0, 5)\n__import__('os').system('touch {marker}')\nos.remove('{marker}')"
    result = execute_chunk_program(text, program)
    assert not marker.exists()
    assert result.outcome == "reverted" and result.text == text and len(result.errors) == 2


# --------------------------------------------------------------- remove_lines


def test_remove_lines_is_inclusive_and_zero_based():
    text = numbered(12)
    refined, errors = run_chunk_program(text, "remove_lines(line_start=1, line_end=3)")
    assert errors == []
    assert [line.split()[0] for line in refined.split("\n")] == ["line0"] + [f"line{i}" for i in range(4, 12)]
    assert run_chunk_program(text, "remove_lines(0, 0)")[0] == "\n".join(text.split("\n")[1:])


def test_remove_lines_numbers_are_global_across_chunks():
    text = numbered(40)
    chunks = make_chunks(text, limit=30)  # a tagged line "[015]line15 w w" is 3 words: 10 lines a chunk
    assert [len(c.lines) for c in chunks] == [10, 10, 10, 10]
    third = chunks[2]
    target = third.lines[1]  # "[015]line15 w w": the number is the document's, not the chunk's
    assert target.startswith(f"[{third.first_line + 1:03d}]line{third.first_line + 1} ")
    n = third.first_line + 1
    refined, errors = run_chunk_program(text, f"keep_chunk()\nkeep_chunk()\nremove_lines({n}, {n})")
    lines = text.split("\n")
    assert errors == [] and refined == "\n".join(lines[:n] + lines[n + 1:])


def test_out_of_range_intervals_are_clipped():
    text = numbered(12)
    lines = text.split("\n")
    assert run_chunk_program(text, "remove_lines(10, 99)") == ("\n".join(lines[:10]), [])
    assert run_chunk_program(text, "remove_lines(-5, 1)") == ("\n".join(lines[2:]), [])


@pytest.mark.parametrize("program", ["remove_lines(12, 20)", "remove_lines(-9, -1)", "remove_lines(5, 3)"])
def test_intervals_entirely_out_of_range_or_reversed_are_errors(program):
    text = numbered(12)
    refined, errors = run_chunk_program(text, program)
    assert refined == text and len(errors) == 1


def test_overlapping_intervals_remove_each_line_once():
    text = numbered(12)
    lines = text.split("\n")
    refined, errors = run_chunk_program(text, "remove_lines(2, 5)\nremove_lines(4, 7)\nremove_lines(4, 4)")
    assert errors == [] and refined == "\n".join(lines[:2] + lines[8:])


def test_remove_all_removes_every_line_and_so_drops():
    result = execute_chunk_program(numbered(12), "remove_lines(all=True)")
    assert result.refined == "" and result.outcome == "dropped_removed" and result.text is None


# ----------------------------------------------------------------- normalize


def test_normalize_replaces_globally():
    text = "a cat and a cat\nanother cat here"
    assert run_chunk_program(text, 'normalize("cat", "dog")') == ("a dog and a dog\nanother dog here", [])


def test_one_argument_normalize_deletes():
    assert run_chunk_program("buy now! great buy now!", "normalize('buy now!')") == (" great ", [])


@pytest.mark.parametrize("source", ["", " "])
def test_empty_or_space_sources_are_skipped_without_error(source):
    text = "a b  c\nd"
    assert run_chunk_program(text, f"normalize({source!r}, 'X')") == (text, [])


def test_normalizations_run_in_program_order_and_before_line_removal():
    text = "alpha\nbeta\ngamma"
    program = "remove_lines(0, 0)\nnormalize('beta', 'b')\nnormalize('b', 'B')"
    assert run_chunk_program(text, program) == ("B\ngamma", [])


def test_lines_are_counted_on_the_normalized_text():
    # A normalization that joins two lines shifts the numbers after it (ProX re-splits the text).
    text = "one\ntwo\nthree\nfour"
    assert run_chunk_program(text, "normalize('one\\ntwo', 'onetwo')\nremove_lines(1, 1)") == ("onetwo\nfour", [])


# ---------------------------------------------------------------- post-rules


def test_two_bad_operations_return_the_original():
    text = numbered(12)
    result = execute_chunk_program(text, "remove_lines(0, 5)\nremove_lines(50, 60)\nbogus(")
    assert result.outcome == "reverted" and result.text == text and len(result.errors) == 2
    assert result.refined != text  # the program did run; its output is ignored
    assert result.words_before == result.words_after == 36


def test_one_bad_operation_keeps_the_refined_text():
    text = numbered(12)
    result = execute_chunk_program(text, "remove_lines(0, 5)\nremove_lines(50, 60)")
    assert result.outcome == "kept" and result.text == "\n".join(text.split("\n")[6:])
    assert len(result.errors) == 1 and (result.words_before, result.words_after) == (36, 18)


def test_max_errors_is_configurable():
    text = numbered(12)
    assert execute_chunk_program(text, "bogus(", max_errors=1).outcome == "reverted"
    assert execute_chunk_program(text, "a(\nb(\nc(", max_errors=4).outcome == "kept"


def test_keeping_at_most_five_percent_of_words_drops():
    text = numbered(100, words=4)  # 400 words
    five = execute_chunk_program(text, "remove_lines(0, 94)")  # 5 lines = 20 words = 5% remain
    assert five.outcome == "dropped_removed" and five.text is None and five.words_before == 400
    more = execute_chunk_program(text, "remove_lines(0, 94)\nnormalize('line99 w w w', 'line99 w w w w')")
    assert more.outcome == "kept" and more.words_after == 21  # 5.25% remain
    assert execute_chunk_program(text, "remove_lines(0, 93)", remove_threshold=0.9).outcome == "dropped_removed"


def test_removal_rule_does_not_apply_to_a_reverted_program():
    text = numbered(12)
    result = execute_chunk_program(text, "remove_lines(all=True)\nx(\ny(")
    assert result.outcome == "reverted" and result.text == text


def test_at_most_ten_words_drops():
    text = numbered(20, words=1)  # 20 one-word lines
    assert execute_chunk_program(text, "remove_lines(0, 9)").outcome == "dropped_short"  # 10 remain
    kept = execute_chunk_program(text, "remove_lines(0, 8)")  # 11 remain
    assert kept.outcome == "kept" and kept.words_after == 11
    assert execute_chunk_program(text, "remove_lines(0, 8)", min_words=11).outcome == "dropped_short"


def test_short_rule_applies_to_the_text_that_would_be_returned():
    short = "only nine words in this whole little document here"
    assert execute_chunk_program(short, "keep_chunk()").outcome == "dropped_short"
    assert execute_chunk_program(short, "x(\ny(").outcome == "dropped_short"  # reverted, still short


def test_post_rules_directly():
    original = numbered(10, words=5)  # 50 words
    assert apply_post_rules(original, original, []).outcome == "kept"
    assert apply_post_rules(original, "", ["e1", "e2"]).text == original
    assert apply_post_rules(original, "a b", []).outcome == "dropped_removed"  # 4% remain
    assert apply_post_rules(original, "a b c", []).outcome == "dropped_short"  # 6% remain, 3 words
    assert apply_post_rules("", "", []).outcome == "dropped_short"


@pytest.mark.parametrize("program", ["keep_chunk()", "skip_chunk()", "untouch_doc()", "", "# nothing to do\n"])
def test_a_no_op_program_returns_the_text_unchanged(program):
    text = "  Title\n\nA body with enough words to pass the short rule easily.\r\n  trailing  \n"
    result = execute_chunk_program(text, program)
    assert result.text == text and result.outcome == "kept" and result.errors == []


# ---------------------------------------------------------------- doc stage


@pytest.mark.parametrize("output, keep", [
    ("drop_doc()", False), ("keep_doc()", True), ("", True),
    ("keep_doc()\n# on second thought, drop", False),  # any "drop" at all
    ("DROP_DOC()", True),  # ProX's test is the lower-case substring
])
def test_drop_anywhere_in_the_doc_output_drops(output, keep):
    assert doc_keeps(output) is keep


# ------------------------------------------------------------------ chunker


def test_tags_are_zero_based_padded_and_widen_past_999():
    assert tag_lines("a\n\nb") == ["[000]a", "[001]", "[002]b"]
    wide = tag_lines("\n".join("x" * 1001))
    assert wide[0] == "[0000]x" and wide[1000] == "[1000]x"
    assert tag_lines("\n".join("x" * 1000))[-1] == "[999]x"


def _varied(n: int) -> str:
    return "\n".join(" ".join(["w"] * ((i * 7) % 23)) for i in range(n))


def test_chunks_stay_within_the_limit_unless_one_line_is_longer():
    text = _varied(200) + "\n" + " ".join(["long"] * 80) + "\n" + _varied(50)
    chunks = make_chunks(text, limit=60)
    assert any(c.tokens > 60 for c in chunks)
    for i, chunk in enumerate(chunks):
        assert chunk.tokens == sum(count_words(line) for line in chunk.lines)
        if chunk.tokens > 60:
            assert len(chunk.lines) == 1
        if i + 1 < len(chunks):  # greedy: the next line did not fit
            assert chunk.tokens + count_words(chunks[i + 1].lines[0]) > 60


def test_numbering_is_continuous_across_chunks_and_reassembly_preserves_order():
    text = _varied(300) + "\n[12]a line that looks tagged\n\nend"
    chunks = make_chunks(text, limit=50)
    assert len(chunks) > 5
    tags = [line[: line.index("]") + 1] for c in chunks for line in c.lines]
    assert tags == [f"[{i:03d}]" for i in range(len(text.split("\n")))]
    assert [c.first_line for c in chunks] == [sum(len(c.lines) for c in chunks[:i]) for i in range(len(chunks))]
    assert reassemble(chunks) == text


def test_a_custom_token_counter_is_used():
    chars = lambda s: len(s)  # noqa: E731
    assert pack(["aaaa", "bbbb", "cc", "dddddddddd", "e"], limit=8, count_tokens=chars) == [
        ["aaaa", "bbbb"], ["cc"], ["dddddddddd"], ["e"]]


def test_prompts_and_defaults():
    (chunk,) = make_chunks("Home | About\nText")
    assert chunk.prompt == "[doc]\n[000]Home | About\n[001]Text\n[/doc]"
    assert CHUNK_TOKENS == 1500
    assert chat_messages("x") == [{"role": "system", "content": "You are a helpful, respectful and honest assistant."},
                                  {"role": "user", "content": "x"}]
    assert SYSTEM_PROMPT.startswith("You are a helpful")
    assert truncate_words("a  b\n c d", 3) == "a  b\n c" and truncate_words("a b", 5) == "a b"
    assert truncate_words("a b", 0) == ""


# ---------------------------------------------------------- golden cases
# Shaped after the paper's annotation prompts: menus, buttons and footers
# around an article, and the programs a refining model writes for them.

ARTICLE = [
    "How to Repot a Snake Plant",
    "Snake plants grow slowly, but every two or three years their roots fill the pot.",
    "Click here to subscribe Water the plant a few days before you repot it so the roots slide out easily.",
    "Choose a pot only one size larger, with a drainage hole, and use a fast-draining cactus mix.",
    "Click here to subscribe",
    "Set the plant at the same depth as before and wait a week before watering again.",
]
PAGE = ["Home | Shop | Blog | Contact", "Search this site...", "Menu"] + ARTICLE + [
    "Share on Facebook | Tweet | Pin it",
    "Copyright 2024 Green Thumb Ltd. All rights reserved. | Privacy Policy | Terms of Use",
]


def test_golden_navigation_menu_and_footer():
    text = "\n".join(PAGE)
    tagged = tag_lines(text)
    assert tagged[:3] == ["[000]Home | Shop | Blog | Contact", "[001]Search this site...", "[002]Menu"]
    assert tagged[9] == "[009]Share on Facebook | Tweet | Pin it"
    program = "remove_lines(line_start=0, line_end=2)\nremove_lines(line_start=9, line_end=10)"
    result = execute_chunk_program(text, program)
    assert result.text == "\n".join(ARTICLE) and result.outcome == "kept" and result.errors == []


def test_golden_normalize_button_text():
    text = "\n".join(ARTICLE)
    result = execute_chunk_program(text, 'normalize(source_str="Click here to subscribe ", target_str="")\n'
                                         'normalize("Click here to subscribe", "")')
    lines = result.text.split("\n")
    assert lines[2].startswith("Water the plant") and lines[4] == ""
    assert "subscribe" not in result.text and result.errors == []


def test_golden_per_chunk_programs_joined():
    # One program per chunk, as the chunk model writes them, run once on the whole page.
    text = "\n".join(PAGE)
    chunks = make_chunks(text, limit=40)
    assert len(chunks) >= 2
    programs = ["remove_lines(0,2)"] + ["keep_chunk()"] * (len(chunks) - 2) + ["remove_lines(start=9, end=10)"]
    result = execute_chunk_program(text, "\n".join(programs))
    assert result.text == "\n".join(ARTICLE)


def test_golden_document_level():
    assert doc_keeps("drop_doc()") is False  # a page of links and ads
    assert doc_keeps("keep_doc()") is True   # an article worth keeping
