"""What a question asks of the library beyond a fact: which documents it names, and whether it wants a
whole document (a summary), a place in one (how it begins or ends) or its author line.

"Summarise the TLG article" and "What question does the CGTN commentary end with?" are not answered by
the passages most similar to the question: the first wants the document's main points, the second its
last sentence, and both say which document they mean. Pure functions over text and the document list.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import PurePath

from assistant.types import Answer, DocumentInfo

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
    """The documents a question names (empty: any) and the part of them it asks for (None: a fact)."""

    doc_ids: tuple[str, ...] = ()
    focus: Focus | None = None


_WORD = re.compile(r"[A-Za-z0-9]+(?:['’][A-Za-z]+)?")
_PLURAL_DOC_NOUNS = frozenset(
    """articles commentaries reports pieces stories papers documents docs files texts posts essays editorials memos
    filings transcripts pdfs""".split()
)
_DOC_NOUNS = _PLURAL_DOC_NOUNS | frozenset(
    """article commentary report piece story paper document doc file text post essay editorial memo filing
    transcript whitepaper pdf op-ed""".split()
)
# "both articles", "each of the reports", "according to both": a question that wants what every source says
_EACH_DOCUMENT = re.compile(
    r"\b(?:both|each|all|every|various|different)\s+(?:of\s+the\s+)?"
    r"(?:articles?|sources?|documents?|reports?|texts?|papers?|stories)\b|\baccording to (?:both|all)\b",
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
    return [w.replace("’", "'") for w in _WORD.findall(text)]


def _name_tokens(doc: DocumentInfo) -> set[str]:
    stem = PurePath(doc.source).stem.lower()
    return {t for t in re.split(r"[^a-z0-9]+", stem) if len(t) >= 2 and not t.isdigit()}


class DocumentNames:
    """What names each document of a library, worked out once per library (the service keeps one until
    the library changes): the words of file names that only one file name has and no title uses, and the
    titles of three words or more."""

    def __init__(self, documents: Sequence[DocumentInfo]) -> None:
        self.ids = tuple(doc.id for doc in documents)
        # a word of a title says what a document is about ("AI chip restrictions"), not which one it is
        titled = {w.lower() for doc in documents for w in _words(doc.title)}
        owners: dict[str, list[str]] = {}
        for doc in documents:
            for token in _name_tokens(doc) - titled:
                owners.setdefault(token, []).append(doc.id)
        self.owner = {token: ids[0] for token, ids in owners.items() if len(ids) == 1}
        self.titles: list[tuple[str, list[str]]] = []
        for doc in documents:
            title = [w.lower() for w in _words(doc.title)]
            if len(title) >= 3:
                self.titles.append((doc.id, title))


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
    folded = f" {' '.join(lower)} "
    for doc_id, title in names.titles:
        if f" {' '.join(title)} " in folded:
            out.setdefault(doc_id, set()).update(title)
    return out


def named_documents(question: str, documents: Sequence[DocumentInfo] | DocumentNames) -> tuple[str, ...]:
    """Ids of the documents the question names, in the order of ``documents``.

    A document is named by its title, or by a word of its file name that no other file name or title
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
    text = " ".join("document" if w in names else w for w in words)
    if _END.search(text):
        return Focus.END
    if _START.search(text):
        return Focus.START
    return None


def asks_each_document(question: str) -> bool:
    """Whether the question wants what each of several sources says ("according to both articles")."""
    return _EACH_DOCUMENT.search(question) is not None


def wants_several(question: str) -> bool:
    """Whether the question speaks of several documents ("the articles", "both reports")."""
    words = [w.lower() for w in _words(question)]
    return any(w in _PLURAL_DOC_NOUNS for w in words) or any(w in ("both", "each", "all") for w in words)


_MENTIONS = re.compile(r"\baccording to\b|\b[A-Z]{2,}\b")


def mentions_documents(question: str) -> bool:
    """A cheap first test: could ``scope_of`` find anything (a document noun, a summary, a name in capitals,
    "according to")? Saves matching the question against every title for most questions."""
    text = question.lower().replace("’", "'")
    return (
        _MENTIONS.search(question) is not None
        or _SUMMARY.search(text) is not None
        or _ABOUT.search(text) is not None
        or any(w in _DOC_NOUNS for w in _words(text))
    )


def names_one(question: str) -> bool:
    """Whether the question speaks of one document ("the article") rather than several or none."""
    words = [w.lower() for w in _words(question)]
    return any(w in _DOC_NOUNS and w not in _PLURAL_DOC_NOUNS for w in words) and not wants_several(question)


def scope_of(question: str, documents: Sequence[DocumentInfo] | DocumentNames) -> Scope:
    names = _names(documents)
    named = _naming_words(question, names)
    words = {w for ws in named.values() for w in ws}
    doc_ids = tuple(doc_id for doc_id in names.ids if doc_id in named)
    return Scope(doc_ids=doc_ids, focus=document_focus(question, words))


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
