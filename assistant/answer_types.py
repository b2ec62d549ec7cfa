"""Expected answer types of questions, and the evidence of each type in a sentence.

As in classic TREC-style factoid QA, the question word and the noun it asks
about say what kind of answer is wanted ("when" -> a date, "how many" -> a
number, "which newspaper" -> an organisation name, "why" -> a reason, "what
replaced X" -> a successor), and a sentence that answers the question usually
contains something of that kind that the question itself does not mention.
Pure functions over text, no models and nothing specific to one corpus.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from enum import StrEnum

__all__ = [
    "STRICT_TYPES",
    "AnswerType",
    "as_statement",
    "asking_sentence",
    "asks_for_explanation",
    "cue_reference",
    "expected_type",
    "is_table_row",
    "type_evidence",
    "type_words",
]


class AnswerType(StrEnum):
    DATE = "date"
    DURATION = "duration"
    NUMBER = "number"
    MONEY = "money"
    PERCENT = "percent"
    PERSON = "person"
    ORGANIZATION = "organization"
    LOCATION = "location"
    NAME = "name"  # a named thing: a product, a law, a model
    REASON = "reason"
    SUBSTITUTION = "substitution"  # what replaced / succeeded something
    STATEMENT = "statement"  # what someone said, claimed, warned or accused others of


# An answer of these types must state a value of the type: a sentence without one does not answer.
STRICT_TYPES = frozenset(
    {AnswerType.DATE, AnswerType.DURATION, AnswerType.NUMBER, AnswerType.MONEY, AnswerType.PERCENT}
)

# ------------------------------------------------------------------ questions

_YES_NO = frozenset(
    "is are was were am do does did has have had can could will would shall should may might must".split()
)
_AUX = frozenset("do does did will would can could shall should may might must has have had".split())
_BE = frozenset("is are was were be been".split())
_SKIP = frozenset("the a an its their his her our your my this that these those some any major main".split())
_WH = ("when", "where", "who", "whom", "whose", "why", "how", "what", "which", "name", "list")

_HEAD_NOUNS: dict[AnswerType, frozenset[str]] = {
    AnswerType.DATE: frozenset(
        "day days date dates year years month months week time era decade century season".split()
    ),
    AnswerType.MONEY: frozenset(
        "revenue revenues price prices cost costs fine fines fee fees salary budget profit profits income sales "
        "valuation funding penalty penalties turnover earnings".split()
    ),
    AnswerType.PERCENT: frozenset("percentage percent rate rates share proportion fraction".split()),
    AnswerType.NUMBER: frozenset("number count amount quantity size population total figure".split()),
    AnswerType.PERSON: frozenset(
        "person people man woman men women ceo boss leader leaders official officials executive executives "
        "spokesperson spokesman spokeswoman minister president secretary founder chairman chairwoman analyst "
        "analysts author reporter director head".split()
    ),
    AnswerType.ORGANIZATION: frozenset(
        "company companies firm firms chipmaker chipmakers maker makers manufacturer manufacturers startup "
        "startups newspaper newspapers paper agency agencies department departments ministry organization "
        "organisation organizations organisations bank banks university administration government governments "
        "group brand bureau body outlet publication publisher party institution".split()
    ),
    AnswerType.LOCATION: frozenset(
        "country countries nation nations city cities region regions place places province provinces "
        "continent capital town state states".split()
    ),
    AnswerType.NAME: frozenset(
        "processor processors chip chips product products model models rule rules law laws regulation "
        "regulations policy bill act program programme system technology device project platform app software "
        "service book film".split()
    ),
}
_MONEY_WORDS = frozenset(
    "cost costs price pay paid spend spent invest invested worth money charge charged fund funded raise raised "
    "earn earned fine fined revenue budget sell sold buy bought".split()
)
# "what did X pay ...", "what will it cost": verbs whose object, asked by "what", is a sum of money ("what did X
# buy", "what did they raise" ask for things as often)
_PAYING_VERBS = frozenset("pay pays paid spend spends spent cost costs charge charges charged".split())
# "how much did X cut its costs": a change is answered by a percentage ("by roughly 40 percent") as well as by
# an amount, so such a question wants a number of any kind, not money
_CHANGE_WORDS = frozenset(
    """cut cuts cutting reduce reduces reduced reducing lower lowered lowers increase increases increased
    decrease decreases decreased rise rises rose risen fall falls fell fallen grow grows grew grown drop drops
    dropped decline declines declined change changes changed improve improves improved gain gains gained jump
    jumps jumped climb climbs climbed shrink shrinks shrank shrunk expand expands expanded boost boosts boosted
    slash slashes slashed trim trims trimmed exceed exceeds exceeded differ differs differed""".split()
)
_SUBSTITUTION_Q = re.compile(
    r"\b(?:replac\w*|succeed(?:ed|s)?|successor|supersed\w*|supplant\w*|took the place|take the place|"
    r"takes the place|came after|comes after|in place of|instead of|alternative)\b"
)
_REASON_Q = re.compile(r"\b(?:what|which) (?:\w+ )?(?:caused?|causes|led to|leads to|drove|prompted|motivated)\b")
_WORDS = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")
# words after a time noun that make it a modifier naming a period ("year end", "month ending")
_PERIOD_END = frozenset("end ending".split())
_SPEECH_VERBS = frozenset(
    "say says said tell told claim claimed argue argued warn warned accuse accused declare declared state stated "
    "announce announced insist insisted allege alleged criticise criticize criticised criticized".split()
)


# a sentence boundary in a question: after "?", or after "." / "!" that ends a word with two lower-case letters or
# digits before it, then a capital ("U.S. Department", "Dr. Lee", "Inc. reported" end no sentence)
_SENTENCES = re.compile(r"(?:(?<=\?)|(?<=[a-z0-9]{2}[.!]))\s+(?=[\"“‘(]*[A-Z])")


def asking_sentence(question: str) -> str:
    """The sentence of ``question`` that asks (the first ending in "?"): "The document mentions the default used
    when entering formulas. What is this default?" asks the second, and its "when" asks for no date."""
    sentences = _SENTENCES.split(question.strip())
    return next((s for s in sentences if s.rstrip().endswith("?")), question)


