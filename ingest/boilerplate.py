"""Boilerplate recognised by content: certifications, forward-looking-statement notices, exhibit lists,
signature blocks, tables of contents.

Filings repeat the same legal formulas in every document ("I, <name>, certify that ...", "has duly caused
this report to be signed", "within the meaning of the Private Securities Litigation Reform Act"). Such chunks
match many questions by their words but answer almost none, so ``classify`` names their kind and the
retriever demotes them unless the question asks for that kind (``index.retriever``).

Precision matters more than recall: a kind is named only when the text carries several of that kind's
formulas (or one formula that occurs nowhere else), or a structural cue (a run of exhibit numbers next to
form codes and file numbers). PDF text often glues words at line ends ("behalfby"), so the formulas allow
missing spaces between words.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Final

__all__ = ["KINDS", "classify"]

KINDS: Final = ("contents", "exhibits", "signatures", "certification", "forward_looking")


def _phrase(*phrases: str) -> re.Pattern[str]:
    """Case-insensitive alternatives whose words may be glued together or hyphen-broken ("Sarbanes-OxleyAct")."""
    parts = []
    for phrase in phrases:
        words = [re.escape(w) for w in phrase.split()]
        parts.append(r"[\s\-]*".join(words))
    return re.compile(r"(?<![A-Za-z])(?:" + "|".join(parts) + ")", re.IGNORECASE)


def _cues(text: str, cues: Iterable[re.Pattern[str]]) -> int:
    """How many of ``cues`` occur in ``text``."""
    return sum(1 for cue in cues if cue.search(text))


# ---------------------------------------------------------------- certifications (Sarbanes-Oxley 302 / 906)
# "I, Jane Doe, certify that:" / "I, Jane Doe, the Chief Executive Officer of X, certify, pursuant to ..."
_I_CERTIFY = re.compile(r"\bI,\s*[A-Z][^;:\n]{0,150}?,\s*(?:hereby\s+)?certify\b", re.DOTALL)
_CERT_FIRST_PERSON = _phrase(
    "based on my knowledge", "certifying officer and I", "certifying officers and I", "I have reviewed this"
)
_CERT_CUES = (
    _phrase("certify that", "certify, pursuant to", "hereby certify"),
    _phrase("Sarbanes-Oxley Act"),
    re.compile(r"\bsection\s*(?:302|906)\b|\b1350\b", re.IGNORECASE),
    re.compile(r"\b1[35][ad]-1[45]\b"),  # Exchange Act rules 13a-14 / 15d-14 / 13a-15 / 15d-15
    _phrase("fairly presents, in all material respects", "fairly present in all material respects"),
    _phrase("untrue statement of a material fact"),
    _phrase("fully complies with the requirements"),
    _CERT_FIRST_PERSON,
)

# ---------------------------------------------------------------- forward-looking statements (safe harbour)
_FORWARD_LOOKING = re.compile(r"forward[\s\-‐–]*looking\s*statements?", re.IGNORECASE)
_FLS_CUES = (
    _phrase("Private Securities Litigation Reform Act"),
    re.compile(r"\bsection\s*(?:27A|21E)\b", re.IGNORECASE),
    re.compile(r"\bsafe[\s\-]*harbou?r\b", re.IGNORECASE),
    _phrase("undue reliance"),
    re.compile(r"(?:undertake|assume)s?\s*(?:no|any)\s*(?:obligation|duty)|do\s*not\s*undertake", re.IGNORECASE),
    _phrase("speak only as of", "speaks only as of"),
    _phrase("differ materially"),
    _phrase("within the meaning of"),
    # the list of words that identify such statements: "anticipate," "believe," "could," "estimate," ...
    re.compile(
        r"(?:[\"“']\s*(?:anticipates?|believes?|could|estimates?|expects?|intends?|may|plans?|projects?|"
        r"predicts?|potential|should|will|would|continue|seeks?|targets?)\s*[,\"”']{1,3}.{0,20}?){4}",
        re.IGNORECASE | re.DOTALL,
    ),
)

# ---------------------------------------------------------------- exhibit lists, consents to incorporation
# "3.1", "10.25*", "31.1", "101.INS": an exhibit number, not a decimal amount ("8.00%", "17.5 million")
_EXHIBIT_NUMBER = re.compile(
    r"(?<![\w.,$])(?:\d{1,3}\.\d{1,2}[*†‡#+]?|101\.(?:INS|SCH|CAL|DEF|LAB|PRE))(?![\w%,.]|\s*(?:million|billion|%))"
)
_FORM_CODE = re.compile(r"\b(?:10-K|10-Q|8-K|S-1|S-3|S-4|S-8|20-F|40-F|DEF\s*14A)(?:/A)?\b")
_FILE_NUMBER = re.compile(r"\b(?:001|000|333|002)-\d{5,6}\b")
_EXHIBIT_CUES = (
    _phrase("incorporated by reference", "incorporated herein by reference"),
    _phrase("filed herewith", "furnished herewith", "provided herewith", "herewith"),
    re.compile(r"\bXBRL\b"),
    re.compile(r"\bexhibit\s*(?:index|no\.|number|description)|\blist\s*of\s*exhibits\b", re.IGNORECASE),
)
_LEGAL_DOCUMENT = re.compile(
    r"\b(?:Agreement|Indenture|Certificate\s*of\s*Incorporation|Bylaws|Form\s*of|Amendment|Plan)\b"
)
_CONSENT = _phrase("consent to the incorporation by reference")
_REGISTRATION = re.compile(r"\bRegistration\s*Statements?\b.{0,80}?\b333-\d{5,6}", re.DOTALL)

# ---------------------------------------------------------------- signature blocks, powers of attorney
_SIGNATURE_FORMULAS = (
    _phrase(
        "duly caused this report to be signed",
        "duly caused this annual report to be signed",
        "duly caused this quarterly report to be signed",
        "duly caused this registration statement to be signed",
        "duly caused this amendment to be signed",
    ),
    _phrase("thereunto duly authorized"),
    _phrase("know all persons by these presents", "know all men by these presents"),
    re.compile(r"attorneys?[\s\-]*in[\s\-]*fact", re.IGNORECASE),
)
_SLASH_S = re.compile(r"/s/")

# ---------------------------------------------------------------- tables of contents
_CONTENTS_WORD = re.compile(r"\btable\s*of\s*contents\b|^\s*contents\s*$", re.IGNORECASE | re.MULTILINE)
_ITEM_REF = re.compile(r"\b(?:item|part)\s+(?:\d{1,2}[A-C]?|[IVX]{1,4})\b", re.IGNORECASE)
# "Risk Factors 11": words, then one page number, no other digit on the line
_PAGE_LINE = re.compile(r"^[^\d\n]{3,80}?[\s.]+\d{1,3}\s*$", re.MULTILINE)


def _contents(text: str) -> bool:
    if not _CONTENTS_WORD.search(text):
        return False
    return len(_ITEM_REF.findall(text)) >= 4 or len(_PAGE_LINE.findall(text)) >= 6


def _exhibits(text: str) -> bool:
    if _CONSENT.search(text) and _REGISTRATION.search(text):
        return True  # an auditor's consent: the list of registration statements it applies to
    numbers = len(_EXHIBIT_NUMBER.findall(text))
    if numbers < 4:
        return False
    structure = _cues(text, _EXHIBIT_CUES)
    structure += len(_FORM_CODE.findall(text)) >= 2
    structure += len(_FILE_NUMBER.findall(text)) >= 2
    structure += len(_LEGAL_DOCUMENT.findall(text)) >= 3
    return structure >= 2


def _signatures(text: str) -> bool:
    formulas = _cues(text, _SIGNATURE_FORMULAS)
    signed = len(_SLASH_S.findall(text))
    return formulas >= 2 or (formulas >= 1 and signed >= 1) or signed >= 3


def _certification(text: str) -> bool:
    cues = _cues(text, _CERT_CUES)
    if _I_CERTIFY.search(text):
        return cues >= 1
    return cues >= 3 and _CERT_FIRST_PERSON.search(text) is not None


def _forward_looking(text: str) -> bool:
    mentions = len(_FORWARD_LOOKING.findall(text))
    if not mentions:
        return False
    cues = _cues(text, _FLS_CUES)
    # a notice names the Reform Act / safe harbour or piles up its caveats; a passage that merely says that
    # "the following discussion contains forward-looking statements" carries one caveat at most
    return cues >= 3 or (cues >= 2 and mentions >= 2)


_CHECKS: Final = (
    ("contents", _contents),
    ("exhibits", _exhibits),
    ("signatures", _signatures),
    ("certification", _certification),
    ("forward_looking", _forward_looking),
)


def classify(text: str) -> str | None:
    """The boilerplate kind of ``text`` (one of ``KINDS``), or None for ordinary text."""
    for kind, check in _CHECKS:
        if check(text):
            return kind
    return None
