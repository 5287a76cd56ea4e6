"""The toy language: English prose from templates and word lists, and four foreign languages.

Everything the toy pool (`pools/toy.py`), the toy mixing sources (`pools/toy_sources.py`)
and the toy evaluation suite write is drawn from here, so they share one distribution.
`Prose(rng, hq=...)` writes sentences, paragraphs, titles and whole documents on one
topic: ordinary web prose (blog, opinion, advice) or, with `hq=True`, the encyclopedic
and instructional style of the reference set. `foreign_text` writes German, French,
Spanish or Italian paragraphs. Word lists live in `pools/toy_words.py`.

Every function draws only from the `random.Random` it is given, so a document is a
pure function of its generator's seed.
"""

from __future__ import annotations

import random
import re
from typing import Callable

from dcbench.pools import toy_words as W

_SLOT = re.compile(r"\{(\w+)\}")


# ------------------------------------------------------------ morphology


def verb_forms(entry: str) -> tuple[str, str, str, str, str]:
    """(base, 3sg, past, participle, gerund) from a word-list entry like `stop+`."""
    double = entry.endswith("+")
    base = entry.rstrip("+")
    stem = base + base[-1] if double else base
    if base.endswith(("s", "sh", "ch", "x", "z", "o")):
        third = base + "es"
    elif base.endswith("y") and base[-2] not in "aeiou":
        third = base[:-1] + "ies"
    else:
        third = base + "s"
    if base.endswith("e"):
        regular = base + "d"
    elif base.endswith("y") and base[-2] not in "aeiou":
        regular = base[:-1] + "ied"
    else:
        regular = stem + "ed"
    past, part = W.IRREGULAR.get(base, (regular, regular))
    if base.endswith("ie"):
        gerund = base[:-2] + "ying"
    elif base.endswith("e") and not base.endswith(("ee", "ye", "oe")):
        gerund = base[:-1] + "ing"
    else:
        gerund = stem + "ing"
    return base, third, past, part, gerund


def plural(noun: str) -> str:
    """English plural, irregular ones from the word list."""
    if noun in W.IRREGULAR_PLURALS:
        return W.IRREGULAR_PLURALS[noun]
    if noun.endswith(("s", "sh", "ch", "x", "z")):
        return noun + "es"
    if noun.endswith("y") and noun[-2] not in "aeiou":
        return noun[:-1] + "ies"
    return noun + "s"


def article(word: str) -> str:
    """"a" or "an" before `word`."""
    return "an" if word[0] in "aeio" or word.startswith("hour") else "a"


def capitalize(s: str) -> str:
    """The first letter upper-cased, the rest kept (unlike str.capitalize)."""
    return s[:1].upper() + s[1:]


def _nouns(s: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(s.split()))  # drop repeats, keep order (deterministic)


ORDINARY_VERBS = tuple(verb_forms(v) for v in W.VERBS)
INTRANS_VERBS = tuple(verb_forms(v) for v in W.INTRANSITIVE)
HQ_VERBS = tuple(verb_forms(v) for v in W.HQ_VERBS)
TOPIC_NOUNS = {t: _nouns(s) for t, s in W.TOPICS.items()}
HQ_TOPIC_NOUNS = {t: _nouns(s) for t, s in W.HQ_TOPICS.items()}
PLURALS = {n: plural(n) for ns in (*TOPIC_NOUNS.values(), *HQ_TOPIC_NOUNS.values(), W.GENERAL_NOUNS,
                                    W.HQ_GENERAL_NOUNS) for n in ns}


# ------------------------------------------------------------ English grammar

