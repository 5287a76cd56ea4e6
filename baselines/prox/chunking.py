"""What the ProX refining models see: tagged, packed chunks and chat messages.

Chunk stage: every line of the document gets a ``[NNN]`` tag (0-based,
zero-padded to 3 digits, wider past line 999) numbered across the whole
document, so the ``remove_lines`` numbers of every chunk's program refer to
the same lines and the programs can be joined and run once. Tagged lines are
packed greedily into chunks of at most `limit` tokens of the refining
model's tokenizer (a chunk's count is the sum of its lines' counts); a line
longer than the limit is a chunk of its own. The model sees
``[doc]\\n<tagged lines>\\n[/doc]``.

Doc stage: the raw text, without tags, cut to the first `max_tokens` tokens.

`count_tokens` is any callable str -> int; the default counts whitespace
words (what ProX's paper notes is often used in place of the tokenizer).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Callable

SYSTEM_PROMPT = "You are a helpful, respectful and honest assistant."
CHUNK_TOKENS = 1500
DOC_INPUT_TOKENS = 2000

TokenCounter = Callable[[str], int]


def count_words(text: str) -> int:
    return len(text.split())


def tag_width(n_lines: int) -> int:
    """Digits of the tags of a document with `n_lines` lines (at least 3)."""
    return max(3, len(str(max(n_lines - 1, 0))))


def tag_lines(text: str) -> list[str]:
    """Every line of `text` (split on LF) prefixed with its global ``[NNN]`` tag."""
    lines = text.split("\n")
    width = tag_width(len(lines))
    return [f"[{i:0{width}d}]{line}" for i, line in enumerate(lines)]


_TAG = re.compile(r"^\[\d{3,}\]")


def untag(line: str) -> str:
    return _TAG.sub("", line, count=1)


@dataclass(frozen=True)
class Chunk:
    first_line: int  # global number of its first line
    lines: tuple[str, ...]  # tagged
    tokens: int

    @property
    def prompt(self) -> str:
        return "[doc]\n" + "\n".join(self.lines) + "\n[/doc]"


def pack(lines: list[str], limit: int = CHUNK_TOKENS, count_tokens: TokenCounter = count_words) -> list[list[str]]:
    """Greedy packing: lines in order, a new chunk when the next line would pass `limit`."""
    chunks: list[list[str]] = []
    current: list[str] = []
    used = 0
    for line in lines:
        n = count_tokens(line)
        if current and used + n > limit:
            chunks.append(current)
            current, used = [], 0
        current.append(line)  # an over-long line lands alone: the next one starts a new chunk
        used += n
    if current:
        chunks.append(current)
    return chunks


def make_chunks(text: str, limit: int = CHUNK_TOKENS, count_tokens: TokenCounter = count_words) -> list[Chunk]:
    """The chunk-stage inputs of one document, in order."""
    chunks, first = [], 0
    for lines in pack(tag_lines(text), limit, count_tokens):
        chunks.append(Chunk(first, tuple(lines), sum(map(count_tokens, lines))))
        first += len(lines)
    return chunks


def reassemble(chunks: list[Chunk]) -> str:
    """The document back from its chunks (tags removed), which checks nothing was lost or reordered."""
    return "\n".join(untag(line) for chunk in chunks for line in chunk.lines)


_WORD = re.compile(r"\S+")


def truncate_words(text: str, max_words: int) -> str:
    """The text up to the end of its `max_words`-th word (formatting kept)."""
    if max_words <= 0:
        return ""
    for i, m in enumerate(_WORD.finditer(text), start=1):
        if i == max_words:
            return text[: m.end()]
    return text


def chat_messages(body: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": body}]
