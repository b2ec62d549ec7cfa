"""What a question asks of the library beyond a fact: which documents it names, and whether it wants a
whole document (a summary), a place in one (how it begins or ends) or its author line.

"Summarise the TLG article" and "What question does the CGTN commentary end with?" are not answered by
the passages most similar to the question: the first wants the document's main points, the second its
last sentence, and both say which document they mean. Pure functions over text and the document list.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from assistant.types import Answer, DocumentInfo
from ingest.periods import Period as _Period
from ingest.periods import period_spans as _period_spans
from ingest.periods import periods_in

__all__ = [
    "DocumentNames",
    "Focus",
    "Scope",
    "asks_each_document",
    "back_matter_start",
    "describe",
    "document_focus",
    "is_back_matter",
    "mentions_documents",
    "named_documents",
    "names_one",
    "periods_in",
    "scope_of",
    "wants_several",
]


class Focus(StrEnum):
    SUMMARY = "summary"  # the document's main points
    START = "start"  # how it begins
    END = "end"  # how it ends
    AUTHOR = "author"  # who wrote it (its byline)


@dataclass(frozen=True)
class Scope:
    """The documents a question names (empty: any) and the part of them it asks for (None: a fact).

    ``preferred``: documents of the period the question names, ranked before the other ``doc_ids`` (or the
    rest of the library when ``doc_ids`` is empty) but not instead of them. ``per_document``: the question
    wants what each of ``doc_ids`` says ("across quarters", "compare A and B"), so each is searched.
    ``wants_entity``: it asks across one entity's documents ("the latest 10-Q", "across quarters") without
    naming the entity: the best-ranked document's entity is meant (``scope_of(..., entity_of=...)``).
    """

    doc_ids: tuple[str, ...] = ()
    focus: Focus | None = None
    preferred: tuple[str, ...] = ()
    per_document: bool = False
    wants_entity: bool = False


_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_PLURAL_DOC_NOUNS = frozenset(
    """articles commentaries reports pieces stories papers documents docs files texts posts essays editorials memos
    filings transcripts pdfs""".split()
)
_DOC_NOUNS = _PLURAL_DOC_NOUNS | frozenset(
    """article commentary report piece story paper document doc file text post essay editorial memo filing
    transcript whitepaper pdf op-ed""".split()
)
# "both articles", "each of the reports", "according to both": a question that wants what every source says;
# "across quarters", "over the last three quarters", "each company", "between 2021 and 2022", "Q3 2022 vs Q3 2023":
# what each period's or each company's document says
_PERIOD_WORD = r"(?:(?:q[1-4]\s*(?:of\s+)?)?(?:fy\s*'?|fiscal\s+(?:year\s+)?)?(?:19|20)\d{2}|fy\s*'?\d{2}|q[1-4])"
_ACROSS_PERIODS = re.compile(
    r"\bacross\s+(?:the\s+|all\s+|its\s+|their\s+|[\w'’]+['’]s\s+)?(?:(?:last|past|recent|previous)\s+)?(?:\w+\s+)?"
    r"(?:quarters|years|periods|filings|reports)\b|"
    r"\bover\s+the\s+(?:last|past|previous|recent)\s+(?:\w+\s+)?(?:fiscal\s+)?(?:quarters|years|periods|filings)\b|"
    r"\b(?:each|every)\s+(?:of\s+the\s+)?(?:quarters|periods)\b|\bquarter\s+(?:over|by|to)\s+quarter\b",
    re.IGNORECASE,
)
_EACH_DOCUMENT = re.compile(
    r"\b(?:both|each|all|every|various|different)\s+(?:of\s+the\s+)?"
    r"(?:articles?|sources?|documents?|reports?|texts?|papers?|stories)\b|\baccording to (?:both|all)\b|"
    rf"{_ACROSS_PERIODS.pattern}|\bacross\s+(?:the\s+|all\s+)?(?:companies|documents)\b|"
    r"\b(?:each|every)\s+(?:of\s+the\s+)?(?:company|companies|filings?)\b|"
    rf"\bbetween\s+{_PERIOD_WORD}\s+and\s+{_PERIOD_WORD}\b|\bfrom\s+{_PERIOD_WORD}\s+(?:to|through)\s+{_PERIOD_WORD}\b|"
    rf"\b{_PERIOD_WORD}\s+(?:vs\.?|versus|compared\s+(?:to|with))\s+{_PERIOD_WORD}\b|"
    rf"\bcompare\s+{_PERIOD_WORD}\s+(?:and|with|to)\s+{_PERIOD_WORD}\b",
    re.IGNORECASE,
)
_SUMMARY = re.compile(
    r"\b(?:summari[sz]e|summari[sz]ing|summary|summaries|sum up|sums up|tl;?dr|gist|overview|recap)\b|"
    r"\b(?:main|key|central|major) (?:points?|arguments?|ideas?|messages?|takeaways?|thesis|claims?|themes?)\b",
)
_ABOUT = re.compile(r"^what(?:'s| is| are| was| were)\b.*\babout\W*$")
_DOC_NOUN_RE = "(?:" + "|".join(sorted(_DOC_NOUNS)) + ")"


def _place(verbs: str, nouns: str, adjectives: str) -> re.Pattern[str]:
    """How a question asks for a place in a document: "how does the article end", "the commentary ends with",
    "the end of the report", "the last paragraph". The verb must be the document's: "how did the markets
    open" and "when will the talks end, says the report" ask about something else."""
    return re.compile(
        rf"\bhow (?:does|did|do|will) (?:[\w'-]+ ){{0,3}}?{_DOC_NOUN_RE} (?:{verbs})\b(?!\s+up\b)|"
        rf"\b{_DOC_NOUN_RE} (?:{verbs}) (?:with|on|by)\b|"
        rf"\b(?:{nouns}) of (?:the |this |that )?(?:[\w'-]+ )?{_DOC_NOUN_RE}\b|"
        rf"\b(?:{adjectives}) (?:sentences?|paragraphs?|lines?|words?|questions?|remarks?|sections?|thoughts?)\b"
    )