def expected_type(question: str) -> AnswerType | None:
    """The kind of answer ``question`` asks for, or None (yes/no, how/what-did questions)."""
    text = asking_sentence(question).lower().replace("’", "'")
    words = _WORDS.findall(text)
    if not words:
        return None
    if _SUBSTITUTION_Q.search(text) and words[0] in ("what", "which", "who"):
        return AnswerType.SUBSTITUTION
    if _REASON_Q.search(text) or words[0] == "why":
        return AnswerType.REASON
    if words[0] in _YES_NO:
        return None
    if words[0] == "what" and len(words) > 2 and words[1] in _AUX and _SPEECH_VERBS.intersection(words[2:]):
        return AnswerType.STATEMENT
    if words[0] == "what" and len(words) > 2 and words[1] in _AUX and _PAYING_VERBS.intersection(words[2:]):
        return AnswerType.MONEY  # "what did the city pay for the bridge?": a sum
    at = next((i for i, w in enumerate(words) if w in _WH), None)
    if at is None:
        return None
    wh, rest = words[at], words[at + 1 :]
    nxt = rest[0] if rest else ""
    if wh == "when":
        return AnswerType.DATE
    if wh == "where":
        return AnswerType.LOCATION
    if wh == "why":
        return AnswerType.REASON
    if wh in ("who", "whom", "whose"):
        return AnswerType.PERSON
    if wh == "how":
        if nxt == "many":
            return AnswerType.NUMBER
        if nxt == "much":
            if _CHANGE_WORDS.intersection(rest) or words[at - 1 : at] == ["by"]:
                return AnswerType.NUMBER  # by how much it changed: an amount or a percentage
            return AnswerType.MONEY if _MONEY_WORDS.intersection(rest) else AnswerType.NUMBER
        if nxt == "long":
            return AnswerType.DURATION
        if nxt in ("old", "far", "big", "large", "tall", "heavy", "fast", "high"):
            return AnswerType.NUMBER
        return None
    # what / which / name / list: the noun it asks about, within the next few words. After a form of
    # "be", only a noun phrase with a determiner is what is asked about ("what is the capital of ...");
    # a bare one is the subject ("what are technology restrictions becoming ...").
    if nxt in _BE and len(rest) > 1 and not (rest[1] in _SKIP or rest[1].endswith("'s")):
        return None
    seen = 0
    for k, w in enumerate(rest):
        if w in _AUX:
            break
        if w in _BE or w in _SKIP or w.endswith("'s"):
            continue
        if w in _TIME_NOUNS and rest[k + 1 : k + 2] and rest[k + 1] in _PERIOD_END:
            continue  # "the year end total of ...": the time noun names a period, not what is asked
        if k > 0 and rest[k - 1] in _TIME_NOUNS and w in _PERIOD_END:
            continue
        for answer_type, nouns in _HEAD_NOUNS.items():
            if w in nouns:
                return answer_type
        seen += 1
        if seen >= 3:
            break
    return None


