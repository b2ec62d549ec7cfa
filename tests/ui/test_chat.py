"""The chat UI in a real headless Chromium: ask, stream the answer, open citation [1]."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from assistant.service import Assistant
from tests.conftest import REPO

QUESTION = "What replaced the Diffusion Rule?"
README_SCREENSHOT = REPO / "docs" / "ui.png"


def _norm(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.slow
@pytest.mark.browser
def test_ask_and_open_citation(browser: Any, ui_url: str, demo_assistant: Assistant, tmp_path: Path) -> None:
    expected = demo_assistant.ask(QUESTION)
    assert not expected.abstained and expected.citations
    first = expected.citations[0]

    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(ui_url, wait_until="domcontentloaded")
        page.locator("#question textarea").fill(QUESTION)
        page.locator("#ask").click()

        # The answer streams into the chat; its sources section appears when it is complete.
        page.wait_for_selector('#sources section.turn[data-turn="1"]', timeout=120_000)
        assert _norm(first.quote)[:40] in _norm(page.locator("#chat").inner_text())
        assert "abstain-notice" not in page.locator("#chat").inner_html()

        marker = page.locator('#chat a.cite[href="#cite-1-1"]')
        assert marker.count() >= 1 and marker.first.inner_text() == "[1]"
        card = page.locator("#cite-1-1")
        assert "active" not in (card.get_attribute("class") or "")
        marker.first.click()
        page.wait_for_selector("#cite-1-1.active", timeout=10_000)

        mark = card.locator("mark")
        assert mark.is_visible()
        assert _norm(mark.inner_text()) == _norm(first.quote)
        assert first.title in card.inner_text() and Path(first.source).name in card.inner_text()
        assert f"score {first.score:.2f}" in card.inner_text()

        shot = tmp_path / "ui.png"
        page.screenshot(path=str(shot))
        assert shot.stat().st_size > 10_000
        if os.environ.get("ASSISTANT_UPDATE_SCREENSHOT"):  # `make screenshot` refreshes the README's picture
            README_SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, README_SCREENSHOT)
    finally:
        page.close()


@pytest.mark.slow
@pytest.mark.browser
def test_abstention_looks_different(browser: Any, ui_url: str, demo_assistant: Assistant) -> None:
    question = "What is the boiling point of liquid nitrogen at sea level?"
    expected = demo_assistant.ask(question)
    assert expected.abstained
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(ui_url, wait_until="domcontentloaded")
        page.locator("#question textarea").fill(question)
        page.locator("#ask").click()
        page.wait_for_selector('#sources section.turn.abstained[data-turn="1"]', timeout=120_000)
        notice = page.locator("#chat .abstain-notice")
        assert notice.is_visible() and "Not found in these documents" in notice.inner_text()
        assert page.locator("#chat a.cite").count() == 0
        nearest = page.locator("#sources .source-card.nearest")
        assert nearest.count() == min(3, len(expected.passages)) >= 1
    finally:
        page.close()
