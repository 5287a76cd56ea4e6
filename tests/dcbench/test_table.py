"""The one text-table formatter: numbers right, text left, a rule under the header."""

import pytest

from dcbench.table import format_table, is_number


def test_numbers_right_text_left_and_rule():
    text = format_table(["step", "kind", "in", "kept", "rate"],
                        [["01 url_filter", "filter", "1,234", "1,000", "81.0%"],
                         ["02 dedup", "global", "1,000", "7", "-"]], title="== run ==")
    assert text.splitlines() == [
        "== run ==",
        "step           kind       in   kept   rate",
        "-------------  ------  -----  -----  -----",
        "01 url_filter  filter  1,234  1,000  81.0%",
        "02 dedup       global  1,000      7      -",
    ]


@pytest.mark.parametrize("cell", ["0", "1,234", "-0.25", "3e-05", "80.0%", "411.6M", "15.7T", ".5", "inf"])
def test_numbers(cell):
    assert is_number(cell)


@pytest.mark.parametrize("cell", ["", "-", "1024/24/8", "bpe-1024", "v2", "12 s", "1.2.3", "toy-1m-1x"])
def test_not_numbers(cell):
    assert not is_number(cell)


def test_placeholders_do_not_decide_and_none_is_a_dash():
    lines = format_table(["name", "n"], [["a", None], ["b", ""], ["c", "-"]]).splitlines()
    assert lines[2:] == ["a     -", "b", "c     -"]  # all placeholders: a text column, left-aligned
    lines = format_table(["name", "n"], [["a", "10"], ["b", None]]).splitlines()
    assert lines[2:] == ["a     10", "b      -"]


def test_explicit_alignment_and_errors():
    assert format_table(["a", "b"], [["1", "2"]], align="lr").splitlines()[2] == "1  2"
    assert format_table(["aaa"], [], align="r").splitlines() == ["aaa", "---"]
    with pytest.raises(ValueError, match="cells for 2 columns"):
        format_table(["a", "b"], [["1"]])
    with pytest.raises(ValueError, match="one 'l' or 'r'"):
        format_table(["a", "b"], [["1", "2"]], align="c")
