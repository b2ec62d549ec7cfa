"""Fixtures for the UI tests: the app served in-process over the shared demo service, headless Chromium."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from assistant.api import UI_PATH, create_app
from assistant.service import Assistant
from tests.loopback import serve_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def ui_url(demo_assistant: Assistant) -> Iterator[str]:
    """The API and UI served by uvicorn in a thread, over the session's demo service (read-only use)."""
    app = create_app(demo_assistant, demo_assistant.settings)
    with serve_app(app) as base:
        assert httpx.get(f"{base}/health", timeout=10).status_code == 200
        yield f"{base}{UI_PATH}/"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (never `playwright install`)."""
    if not CHROMIUM.exists() or shutil.which(str(CHROMIUM)) is None:
        pytest.skip("needs the Debian package chromium: apt-get install -y chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()
