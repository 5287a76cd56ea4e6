"""URL steps of DCLM's RefinedWeb recipe: move the URL, ban URLs, strip URLs from text.

Behaviour follows DCLM's `move_url_modifier`, `url_substring_filter` and
`url_removal_modifier` (see specs/dclm.md section 2), quirks included:

* `url_substring_filter` counts *distinct* banned strings found by one
  alternation regex (non-overlapping, leftmost-longest), after lowercasing the
  URL and deleting every `ignore_chars` entry from it.
* `url_removal_modifier` only runs its TLD-based URL regex when a TLD matches
  case-insensitively *at the very start of the text* ("The ..." starts with
  `th`, "hello ..." starts with no TLD), while the URL regex itself is
  case-sensitive; the IPv4 regex always runs.
"""

from __future__ import annotations

import logging
import re
from typing import Iterable, Literal
from urllib.parse import urlparse

from dcbench.baselines.registry import AT_LEAST_ONE, Mapper, Page, step
from dcbench.baselines.resources import DATA_DIR, read_banlist, resolve_data_file
from dcbench.contracts import because, explained_by
from dcbench.errors import ConfigError

log = logging.getLogger(__name__)

URL_KEY = "url"
TEXT_KEY = "text"


# ------------------------------------------------------------------ trie regex


def trie_pattern(words: Iterable[str]) -> str:
    """A regex alternation of `words`, written as a character trie.

    At any position it matches exactly what the plain alternation sorted
    longest-first matches (the longest word that fits, shorter ones on
    backtracking), like the `retrie` patterns DCLM builds, but it runs much
    faster than a flat alternation of thousands of words. Each character is
    escaped. Returns "" for no words.
    """
    end = object()
    root: dict = {}
    for word in words:
        node = root
        for ch in word:
            node = node.setdefault(ch, {})
        node[end] = True

    def emit(node: dict) -> str:
        chars = sorted(k for k in node if k is not end)
        if not chars:
            return ""
        leaves = [re.escape(c) for c in chars if len(node[c]) == 1 and end in node[c]]
        deeper = [re.escape(c) + emit(node[c]) for c in chars if not (len(node[c]) == 1 and end in node[c])]
        options = deeper + ([leaves[0] if len(leaves) == 1 else "[" + "".join(leaves) + "]"] if leaves else [])
        body = options[0] if len(options) == 1 else "(?:" + "|".join(options) + ")"
        if end in node:  # a word may stop here: the rest is optional (greedy, so longest first)
            single = len(options) == 1 and not deeper
            body = body + "?" if single else "(?:" + body + ")?"
        return body

    return emit(root)


# ------------------------------------------------------------- move_url_modifier


@step("modifier", any_text=True)  # also before key_name_modifier, when the text is under another key
def move_url_modifier() -> Mapper:
    """Set `url` from `metadata['WARC-Target-URI']` (DCLM move_url_modifier; DCLM-Pool pages keep the URL there).

    A page without `metadata` or without the header raises (and is quarantined).
    """

    def move(page: Page) -> list[Page]:
        page[URL_KEY] = page["metadata"]["WARC-Target-URI"]
        return [page]

    return move


# ----------------------------------------------------------- url_substring_filter


@step("filter", targets=("spam_url",), ranges={"num_banned_substrs": AT_LEAST_ONE},
      files={"banlist_from_fname": lambda name: name and resolve_data_file(name)})
