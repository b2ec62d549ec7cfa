"""The UI's upload event driven through Gradio's HTTP API, as any client can (issue #14, item 1).

A client used to name any server path in the event's FileData (``{"path": "/any/file.md"}``) and the server
indexed that file, which /ask then quoted back. Now the UI reads only files Gradio itself received in an
upload to this app, with the limits, types and key of POST /documents, and deletes its temporary copies.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio.utils import get_upload_folder

from assistant.api import UI_PATH, create_app
from assistant.config import get_settings
from assistant.service import Assistant
from index.embeddings import Embedder
from tests.loopback import serve_app

SECRET_CODE = "7413-" + uuid.uuid4().hex[:6]
SECRET = f"# Reactor notes\n\nThe launch code of the Zorblat tidal reactor in Quixville is {SECRET_CODE}.\n"
SECRET_QUESTION = "What is the launch code of the Zorblat tidal reactor?"
NOTES = "# Lighthouse\n\nThe Gull Point lighthouse keeper in 1990 was Tomas Brandt, who kept a green ledger.\n"
NOTES_QUESTION = "Who was the Gull Point lighthouse keeper in 1990?"


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Assistant]:
    svc = Assistant(get_settings(data_dir=tmp_path_factory.mktemp("ui-upload-index")), embedder=embedder)
    yield svc
    svc.close()


@pytest.fixture(scope="module")
def url(service: Assistant) -> Iterator[str]:
    with serve_app(create_app(service, service.settings)) as base:
        yield base


def call_upload(base: str, files: list[dict[str, Any]], headers: dict[str, str] | None = None) -> tuple[str, Any]:
    """Gradio's two-step call API: POST the event's data, then read its event stream to the end.

    Returns the last event's name ("complete" or "error") and its data."""
    with httpx.Client(base_url=f"{base}{UI_PATH}/gradio_api", timeout=120, headers=headers) as c:
        started = c.post("/call/upload", json={"data": [files]})
        assert started.status_code == 200, started.text
        event_id = started.json()["event_id"]
        stream = c.get(f"/call/upload/{event_id}")
    assert stream.status_code == 200
    name, data = None, None
    for line in stream.text.splitlines():
        if line.startswith("event:"):
            name = line.removeprefix("event:").strip()
        elif line.startswith("data:") and name in ("complete", "error"):
            raw = line.removeprefix("data:").strip()
            data = json.loads(raw) if raw and raw != "null" else None
    assert name in ("complete", "error"), stream.text
    return name, data


def file_data(path: str | Path) -> dict[str, Any]:
    return {"path": str(path), "meta": {"_type": "gradio.FileData"}}