# Ordinary web prose: narrative blog, opinion, advice. Slots: S any subject,
# Ss/Sp singular/plural subject, P1 I/we/you/they, O object, Oa a/an object,
# N/Np noun, A adjective, D adverb, PP place phrase, T opener, V* verb forms
# (b base, 3 third person, d past, n participle, g gerund), Vi intransitive past.
ORDINARY_PATTERNS = (
    "{S} {Vd} {O} {PP}.", "{T}, {S} {Vd} {O}.", "{S} {D} {Vd} {O} and {Vd} {O}.",
    "{P1} {Vb} {O} because {Ss} {V3} {O}.", "When {S} {Vd} {O}, {S} {Vd} {O} {PP}.",
    "{Ss} was {A} and {A}, so {S} {Vd} {O}.", "{Sp} were {D} {A} {PP}.", "There was {Oa} {PP}, but {S} {Vd} {O}.",
    "I think {Ss} {V3} {O} {PP}.", "If you {Vb} {O}, {Ss} will {Vb} {O}.", "My {N} {Vd} {O} {PP}.",
    "Have you ever {Vn} {O} {PP}?", "{S} had {D} {Vn} {O} before {S} {Vd} {O}.", "{Ss} is {A} for {Vg} {O}.",
    "After {Vg} {O}, {S} {Vd} {O}.", "{S} tried to {Vb} {O}, but {Ss} {Vd} {O}.",
    "It took {NUM} {UNIT} to {Vb} {O}.", "{Sp} {Vb} {O} {PP} every {DAY}.", "One thing {P1} {Vd} was {Oa}.",
    "{S} could not {Vb} {O} {PP}.", "The {A} part was {Vg} {O} {PP}.", "We {Vd} {O} and then {Vd} {O}.",
    "{NAME} {Vd} {O}, and {S} {Vd} {O} {PP}.", "Next {DAY}, {P1} want to {Vb} {O}.",
    "{Ss} {V3} {A} {Np} that {Vb} {O}.", "Honestly, {Ss} was {D} {A}.", "{S} {Vi} {PP} while {S} {Vd} {O}.",
    "Without {O}, {Ss} would {Vb} {O}.", "{P1} {D} {Vb} {Np} {PP}.", "Do not {Vb} {O} {PP} unless {Ss} {V3} {O}.",
    "{S} {Vi} {PP}.", "{T}, {S} {Vi} {PP} and {Vd} {O}.", "Back in {MONTH}, {S} {Vd} {O} {PP}.",
    "{Sp} seem {A}, although {Ss} {V3} {O}.", "Why did {S} {Vb} {O} {PP}?", "{NAME} from {PLACE} {Vd} {O}.",
    "{S} {Vd} {NUM} {Np} {PP}.", "Nobody {Vd} {O} {PP}, so {S} {Vd} {O}.", "{Ss} looks {A} {PP}.",
    "Maybe {P1} should {Vb} {O} {PP}.",
)

# Encyclopedic / instructional prose: definitions, causes, contrasts, steps.
HQ_PATTERNS = (
    "{Ss} is {Oa} that {V3} {O} {PP}.", "In {Q} {Np}, {Sp} {Vb} {O} {PP}.",
    "Because {Ss} {V3} {O}, {Sp} {D} {Vb} {O}.", "{C}, {Ss} {V3} {O} {PP}.",
    "This {N} {V3} {O}, which in turn {V3} {O}.", "{Ss} {V3} {O} when {Ss} {V3} {O}.",
    "To {Vb} {O}, one must first {Vb} {O} and then {Vb} {O}.", "The {N} of {O} {V3} {O} {PP}.",
    "{Sp} are {D} {A} because {Sp} {Vb} {O}.", "Although {Ss} {V3} {O}, {Ss} {D} {V3} {O}.",
    "For example, {Ss} {V3} {O} {PP}.", "{Ss} can be {Vn} by {Vg} {O} {PP}.",
    "The {A} {N} is {Vn} {PP}, and {Sp} are {Vn} {PP}.", "{Sp} that {Vb} {O} tend to {Vb} {O}.",
    "In contrast, {Sp} {Vb} {O} only when {Ss} {V3} {O}.", "Studies have {Vn} that {Ss} {V3} {O} {PP}.",
    "Whether {Ss} {V3} {O} depends on {O} and {O}.", "{Ss} consists of {O}, {O}, and {O}.",
    "As {Ss} {V3} {O}, {Ss} {D} {V3} {O}.", "It is {A} to {Vb} {O} before {Vg} {O}.",
    "{Sp} are {D} {Vn} according to {O}.", "Since {Sp} {Vb} {O}, {Ss} remains {A} {PP}.",
    "{Ss}, unlike {O}, {V3} {O} {PP}.", "Such {Np} {Vb} {O} {PP}, although {Sp} {D} {Vb} {O}.",
    "{C}, the {A} {N} {V3} {O} and {V3} {O}.", "{Sp} {D} {Vb} {O}; {Ss}, by comparison, {V3} {O}.",
    "The presence of {O} {D} {V3} {O}.", "Under {A} conditions, {Ss} {V3} {O} {PP}.",
    "One {A} {N} is {Oa}, which {V3} {O}.", "If {Ss} {V3} {O}, {Sp} will {Vb} {O}.",
    "The term {N} refers to {Oa} that {V3} {O}.", "{Sp} were first {Vn} in the {CENTURY} century.",
    "Measurements of {O} show that {Ss} {V3} {O}.", "{Q} {Np} {Vb} {O} rather than {O}.",
)