# Questions that want several facts or an explanation rather than one fact (TREC "list" and "other"
# questions): an imperative (explain, describe ...), a plural or counted list, a comparison, or two
# questions in one.
_EXPLAIN_VERB = re.compile(
    r"^(?:please\s+)?(?:explain|describe|discuss|summari[sz]e|outline|compare|contrast|elaborate|list|give|provide|"
    r"tell me about|walk me through)\b"
)
_LIST_Q = re.compile(
    r"\b(?:what|which)\s+(?:are|were)\s+(?:the|some|all|any|its|their|his|her|our|these|those|two|three|four|"
    r"five|several|various)\b|\b(?:advantages|disadvantages|benefits|drawbacks|pros and cons|"
    r"differences?|similarities|steps|stages|features|components|challenges|issues|problems|factors|ways|"
    r"examples|types|kinds)\b|\b(?:two|three|four|five|six|several|some|main|key)\s+(?:\w+\s+)?"
    r"(?:\w+s)\b|\bhow\s+(?:does|do|did|can|could|is|are)\b.*\b(?:work|works|handle|handles|achieve|"
    r"achieves|address|addresses|improve|improves|differ|differs)\b"
)
_SECOND_QUESTION = re.compile(r"[?.]\s+\S.*\?|,?\s+and\s+(?:how|what|why|which|who|where|when)\b")


def asks_for_explanation(question: str) -> bool:
    """Whether ``question`` asks for an explanation or a list (several sentences) rather than one fact."""
    text = " ".join(question.lower().replace("’", "'").split())
    return bool(_EXPLAIN_VERB.search(text) or _LIST_Q.search(text) or _SECOND_QUESTION.search(text))


_TIME_NOUNS = frozenset("day days date dates week weeks month months year years time period".split())


def type_words(question: str, answer_type: AnswerType | None) -> set[str]:
    """Lower-cased words of ``question`` that only say what kind of answer it wants ("replaced" in
    "what replaced X", "day" and "week" in "on which day of the week"): an answer states a value of
    the type instead of repeating them, so they are not terms to look for."""
    text = question.lower().replace("’", "'")
    if answer_type == AnswerType.SUBSTITUTION:
        return {w for m in _SUBSTITUTION_Q.finditer(text) for w in _WORDS.findall(m.group())}
    if answer_type in (AnswerType.DATE, AnswerType.DURATION):
        return set(_TIME_NOUNS.intersection(_WORDS.findall(text)))
    return set()


# ------------------------------------------------------------------ evidence in sentences

_MONTHS = (
    r"January|February|March|April|June|July|August|September|October|November|December|"
    r"Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec"
)
_NUMBER_WORDS = (
    r"two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|fifty|sixty|"
    r"seventy|eighty|ninety|hundreds?|thousands?|millions?|billions?|trillions?|dozens?"
)
_NUM = r"(?<![\w.])\d[\d,]*(?:\.\d+)?(?![\w])"
_UNITS = r"(?:seconds?|minutes?|hours?|days?|weeks?|months?|years?|decades?|centuries|quarters?)"
_CURRENCY = r"(?:dollars?|euros?|pounds?|yen|yuan|renminbi|rupees?|francs?|usd|eur|gbp|cny|rmb)"

