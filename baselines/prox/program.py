"""ProX programs: a safe parser, the executor and the post-rules.

Program text comes from a model, so it is never evaluated: each line is
tokenized and parsed here into a call with literal arguments (strings in
single or double quotes with backslash escapes, integers, True/False), and
only the functions below do anything. One call per line; blank lines and
``#`` comments are ignored; any other line that does not parse is an error.

Doc level: any "drop" in the model's output drops the document (ProX's rule,
a plain substring test), anything else keeps it.

Chunk level (the chunk programs of one document are joined and run once on
the whole document):

* ``normalize(source_str, target_str="")``: a global ``str.replace``; all of
  them run first, in program order. A source that is empty or a single space
  is skipped (not an error); the one-argument form deletes the source.
* ``remove_lines(line_start, line_end)``: inclusive, 0-based line numbers,
  global across the document, taken on the text re-split into lines after
  normalization. ``remove_lines(all=True)`` removes every line. Intervals
  partly out of range are clipped; one entirely out of range, or with
  start > end, is an error.
* ``keep_chunk()`` / ``skip_chunk()`` / ``untouch_doc()`` / ``keep_doc()``:
  no-ops (the paper, the repo image, the annotation prompts and the doc level
  name it differently).

Arguments may be positional (``remove_lines(0, 2)``, as the paper writes
them) or keyword (``line_start=``/``line_end=``, ``start=``/``end=`` as in
the annotation prompts; ``source_str=``/``target_str=``). Unknown functions
or keywords, wrong types and wrong arities are errors.

Post-rules, in this order (defaults from ProX; see `apply_post_rules`):

1. With ``errors >= max_errors`` (2) the program is ignored and the ORIGINAL
   text is the candidate (outcome "reverted"); the removal rule does not
   apply, since nothing was removed.
2. Otherwise, if the share of words removed is >= ``remove_threshold``
   (0.95, i.e. <= 5% of the words remain) the document is dropped
   ("dropped_removed").
3. The candidate (refined or reverted) is dropped if it has <= ``min_words``
   (10) words ("dropped_short").
4. Otherwise the candidate is returned ("kept" or "reverted").

Words are whitespace-separated (``str.split``).

Output is bounded: a program whose normalizations would make the text longer
than ``OUTPUT_FACTOR`` x its input + ``OUTPUT_SLACK`` characters raises
`OutputTooLarge` before the replacement is made (a page's step then
quarantines it), so a few hundred bytes of program cannot grow a page into
hundreds of millions of characters.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

NO_OPS = frozenset({"keep_chunk", "skip_chunk", "untouch_doc", "keep_doc"})
OUTCOMES = ("kept", "reverted", "dropped_doc", "dropped_removed", "dropped_short", "no_program")
OUTPUT_FACTOR, OUTPUT_SLACK = 2, 1024  # a program's output is at most 2x its input + 1 kB


class ProgramError(ValueError):
    """One line of a program that cannot be parsed or executed."""


class OutputTooLarge(ValueError):
    """A program would grow its page past the output bound: the page is quarantined, not refined."""


@dataclass(frozen=True)
class Call:
    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Normalize:
    source: str
    target: str = ""


@dataclass(frozen=True)
class RemoveLines:
    start: int = 0
    end: int = 0
    all: bool = False


@dataclass(frozen=True)
class ChunkResult:
    """What a chunk program did to one document."""

    text: str | None  # the text to keep; None when the document is dropped
    outcome: str  # one of OUTCOMES
    errors: list[str]  # one message per bad line or bad operation
    words_before: int
    words_after: int  # words of `text` (0 when dropped)
    refined: str  # the program's output before the post-rules


# ---------------------------------------------------------------- tokenizer

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<comment>\#.*)
  | (?P<name>[A-Za-z_]\w*)
  | (?P<int>[-+]?\d+)
  | (?P<punct>[(),=])
  | (?P<quote>['"])
""", re.VERBOSE)

_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "0": "\0"}
_HEX = {"x": 2, "u": 4, "U": 8}


def tokenize(line: str) -> list[tuple[str, Any]]:
    """The (kind, value) tokens of one program line; kinds: name, int, str, punct."""
    tokens: list[tuple[str, Any]] = []
    pos = 0
    while pos < len(line):
        m = _TOKEN.match(line, pos)
        if m is None:
            raise ProgramError(f"unexpected character {line[pos]!r} at column {pos}")
        kind = m.lastgroup
        if kind == "comment":
            break
        if kind == "quote":
            value, pos = _read_string(line, m.end(), m.group())
            tokens.append(("str", value))
            continue
        if kind == "int":
            tokens.append(("int", int(m.group())))
        elif kind != "ws":
            tokens.append((kind, m.group()))
        pos = m.end()
    return tokens