class Prose:
    """Sentence generator over one document's topic; `hq` selects the encyclopedic style."""

    def __init__(self, rng: random.Random, hq: bool = False):
        self.r, self.hq = rng, hq
        topics = HQ_TOPIC_NOUNS if hq else TOPIC_NOUNS
        self.topic = rng.choice(sorted(topics))
        self.topic_nouns = topics[self.topic]
        self.general = W.HQ_GENERAL_NOUNS if hq else W.GENERAL_NOUNS
        self.adjs = W.HQ_ADJECTIVES if hq else W.ADJECTIVES
        self.advs = W.HQ_ADVERBS if hq else W.ADVERBS
        self.verbs = HQ_VERBS if hq else ORDINARY_VERBS
        self.patterns = HQ_PATTERNS if hq else ORDINARY_PATTERNS
        self.slots: dict[str, Callable[[], str]] = {
            "S": self.subj, "Ss": self.subj_sg, "Sp": self.subj_pl, "P1": self.p1, "O": self.obj,
            "Oa": self.obj_a, "N": self.noun, "Np": lambda: PLURALS[self.noun()], "A": self.adj, "D": self.adv,
            "PP": self.pp, "T": lambda: rng.choice(W.TIME_OPENERS), "Vb": lambda: self.verb(0),
            "V3": lambda: self.verb(1), "Vd": lambda: self.verb(2), "Vn": lambda: self.verb(3),
            "Vg": lambda: self.verb(4), "Vi": lambda: rng.choice(INTRANS_VERBS)[2],
            "NUM": lambda: rng.choice(("two", "three", "four", "several", "a few", "five", "many")),
            "UNIT": lambda: rng.choice(("hours", "days", "weeks", "minutes", "tries", "months")),
            "DAY": lambda: rng.choice(W.DAYS), "MONTH": lambda: rng.choice(W.MONTHS),
            "NAME": lambda: rng.choice(W.FIRST_NAMES), "PLACE": lambda: rng.choice(W.PLACES),
            "C": lambda: rng.choice(W.HQ_CONNECTIVES), "Q": lambda: rng.choice(W.HQ_QUANTIFIERS),
            "CENTURY": lambda: rng.choice(("sixteenth", "seventeenth", "eighteenth", "nineteenth", "twentieth")),
        }

    # --- words
    def noun(self) -> str:
        return self.r.choice(self.topic_nouns if self.r.random() < 0.7 else self.general)

    def adj(self) -> str:
        return self.r.choice(self.adjs)

    def adv(self) -> str:
        return self.r.choice(self.advs)

    def verb(self, form: int) -> str:
        return self.r.choice(self.verbs)[form]

    # --- phrases
    def np(self, plural: bool) -> str:
        r = self.r
        n = self.noun()
        head = f"{self.adj()} {n}" if r.random() < 0.4 else n
        if plural:
            head = head.rsplit(" ", 1)[0] + " " + PLURALS[n] if " " in head else PLURALS[n]
            det = r.choice(("the", "some", "these", "our", "many", "the", "their", "two", "those", "")) if not self.hq \
                else r.choice(("the", "most", "these", "many", "the", "such", "", "several", "other"))
        else:
            det = r.choice(("the", "a", "my", "our", "this", "that", "the", "his", "her", "one")) if not self.hq \
                else r.choice(("the", "a", "the", "each", "this", "every", "any", "the", "one"))
            if det == "a":
                det = article(head)
        return f"{det} {head}" if det else head

    def subj(self) -> str:
        x = self.r.random()
        if x < 0.3 and not self.hq:
            return self.r.choice(("I", "we", "they", "he", "she", "you", "I", "we"))
        if x < 0.4 and not self.hq:
            return self.r.choice(W.FIRST_NAMES)
        return self.np(self.r.random() < 0.4)

    def subj_sg(self) -> str:
        if not self.hq and self.r.random() < 0.2:
            return self.r.choice(("he", "she", "it", "everyone", "nobody"))
        return self.np(False)

    def subj_pl(self) -> str:
        if not self.hq and self.r.random() < 0.25:
            return self.r.choice(("we", "they", "you", "people"))
        return self.np(True)

    def p1(self) -> str:
        return self.r.choice(("I", "we", "you", "they"))

    def obj(self) -> str:
        if not self.hq and self.r.random() < 0.08:
            return self.r.choice(("it", "them", "everything", "something"))
        return self.np(self.r.random() < 0.35)

    def obj_a(self) -> str:
        head = f"{self.adj()} {self.noun()}" if self.r.random() < 0.5 else self.noun()
        return f"{article(head)} {head}"

    def pp(self) -> str:
        return f"{self.r.choice(W.PREPOSITIONS)} {self.np(self.r.random() < 0.3)}"

    # --- text
    def sentence(self) -> str:
        pattern = self.r.choice(self.patterns)
        return capitalize(_SLOT.sub(lambda m: self.slots[m.group(1)](), pattern))

    def paragraph(self, lo: int = 3, hi: int = 7) -> str:
        return " ".join(self.sentence() for _ in range(self.r.randint(lo, hi)))

    def title(self) -> str:
        r = self.r
        forms = (
            lambda: f"{self.adj()} {self.noun()} {self.pp()}",
            lambda: f"My {self.adj()} {self.noun()}",
            lambda: f"How we {self.verb(2)} {self.np(False)}",
            lambda: f"{r.choice(W.DAYS)} notes on {PLURALS[self.noun()]}",
            lambda: f"{self.noun()} {self.noun()} at {r.choice(W.PLACES)}",
        ) if not self.hq else (
            lambda: f"{self.adj()} {PLURALS[self.noun()]} and {PLURALS[self.noun()]}",
            lambda: f"The {self.noun()} and its {PLURALS[self.noun()]}",
            lambda: f"Introduction to {self.adj()} {PLURALS[self.noun()]}",
        )
        return " ".join(capitalize(w) if w not in ("and", "of", "at", "to", "on", "its", "the", "a", "an") else w
                        for w in capitalize(r.choice(forms)()).split())

    def heading(self) -> str:
        r = self.r
        return capitalize(r.choice((
            lambda: f"{self.adj()} {PLURALS[self.noun()]}",
            lambda: f"how {PLURALS[self.noun()]} {self.verb(0)} {PLURALS[self.noun()]}",
            lambda: f"measuring the {self.noun()}",
            lambda: f"{self.noun()} and {self.noun()}",
            lambda: f"the role of {PLURALS[self.noun()]}",
            lambda: f"practical {PLURALS[self.noun()]}",
        ))())

    def body(self, n_words: int) -> list[str]:
        """Paragraphs totalling at least `n_words` words."""
        paras, count = [], 0
        while count < n_words:
            p = self.paragraph()
            paras.append(p)
            count += p.count(" ") + 1
        return paras

    def document(self, n_words: int) -> str:
        """Clean prose: optional title, then paragraphs (hq: headed sections)."""
        if not self.hq:
            paras = self.body(n_words)
            if self.r.random() < 0.6:
                paras.insert(0, self.title())
            return "\n\n".join(paras)
        parts, count = [self.title()], 0
        heads = set()
        while count < n_words:
            if count and self.r.random() < 0.45:
                h = self.heading()
                if h not in heads:
                    heads.add(h)
                    parts.append(h)
            p = self.paragraph(4, 8)
            parts.append(p)
            count += p.count(" ") + 1
        return "\n\n".join(parts)