# (pattern, weight): the weight says how surely a match is a value of the type
_PATTERNS: dict[AnswerType, list[tuple[re.Pattern[str], float]]] = {
    AnswerType.DATE: [
        (re.compile(rf"\b(?:{_MONTHS})\.?(?:\s+\d{{1,2}}(?:st|nd|rd|th)?)?(?:,?\s+\d{{4}})?\b"), 1.0),
        (re.compile(r"\bMay\s+\d{1,2}\b|\b(?:in|on|since|until|by|of|early|late|mid-?)\s+May\b"), 1.0),
        (re.compile(r"\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)s?\b"), 1.0),
        (re.compile(r"(?<![\w.])(?:1[5-9]\d\d|20\d\d)s?(?![\w])"), 1.0),
        (re.compile(r"\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b\d{4}-\d{2}-\d{2}\b"), 1.0),
        (
            re.compile(
                r"\b(?:yesterday|today|tomorrow|tonight|(?:last|next|this|earlier this|later this|past)\s+"
                r"(?:week|weekend|month|year|spring|summer|autumn|fall|winter|quarter|decade|century))\b",
                re.IGNORECASE,
            ),
            0.5,
        ),
    ],
    AnswerType.DURATION: [
        (re.compile(rf"(?:{_NUM}|\b(?:{_NUMBER_WORDS}|several|a few)\b)[\s-]+{_UNITS}\b", re.IGNORECASE), 1.0),
        (re.compile(rf"\b(?:an?|one)\s+{_UNITS}\b", re.IGNORECASE), 0.5),
    ],
    AnswerType.NUMBER: [
        (re.compile(_NUM), 1.0),
        (re.compile(rf"\b(?:{_NUMBER_WORDS})\b", re.IGNORECASE), 0.8),
    ],
    AnswerType.MONEY: [
        (re.compile(rf"[$€£¥]\s?\d|{_NUM}\s*(?:million|billion|trillion|bn|m)?\s*{_CURRENCY}\b", re.IGNORECASE), 1.0),
        (re.compile(r"\b(?:USD|EUR|GBP|CNY|RMB|US\$)\s?\d"), 1.0),
        (re.compile(rf"{_NUM}\s*(?:million|billion|trillion)\b", re.IGNORECASE), 0.5),
    ],
    AnswerType.PERCENT: [
        (re.compile(rf"(?:{_NUM}|\b(?:{_NUMBER_WORDS}))\s*(?:%|percent\b|per cent\b|percentage points?\b)"), 1.0),
    ],
}

# Forms a text really uses for a value of a strict type besides the canonical one (weights measured with the
# abstention calibration, docs/abstention.md): "how much ..." is also answered by a percentage (the share of
# revenue) and by a plain number where the text states its unit once ("(in millions)", "$ in thousands");
# a rate by a plain number in a table row whose header carries the "%".
_COMPATIBLE: dict[AnswerType, list[tuple[re.Pattern[str], float]]] = {
    AnswerType.MONEY: [
        (_PATTERNS[AnswerType.PERCENT][0][0], 0.5),
        (re.compile(rf"{_NUM}(?=.*\(?\$?\s*in\s+(?:millions|thousands|billions)\b)", re.IGNORECASE), 0.8),
        (re.compile(rf"\b(?:in\s+(?:millions|thousands|billions))\b.*?({_NUM})", re.IGNORECASE), 0.8),
    ],
    AnswerType.PERCENT: [(re.compile(r"\b\d+(?:\.\d+)?\s*(?:basis points|bps)\b", re.IGNORECASE), 0.8)],
}
_ROW_VALUE_WEIGHT = 0.8  # a number in a table row, for a money or rate question (the unit is in a header)
# a table row as ingest serialises it: "label — header: value; header: value" on one line, a value with a digit
_TABLE_ROW = re.compile(r"^[^\n]*?\S\s+—\s+[^\n:]*?:\s*[^\n]*?\d[^\n]*$")
_ROW_VALUES = re.compile(r":\s*([^;:]*?\d[^;:]*?)(?=;|$)")


