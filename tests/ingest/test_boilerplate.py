"""Boilerplate recognised by content, on made-up filings' formulas and on ordinary text (none flagged)."""

from __future__ import annotations

from pathlib import Path

import pytest

from assistant.types import Document
from ingest.boilerplate import classify
from ingest.chunking import chunk_document
from ingest.loaders import document_id, read_document

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"

CERTIFICATION = """Exhibit 31.1
CERTIFICATION PURSUANT TO SECTION 302 OF THE SARBANES-OXLEY ACT OF 2002
I, Marta Quill, certify that:
1. I have reviewed this quarterly report on Form 10-Q of Harbour Kettle Corp.;
2. Based on my knowledge, this report does not contain any untrue statement of a material fact or omit to state
a material fact necessary to make the statements made not misleading;
3. Based on my knowledge, the financial statements fairly present in all material respects the financial condition."""

CERTIFICATION_906 = """Marta Quill, the Chief Executive Officer of Harbour Kettle Corp., certify, pursuant to 18 U.S.C.
Section 1350, as adopted pursuant to Section 906 of the Sarbanes-Oxley Act of 2002, that the report fully complies
with the requirements of Section 13(a) of the Securities Exchange Act of 1934. I, Marta Quill, certify the above."""

SAFE_HARBOUR = """SPECIAL NOTE REGARDING FORWARD-LOOKING STATEMENTS
This report contains forward-looking statements within the meaning of the Private Securities Litigation Reform Act
of 1995. Words such as "anticipate," "believe," "estimate," "expect," "intend" and similar expressions identify
forward-looking statements. You should not place undue reliance on forward-looking statements, which speak only as
of the date of this report. We undertake no obligation to update any forward-looking statements."""

EXHIBITS = """EXHIBIT INDEX
Exhibit No. Exhibit Description Incorporated by Reference Filed Herewith
3.1 Amended and Restated Certificate of Incorporation of the Registrant. 10-Q 001-40917 3.1 May 4, 2030
3.2 Amended and Restated Bylaws of the Registrant. 10-Q 001-40917 3.2 May 4, 2030
10.1 Credit Agreement among the Registrant and the Lenders party thereto. 8-K 001-40917 10.1 June 2, 2030
31.1 Certification of the Principal Executive Officer. X
101.INS Inline XBRL Instance Document. X"""

CONSENT = """We hereby consent to the incorporation by reference in the Registration Statements on Form S-8 (No.
333-231592 and No. 333-256740) of Harbour Kettle Corp. of our report dated March 2, 2031."""

SIGNATURES = """SIGNATURES
Pursuant to the requirements of Section 13 or 15(d) of the Securities Exchange Act of 1934, the registrant has duly
caused this report to be signed on its behalf by the undersigned, thereunto duly authorized.
Date: March 2, 2031 By: /s/ Marta Quill
Marta Quill, Chief Executive Officer"""

CONTENTS = """TABLE OF CONTENTS
PART I Item 1. Business 4
Item 1A. Risk Factors 11
Item 2. Properties 40
PART II Item 5. Market for Common Equity 42
Item 7. Management's Discussion and Analysis 45"""

ORDINARY = [
    # near misses: the words of a formula in ordinary passages
    "Our actual results could differ materially from those discussed in the forward-looking statements. Revenue "
    "grew 14% to $1,204 million as kettle shipments to retailers in Europe rose for the third year.",
    "The inspectors certify each boiler before shipment, and the plant passed its annual safety review in May.",
    "Management evaluated the effectiveness of our disclosure controls and procedures as of December 31, 2030 and "
    "concluded that our internal control over financial reporting was effective.",
    "Net revenue was 3.1 million in 2030 and 3.4 million in 2031; margins rose 2.5 points to 41.2% while freight "
    "costs fell 1.8% and 10.5% of orders shipped late.",
    "The board signed a lease for a second warehouse, and the chief executive presented the plan to investors.",
    "Table 4 lists the kettles sold per region: 1.2 million in Europe, 0.8 million in Asia, 0.5 million elsewhere.",
]


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        (CERTIFICATION, "certification"),
        (CERTIFICATION_906, "certification"),
        (SAFE_HARBOUR, "forward_looking"),
        (EXHIBITS, "exhibits"),
        (CONSENT, "exhibits"),
        (SIGNATURES, "signatures"),
        (CONTENTS, "contents"),
    ],
)
def test_boilerplate_kinds_are_recognised(text: str, kind: str) -> None:
    assert classify(text) == kind


@pytest.mark.parametrize("text", ORDINARY)
def test_ordinary_passages_are_not_boilerplate(text: str) -> None:
    assert classify(text) is None


def _words(text: str) -> int:
    return len(text.split()) + 2


def test_no_chunk_of_the_demo_articles_is_flagged() -> None:
    paths = sorted(DEMO.glob("*.txt"))
    assert paths
    for path in paths:
        doc = read_document(path)
        chunks = chunk_document(doc, _words, max_tokens=120, overlap=1)
        assert len(chunks) >= 2
        assert [c.meta.get("boilerplate") for c in chunks] == [None] * len(chunks), path.name


def test_chunks_carry_their_boilerplate_kind() -> None:
    text = "Kettle Sales\n\nWe sold more kettles than ever before in every region.\n\n" + SIGNATURES
    doc = Document(id=document_id(text), title="Report", source="r.txt", text=text)
    kinds = [c.meta.get("boilerplate") for c in chunk_document(doc, _words, max_tokens=45, overlap=0)]
    assert kinds[0] is None and kinds[1] == "signatures"
