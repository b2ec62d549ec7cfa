"""The hand-written demo eval set: schema, size, and every gold quote verbatim in its file (never furniture)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from eval.datasets import EvalQuestion, load_eval_set
from eval.metrics import key_fact_coverage, tokens

REPO = Path(__file__).resolve().parents[2]
DEMO_SET = REPO / "eval" / "demo.jsonl"
DEMO_DIR = REPO / "data" / "demo"

# Page furniture of the two scraped articles: banners, buttons, captions, bylines, site blurbs, footers.
FURNITURE = [
    "Our Privacy Statement & Cookie Policy",
    "By continuing to browse our site you agree to our use of cookies, revised Privacy Policy and Terms of Use.",
    "You can change your cookie settings through your browser.",
    "I agree",
    "Representative image. /VCG",
    "Zhao Chenchen",
    "Search Trends",
    "TLG logo",
    "The Leaders Globe",
    "Welcome to The Leaders Globe.",
    "This is the largest online and print community platform to acquaint with the global Leaders from diverse "
    "industries who make the world a better place.",
    "Our aim is to divulge the secrets of the global solution and service leader providers’ success.",
    "© 2016-2024 TLG MEDIA LLP. ALL RIGHTS RESERVED.",
]


@pytest.fixture(scope="module")
def questions() -> list[EvalQuestion]:
    return load_eval_set(DEMO_SET)


@pytest.fixture(scope="module")
def texts() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in DEMO_DIR.glob("*.txt")}


def test_size_and_mix(questions: list[EvalQuestion]) -> None:
    lines = [line for line in DEMO_SET.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert len(lines) == len(questions) >= 45
    unanswerable = [q for q in questions if not q.answerable]
    assert len(unanswerable) >= 12
    assert all("unanswerable" in q.tags for q in unanswerable)
    assert {q.question for q in unanswerable} >= {
        "Who won the 2022 FIFA World Cup?",
        "What was Nvidia's revenue in 2024?",
        "Which Dutch company makes lithography machines?",
    }
    tags = {t for q in questions for t in q.tags}
    assert {"multi-doc", "lowercase", "no-question-mark", "lexical-gap", "paraphrase"} <= tags


def test_file_is_the_documented_schema() -> None:
    for line in DEMO_SET.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        assert set(row) == {"id", "question", "answerable", "reference", "key_facts", "gold", "tags", "split"}
        assert all(set(g) == {"source", "quote"} for g in row["gold"])


def test_splits_are_the_halves_by_id_hash(questions: list[EvalQuestion]) -> None:
    """The tuning and held-out halves are fixed by the id, so a new question cannot be placed by hand."""
    for q in questions:
        assert q.split == ("tune" if int(hashlib.sha1(q.id.encode()).hexdigest(), 16) % 2 == 0 else "heldout")
    for split in ("tune", "heldout"):
        group = [q for q in questions if q.split == split]
        assert len(group) >= 25 and sum(not q.answerable for q in group) >= 5


def test_gold_quotes_occur_verbatim_in_their_files(questions: list[EvalQuestion], texts: dict[str, str]) -> None:
    assert set(texts) == {"cgtn-us-chip-guidance-huawei.txt", "tlg-us-refocuses-ai-chip-restrictions.txt"}
    for q in questions:
        for g in q.gold:
            assert g.source in texts, f"{q.id}: unknown source {g.source}"
            assert g.quote in texts[g.source], f"{q.id}: not verbatim in {g.source}: {g.quote!r}"
            assert g.quote == g.quote.strip() and "\n" not in g.quote, f"{q.id}: quote spans lines"


def test_no_gold_quote_is_page_furniture(questions: list[EvalQuestion], texts: dict[str, str]) -> None:
    for line in FURNITURE:  # the list itself is taken from the files
        assert any(line in text for text in texts.values()), line
    for q in questions:
        for g in q.gold:
            for line in FURNITURE:
                assert line not in g.quote and g.quote not in line, f"{q.id} quotes furniture: {line!r}"


def test_key_facts_are_in_the_source_the_gold_quotes_and_the_reference(
    questions: list[EvalQuestion], texts: dict[str, str]
) -> None:
    for q in [q for q in questions if q.answerable]:
        assert q.key_facts, q.id
        sources = " ".join(texts[g.source] for g in q.gold)
        quotes = " ".join(g.quote for g in q.gold)
        for fact in q.key_facts:
            assert fact.lower() in sources.lower(), f"{q.id}: {fact!r} not verbatim in the source"
        # an answer that quotes the gold passages covers every key fact
        assert key_fact_coverage(quotes, q.key_facts) == 1.0, q.id
        assert key_fact_coverage(q.reference, q.key_facts) == 1.0, q.id


def test_tags_describe_the_phrasing(questions: list[EvalQuestion]) -> None:
    for q in questions:
        if "lowercase" in q.tags:
            assert q.question == q.question.lower(), q.id
        if "no-question-mark" in q.tags:
            assert not q.question.rstrip().endswith("?"), q.id
        if "multi-doc" in q.tags or "either-doc" in q.tags:
            assert len({g.source for g in q.gold}) == 2, q.id
        if "lexical-gap" in q.tags:
            # few of the question's content words appear in the gold text
            content = {t for t in tokens(q.question) if len(t) > 3}
            gold = set(tokens(" ".join(g.quote for g in q.gold)))
            assert len(content & gold) <= len(content) / 2, q.id


def test_the_readme_example_is_in_the_set(questions: list[EvalQuestion]) -> None:
    q = next(q for q in questions if q.question == "What replaced the Diffusion Rule?")
    assert "multi-doc" in q.tags
    quotes = " ".join(g.quote for g in q.gold)
    assert "revised policy" in quotes and "pivoted toward this more aggressive interpretation" in quotes