def is_table_row(line: str) -> bool:
    """Whether ``line`` is a serialised table row ("Net sales — 2023: $ 81,797; 2022: $ 82,959"): a complete
    statement of values although it has no sentence-final punctuation."""
    return _TABLE_ROW.match(line.strip()) is not None


_CAP_RUN = re.compile(r"\b[A-Z][\w'’&.-]*(?:\s+(?:of|and|for|the|de|&)?\s*[A-Z][\w'’&.-]*)*")
_MODEL_NAME = re.compile(r"\b(?=[A-Za-z]*\d)(?=\d*[A-Za-z])[A-Za-z\d]{2,}\b")  # H100, 910D, GPT4
_ROLES = re.compile(
    r"\b(?:spokesperson|spokesman|spokeswoman|ceo|chief|president|minister|secretary|chairman|chairwoman|"
    r"director|founder|executives?|officials?|leaders?|analysts?|experts?|officers?|governor|senator|ambassador|"
    r"boss|manager|researchers?|scientists?|professor|reporters?|journalists?|author)\b",
    re.IGNORECASE,
)
_ORG_WORDS = re.compile(
    r"\b(?:Inc|Corp|Corporation|Ltd|LLC|Group|Company|Bureau|Department|Ministry|Agency|University|Journal|Times|"
    r"Post|News|Administration|Commission|Council|Institute|Bank|Association|Foundation|Committee|Office)\b"
)
_PLACE_PREP = re.compile(r"\b(?:in|at|from|to|near|across|throughout|within|outside|inside)\s+(?:the\s+)?[A-Z]\w+")
_REASON_CUES: list[tuple[re.Pattern[str], float]] = [
    (
        re.compile(
            r"\b(?:because|due to|owing to|as a result|so that|in order to|therefore|thus|hence|consequently|"
            r"reasons?|caused?|causes|leads? to|led to|driven by|thanks to|result(?:s|ed)? in)\b",
            re.IGNORECASE,
        ),
        1.0,
    ),
    (
        re.compile(
            r"\b(?:could|would|might|may|will|can)\s+(?:\w+\s+)?(?:harm|hurt|undermine|damage|strain|threaten|"
            r"weaken|hinder|impede|jeopardi[sz]e|stifle|cost)\b",
            re.IGNORECASE,
        ),
        0.8,
    ),
    (
        re.compile(
            r"\b(?:harms?|hurts?|risks?|threat\w*|fears?|concerns?|challenges?|difficult\w*|hard|problems?|"
            r"undermin\w*|strain\w*|requires?|poses?|obstacles?|costly|burden\w*|damag\w*)\b",
            re.IGNORECASE,
        ),
        0.6,
    ),
]
_SUBSTITUTION_CUES: list[tuple[re.Pattern[str], float]] = [
    (
        re.compile(
            r"\b(?:instead|rather than|in place of|replac\w*|successors?|succeeded|supersed\w*|supplant\w*|"
            r"revised|pivot\w*|overhaul\w*)\b",
            re.IGNORECASE,
        ),
        1.0,
    ),
    (re.compile(r"\b(?:new|now|shift\w*|switch\w*|adopt\w*|updated|turned to|moved to)\b", re.IGNORECASE), 0.6),
]
_QUOTATION = re.compile(r"[\"“][^\"“”]*?\w+\W+\w+\W+\w+[^\"“”]*[\"”]")  # a quotation of three or more words
_REPORTED = re.compile(
    r"\b(?:said|says|stated|states|told|claimed|claims|argued|argues|warned|warns|warning|accused|accuses|declared|"
    r"declaring|announced|insisted|alleged|noted)\b(?:\s+\w+){0,6}?\s+(?:that|of)\b",
    re.IGNORECASE,
)
_TOKEN = re.compile(r"[a-z0-9]+")