def _read_string(line: str, pos: int, quote: str) -> tuple[str, int]:
    """The string literal starting after its opening quote at `pos`, and where it ends."""
    out = []
    while pos < len(line):
        ch = line[pos]
        if ch == quote:
            return "".join(out), pos + 1
        if ch != "\\":
            out.append(ch)
            pos += 1
            continue
        esc = line[pos + 1: pos + 2]
        if esc in _HEX:
            digits = line[pos + 2: pos + 2 + _HEX[esc]]
            if len(digits) != _HEX[esc] or not all(c in "0123456789abcdefABCDEF" for c in digits):
                raise ProgramError(f"bad \\{esc} escape in string literal")
            out.append(chr(int(digits, 16)))
            pos += 2 + _HEX[esc]
            continue
        # Unknown escapes keep their backslash, as Python does ("\d" is two characters).
        out.append(_ESCAPES.get(esc, "\\" + esc))
        pos += 2
    raise ProgramError("unterminated string literal")


# ------------------------------------------------------------------- parser


def parse_line(line: str) -> Call | None:
    """The call on one line, None for a blank or comment line; ProgramError otherwise."""
    tokens = tokenize(line)
    if not tokens:
        return None
    if len(tokens) < 3 or tokens[0][0] != "name" or tokens[1] != ("punct", "(") or tokens[-1] != ("punct", ")"):
        raise ProgramError(f"not a single function call: {line.strip()!r}")
    args, kwargs = _parse_args(tokens[2:-1])
    return Call(tokens[0][1], tuple(args), kwargs)


def _parse_args(tokens: list[tuple[str, Any]]) -> tuple[list[Any], dict[str, Any]]:
    args: list[Any] = []
    kwargs: dict[str, Any] = {}
    for group in _split_commas(tokens):
        if len(group) == 3 and group[0][0] == "name" and group[1] == ("punct", "="):
            key = group[0][1]
            if key in kwargs:
                raise ProgramError(f"keyword {key!r} given twice")
            kwargs[key] = _literal(group[2])
        elif len(group) == 1:
            if kwargs:
                raise ProgramError("positional argument after a keyword argument")
            args.append(_literal(group[0]))
        else:
            raise ProgramError("an argument is a literal or key=literal")
    return args, kwargs


def _split_commas(tokens: list[tuple[str, Any]]) -> list[list[tuple[str, Any]]]:
    if not tokens:
        return []
    groups: list[list[tuple[str, Any]]] = [[]]
    for tok in tokens:
        if tok == ("punct", ","):
            groups.append([])
        else:
            groups[-1].append(tok)
    if not groups[-1]:
        groups.pop()  # one trailing comma is allowed, as in Python
    if any(not g for g in groups):
        raise ProgramError("empty argument")
    return groups


def _literal(token: tuple[str, Any]) -> Any:
    kind, value = token
    if kind in ("str", "int"):
        return value
    if kind == "name" and value in ("True", "False"):
        return value == "True"
    raise ProgramError(f"not a literal: {value!r}")


def parse_program(program: str) -> tuple[list[Call], list[str]]:
    """The calls of a program and one error message per line that does not parse."""
    calls, errors = [], []
    for number, line in enumerate(program.split("\n")):
        try:
            call = parse_line(line)
        except ProgramError as e:
            errors.append(f"line {number}: {e}")
            continue
        if call is not None:
            calls.append(call)
    return calls, errors


# ----------------------------------------------------------- chunk operations


def to_operation(call: Call) -> Normalize | RemoveLines | None:
    """The operation a call stands for (None for a no-op); ProgramError when malformed."""
    if call.name in NO_OPS:
        if call.args or call.kwargs:
            raise ProgramError(f"{call.name}() takes no arguments")
        return None
    if call.name == "normalize":
        source, target = _bind(call, [(("source_str", "source"), None), (("target_str", "target"), "")], str)
        return Normalize(source, target)
    if call.name == "remove_lines":
        if "all" in call.kwargs:
            return _remove_all(call)
        start, end = _bind(call, [(("line_start", "start"), None), (("line_end", "end"), None)], int)
        return RemoveLines(start, end)
    raise ProgramError(f"unknown function {call.name!r}")


def _remove_all(call: Call) -> RemoveLines:
    flag = call.kwargs["all"]
    if not isinstance(flag, bool) or call.args or len(call.kwargs) > 1:
        raise ProgramError("remove_lines(all=...) takes only all=True or all=False")
    if not flag:
        raise ProgramError("remove_lines(all=False) removes nothing and names no lines")
    return RemoveLines(all=True)


