"""Toy pages with one planted defect each, in the sense of the DCLM step that targets it.

`BUILDERS[label](g, rng)` writes the text of a page with defect `label` from a
`Prose` generator (`pools/toy_grammar.py`), at DCLM's thresholds: e.g. `bullets`
pages have more than 90% of lines starting with a bullet, `repeated_lines` more
than 30% duplicate lines, while passing every other heuristic. `clean_page` and
`hq_style_page` write the unlabelled and `hq_style` pages. `until` redraws a page
until it has the property its label promises (rarely needed).
"""

from __future__ import annotations

import random
import re
from typing import Callable

from dcbench.pools import toy_words as W
from dcbench.pools.toy_grammar import PLURALS, Prose, capitalize, doc_length

DCLM_STOP_WORDS = frozenset(("the", "be", "to", "of", "and", "that", "have", "with"))


def _insert_lines(rng: random.Random, text: str, lines: list[str]) -> str:
    """Put short lines between paragraphs, or at the top/bottom like page chrome."""
    paras = text.split("\n\n")
    for line in lines:
        paras.insert(rng.randint(0, len(paras)), line)
    return "\n".join(paras) if rng.random() < 0.3 else "\n\n".join(paras)


def like_count(rng: random.Random) -> str:
    """A social counter as pages print it: 7, 312, 4,518 or 12K."""
    n = rng.choice((rng.randint(1, 99), rng.randint(100, 999), rng.randint(1000, 99999)))
    style = rng.randrange(3)
    if style == 0 and n >= 1000:
        return f"{n:,}"
    if style == 1 and n >= 1000:
        return f"{n // 1000}{rng.choice('KkM')}"
    return str(n)


def _stop_words(text: str) -> int:
    return sum(1 for w in text.split() if w.lower() in DCLM_STOP_WORDS)


def _line_share(text: str, ends: tuple[str, ...]) -> float:
    lines = [ln.strip() for ln in text.split("\n") if ln.strip()]
    return sum(ln.endswith(ends) for ln in lines) / max(1, len(lines))


def until(make: Callable[[], str], ok: Callable[[str], bool]) -> str:
    """Draw again until the text has the property its label promises (rarely needed)."""
    while not ok(text := make()):
        pass
    return text


def has_stop_words(text: str) -> bool:
    """At least two of DCLM's eight stop words, as its `gopher_quality_filter` wants of English."""
    return _stop_words(text) >= 2


def clean_page(g: Prose, rng: random.Random) -> str:
    """Ordinary clean prose of a web-like length: passes every heuristic step unchanged."""
    return g.document(doc_length(rng))


