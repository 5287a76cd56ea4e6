"""Source-specific modifiers of DCLM that apply to documents: its arXiv (LaTeX) cleaners.

DCLM took these from RedPajama v1's arXiv cleaner. They work on the page's
text and keep DCLM's behaviour exactly, quirks included:

* `arxiv_comment_modifier` deletes the character *before* an in-line `%`
  along with the comment ("50% of" -> "5"), and keeps an escaped `\\%`.
* `arxiv_macro_modifier` also rewrites the definitions themselves
  (`\\newcommand{\\x}{y}` becomes `\\newcommand{y}{y}`), and a macro whose
  value holds a non-ASCII character makes the step fail on the page (DCLM
  counts an error and drops it; here it is quarantined with the reason).
* `arxiv_section_strip_modifier` lacks a `|` between its `\\paragraph` and
  `\\subparagraph` patterns in DCLM, so neither of those alone starts the
  body; a page with no `\\chapter`, `\\part`, `\\section`, `\\subsection` or
  `\\subsubsection` is dropped.

Not ported, and why: DCLM's StackExchange steps
(`stackexchange_list_modifier`, `stackexchange_answer_sort_modifier`,
`stackexchange_html_extraction_modifier`, `stackexchange_qa_formatter`) and
StarCoder steps (`starcoder_v2_repo_splitter`, `starcoder_v2_format_modifier`)
work on other record shapes, a question with answers and a repository's
list of files, that only become a document at their last step; dcbench's
pools hold web documents, whose text is their content. The StarCoder
formatter also draws from Python's unseeded global random generator, so its
output cannot be reproduced.
"""

from __future__ import annotations

import re

from dcbench.baselines.registry import Mapper, Page, step

TEXT_KEY = "text"


def _kept(page: Page, text: str) -> list[Page]:
    if text == "":
        return []
    page[TEXT_KEY] = text
    return [page]


@step("modifier")
def arxiv_appendix_modifier() -> Mapper:
    """Cut a LaTeX source at its first \\appendix, \\bibliography{...} or references/bibliography environment (DCLM arxiv_appendix_modifier).

    Everything from the first `\\appendix`, `\\begin{references}`,
    `\\begin{REFERENCES}`, `\\begin{thebibliography}` or `\\bibliography{...}`
    on is deleted (no word boundary: `\\appendixA` counts too; the braces of
    `\\bibliography{` may close on a later line). A page left empty is dropped.
    """
    tail = re.compile(r"(\\appendix|\\begin\{references\}|\\begin\{REFERENCES\}|\\begin\{thebibliography\}"
                      r"|\\bibliography\{.*?\}).*$", re.DOTALL)

    def modify(page: Page) -> list[Page]:
        return _kept(page, tail.sub("", page[TEXT_KEY]))

    return modify


@step("modifier")
def arxiv_comment_modifier(*, remove_multiline: bool = False) -> Mapper:
    """Delete LaTeX comments: whole `%` lines, in-line `% ...` tails, optionally comment environments (DCLM arxiv_comment_modifier).

    Lines starting with `%` go with their newline. Then every unescaped `%`
    followed by at least one character loses the rest of its line *and the
    character before it*, as in DCLM ("50% of" becomes "5"; "\\%" stays; a
    `%` ending its line stays). With `remove_multiline`, everything from
    `\\begin{comment}` to the next `\\end{comment}` goes too. A page left
    empty is dropped.
    """
    comment_lines = re.compile(r"^%.*\n?", re.MULTILINE)
    inline = re.compile(r"[^\\]%.+$", re.MULTILINE)
    environment = re.compile(r"\\begin\{comment\}.*?\\end\{comment\}", re.DOTALL)

    def modify(page: Page) -> list[Page]:
        text = inline.sub("", comment_lines.sub("", page[TEXT_KEY]))
        if remove_multiline:
            text = environment.sub("", text)
        return _kept(page, text)

    return modify


@step("modifier")
def arxiv_macro_modifier() -> Mapper:
    """Expand LaTeX macros without arguments defined by \\newcommand{\\x}{...} or \\def\\x{...} (DCLM arxiv_macro_modifier).

    Definitions are those that end their line. Each use of `\\x` followed by
    a character other than a letter or digit is replaced by its value, the
    definition's own `\\x}` included; macros are expanded one after another
    in the order first defined (\\newcommand ones before \\def ones), with a
    later definition's value. As in DCLM, a value holding a non-ASCII
    character fails (the page is quarantined). A page left empty is dropped.
    """
    newcommand = re.compile(r"\\\bnewcommand\b\*?\{(\\[a-zA-Z0-9]+?)\}\{(.*?)\}$", re.MULTILINE)
    define = re.compile(r"\\def\s*(\\[a-zA-Z0-9]+?)\s*\{(.*?)\}$", re.MULTILINE)

    def escaped(s: str) -> str:
        # DCLM's escaping: backslashes doubled, so the name is a literal regex and the value a literal
        # replacement; a non-ASCII character becomes \xNN or \uNNNN, which re.sub refuses as a bad escape.
        return s.encode("unicode-escape").decode("utf-8")

    def modify(page: Page) -> list[Page]:
        text = page[TEXT_KEY]
        macros: dict[str, str] = {}
        for definition in (newcommand, define):
            for m in definition.finditer(text):
                macros[escaped(m.group(1))] = escaped(m.group(2))
        for name, value in macros.items():
            try:
                text = re.sub("(" + name + ")([^a-zA-Z0-9])", value + r"\2", text)
            except re.error as e:
                raise ValueError(f"macro {name!r} has a value DCLM cannot expand ({e}); DCLM drops such a page") from e
        return _kept(page, text)

    return modify


# DCLM's pattern, with its missing "|": \paragraph{..} must be followed directly by \subparagraph{..}.
_HEADERS = ("chapter", "part", "section", "subsection", "subsubsection")


@step("modifier")
def arxiv_section_strip_modifier() -> Mapper:
    """Delete everything before the first \\chapter, \\part, \\section, \\subsection or \\subsubsection header (DCLM arxiv_section_strip_modifier).

    Starred headers and an optional `[short title]` count. A page without
    such a header is dropped. As in DCLM, `\\paragraph{..}` starts the body
    only when `\\subparagraph{..}` follows it at once (a missing "|" in DCLM's
    pattern), so neither starts it alone.
    """
    header = r"(?:\[(.*?)\])?\{(.*?)\}"
    alternatives = [rf"\\\b{h}\b\*?{header}" for h in _HEADERS]
    alternatives.append(rf"\\\bparagraph\b\*?{header}\\\bsubparagraph\b\*?{header}")
    start = re.compile(r"^(.*?)(" + "|".join(alternatives) + ")", re.DOTALL)

    def modify(page: Page) -> list[Page]:
        text = page[TEXT_KEY]
        if not start.search(text):
            return []
        return _kept(page, start.sub(r"\2", text))

    return modify