def _bind(call: Call, params: list[tuple[tuple[str, ...], Any]], kind: type) -> list[Any]:
    """Positional then keyword arguments onto `params` ((aliases, default or None if required))."""
    if len(call.args) > len(params):
        raise ProgramError(f"{call.name}() takes at most {len(params)} arguments")
    values = list(call.args) + [None] * (len(params) - len(call.args))
    known = {alias: i for i, (aliases, _) in enumerate(params) for alias in aliases}
    for key, value in call.kwargs.items():
        if key not in known:
            raise ProgramError(f"{call.name}() has no argument {key!r}")
        if values[known[key]] is not None:
            raise ProgramError(f"{call.name}() got {key!r} twice")
        values[known[key]] = value
    for i, (aliases, default) in enumerate(params):
        if values[i] is None:
            if default is None:
                raise ProgramError(f"{call.name}() needs {aliases[0]}")
            values[i] = default
        if not isinstance(values[i], kind) or isinstance(values[i], bool):
            raise ProgramError(f"{call.name}() {aliases[0]} must be {kind.__name__}, got {values[i]!r}")
    return values


# ----------------------------------------------------------------- executor


def doc_keeps(output: str) -> bool:
    """ProX's doc-level rule: the document is dropped when its program says "drop" anywhere."""
    return "drop" not in output


def run_chunk_program(text: str, program: str) -> tuple[str, list[str]]:
    """The text after a chunk program's operations, and the error messages (no post-rules)."""
    calls, errors = parse_program(program)
    normalizes: list[Normalize] = []
    removals: list[RemoveLines] = []
    for call in calls:
        try:
            op = to_operation(call)
        except ProgramError as e:
            errors.append(str(e))
            continue
        if isinstance(op, Normalize):
            normalizes.append(op)
        elif isinstance(op, RemoveLines):
            removals.append(op)
    limit = OUTPUT_FACTOR * len(text) + OUTPUT_SLACK
    for op in normalizes:
        if op.source not in ("", " "):  # ProX skips these: they would rewrite every gap
            _check_growth(text, op, limit)
            text = text.replace(op.source, op.target)
    lines = text.split("\n")
    drop: set[int] = set()
    for op in removals:
        try:
            drop.update(_line_range(op, len(lines)))
        except ProgramError as e:
            errors.append(str(e))
    if not drop:
        return text, errors
    return "\n".join(line for i, line in enumerate(lines) if i not in drop), errors


def _check_growth(text: str, op: Normalize, limit: int) -> None:
    """Refuse a replacement whose result would be longer than `limit` characters (measured first)."""
    grow = len(op.target) - len(op.source)
    if grow <= 0:
        return
    size = len(text) + text.count(op.source) * grow
    if size > limit:
        raise OutputTooLarge(f"ProX program output too large: normalize({op.source!r:.40}, {op.target!r:.40}) "
                             f"would make {size:,} characters, over the bound of {OUTPUT_FACTOR}x the input "
                             f"+ {OUTPUT_SLACK} ({limit:,})")


def _line_range(op: RemoveLines, n: int) -> range:
    if op.all:
        return range(n)
    if op.start > op.end:
        raise ProgramError(f"remove_lines({op.start}, {op.end}): start is after end")
    if op.end < 0 or op.start >= n:
        raise ProgramError(f"remove_lines({op.start}, {op.end}): the document has lines 0..{n - 1}")
    return range(max(op.start, 0), min(op.end, n - 1) + 1)


def word_count(text: str) -> int:
    return len(text.split())


def apply_post_rules(original: str, refined: str, errors: list[str], *, remove_threshold: float = 0.95,
                     min_words: int = 10, max_errors: int = 2) -> ChunkResult:
    """ProX's post-rules (order in the module docstring): what a document becomes after its program."""
    before = word_count(original)
    if len(errors) >= max_errors:
        candidate, outcome = original, "reverted"
    else:
        candidate, outcome = refined, "kept"
        after = word_count(refined)
        # (before - after) / before is exact for 95 of 100, where 1 - after / before is not.
        if before and (before - after) / before >= remove_threshold:
            return ChunkResult(None, "dropped_removed", errors, before, 0, refined)
    if word_count(candidate) <= min_words:
        return ChunkResult(None, "dropped_short", errors, before, 0, refined)
    return ChunkResult(candidate, outcome, errors, before, word_count(candidate), refined)


def execute_chunk_program(text: str, program: str, *, remove_threshold: float = 0.95, min_words: int = 10,
                          max_errors: int = 2) -> ChunkResult:
    """Run a (joined) chunk program on a whole document and apply the post-rules."""
    refined, errors = run_chunk_program(text, program)
    return apply_post_rules(text, refined, errors, remove_threshold=remove_threshold, min_words=min_words,
                            max_errors=max_errors)