def hq_style_page(g: Prose, rng: random.Random) -> str:
    """The reference set's encyclopedic sections interleaved with ordinary clean prose on
    the same page: what a quality classifier should prefer, while a model trained on such
    pages still learns the everyday language the rest of the pool (and the toy suite) uses."""
    plain = Prose(rng, hq=False)
    n = doc_length(rng)
    hq_parts = g.document(n // 2 + 40).split("\n\n")
    plain_parts = plain.body(n // 2 + 40)
    out: list[str] = []
    for i in range(max(len(hq_parts), len(plain_parts))):
        out += hq_parts[i:i + 1] + plain_parts[i:i + 1]
    return "\n\n".join(out)


def _make_url_in_text(g: Prose, rng: random.Random) -> str:
    # DCLM's TLD-URL regex only runs when the text starts with a TLD ("The" -> .th).
    paras = g.body(doc_length(rng, 80, 600))
    paras[0] = f"The {g.noun()} {g.verb(2)} {g.obj()} {g.pp()}. {paras[0]}"
    for template in rng.sample(_LINK_SENTENCES, rng.randint(1, 3)):
        i = rng.randrange(len(paras))
        if rng.random() < 0.6:
            link = f"https://www.{rng.choice(('example.com', 'example.org', 'example.net'))}/{g.noun()}"
        else:
            link = f"http://{rng.choice((10, 172, 192, 203))}.{rng.randint(0, 255)}.{rng.randint(0, 255)}." \
                   f"{rng.randint(1, 254)}/{g.noun()}"
        paras[i] += " " + template.format(link=link)
    return "\n\n".join(paras)


_LINK_SENTENCES = ("See {link} for details.", "Photos are posted at {link} if you want them.",
                   "The full list lives at {link} now.", "I found it via {link} last week.",
                   "Our notes from that day are at {link} as well.", "Grab the printable version from {link} today.")


def _make_too_short(g: Prose, rng: random.Random) -> str:
    def ok(text: str) -> bool:  # so few words make any repeated pair a Gopher n-gram failure
        words = re.findall(r"\w+", text.lower())
        return 12 <= len(text.split()) < 45 and len(set(zip(words, words[1:]))) == len(words) - 1

    return until(lambda: " ".join(g.sentence() for _ in range(rng.randint(2, 3))), ok)


def _make_too_long(g: Prose, rng: random.Random) -> str:
    return "\n\n".join(g.body(100_500))


def _make_boilerplate(g: Prose, rng: random.Random) -> str:
    def make() -> str:
        lines = [rng.choice(W.BOILERPLATE_LINES).format(n=rng.randint(1, 9)) for _ in range(rng.randint(1, 3))]
        return _insert_lines(rng, clean_page(g, rng), list(dict.fromkeys(lines)))

    # short pages with several "Read more..." lines would trip the ellipsis filter too
    return until(make, lambda t: _line_share(t, ("...", "…")) <= 0.3)


def _make_counter_lines(g: Prose, rng: random.Random) -> str:
    words = rng.sample(W.COUNTER_WORDS, rng.randint(1, 4))
    return _insert_lines(rng, clean_page(g, rng), [f"{like_count(rng)} {w}" for w in words])


def _make_uppercase_lines(g: Prose, rng: random.Random) -> str:
    return _insert_lines(rng, clean_page(g, rng), rng.sample(W.UPPERCASE_LINES, rng.randint(1, 4)))


def _make_numeric_lines(g: Prose, rng: random.Random) -> str:
    lines = list(dict.fromkeys(str(rng.choice((rng.randint(1, 99), rng.randint(1990, 2024), rng.randint(100, 99999))))
                               for _ in range(rng.randint(1, 4))))
    return _insert_lines(rng, clean_page(g, rng), lines)


def _make_short_lines(g: Prose, rng: random.Random) -> str:
    return _insert_lines(rng, clean_page(g, rng), rng.sample(W.NAV_WORDS, rng.randint(2, 6)))


def _make_excess_newlines(g: Prose, rng: random.Random) -> str:
    paras = g.body(doc_length(rng))
    while len(paras) < 2:
        paras += g.body(1)
    out = paras[0]
    for i, p in enumerate(paras[1:]):
        gap = "\n" * rng.randint(3, 6) if i == 0 or rng.random() < 0.4 else "\n\n"
        out += gap + p
    return out


def _make_bullets(g: Prose, rng: random.Random) -> str:
    mark = rng.choice(("•", "-", "*", "●"))
    items, count = [], 0
    while count < 60 or len(items) < 6:
        s = g.sentence()
        items.append(f"{mark} {s}")
        count += len(s.split())
    return "\n".join(dict.fromkeys(items))


def _make_ellipsis(g: Prose, rng: random.Random) -> str:
    """Teaser lines cut off with '...' (over 30% of lines), each long enough
    that '...' stays under the symbol-ratio threshold."""
    n_lines = rng.randint(6, 20)
    cut = set(rng.sample(range(n_lines), round(n_lines * rng.uniform(0.45, 0.8))))
    lines: list[str] = []
    while len(lines) < n_lines:
        words = g.sentence().split()
        if len(words) < 11:
            continue
        if len(lines) in cut:
            lines.append(" ".join(words[: rng.randint(10, len(words) - 1)]).rstrip(",;") + "...")
        else:
            lines.append(" ".join(words))
    return "\n".join(lines) if rng.random() < 0.5 else "\n\n".join(lines)


def hashtag(g: Prose, rng: random.Random) -> str:
    """`#garden`, `#oldkitchen` or `#bakinglife`, from the page's topic words."""
    form = rng.randrange(3)
    if form == 0:
        return "#" + g.noun()
    if form == 1:
        return "#" + g.adj() + g.noun()
    return "#" + g.noun() + rng.choice(("life", "love", "time", "goals", "day", "vibes", "lover"))


def _make_symbols(g: Prose, rng: random.Random) -> str:
    paras = g.body(rng.randint(60, 250))
    out = []
    for p in paras:
        n_tags = max(3, int(len(p.split()) * rng.uniform(0.22, 0.4)))
        out += [p, " ".join(hashtag(g, rng) for _ in range(n_tags))]
    return "\n\n".join(out)


def _number(rng: random.Random) -> str:
    kind = rng.randrange(4)
    if kind == 0:
        return str(rng.randint(1, 999))
    if kind == 1:
        return f"{rng.uniform(0, 100):.1f}"
    if kind == 2:
        return f"{rng.randint(1000, 99999):,}"
    return f"{rng.uniform(0, 1):.2f}"


def _make_non_alpha(g: Prose, rng: random.Random) -> str:
    paras = g.body(rng.randint(60, 300))
    n_words = sum(len(p.split()) for p in paras)
    rows, n_nums = [], 0
    while n_nums < n_words * rng.uniform(0.4, 0.6):
        row = [_number(rng) for _ in range(rng.randint(4, 7))]
        rows.append(" ".join(row))
        n_nums += len(row)
    at = rng.randint(1, len(paras))
    return "\n\n".join(paras[:at] + ["\n".join(rows)] + paras[at:])


def _make_no_stopwords(g: Prose, rng: random.Random) -> str:
    """Keyword-stuffed lines: English nouns and adjectives, no stop words."""
    extra = ("best", "cheap", "top", "free", "online", "sale", "new", "buy", "discount", "deals", "review")
    lines, count = [], 0
    while count < rng.randint(60, 200):
        phrases = []
        for _ in range(rng.randint(4, 8)):
            words = [rng.choice(extra) if rng.random() < 0.3 else g.adj(), PLURALS[g.noun()]]
            if rng.random() < 0.5:  # prepositions outside DCLM's eight stop words keep it English
                words += [rng.choice(("for", "in", "near", "from", "at", "on", "by")), g.noun()]
            phrases.append(" ".join(words))
        line = capitalize(", ".join(phrases))
        lines.append(line)
        count += len(line.split())
    return "\n".join(lines)


def _make_word_length(g: Prose, rng: random.Random) -> str:
    """Mean word length over 10: sentences of long words, a few stop words."""
    sentences, count = [], 0
    while count < rng.randint(60, 200):
        words = [rng.choice(W.LONG_WORDS) for _ in range(rng.randint(5, 10))]
        if rng.random() < 0.5:
            words.insert(rng.randint(1, len(words) - 1), rng.choice(("the", "of", "and", "with")))
        sentences.append(capitalize(" ".join(words)) + ".")
        count += len(words)
    text = " ".join(sentences)
    return text + " " + rng.choice(("The", "Of")) + " " + rng.choice(W.LONG_WORDS) + " and the " + \
        rng.choice(W.LONG_WORDS) + "."


def _make_repeated_lines(g: Prose, rng: random.Random) -> str:
    """One line over and over (more than 30% of lines), as in comment threads."""
    unique = list(dict.fromkeys(g.sentence() for _ in range(rng.randint(6, 20))))
    repeated = g.sentence()
    k = int(len(unique) * rng.uniform(0.6, 1.2)) + 2
    lines = unique + [repeated] * k
    rng.shuffle(lines)
    return "\n".join(lines)


def _make_repeated_paragraphs(g: Prose, rng: random.Random) -> str:
    """A paragraph repeated (over 30% of paragraphs) among multi-line ones, so
    the line checks pass and the paragraph check is the one that fails."""
    repeated = g.paragraph(2, 3)
    unique = ["\n".join(g.sentence() for _ in range(rng.randint(5, 8))) for _ in range(rng.randint(3, 5))]
    paras = unique + [repeated] * rng.randint(3, 4)
    rng.shuffle(paras)
    return "\n\n".join(paras)


def _make_repeated_ngrams(g: Prose, rng: random.Random) -> str:
    """A stock phrase inside many sentences: every line unique, n-grams not."""
    phrase = " ".join((g.adj(), g.noun(), rng.choice(("best price", "free delivery", "top rated", "on sale")),
                       g.adj(), g.noun(), "online"))
    sentences = []
    for _ in range(rng.randint(10, 20)):
        words = g.sentence().rstrip(".?").split()
        words.insert(rng.randint(1, len(words)), phrase)
        sentences.append(" ".join(words) + ".")
    per = rng.randint(2, 4)
    return "\n\n".join(" ".join(sentences[i:i + per]) for i in range(0, len(sentences), per))


# defect label -> its page's text; spam_url, non_english and the duplicates are made in pools/toy.py
# (a banned URL, another language, a copy of an earlier page)
BUILDERS: dict[str, Callable[[Prose, random.Random], str]] = {
    "url_in_text": _make_url_in_text, "too_short": _make_too_short, "too_long": _make_too_long,
    "boilerplate": _make_boilerplate, "counter_lines": _make_counter_lines,
    "uppercase_lines": _make_uppercase_lines, "numeric_lines": _make_numeric_lines,
    "short_lines": _make_short_lines, "excess_newlines": _make_excess_newlines, "bullets": _make_bullets,
    "ellipsis": _make_ellipsis, "symbols": _make_symbols, "non_alpha": _make_non_alpha,
    "no_stopwords": _make_no_stopwords, "word_length": _make_word_length,
    "repeated_lines": _make_repeated_lines, "repeated_paragraphs": _make_repeated_paragraphs,
    "repeated_ngrams": _make_repeated_ngrams,
}

