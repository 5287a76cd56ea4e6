"""URLs and WARC headers for toy pages: plausible, unique, and clean or spam on purpose.

Clean pages get URLs free of RefinedWeb's banned URL words; `spam_url` plants
them the three ways DCLM's `url_substring_filter` catches (a strict word split by
'-' or '.', a hard word as a whole URL word, two soft words). The word lists are
the very files the curation step filters with: pools reads them as data shipped in
the `dcbench.baselines` package (files, not code; pools imports nothing from
baselines), so the planted labels follow the filter's lists.
"""

from __future__ import annotations

import functools
import importlib.resources
import random
import re
import uuid

WORD_LISTS_PACKAGE = "dcbench.baselines"  # where the shipped word lists live: data/<name>.txt


def read_url_words(kind: str) -> tuple[str, ...]:
    """RefinedWeb's `kind` ("strict", "hard" or "soft") URL words: the non-empty, non-comment lines."""
    data = importlib.resources.files(WORD_LISTS_PACKAGE) / "data" / f"refinedweb_banned_words_{kind}.txt"
    lines = data.read_text(encoding="utf-8").splitlines()
    return tuple(line.strip() for line in lines if line.strip() and not line.startswith("#"))


@functools.lru_cache(maxsize=1)
def banned_words() -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    """RefinedWeb's strict, hard and soft URL words (plain words only: the few with
    punctuation or emoji are of no use in a URL we build)."""
    lists = (read_url_words(k) for k in ("strict", "hard", "soft"))
    return tuple(tuple(w for w in ws if re.fullmatch(r"[a-z0-9]+", w)) for ws in lists)  # type: ignore[return-value]


def url_is_banned(url: str) -> bool:
    """Whether any of RefinedWeb's three URL word rules would drop `url`."""
    strict, hard, soft = banned_words()
    low = url.lower()
    squashed = low.replace("-", "").replace(".", "")
    if any(w in squashed for w in strict):
        return True
    tokens = set(re.findall(r"[a-z0-9]+", low))
    return bool(tokens & set(hard)) or len(tokens & set(soft)) >= 2


_TLDS = ("com", "com", "com", "org", "net", "info", "co.uk", "blog", "us", "ca")


def _host(rng: random.Random, words: tuple[str, ...], tld: str | None = None) -> str:
    a, b = rng.choice(words).lower(), rng.choice(words).lower()
    name = rng.choice((f"{a}{b}", f"{a}-{b}", f"the{a}{b}", f"{a}{b}online", a))
    www = "www." if rng.random() < 0.6 else rng.choice(("", "blog.", "news."))
    return f"{www}{name}.{tld or rng.choice(_TLDS)}"


def page_url(rng: random.Random, index: int, words: tuple[str, ...], tld: str | None = None) -> str:
    """A plausible page URL, unique by `index`, free of banned words."""
    while True:
        host = _host(rng, words, tld)
        slug = "-".join(rng.choice(words).lower() for _ in range(rng.randint(2, 5)))
        form = rng.randrange(3)
        if form == 0:
            path = f"{rng.randint(2009, 2024)}/{rng.randint(1, 12):02d}/{slug}-{index}"
        elif form == 1:
            path = f"{rng.choice(('posts', 'articles', 'p', 'news', 'review'))}/{slug}-{index}.html"
        else:
            path = f"{slug}/?p={index}"
        url = f"https://{host}/{path}"
        if not url_is_banned(url):
            return url


def spam_url(rng: random.Random, index: int, words: tuple[str, ...]) -> str:
    """A URL that RefinedWeb's URL filter drops, one of its three ways at random."""
    strict, hard, soft = banned_words()
    kind = rng.randrange(3)
    host = _host(rng, words)
    if kind == 0:  # a strict word broken up by '-' or '.', which the filter ignores
        w = rng.choice(strict)
        cut = rng.randint(1, len(w) - 1)
        return f"https://{w[:cut]}{rng.choice('-.')}{w[cut:]}.{rng.choice(_TLDS)}/page-{index}"
    if kind == 1:  # a hard word as a whole URL word
        return f"https://{host}/{rng.choice(hard)}/{rng.choice(words).lower()}-{index}"
    a, b = rng.sample(soft, 2)  # two distinct soft words
    return f"https://{host}/{a}-{b}-{rng.choice(words).lower()}-{index}.html"


def warc_metadata(rng: random.Random, url: str) -> dict[str, str]:
    """The WARC headers a DCLM-Pool record keeps in `metadata`."""
    date = (f"{rng.randint(2013, 2024)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T"
            f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z")
    rid = uuid.UUID(int=rng.getrandbits(128), version=4)
    return {"WARC-Target-URI": url, "WARC-Date": date, "WARC-Record-ID": f"<urn:uuid:{rid}>",
            "WARC-Type": "response", "Content-Type": "text/html"}

