"""Furniture removal on the demo corpus and on general scraped-page patterns."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from ingest.cleaning import clean_pages, clean_text
from ingest.loaders import read_document

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
CGTN = DEMO / "cgtn-us-chip-guidance-huawei.txt"
TLG = DEMO / "tlg-us-refocuses-ai-chip-restrictions.txt"

# The furniture paragraphs of the two scraped files, as they appear in the raw text.
FURNITURE = {
    CGTN.name: [
        "Our Privacy Statement & Cookie Policy",
        "By continuing to browse our site you agree to our use of cookies, revised Privacy Policy and Terms of Use."
        " You can change your cookie settings through your browser.",
        "I agree",
        "Representative image. /VCG\nRepresentative image. /VCG",
        "Representative image. /VCG",
        "Search Trends",
    ],
    TLG.name: [
        "TLG logo",
        "The Leaders Globe",
        "Welcome to The Leaders Globe. This is the largest online and print community platform to acquaint with the"
        " global Leaders from diverse industries who make the world a better place. Our aim is to divulge the secrets"
        " of the global solution and service leader providers’ success.",
        "© 2016-2024 TLG MEDIA LLP. ALL RIGHTS RESERVED.",
    ],
}
FURNITURE_MARKERS = [
    "cookie", "Privacy", "I agree", "Representative image", "/VCG", "Search Trends", "TLG logo",
    "Leaders Globe", "Welcome to", "largest online", "©", "ALL RIGHTS RESERVED",
]  # fmt: skip


def _norm(paragraph: str) -> str:
    return "\n".join(" ".join(line.split()) for line in paragraph.strip().split("\n"))


def _raw_paragraphs(path: Path) -> list[str]:
    return [_norm(p) for p in re.split(r"\n\s*\n", path.read_text(encoding="utf-8")) if p.strip()]


@pytest.mark.parametrize("path", [CGTN, TLG], ids=lambda p: p.stem)
def test_demo_furniture_is_removed(path: Path) -> None:
    cleaned = clean_text(path.read_text(encoding="utf-8"))
    for marker in FURNITURE_MARKERS:
        assert marker not in cleaned, marker


@pytest.mark.parametrize("path", [CGTN, TLG], ids=lambda p: p.stem)
def test_demo_every_article_paragraph_is_kept_verbatim(path: Path) -> None:
    furniture = {_norm(p) for p in FURNITURE[path.name]}
    raw = _raw_paragraphs(path)
    assert furniture <= set(raw), "the furniture list no longer matches the file"
    article = [p for p in raw if p not in furniture]
    assert len(article) >= 8
    # exactly the article paragraphs, in order, each verbatim (up to whitespace normalisation)
    assert clean_text(path.read_text(encoding="utf-8")).split("\n\n") == article


def test_demo_titles() -> None:
    assert read_document(CGTN).title == "New U.S. chip guidance on Huawei reveals deeper fears, tougher realities"
    assert read_document(TLG).title == "US Refocuses AI Chip Restrictions on China as Tech Rivalry Deepens"


def test_glued_ui_label_is_stripped_and_the_title_kept() -> None:
    # the CGTN file ends in "Search Trends" without a newline: concatenated, it glues onto the next title
    glued = CGTN.read_text(encoding="utf-8") + TLG.read_text(encoding="utf-8")
    assert "Search TrendsUS Refocuses" in glued
    cleaned = clean_text(glued)
    assert "Search Trends" not in cleaned
    assert "\n\nUS Refocuses AI Chip Restrictions on China as Tech Rivalry Deepens\n\n" in cleaned
    assert "Advertisement" not in clean_text("Some article text here.\nAdvertisementThe next paragraph starts.")
    assert "The next paragraph starts." in clean_text(
        "Some article text here.\nAdvertisementThe next paragraph starts."
    )


def test_whitespace_is_normalised() -> None:
    text = "  Title\u00a0 line \t here \r\n\r\n\r\n\n  First   paragraph\u200b line.\nSecond line.  \n\n\n\nLast."
    assert clean_text(text) == "Title line here\n\nFirst paragraph line.\nSecond line.\n\nLast."
    assert clean_text("") == ""
    assert clean_text(" \n\n \t ") == ""


GENERAL_ARTICLE = [
    "By Monday the repairs were finished and the road reopened.",
    "Grandma baked three batches of cookies for the county fair, and all of them sold out by noon.",
    "The company unveiled a new logo on Monday after months of work with designers.",
    "Share prices fell 3 percent in early trading before recovering.",
    "Analysts said the photo of the launch was widely shared online.",
    "Read more about the history of the bridge in the appendix, the author suggests.",
]
GENERAL_FURNITURE = [
    "We use cookies to personalise content and ads. By clicking Accept you consent to our use of cookies.",
    "Accept all",
    "Manage preferences",
    "Share",
    "Advertisement",
    "Read more »",
    "Related Articles",
    "Photo: Reuters",
    "File photo. /Xinhua",
    "A view of the harbour at dawn. (Photo: Jane Doe)",
    "Home › World › Europe",
    "By Maria Lopez and Tom Reed",
    "Copyright 2023 Example Media Inc. All rights reserved.",
]


def test_general_rules_keep_content_and_drop_furniture() -> None:
    lines: list[str] = []
    for i, furniture in enumerate(GENERAL_FURNITURE):
        lines.extend([furniture, ""])
        if i < len(GENERAL_ARTICLE):
            lines.extend([GENERAL_ARTICLE[i], ""])
    cleaned = clean_text("\n".join(lines))
    for furniture in GENERAL_FURNITURE:
        assert furniture not in cleaned.split("\n"), furniture
    assert cleaned.split("\n\n") == GENERAL_ARTICLE


def test_repeated_short_lines_are_dropped_but_an_echoed_title_is_kept_once() -> None:
    text = (
        "Harbour Bridge Reopens After Repairs\n\nHarbour Bridge Reopens After Repairs\n\nClick to enlarge\n\n"
        "The bridge reopened on Friday after two years of repairs.\n\nClick to enlarge\n\n"
        "Traffic is expected to return to normal within a week."
    )
    assert clean_text(text).split("\n\n") == [
        "Harbour Bridge Reopens After Repairs",
        "The bridge reopened on Friday after two years of repairs.",
        "Traffic is expected to return to normal within a week.",
    ]


def test_footer_logo_and_trailing_boilerplate_are_dropped() -> None:
    article = " ".join(f"Sentence number {i} of the article explains one more detail of the story." for i in range(12))
    text = f"Storm Season Starts Early\n\n{article}\n\nAcme News logo\n\nAcme News\n\nWelcome to Acme News, your home."
    assert clean_text(text) == f"Storm Season Starts Early\n\n{article}"
    # content after the footer is kept; only the site boilerplate goes
    appended = clean_text(f"{text}\n\n© 2024 Acme News. All rights reserved.\n\nA late correction was added.")
    assert appended == f"Storm Season Starts Early\n\n{article}\n\nA late correction was added."
    # a logo line at the top is dropped on its own, without losing the article
    assert clean_text(f"Acme News logo\n\n{article}") == article


def test_clean_pages_removes_page_numbers_running_headers_and_reflows() -> None:
    header = "Annual Report 2024"
    pages = [
        f"{header}\nThe first quarter brought steady growth across all of our regional\n"
        "markets and the new plant began production.\n1",
        f"{header}\nThe second quarter was weaker because of supply prob-\nlems in the eastern region.\n2",
        f"{header}\nThe third quarter recovered fully.\n3",
    ]
    cleaned = clean_pages(pages)
    assert len(cleaned) == 3
    assert all(header not in page for page in cleaned)
    assert cleaned[0] == (
        "The first quarter brought steady growth across all of our regional markets and the new plant began production."
    )
    assert cleaned[1] == "The second quarter was weaker because of supply problems in the eastern region."
    assert cleaned[2] == "The third quarter recovered fully."