def url_substring_filter(
    *,
    banlist: str | list[str] | None = None,
    banlist_from_fname: str | None = None,
    ignore_chars: list[str] | None = None,
    num_banned_substrs: int = 1,
    exact_domain_match: bool = False,
    match_substrings: bool = True,
    case_sensitive: bool = False,
    if_missing: Literal["error", "skip"] = "error",
) -> Mapper:
    """Drop pages whose URL contains banned strings (DCLM url_substring_filter: RefinedWeb domain and word banlists).

    The banlist is `banlist` (a string or a list) or, taking precedence, the
    lines of `banlist_from_fname` (a path, or a shipped list such as
    `refinedweb_banned_words_strict`; DCLM's `baselines/mappers/banlists/...`
    paths resolve to the shipped copies). Unless `case_sensitive`, the URL and
    the banlist are lowercased. Every entry of `ignore_chars` is then deleted
    from the URL (DCLM: `['-', '.']` so "porn-hub.com" reads "pornhubcom";
    `['www']` deletes "www" anywhere in the domain).

    * `exact_domain_match`: drop iff `urlparse(url).netloc` (lowercased,
      ignore_chars deleted; a port stays part of it) is in the banlist.
    * otherwise: one regex of all entries (leftmost-longest, non-overlapping
      matches), anywhere in the full URL (`match_substrings`) or only between
      regex word boundaries (`match_substrings: false`); the page is dropped
      when at least `num_banned_substrs` *distinct* entries are found.

    `if_missing: skip` makes a missing `banlist_from_fname` a pass-through that
    keeps every page and logs one warning: our recipes use it for DCLM's 4.6M
    curated-domain list (`refinedweb_banned_domains_curated.txt`), which is not
    shipped. With the default `error`, a missing file stops the recipe before
    any work starts. A file is read as DCLM reads it: every line is an entry,
    unstripped.

    With `exact_domain_match` an empty entry (a blank line) stays, as in DCLM:
    it drops pages whose URL has no domain part.

    Stricter than DCLM: an empty banlist, or without `exact_domain_match` an
    empty entry (as a regex alternative it matches every URL), is refused
    before work; a `.pkl` file
    must hold a pickled list/set of strings (read without running code):
    DCLM's pickled compiled regex is refused, since unpickling it could run
    arbitrary code. A pickled list may be used with `exact_domain_match`.
    """
    where = "url_substring_filter"
    if num_banned_substrs < 1:
        raise ConfigError(f"{where}: num_banned_substrs must be at least 1, got {num_banned_substrs}")
    if banlist_from_fname is not None:
        try:
            path = resolve_data_file(banlist_from_fname)
        except ConfigError:
            name = banlist_from_fname.replace("\\", "/").rsplit("/", 1)[-1]
            if if_missing == "skip":
                log.warning("url_substring_filter: banlist %s not found; the step keeps every page (if_missing: skip)",
                            banlist_from_fname)
                return lambda page: [page]
            raise ConfigError(
                f"{where}: banlist file {banlist_from_fname!r} not found. Put the file at that path or at "
                f"{DATA_DIR / name} (DCLM's setup.py downloads refinedweb_banned_domains_curated.txt), "
                f"or set if_missing: skip to run without this step"
            ) from None
        try:
            words = read_banlist(str(path))
        except ConfigError as e:
            raise ConfigError(f"{where}: {e}") from None
    elif banlist is not None:
        words = [banlist] if isinstance(banlist, str) else list(banlist)
    else:
        raise ConfigError(f"{where}: give banlist or banlist_from_fname")
    if not words:
        raise ConfigError(f"{where}: the banlist is empty")
    if "" in words and not exact_domain_match:
        line = f" (entry {words.index('') + 1} of {banlist_from_fname})" if banlist_from_fname is not None else ""
        raise ConfigError(f"{where}: the banlist has an empty entry{line}, which would match every URL; remove it")
    if not case_sensitive:
        words = [w.lower() for w in words]
    drop_chars = list(ignore_chars or [])

    def normalise(url: str) -> str:
        if not case_sensitive:
            url = url.lower()
        for chars in drop_chars:
            url = url.replace(chars, "")
        return url

    if exact_domain_match:
        banned = frozenset(words)

        @explained_by(lambda page: f"domain {normalise(urlparse(page[URL_KEY]).netloc)!r} is on the banlist")
        def filter_domain(page: Page) -> list[Page]:
            netloc = urlparse(page[URL_KEY]).netloc
            return [] if normalise(netloc) in banned else [page]

        return filter_domain

    body = trie_pattern(words)
    if not match_substrings:
        body = r"\b(?:" + body + r")\b"
    pattern = re.compile(body, 0 if case_sensitive else re.IGNORECASE)

    def why(page: Page) -> str:
        hits = sorted(set(pattern.findall(normalise(page[URL_KEY]))))
        shown = ", ".join(map(repr, hits[:5])) + (", ..." if len(hits) > 5 else "")
        return because(f"banned strings in the URL ({shown})", len(hits), ">=", num_banned_substrs)

    if num_banned_substrs == 1:
        search = pattern.search

        @explained_by(why)
        def filter_any(page: Page) -> list[Page]:
            return [] if search(normalise(page[URL_KEY])) else [page]

        return filter_any

    findall = pattern.findall

    @explained_by(why)
    def filter_count(page: Page) -> list[Page]:
        hits = set(findall(normalise(page[URL_KEY])))
        return [] if len(hits) >= num_banned_substrs else [page]

    return filter_count


# ----------------------------------------------------------- url_removal_modifier