# An aside that describes something the sentence names rather than what the sentence reports: a relative
# clause ("The rule, which was scheduled to take effect on May 15, ...") or a participle phrase ("The
# statement, released by the Bureau on Tuesday, ..."). A date or number in it dates or counts that thing,
# not the sentence's event, so it answers a question about something else less surely.
_ASIDE = re.compile(r",\s+(?:which|who|whom|whose|[a-z]+ed\s+(?:by|on|in|at|from|for|to))\b[^,;:–—]*")
_ANTECEDENT = re.compile(r"(?:[\w’'-]+\s+){0,2}[\w’'-]*$")  # the words an aside describes: "The statement"
_ASIDE_WEIGHT = 0.6  # ... unless the aside speaks of what the question asks about
_SHORT = frozenset("which who whom whose that this with from were been have will would".split())


def _shares_words(text: str, question_words: Collection[str]) -> bool:
    """Whether ``text`` has a content word (four letters or more) of the question, compared by its first five
    letters ("scheduled" ~ "schedule")."""
    prefixes = {w[:5] for w in question_words if len(w) >= 4 and w not in _SHORT}
    return any(w[:5] in prefixes for w in _TOKEN.findall(text.lower()) if len(w) >= 4 and w not in _SHORT)


def _unrelated_asides(sentence: str, question_words: Collection[str]) -> list[tuple[int, int]]:
    """Spans of the asides of ``sentence`` that, with the words they describe, share no word with the question."""
    spans: list[tuple[int, int]] = []
    for aside in _ASIDE.finditer(sentence):
        described = _ANTECEDENT.search(sentence[: aside.start()])
        text = (described.group() if described else "") + aside.group()
        if not _shares_words(text, question_words):
            spans.append(aside.span())
    return spans


def _new(match_text: str, exclude: Collection[str]) -> bool:
    """Whether a match says something the question does not (some word of it is not a question word)."""
    words = _TOKEN.findall(match_text.lower().replace(".", ""))
    return any(w not in exclude for w in words)


# function words a sentence may start with before a name ("The Bureau", "On Tuesday")
_LEADING_WORDS = frozenset(
    "the a an on in at after before since during while when if as by for from with this that these those "
    "its their his her our some many most all both each such despite according however instead".split()
)


def _first_word_span(sentence: str) -> int:
    m = re.search(r"[A-Za-z0-9]", sentence)
    return m.start() if m else 0


def _names(sentence: str, exclude: Collection[str]) -> float:
    """Evidence of a proper name: 1.0 for a multi-word or organisation-like name, 0.7 for one capitalised word."""
    first = _first_word_span(sentence)
    best = 0.0
    for m in _CAP_RUN.finditer(sentence):
        text = m.group().rstrip(".’'")
        if m.start() == first:  # a capitalised first word alone is not evidence of a name
            parts = text.split(maxsplit=1)
            if len(parts) == 1:
                continue
            if parts[0].lower().strip(".,") in _LEADING_WORDS:  # "The Bureau", "On Tuesday"
                text = parts[1]
        if not _new(text, exclude):
            continue
        words = [w for w in text.split() if w[:1].isupper()]
        best = max(best, 1.0 if len(words) >= 2 or _ORG_WORDS.search(text) else 0.7)
    for m in _MODEL_NAME.finditer(sentence):
        if _new(m.group(), exclude):
            best = max(best, 0.7)
    return best