_END = _place(
    "end|conclude|close|finish|wrap up|ends|concludes|closes|finishes|wraps up|ended|concluded|closed|finished",
    "end|ending|conclusion|close",
    "last|final|closing|concluding",
)
_START = _place(
    "begin|start|open|begins|starts|opens|began|started|opened",
    "beginning|start|opening",
    "first|opening|introductory",
)
_AUTHOR = re.compile(
    r"^(?:who|whose)\b.*\b(?:wrote|writes|authored|penned|authors?|writers?|byline)\b|"
    r"^(?:what|which)(?:'s| is| are| was| were)? (?:the )?(?:names? of the )?(?:authors?|writers?|byline)\b|"
    r"\b(?:written|authored) by (?:whom|who)\b|\bby whom\b"
)
# words that only frame a request for a summary: with nothing else left, it is about the whole document
_FRAMING = frozenset(
    """a an the this that these those it its their of in on from by about to for me us please can could would you
    give write make provide what whats what's it's is are was were do does did say says said main key central
    major point points argument arguments idea ideas message messages takeaway takeaways thesis claim claims
    theme themes summary summaries summarise summarize summarising summarizing sum up tl dr tldr gist overview recap
    briefly short brief both each all every two according""".split()
)


# a heading after which a text proper has ended
_BACK_MATTER = re.compile(
    r"(?:\d+\.?\s+)?(?:references|bibliography|works cited|acknowledge?ments?|endnotes|appendix(?: [a-z0-9]+)?)",
    re.IGNORECASE,
)
_BACK_MATTER_LINE = re.compile(rf"^[ \t]*{_BACK_MATTER.pattern}[ \t]*$", re.IGNORECASE | re.MULTILINE)


def is_back_matter(line: str) -> bool:
    """Whether a heading starts back matter ("References", "7 Acknowledgements", "Appendix A")."""
    return _BACK_MATTER.fullmatch(line.strip()) is not None


def back_matter_start(text: str) -> int | None:
    """Offset of the first back-matter heading line in ``text``, if any."""
    m = _BACK_MATTER_LINE.search(text)
    return m.start() if m else None


def _words(text: str) -> list[str]:
    # the same words as replacing in each match (the pattern takes either apostrophe), in one pass over the text
    return _WORD.findall(text.replace("’", "'"))


_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def _file_name(source: str) -> str:
    """``PurePath(source).name`` for a shown source (a relative path or a file name), without building a path:
    twice per document, PurePath cost 1.4 s of the 3.3 s names of 50,000 documents took (docs/scale.md)."""
    return source.rstrip("/").rpartition("/")[2]