def doc_length(rng: random.Random, lo: int = 80, hi: int = 1400) -> int:
    """Log-uniform-ish target length, skewed short like web pages (the last
    paragraph may overshoot `hi` by up to ~100 words)."""
    x = rng.random() ** 1.6
    return int(lo * (hi / lo) ** x)


# ------------------------------------------------------------ other languages


def foreign_text(rng: random.Random, lang: str, n_words: int) -> str:
    v = {k: [" ".join(w.split()) for w in s.split("|")] for k, s in W.FOREIGN[lang].items()}
    ch = rng.choice

    def sentence() -> str:
        form = rng.randrange(5)
        if form == 0:
            s = f"{ch(v['np'])} {ch(v['v'])} {ch(v['np'])} {ch(v['pp'])}"
        elif form == 1:
            s = f"{ch(v['open'])} {ch(v['v'])} {ch(v['np'])} {ch(v['np'])}"
        elif form == 2:
            s = f"{ch(v['np'])} {ch(v['cop'])} {ch(v['adj'])} {ch(v['conj'])} {ch(v['np'])} {ch(v['v'])} {ch(v['np'])}"
        elif form == 3:
            s = f"{ch(v['np'])} {ch(v['v'])} {ch(v['np'])}, {ch(v['conj'])} {ch(v['np'])} {ch(v['cop'])} {ch(v['adj'])}"
        else:
            s = f"{ch(v['pp'])} {ch(v['v'])} {ch(v['np'])} {ch(v['np'])}"
        return capitalize(s) + "."

    paras, count = [], 0
    while count < n_words:
        p = " ".join(sentence() for _ in range(rng.randint(3, 7)))
        paras.append(p)
        count += p.count(" ") + 1
    return "\n\n".join(paras)