def type_evidence(sentence: str, answer_type: AnswerType, exclude: Collection[str] = ()) -> float:
    """How surely ``sentence`` contains a value of ``answer_type`` not already in the question (0..1).

    ``exclude`` holds the question's lower-cased words: a date, number or name
    made only of them does not count (the question already says it).
    """
    excluded = {w.lower() for w in exclude}
    if answer_type in _PATTERNS:
        asides = _unrelated_asides(sentence, excluded)
        found = max(
            (
                w * (_ASIDE_WEIGHT if any(lo <= m.start() < hi for lo, hi in asides) else 1.0)
                for p, w in [*_PATTERNS[answer_type], *_COMPATIBLE.get(answer_type, [])]
                for m in p.finditer(sentence)
                if _new(m.group(m.lastindex or 0), excluded)
            ),
            default=0.0,
        )
        if (
            answer_type in (AnswerType.MONEY, AnswerType.PERCENT)
            and found < _ROW_VALUE_WEIGHT
            and is_table_row(sentence)
        ):
            values = (m.group(1) for m in _ROW_VALUES.finditer(sentence.strip()))
            if any(re.search(_NUM, v) and _new(v, excluded) for v in values):
                found = _ROW_VALUE_WEIGHT
        return found
    if answer_type in (AnswerType.ORGANIZATION, AnswerType.NAME):
        return _names(sentence, excluded)
    if answer_type == AnswerType.PERSON:
        roles = 0.6 if any(_new(m.group(), excluded) for m in _ROLES.finditer(sentence)) else 0.0
        return max(_names(sentence, excluded), roles)
    if answer_type == AnswerType.LOCATION:
        place = 1.0 if any(_new(m.group().split()[-1], excluded) for m in _PLACE_PREP.finditer(sentence)) else 0.0
        return max(place, 0.6 * _names(sentence, excluded))
    if answer_type == AnswerType.STATEMENT:
        quoted = _QUOTATION.search(sentence) is not None
        reported = _REPORTED.search(sentence) is not None
        return 1.0 if quoted or reported else 0.0
    cues = _REASON_CUES if answer_type == AnswerType.REASON else _SUBSTITUTION_CUES
    return max((w for p, w in cues for m in p.finditer(sentence) if _new(m.group(), excluded)), default=0.0)


# a demonstrative phrase right after a cue: "pivoted toward this more aggressive interpretation", "because of these"
_AFTER_CUE = re.compile(r"\W+(?:[a-z]+\s+){0,2}?([Tt]h(?:is|ese)\s+(?:[a-z][a-z’'-]*\s*){1,3})")
# words that end a demonstrative phrase ("this is", "these will")
_PHRASE_END = frozenset(
    """is are was were be been will would may might can could has have had do does did to of in on for with by from
    that which who as at and or but not""".split()
)
# "this month", "this spring": a demonstrative that points at the calendar, not at something named before
_CALENDAR_NOUNS = _TIME_NOUNS | frozenset(
    """times quarter season spring summer autumn fall winter morning afternoon evening night decade century era
    moment point stage""".split()
)


def _demonstrative(phrase: str) -> str | None:
    """``phrase`` up to the first word that ends it ("these rules were" -> "these rules"); None for a calendar
    phrase or a bare demonstrative."""
    head, *rest = phrase.split()
    words: list[str] = []
    for w in rest:
        if w in _PHRASE_END:
            break
        words.append(w)
    if not words or words[0] in _CALENDAR_NOUNS:
        return None
    return " ".join([head, *words])


def cue_reference(sentence: str, answer_type: AnswerType) -> str | None:
    """The demonstrative phrase a reason or successor cue of ``sentence`` points to, if any.

    "After walking back the rule, the U.S. has now pivoted toward this more aggressive interpretation": the
    successor the sentence offers is "this more aggressive interpretation", named somewhere before it.
    "this month" and the like point at the calendar and do not count.
    """
    if answer_type == AnswerType.REASON:
        cues = _REASON_CUES
    elif answer_type == AnswerType.SUBSTITUTION:
        cues = _SUBSTITUTION_CUES
    else:
        return None
    for pattern, _weight in cues:
        for m in pattern.finditer(sentence):
            after = _AFTER_CUE.match(sentence, m.end())
            if after is not None:
                return _demonstrative(after.group(1))
    return None


_WH_AUX = re.compile(
    r"^\s*(?:according to [^,]+,\s*)?(?:what|when|where|who|whom|whose|why|how|which)(?:\s+\w+){0,2}?\s+"
    r"(?:did|does|do|is|are|was|were|will|would|can|could|has|have|had|might|may|should)\s+",
    re.IGNORECASE,
)


def as_statement(question: str) -> str:
    """The question without its question word and auxiliary ("When did X announce Y?" -> "X announce Y")."""
    return _WH_AUX.sub("", question).rstrip(" ?")