class NamedDocument(Protocol):
    """What names a document: a ``DocumentInfo``, or a catalog row (the service builds the names from its rows,
    without making 50,000 infos first)."""

    @property
    def id(self) -> str: ...

    @property
    def title(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def meta(self) -> Mapping[str, Any]: ...


def _name_tokens(doc: NamedDocument) -> set[str]:
    name = _file_name(doc.source)
    stem = name[: name.rindex(".")] if name.rfind(".") > 0 else name  # PurePath.stem: ".env" keeps its dot
    return {t for t in _NON_ALNUM.split(stem.lower()) if len(t) >= 2 and not t.isdigit()}


# a file name written out in a question ("what does section_12.md say", "in q3-report.pdf"): the suffixes ingest reads
_FILE_NAME = re.compile(r"[\w.-]*\w\.(?:pdf|md|markdown|txt|text|html?|docx)\b", re.IGNORECASE)


def _file_names(documents: Sequence[NamedDocument]) -> dict[str, str]:
    """Lower-case file name (no directories) -> the id of the one document with that name."""
    owners: dict[str, list[str]] = {}
    for doc in documents:
        owners.setdefault(_file_name(doc.source).lower(), []).append(doc.id)
    return {name: ids[0] for name, ids in owners.items() if len(ids) == 1}


# ---------------------------------------------------------------- what a document's meta names: entity, form, period

# words that end a company's name without naming it ("Inc.", "Corp.", "plc"), and "The" before it
_LEGAL = frozenset("inc incorporated corp corporation co company cos ltd limited plc llc lp llp sa ag nv se".split())
# words that are in many names and name none by themselves ("Widgets Holdings Group", "Bank of ...")
_GENERIC = frozenset(
    """the of and for de la le group holding holdings international global worldwide industries industry
    technologies technology systems system services service financial finance brands communications enterprises
    partners solutions products trust fund bank bancorp national united american general first new north south
    east west""".split()
)
_FORM = re.compile(r"\b(?:form\s+)?(\d{1,2})-?\s?([a-z])(?:/a)?(?:'?s)?\b", re.IGNORECASE)
# "the latest 10-Q", "its most recent quarterly report", "the newest filing"; not "the latest guideline"
_LATEST = re.compile(
    r"\b(?:latest|newest|most\s+recent|most\s+current)\s+(?:(?:fiscal|annual|quarterly|interim)\s+)?(?:form\s+)?"
    r"(?:\d{1,2}-?[a-z](?:'?s)?\b|quarters?\b|years?\b|periods?\b|results\b|earnings\b|"
    + "|".join(sorted(_DOC_NOUNS - {"op-ed"}))
    + r")(?![a-z])",
    re.IGNORECASE,
)
_NUMBER_WORDS = {"two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "ten": 10, "twelve": 12}
_LAST_N = re.compile(
    r"\b(?:last|past|previous|recent|latest)\s+(two|three|four|five|six|seven|eight|ten|twelve|\d{1,2})\s+"
    r"(?:fiscal\s+)?(quarters|years|periods|filings|reports)\b",
    re.IGNORECASE,
)


def _form_key(form: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", form.lower().removeprefix("form").strip())


def _entity_words(entity: str) -> tuple[str, ...]:
    """The words that name an entity: its name without "The" and legal suffixes ("Northwind Widgets Corp." ->
    northwind widgets)."""
    words = [w.lower() for w in re.findall(r"[A-Za-z0-9]+", entity)]
    while words and words[-1] in _LEGAL:
        words.pop()
    if words and words[0] == "the":
        words.pop(0)
    return tuple(words)


def _possessive(word: str) -> bool:
    return word.lower().endswith(("'s", "’s"))


class DocumentNames:
    """What names each document of a library, worked out once per library (the service keeps one until
    the library changes): the words of file names that only one file name has and no title uses, the
    titles of three words or more, and what the documents' meta says (``DocumentInfo.meta``): the entity
    each is by or about (its name and the starts of it no other entity's name has), its
    form ("10-Q") and its period ("Q3 2023", "FY2022", ordered by ``period_end``)."""

    def __init__(self, documents: Sequence[NamedDocument]) -> None:
        self.ids = tuple(doc.id for doc in documents)
        self.position = {doc_id: i for i, doc_id in enumerate(self.ids)}
        # a word of a title says what a document is about ("AI chip restrictions"), not which one it is
        title_words = [[w.lower() for w in _words(doc.title)] for doc in documents]
        titled = {w for words in title_words for w in words}
        owners: dict[str, list[str]] = {}
        for doc in documents:
            for token in _name_tokens(doc) - titled:
                owners.setdefault(token, []).append(doc.id)
        self.owner = {token: ids[0] for token, ids in owners.items() if len(ids) == 1}
        self.files = _file_names(documents)
        self.titles: list[tuple[str, list[str]]] = []
        # titles by their first two words: a question is checked only against the titles that start with two of
        # its words in a row (a library of "Quarterly Report ..." titles is not scanned whole for every question)
        self.titles_from: dict[tuple[str, str], list[tuple[str, list[str]]]] = {}
        for doc, title in zip(documents, title_words, strict=True):
            if len(title) >= 3:
                self.titles.append((doc.id, title))
                self.titles_from.setdefault((title[0], title[1]), []).append((doc.id, title))
        self._meta(documents)

    def _meta(self, documents: Sequence[NamedDocument]) -> None:
        self.entity_of: dict[str, tuple[str, ...]] = {}
        self.entity_docs: dict[tuple[str, ...], list[str]] = {}
        self.form_of: dict[str, str] = {}
        self.period_of: dict[str, _Period] = {}
        self.period_end: dict[str, str] = {}  # document id -> the ISO date its period ends (or its date)
        self.ticker_of: dict[str, str] = {}  # document id -> the exchange symbol its metadata states
        for doc in documents:
            meta = doc.meta
            if meta.get("ticker"):
                self.ticker_of[doc.id] = str(meta["ticker"])
            entity = _entity_words(str(meta.get("entity") or ""))
            if entity:
                self.entity_of[doc.id] = entity
                self.entity_docs.setdefault(entity, []).append(doc.id)
            if meta.get("form"):
                self.form_of[doc.id] = _form_key(str(meta["form"]))
            stated = periods_in(str(meta.get("period") or ""))
            end = str(meta.get("period_end") or meta.get("date") or "")[:10]
            if stated and stated[0][0] is not None:
                self.period_of[doc.id] = stated[0]
            elif meta.get("period_end") and end[:4].isdigit():
                self.period_of[doc.id] = (int(end[:4]), None)
            if end:
                self.period_end[doc.id] = end
        # the names of each entity: its whole name, and the starts of its name that no other entity's name starts
        # with ("Northwind Widgets", "Northwind"; not "Widgets", nor "Health" of "Consumer Health": a later word of
        # a name is often an ordinary word, 2 of 127 FinanceBench questions were scoped to the wrong company by one)
        owners: dict[tuple[str, ...], set[tuple[str, ...]]] = {}
        for entity in self.entity_docs:
            owners.setdefault(entity, set()).add(entity)
            for n in range(1, len(entity)):
                if entity[n - 1] not in _GENERIC:
                    owners.setdefault(entity[:n], set()).add(entity)
        self.entity_names: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {}
        for phrase, entities in sorted(owners.items(), key=lambda item: -len(item[0])):
            if len(entities) == 1:
                self.entity_names.setdefault(phrase[0], []).append((phrase, next(iter(entities))))
        # an entity's initials name it too, when no other entity has the same ("Harlow & Harlow" -> hh, written
        # "H&H" or "HnH"; "Acme Metal Devices" -> amd): 7 of the 10 FinanceBench questions that named their
        # company in no other way (measured with documents.jsonl's names as meta; 0 questions lost their document)
        by_initials: dict[str, set[tuple[str, ...]]] = {}
        for entity in self.entity_docs:
            content = [w for w in entity if w not in _CONNECTIVES]
            if len(content) >= 2:
                by_initials.setdefault("".join(w[0] for w in content), set()).add(entity)
        self.initials = {key: next(iter(ents)) for key, ents in by_initials.items() if len(ents) == 1}
        # the exchange symbol a document states for its entity (``meta["ticker"]``, read at ingest from a cover's
        # "Trading Symbol(s)" row or a release's "(NYSE: ACME)") names the entity when no other entity has it
        by_ticker: dict[str, set[tuple[str, ...]]] = {}
        for doc in documents:
            ticker = str(doc.meta.get("ticker") or "")
            if len(ticker) >= 2 and doc.id in self.entity_of:
                by_ticker.setdefault(ticker.upper(), set()).add(self.entity_of[doc.id])
        self.tickers = {key: next(iter(ents)) for key, ents in by_ticker.items() if len(ents) == 1}
        self.forms = frozenset(self.form_of.values())
        # document ids by quarter (year, q) and (None, q), and by year: a period is looked up, not matched one by one
        self.of_period: dict[_Period, set[str]] = {}
        for doc_id, (year, quarter) in self.period_of.items():
            self.of_period.setdefault((year, None), set()).add(doc_id)
            if quarter is not None:
                self.of_period.setdefault((year, quarter), set()).add(doc_id)
                self.of_period.setdefault((None, quarter), set()).add(doc_id)
        self.quarterly = {d for d, (_, quarter) in self.period_of.items() if quarter is not None}
        self.word_forms = {f: tuple(f.split()) for f in set(self.form_of.values()) if not re.fullmatch(r"\d+[a-z]", f)}
        self.has_meta = bool(self.entity_of or self.form_of or self.period_of)

    def in_order(self, doc_ids: Collection[str]) -> tuple[str, ...]:
        """``doc_ids`` in library order."""
        return tuple(sorted(set(doc_ids), key=self.position.__getitem__)) if doc_ids else ()

    def order(self, doc_ids: Collection[str]) -> list[str]:
        """``doc_ids`` in period order (oldest first; those without a period last, in library order)."""
        ordered = self.in_order(doc_ids)
        dated = sorted((self.period_end[d], i, d) for i, d in enumerate(ordered) if d in self.period_end)
        return [d for *_, d in dated] + [d for d in ordered if d not in self.period_end]


def _names(documents: Sequence[DocumentInfo] | DocumentNames) -> DocumentNames:
    return documents if isinstance(documents, DocumentNames) else DocumentNames(documents)


def _naming_words(question: str, names: DocumentNames) -> dict[str, set[str]]:
    """Document id -> the words of the question that name it."""
    words = _words(question)
    lower = [w.lower() for w in words]
    out: dict[str, set[str]] = {}
    for i, (word, low) in enumerate(zip(words, lower, strict=True)):
        if low not in names.owner:
            continue
        before_noun = i + 1 < len(lower) and lower[i + 1] in _DOC_NOUNS
        preceding = lower[max(0, i - 3) : i]
        after_according = preceding[-2:] == ["according", "to"] or preceding == ["according", "to", "the"]
        capitals = len(word) >= 2 and word.isupper() and word.isalpha()
        if before_noun or after_according or capitals:
            out.setdefault(names.owner[low], set()).add(low)
    for m in _FILE_NAME.finditer(question):  # its file name, written out, names a document
        name = m.group(0).lower()
        if name in names.files:
            out.setdefault(names.files[name], set()).update(w.lower() for w in _words(m.group(0)))
    for i, pair in enumerate(zip(lower, lower[1:], strict=False)):
        for doc_id, title in names.titles_from.get(pair, ()):
            if lower[i : i + len(title)] == title:
                out.setdefault(doc_id, set()).update(title)
    return out


def _named_entities(
    question: str, names: DocumentNames, spans: list[tuple[int, int]] | None = None
) -> list[tuple[str, ...]]:
    """The entities the question names, in the order it names them.

    A name of two words or more counts in any case ("northwind widgets"). One word counts when it is written
    as a name: capitalised ("Northwind", "NWC", "3M"), possessive ("northwind's"), before a form, a period or a
    document noun ("northwind 10-q", "the northwind filing"), or after "according to". Lower case, a word of a
    name is often an ordinary word.
    """
    if not names.entity_names:
        return []
    tokens = list(_WORD.finditer(question))
    bare = [re.sub(r"['’]s$", "", m.group().lower()) for m in tokens]
    found: list[tuple[str, ...]] = []
    i = 0
    while i < len(tokens):
        step = 1
        for phrase, entity in names.entity_names.get(bare[i], ()):
            n = len(phrase)
            if tuple(bare[i : i + n]) != phrase:
                continue
            if n == 1 and not _written_as_name(question, tokens, bare, i):
                continue
            if entity not in found:
                found.append(entity)
            if spans is not None:
                spans.append((tokens[i].start(), tokens[i + n - 1].end()))
            step = n
            break
        i += step
    for m in _INITIALS.finditer(question):
        initialled = names.initials.get("".join(c for c in m.group() if c.isupper()).lower())
        if initialled is not None and initialled not in found:
            found.append(initialled)
            if spans is not None:
                spans.append((m.start(), m.end()))
    # a short form made of the beginnings of an entity's words ("AMEX" for "American Express", "NorTrade" for
    # "Northwind Traders"), when it abbreviates no other entity's name
    for m in _SHORT_FORM.finditer(question):
        short = m.group(1).lower()
        if len(short) < 3 or short in names.initials:
            continue
        fits = {e for e in names.entity_docs if abbreviates(short, [w for w in e if w not in _CONNECTIVES])}
        if len(fits) == 1 and (entity := next(iter(fits))) not in found:
            found.append(entity)
            if spans is not None:
                spans.append(m.span(1))
    if names.tickers:  # a ticker written as one, in capitals ("ACME", "ACME's"): not an ordinary word in lower case
        for m in _TICKER_WORD.finditer(question):
            ticked = names.tickers.get(m.group(1))
            if ticked is not None and ticked not in found:
                found.append(ticked)
                if spans is not None:
                    spans.append(m.span(1))
    return found


_TICKER_WORD = re.compile(r"(?<![\w&.])([A-Z]{2,5}(?:\.[A-Z])?)(?=['’]s\b|[^\w&]|$)")


# initials as a question writes them: capitals, perhaps joined by "&" or "n" ("AMD", "H&H", "HnH"), possessive or not
_INITIALS = re.compile(r"(?<![\w&])[A-Z](?:&?[A-Z]|n[A-Z])+(?=['’]s\b|[^\w&]|$)")
_CONNECTIVES = frozenset({"and", "of", "the", "for", "n"})


def abbreviates(short: str, run: Sequence[str]) -> bool:
    """Whether ``short`` is the beginnings of two or more consecutive words of ``run``, each word giving at least
    its first letter, in order ("nortrade" of "northwind traders", "hh" of "harlow harlow", "bluco" of "blue
    coast")."""

    def rest_fits(rest: str, k: int, used: int) -> bool:
        if not rest:
            return used >= 2
        if k >= len(run):
            return False
        word = run[k]
        longest = min(len(word), len(rest))
        return any(rest_fits(rest[n:], k + 1, used + 1) for n in range(longest, 0, -1) if rest[:n] == word[:n])

    return len(short) >= 2 and any(rest_fits(short, start, 0) for start in range(len(run) - 1))


# a short form as a question writes it: letters with two capitals or more ("AMEX", "NorTrade"), possessive or not
_SHORT_FORM = re.compile(r"(?<![\w&])([A-Za-z]*[A-Z][a-z]*[A-Z][A-Za-z]*)(?=['’]s\b|[^\w&]|$)")


def _written_as_name(question: str, tokens: list[re.Match[str]], bare: list[str], i: int) -> bool:
    word = tokens[i].group()
    inner_capital = any(c.isupper() for c in word[1:].removesuffix("'s").removesuffix("’s")) or any(
        c.isdigit() for c in word
    )
    if inner_capital or word[0].isupper() or _possessive(word):
        return True
    after = question[tokens[i].end() :]
    if _FORM.match(after.lstrip()) or (i + 1 < len(bare) and bare[i + 1] in _DOC_NOUNS):
        return True
    if re.match(r"\s+(?:q[1-4]\b|fy|fiscal\b|(?:19|20)\d{2}\b)", after, re.IGNORECASE):
        return True
    return bare[max(0, i - 2) : i] == ["according", "to"] or bare[max(0, i - 3) : i] == ["according", "to", "the"]


def named_documents(question: str, documents: Sequence[DocumentInfo] | DocumentNames) -> tuple[str, ...]:
    """Ids of the documents the question names, in the order of ``documents``.

    A document is named by its title, by its file name written out ("section_12.md"), or by a word of its file
    name that no other file name or title
    has, when the question writes that word in capitals ("CGTN"), puts it before a document noun ("the
    tlg article") or after "according to". Other words of file names ("chip", "huawei") are what
    questions are about and name nothing.
    """
    names = _names(documents)
    named = _naming_words(question, names)
    return tuple(doc_id for doc_id in names.ids if doc_id in named)


def document_focus(question: str, names: Collection[str] = ()) -> Focus | None:
    """Whether the question asks for a summary of documents, how one begins or ends, or who wrote it.

    ``names`` are the (lower-case) words that name a document in the question; naming one counts as
    mentioning a document. A beginning or an end must be of a document: "how does the article end" is,
    "what might the restrictions end up reinforcing" is not. A summary must be of whole documents:
    "summarise the article" is, "summarise what the articles say about Huawei" asks about Huawei.
    """
    text = question.lower().replace("’", "'")
    words = _words(text)
    has_doc = bool(names) or any(w in _DOC_NOUNS for w in words)
    if _SUMMARY.search(text) or (has_doc and _ABOUT.search(text)):
        rest = [w for w in words if w not in _FRAMING and w not in _DOC_NOUNS and w not in names]
        return Focus.SUMMARY if not rest else None
    if not has_doc:
        return None
    if _AUTHOR.search(text):
        return Focus.AUTHOR
    # a name stands for the document it names: "how does CGTN end" reads "how does document end"
    # ("how does Northwind's Q3 2023 10-Q end" reads "how does document end")
    named = ["document" if w in names else w for w in words]
    text = " ".join(
        w for i, w in enumerate(named) if not (w == "document" == (named[i - 1] if i else "") and words[i] in names)
    )
    if _END.search(text):
        return Focus.END
    if _START.search(text):
        return Focus.START
    return None


def asks_each_document(question: str) -> bool:
    """Whether the question wants what each of several sources says ("according to both articles"), or each
    period's or company's ("across quarters", "over the last three quarters", "each company", "between 2021
    and 2022", "Q3 2022 vs Q3 2023"). Two companies compared by name ("compare A and B", "A vs B") are seen by
    ``scope_of``, which knows the names."""
    return _EACH_DOCUMENT.search(question) is not None


def wants_several(question: str) -> bool:
    """Whether the question speaks of several documents ("the articles", "both reports", "across quarters")."""
    words = [w.lower() for w in _words(question)]
    return (
        any(w in _PLURAL_DOC_NOUNS for w in words)
        or any(w in ("both", "each", "all") for w in words)
        or asks_each_document(question)
    )


_MENTIONS = re.compile(r"\baccording to\b|\b[A-Z]{2,}\b")


def mentions_documents(question: str) -> bool:
    """A cheap first test: could ``scope_of`` find anything (a document noun, a summary, a name in capitals,
    "according to")? Saves matching the question against every title for most questions."""
    text = question.lower().replace("’", "'")
    return (
        _MENTIONS.search(question) is not None
        or _FILE_NAME.search(question) is not None
        or _SUMMARY.search(text) is not None
        or _ABOUT.search(text) is not None
        or any(w in _DOC_NOUNS for w in _words(text))
    )


def names_one(question: str) -> bool:
    """Whether the question speaks of one document ("the article") rather than several or none."""
    words = [w.lower() for w in _words(question)]
    return any(w in _DOC_NOUNS and w not in _PLURAL_DOC_NOUNS for w in words) and not wants_several(question)


def scope_of(
    question: str, documents: Sequence[DocumentInfo] | DocumentNames, *, entity_of: str | None = None
) -> Scope:
    """What the question asks of the library: the documents it names (by title, file name, entity, form,
    period or "latest"), those it prefers, whether it wants each of them, and the part of them it asks for.

    The titles and file names are matched only when ``mentions_documents`` finds a cue, as before; the
    documents' meta (entity, form, period) whenever the library has some. ``entity_of``: a document whose
    entity the question means when it names none (see ``Scope.wants_entity``).
    """
    names = _names(documents)
    mentions = mentions_documents(question)
    named = _naming_words(question, names) if mentions else {}
    words = {w for ws in named.values() for w in ws}
    by_meta = _meta_scope(question, names, entity_of) if names.has_meta else _MetaScope()
    # "summarise Northwind's latest 10-Q": the words naming documents by their meta name a document too
    focus = document_focus(question, words | by_meta.words) if mentions or by_meta.words else None
    if focus in (Focus.START, Focus.END) and by_meta.period_words:
        # a period says when, not which document, for a place in it: "total assets at the end of 2021" asks about
        # the year's end ("how does Northwind's Q3 2023 10-Q end" still asks for the document's end)
        focus = document_focus(question, words | (by_meta.words - by_meta.period_words))
    doc_ids = names.in_order({*named, *by_meta.doc_ids})
    return Scope(
        doc_ids=doc_ids,
        focus=focus,
        preferred=names.in_order(by_meta.preferred),
        per_document=by_meta.per_document and len(doc_ids) >= 2,
        wants_entity=by_meta.wants_entity,
    )


@dataclass(frozen=True)
class _MetaScope:
    doc_ids: tuple[str, ...] = ()
    preferred: tuple[str, ...] = ()
    per_document: bool = False
    wants_entity: bool = False
    words: frozenset[str] = frozenset()  # the question's words that name the documents ("northwind's", "10", "q")
    period_words: frozenset[str] = frozenset()  # those of them that name a period ("q3", "2023")


def _meta_scope(question: str, names: DocumentNames, entity_of: str | None) -> _MetaScope:
    """The documents the question names by their meta, narrowed step by step, each step only when it leaves
    some documents: the named entities' documents (all of them); of the form it names ("10-Q"); of the quarter
    it names ("Q3 2022"); the newest ("latest 10-Q") or the newest N ("over the last three quarters"). A year
    alone ("in 2022", "FY2021") only prefers that year's documents (a 10-K for FY2022 also reports 2021; see
    docs/scope.md), unless the question wants each period's document ("between 2021 and 2022")."""
    spans: list[tuple[int, int]] = []
    entities = _named_entities(question, names, spans)
    if not entities and entity_of is not None and entity_of in names.entity_of:
        entities = [names.entity_of[entity_of]]
    period_spans = _period_spans(question)
    periods = [p for _, _, p in period_spans]
    latest = _LATEST.search(question) is not None
    last_n = _LAST_N.search(question)
    forms = _forms_in(question, names)
    across_periods = last_n is not None or _ACROSS_PERIODS.search(question) is not None
    if not entities and (latest or across_periods) and len(names.entity_docs) >= 2:
        return _MetaScope(wants_entity=True)  # whose latest filing, whose quarters: the best-ranked document's
    if not (entities or periods or latest or last_n or forms):
        return _MetaScope()
    per_document = asks_each_document(question) or len(entities) >= 2 or across_periods or len(periods) >= 2
    base = [d for e in entities for d in names.entity_docs[e]] if entities else list(names.ids)
    pool = _some([d for d in base if names.form_of.get(d) in forms], base) if forms else base
    quarters = [p for p in periods if p[1] is not None]
    if quarters:
        pool = _some(_of_periods(names, pool, quarters), pool)
    years = [p for p in periods if p[1] is None]
    preferred: list[str] = []
    if years:
        # a year named without a quarter is the year a whole-year document covers (an annual report); that year's
        # quarterly documents each cover a part of it, so they are used only when no whole-year document is there
        of_years = _of_periods(names, pool, years)
        of_years = _some([d for d in of_years if d not in names.quarterly], of_years)
        if per_document:
            pool = _some(of_years, pool)  # "between 2021 and 2022": each year's document
        elif of_years != pool:
            preferred = of_years
    if across_periods and re.search(r"\bquarter", question, re.IGNORECASE):
        pool = _some([d for d in pool if d in names.quarterly], pool)  # "across quarters": the quarterly documents
    if last_n is not None:
        count = _NUMBER_WORDS.get(last_n.group(1).lower()) or int(last_n.group(1))
        dated = [d for d in pool if d in names.period_end]
        pool = _some(names.order(dated)[-count:], pool)
    elif latest:
        dated = [d for d in pool if d in names.period_end]
        if dated:
            newest = max(names.period_end[d] for d in dated)
            pool = [d for d in dated if names.period_end[d] == newest]
    if pool == base and not entities:
        return _MetaScope(preferred=tuple(preferred))  # nothing narrowed the library: a preference at most
    spans += [(a, b) for a, b, _ in period_spans]
    spans += [m.span() for m in (*_FORM.finditer(question), *_LATEST.finditer(question))]
    words = _words_in(question, spans)
    period_words = _words_in(question, [(a, b) for a, b, _ in period_spans])
    return _MetaScope(
        doc_ids=tuple(pool),
        preferred=tuple(preferred),
        per_document=per_document,
        words=words,
        period_words=period_words,
    )


def _words_in(question: str, spans: Sequence[tuple[int, int]]) -> frozenset[str]:
    """The question's words (lower case) that start inside one of ``spans``."""
    return frozenset(
        m.group().lower().replace("’", "'")
        for m in _WORD.finditer(question)
        if any(a <= m.start() < b for a, b in spans)
    )


def _of_periods(names: DocumentNames, pool: list[str], periods: Sequence[_Period]) -> list[str]:
    """The documents of ``pool`` whose period is one of ``periods``."""
    wanted: set[str] = set().union(*(names.of_period.get(p, set()) for p in periods))
    return [d for d in pool if d in wanted]


def _some(narrowed: list[str], pool: list[str]) -> list[str]:
    """``narrowed`` when it keeps some documents, else ``pool``: a narrowing that leaves nothing is ignored."""
    return narrowed if narrowed else pool


def _forms_in(question: str, names: DocumentNames) -> set[str]:
    """The forms of the library the question names ("10-Q", "10-Qs", "form 10-K", "annual report")."""
    if not names.forms:
        return set()
    found = {m.group(1) + m.group(2).lower() for m in _FORM.finditer(question)}
    if names.word_forms:
        folded = f" {' '.join(w.lower() for w in _words(question))} "
        found |= {f for f, words in names.word_forms.items() if f" {' '.join(words)} " in folded}
    return found & names.forms


_DESCRIPTIONS = {
    Focus.SUMMARY: "Summary of {}",
    Focus.START: "How {} begins",
    Focus.END: "How {} ends",
    Focus.AUTHOR: "Author line of {}",
}


def describe(answer: Answer) -> str | None:
    """One line saying what part of the library an answer was taken from, for the CLI and the UI:
    "Summary of “Title”", "How “Title” ends", "Searched only “Title”"; None for an ordinary answer."""
    titles: dict[str, str] = {}
    for p in answer.passages:
        titles.setdefault(p.chunk.doc_id, str(p.chunk.meta.get("title", "")) or p.chunk.doc_id)
    focus = answer.meta.get("focus")
    if focus in _DESCRIPTIONS:
        docs = list(titles)
        template = _DESCRIPTIONS[Focus(focus)]
    elif answer.meta.get("named_documents"):
        docs = [d for d in answer.meta["named_documents"] if d in titles]
        template = "Searched only {}"
    else:
        return None
    if not docs:
        return None
    return template.format(" and ".join(f"“{titles[d]}”" for d in docs))