def documents(base: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{base}/documents", timeout=60)
    assert response.status_code == 200
    docs: list[dict[str, Any]] = response.json()
    return docs


def ask(base: str, question: str) -> dict[str, Any]:
    response = httpx.post(f"{base}/ask", json={"question": question}, timeout=120)
    assert response.status_code in (200, 409), response.text
    body: dict[str, Any] = response.json()
    return body


def copies_in_gradio_cache(name: str) -> list[Path]:
    return list(Path(get_upload_folder()).glob(f"*/{name}"))


def test_a_foreign_path_is_neither_read_nor_indexed(url: str, tmp_path: Path) -> None:
    before = documents(url)
    secret = tmp_path / f"secret-{uuid.uuid4().hex[:8]}.md"
    secret.write_text(SECRET)
    other = tmp_path / f"other-{uuid.uuid4().hex[:8]}.bin"  # a type the loaders do not read, e.g. /etc/passwd
    other.write_bytes(b"root:x:0:0:root:/root:/bin/bash\n")
    for target in (secret, other, Path("/etc/passwd")):
        event, data = call_upload(url, [file_data(target)])
        assert event == "error" or "✓" not in json.dumps(data), data
        assert SECRET_CODE not in json.dumps(data)
    assert documents(url) == before
    answer = ask(url, SECRET_QUESTION)
    assert SECRET_CODE not in json.dumps(answer)
    assert not copies_in_gradio_cache(secret.name) and not copies_in_gradio_cache(other.name)


def test_a_file_gradio_did_not_receive_is_refused(url: str) -> None:
    """Even inside Gradio's upload folder (shared by every Gradio app of this machine), a file that was not
    uploaded to this app is not read."""
    before = documents(url)
    planted = Path(get_upload_folder()) / uuid.uuid4().hex / "planted.md"
    planted.parent.mkdir(parents=True)
    planted.write_text(SECRET)
    try:
        event, data = call_upload(url, [file_data(planted)])
        assert event == "complete", data
        assert "not a file uploaded to this page" in data[0] and "✓" not in data[0]
    finally:
        planted.unlink(missing_ok=True)
        planted.parent.rmdir()
    assert documents(url) == before
    assert SECRET_CODE not in json.dumps(ask(url, SECRET_QUESTION))


def test_a_real_upload_is_indexed_and_its_temporary_copy_deleted(url: str) -> None:
    before = {d["id"] for d in documents(url)}
    name = f"lighthouse-{uuid.uuid4().hex[:6]}.md"
    sent = httpx.post(f"{url}{UI_PATH}/gradio_api/upload", files=[("files", (name, NOTES.encode(), "text/markdown"))])
    assert sent.status_code == 200, sent.text
    [copy] = sent.json()
    assert Path(copy).is_file()
    event, data = call_upload(url, [file_data(copy)])
    assert event == "complete" and f"✓ **{name}**: added" in data[0], data
    added = [d for d in documents(url) if d["id"] not in before]
    assert len(added) == 1 and not Path(added[0]["source"]).is_absolute()
    answer = ask(url, NOTES_QUESTION)
    assert not answer["abstained"] and "Tomas Brandt" in answer["answer"]
    assert not Path(copy).exists()  # Gradio's temporary copy is gone once indexed
    again, data = call_upload(url, [file_data(copy)])  # and cannot be named again
    assert "✓" not in json.dumps(data)


def test_ui_uploads_have_the_apis_types_and_limits(service: Assistant) -> None:
    settings = service.settings.model_copy(update={"max_upload_mb": 0.01})  # 10 KiB
    with serve_app(create_app(service, settings)) as base:
        before = documents(base)
        gradio = f"{base}{UI_PATH}/gradio_api"
        too_big = httpx.post(f"{gradio}/upload", files=[("files", ("big.txt", b"word " * 5000, "text/plain"))])
        assert too_big.status_code == 413  # one file over the limit (Gradio's own per-file check)
        many = [("files", (f"part{i}.txt", b"word " * 1500, "text/plain")) for i in range(40)]  # 40 x 7.5 KB
        err = httpx.post(f"{gradio}/upload", files=many)
        assert err.status_code == 413 and "at most 0.01 MB" in err.json()["error"]["message"]

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted while it arrives
            for i in range(40):  # 40 files, each under the per-file limit
                yield f'--xyz\r\nContent-Disposition: form-data; name="files"; filename="p{i}.txt"\r\n\r\n'.encode()
                yield b"word " * 1500 + b"\r\n"
            yield b"--xyz--\r\n"

        chunked = httpx.post(
            f"{gradio}/upload", content=chunks(), headers={"Content-Type": "multipart/form-data; boundary=xyz"}
        )
        assert chunked.status_code == 413, chunked.text
        assert "at most 0.01 MB" in chunked.json()["error"]["message"]
        program = httpx.post(f"{gradio}/upload", files=[("files", ("tool.exe", b"MZ\x90\x00", "application/x-dos"))])
        assert program.status_code == 200
        [copy] = program.json()
        event, data = call_upload(base, [file_data(copy)])  # Gradio's File refuses the type first
        assert event == "error" and "Invalid file type" in json.dumps(data), data
        empty = httpx.post(f"{gradio}/upload", files=[("files", ("empty.txt", b"", "text/plain"))])
        [copy] = empty.json()
        event, data = call_upload(base, [file_data(copy)])  # the service refuses what it cannot index
        assert event == "complete" and "✗ **empty.txt**" in data[0], data
        assert not Path(copy).exists()
        assert documents(base) == before


def test_ui_uploads_need_the_key_when_one_is_set(service: Assistant) -> None:
    settings = service.settings.model_copy(update={"api_key": "ui-secret-key"})
    with serve_app(create_app(service, settings)) as base:
        gradio = f"{base}{UI_PATH}/gradio_api"
        refused = httpx.post(f"{gradio}/upload", files=[("files", ("n.md", NOTES.encode(), "text/markdown"))])
        assert refused.status_code == 401
        assert httpx.post(f"{gradio}/call/upload", json={"data": [[file_data("/etc/hosts")]]}).status_code == 401


@pytest.mark.slow
@pytest.mark.browser
def test_uploading_in_the_browser_still_works(browser: Any, url: str, tmp_path: Path) -> None:
    name = f"beacon-{uuid.uuid4().hex[:6]}.md"
    local = tmp_path / name
    local.write_text("# Beacon\n\nThe Gull Point beacon was first lit by Ada Lindqvist in 1902.\n")
    before = {d["id"] for d in documents(url)}
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    try:
        page.goto(f"{url}{UI_PATH}/", wait_until="domcontentloaded")
        page.locator("#documents-tab-button").click()
        page.locator("#upload input[type=file]").set_input_files(str(local))
        page.wait_for_selector(f"#upload :text('{name}')", timeout=60_000)
        page.locator("#upload-btn").click()
        page.wait_for_selector(f"#documents-status :text('{name}')", timeout=120_000)
        status = page.locator("#documents-status").inner_text()
        assert "✓" in status and "added" in status, status
    finally:
        page.close()
    added = [d for d in documents(url) if d["id"] not in before]
    assert len(added) == 1 and added[0]["title"] == "Beacon"