# DCLM's two URL regexes, character classes unchanged.
_HOST_CHARS = "-a-zA-Z0-9@:%._\\+~#="
_TAIL = r"([-a-zA-Z0-9()@:%_\+.~#?&//=]*)"
_IPV4 = re.compile(r"\s{0,10}\b((https?|ftp)://)?(?:[0-2]?[0-9]{1,2}\.){3}[0-2]?[0-9]{1,2}" + _TAIL[1:-1])
# Any IPv4 match holds this within its first 21 characters (<= 10 spaces, <= 8 for "https://",
# <= 2 leading digits of the first octet before the anchor).
_IPV4_ANCHOR = re.compile(r"[0-9]\.[0-9]+\.[0-9]+\.[0-9]")
_IPV4_REACH = 20
_HOST_SET = frozenset("-@:%._+~#=abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
_HOST_STR = "".join(sorted(_HOST_SET))
_MAX_HOST = 256
_SCHEMES = ("https://", "http://", "ftp://")


@step("modifier", targets=("url_in_text",), files={"tlds_filepath": resolve_data_file})
def url_removal_modifier(*, tlds_filepath: str = "baselines/mappers/iana_tlds.txt") -> Mapper:
    """Delete URLs from the text: TLD-based URLs, then IPv4 URLs; drop the page if nothing is left (DCLM url_removal_modifier).

    Each match also eats up to 10 whitespace characters before it. DCLM's
    quirk is kept: the TLD-based regex only runs when the text *starts* with a
    TLD, matched case-insensitively (text starting "The ..." qualifies via
    `th`, "hello ..." does not); the URL regex itself is case-sensitive, so
    "EXAMPLE.COM" stays. The IPv4 regex runs on every page. TLDs come from
    `tlds_filepath` (default: the shipped IANA list); entries are regex-escaped
    before the trie escapes them again, as in DCLM, so an entry containing a
    regex metacharacter such as `-` can never match. The file is read as DCLM
    reads it (every line an entry, unstripped); stricter than DCLM, an empty
    list or a blank line is refused before work.
    """
    try:
        path = resolve_data_file(tlds_filepath)
    except ConfigError as e:
        raise ConfigError(f"url_removal_modifier: {e}") from None
    tlds = [re.escape(t) for t in read_banlist(str(path))]
    if not tlds or "" in tlds:
        raise ConfigError(f"url_removal_modifier: no usable TLDs in {path}: the list is empty or has a blank line")
    tld_alt = trie_pattern(tlds)
    starts_with_tld = re.compile(tld_alt, re.IGNORECASE).match
    url_regex = re.compile(
        rf"\s{{0,10}}(?:((https?|ftp)://))?[{_HOST_CHARS}]{{1,{_MAX_HOST}}}\.({tld_alt})\b" + _TAIL
    )
    # Every URL match has a "." followed by a TLD and a word boundary: find those first.
    dot_tld = re.compile(rf"\.(?:{tld_alt})\b")

    def remove(page: Page) -> list[Page]:
        text = page[TEXT_KEY]
        if starts_with_tld(text):
            text = _sub_tld_urls(text, url_regex, dot_tld)
        if _IPV4_ANCHOR.search(text):
            text = _sub_ipv4(text)
        if text == "":
            return []
        page[TEXT_KEY] = text
        return [page]

    return remove


def _sub_ipv4(text: str) -> str:
    """`_IPV4.sub("", text)`, trying the regex only near places an IPv4 address can be."""
    pieces: list[str] = []
    pos = scan = 0
    while True:
        anchor = _IPV4_ANCHOR.search(text, scan)
        if anchor is None:
            break
        q = anchor.start()
        found = None
        for s in range(max(pos, q - _IPV4_REACH), q + 1):
            found = _IPV4.match(text, s)
            if found:
                break
        if found:
            pieces.append(text[pos:found.start()])
            pos = scan = found.end()
        else:
            scan = q + 1
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)


def _sub_tld_urls(text: str, url_regex: re.Pattern, dot_tld: re.Pattern) -> str:
    """`url_regex.sub("", text)`, trying the regex only where a match can start.

    A match is: <= 10 whitespace, an optional scheme, a run of 1..256 host
    characters, ".", a TLD, a word boundary, a tail. For each "." followed by
    a TLD and a boundary (in text order) the leftmost start that can reach it
    is worked out (whitespace before the scheme or run, the scheme, or the
    run itself); the regex is tried there, exactly as `sub` would scan.
    """
    pieces: list[str] = []
    pos = scan = 0
    n = len(text)
    while scan < n:
        hit = dot_tld.search(text, scan)
        if hit is None:
            break
        d = hit.start()
        found = None
        if d - 1 >= pos and text[d - 1] in _HOST_SET:
            window = text[max(0, d - _MAX_HOST - 1):d]
            run = len(window) - len(window.rstrip(_HOST_STR))  # host chars just before the dot
            candidates = []
            if run <= _MAX_HOST:  # the run starts within reach: whitespace/scheme starts are possible
                r = d - run
                core = r
                for scheme in _SCHEMES:
                    if r >= len(scheme) and text.startswith(scheme, r - len(scheme)):
                        core = r - len(scheme)
                        break
                before = text[max(0, core - 10):core]
                ws_start = core - (len(before) - len(before.rstrip()))
                if ws_start < core:
                    candidates.append(max(pos, ws_start))
                candidates.append(max(pos, core))
                candidates.append(max(pos, r))
            else:
                candidates.append(max(pos, d - _MAX_HOST))
            for s in sorted(set(candidates)):
                found = url_regex.match(text, s)
                if found:
                    break
        if found:
            pieces.append(text[pos:found.start()])
            pos = scan = found.end()
        else:
            scan = d + 1
    if not pieces:
        return text
    pieces.append(text[pos:])
    return "".join(pieces)
