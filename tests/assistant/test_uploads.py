"""Uploads and deletes through the service (``Assistant.upload``, the one upload path of the API and the UI).

An upload is known by its file name (what responses show): the same name again replaces it, other names never
collide. Its bytes are stored as ``uploads/<content id>-<safe name>``; a failed upload leaves the previous
version whole; a copy of another document is a document of its own; a delete removes the stored file; and
ingesting the upload folder brings back nothing deleted and duplicates nothing.
"""

from __future__ import annotations

import io
import threading
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NamedTuple

import pytest

from assistant.errors import DocumentNotFound, UnsupportedUpload, UploadFailed, UploadTooLarge, WriteBusy
from assistant.service import Assistant
from assistant.types import UploadResult
from assistant.uploads import is_stored_name, safe_filename, stored_name
from tests.assistant.conftest import consistent
from tests.conftest import DEMO_DIR

MakeAssistant = Callable[..., Assistant]

CGTN = DEMO_DIR / "cgtn-us-chip-guidance-huawei.txt"


class Uploaded(NamedTuple):
    filename: str
    status: str
    id: str
    saved_as: str


def _upload(svc: Assistant, name: str, text: str | bytes, **kwargs: object) -> Uploaded:
    data = text.encode("utf-8") if isinstance(text, str) else text
    result: UploadResult = svc.upload(name, io.BytesIO(data), **kwargs)  # type: ignore[arg-type]
    assert result.id is not None and result.saved_as is not None and result.error is None
    return Uploaded(result.filename, result.status, result.id, result.saved_as)


def _stored(svc: Assistant) -> dict[str, bytes]:
    """What the upload folder holds (every file, hidden ones too)."""
    folder = Path(svc.settings.data_dir) / "uploads"
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())} if folder.exists() else {}


def _note(subject: str) -> str:
    return f"Notes on {subject}\n\nThe committee met on Tuesday and agreed that {subject} is due for repair in May.\n"


def test_names_that_look_alike_are_different_documents(make_assistant: MakeAssistant) -> None:
    svc = make_assistant()
    names = ["a b.txt", "a_b.txt", "résumé.txt", "résumè.txt", "报告.txt"]
    results = [_upload(svc, name, _note(f"subject {i}")) for i, name in enumerate(names)]
    assert [r.status for r in results] == ["added"] * len(names)
    assert len({r.id for r in results}) == len(names)
    assert {d.source for d in svc.documents()} == set(names)  # the names as uploaded, shown as such
    assert [r.filename for r in results] == names
    stored = _stored(svc)
    assert len(stored) == len(names) and all(is_stored_name(n) for n in stored)
    assert {r.saved_as for r in results} == {f"uploads/{n}" for n in stored}
    chinese = results[-1].saved_as
    assert chinese.endswith("-upload.txt")  # the extension is kept
    assert results[2].saved_as.endswith("-resume.txt")
    for r, name in zip(results, names, strict=True):
        assert svc.document_text(r.id).source == name
        assert f"subject {names.index(name)}" in svc.document_text(r.id).text
    consistent(svc)


def test_the_same_name_again_replaces_its_document(make_assistant: MakeAssistant) -> None:
    svc = make_assistant()
    first = _upload(svc, "minutes.txt", _note("the boiler"))
    same = _upload(svc, "uploads/../minutes.txt", _note("the boiler"))  # the base name is the name
    assert same.status == "unchanged" and same.id == first.id
    control = _upload(svc, "C:\\temp\\minutes\n.txt", _note("the boiler"))  # control characters are blanks
    assert control.filename == "minutes .txt" and control.id != first.id
    svc.delete(control.id)
    decomposed = unicodedata.normalize("NFD", "procès-verbal.txt")
    accented = _upload(svc, decomposed, _note("the roof"))
    second = _upload(svc, "minutes.txt", _note("the chimney"))
    assert second.status == "replaced" and second.id != first.id
    again = _upload(svc, unicodedata.normalize("NFC", "procès-verbal.txt"), _note("the gate"))
    assert again.status == "replaced" and again.id != accented.id
    assert {d.source for d in svc.documents()} == {"minutes.txt", "procès-verbal.txt"}
    assert "chimney" in svc.document_text(second.id).text
    with pytest.raises(DocumentNotFound):
        svc.document(first.id)
    assert set(_stored(svc)) == {Path(second.saved_as).name, Path(again.saved_as).name}
    consistent(svc)


def test_a_failed_upload_leaves_the_previous_version(make_assistant: MakeAssistant) -> None:
    svc = make_assistant()
    good = _upload(svc, "report.txt", _note("the bridge"))
    before = _stored(svc)
    data_dir = str(Path(svc.settings.data_dir).resolve())
    failures: list[tuple[type[Exception], bytes, dict[str, object]]] = [
        (UploadFailed, b"", {}),  # empty
        (UploadFailed, b"   \n\t  \n", {}),  # nothing but blanks
        (UploadTooLarge, b"word " * 4000, {"max_mb": 0.01}),  # over the limit while it arrives
    ]
    for error, data, kwargs in failures:
        with pytest.raises(error) as caught:
            _upload(svc, "report.txt", data, **kwargs)
        message = str(caught.value)
        assert "report.txt" in message and data_dir not in message and "uploads/" not in message
        assert _stored(svc) == before  # the stored copy of the good version is untouched, nothing left over
        assert [(d.id, d.source) for d in svc.documents()] == [(good.id, "report.txt")]
        assert "the bridge" in svc.document_text(good.id).text
    with pytest.raises(UnsupportedUpload, match=r"'report\.exe'"):
        _upload(svc, "report.exe", b"MZ")
    with pytest.raises(UploadFailed, match="characters long"):
        _upload(svc, "x" * 300 + ".txt", _note("the name"))
    assert _stored(svc) == before
    consistent(svc)


def test_a_copy_of_another_document_is_a_document_of_its_own(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    svc = make_assistant()
    original = svc.ingest([CGTN]).ids[str(CGTN.resolve())]
    copy = _upload(svc, "copy-of-cgtn.txt", CGTN.read_bytes())
    assert copy.status == "added" and copy.id != original
    assert {d.source for d in svc.documents()} == {CGTN.name, "copy-of-cgtn.txt"}
    assert {c.doc_id for c in svc.chunks(copy.id)} == {copy.id}
    assert all(c.id.startswith(f"{copy.id}:") for c in svc.chunks(copy.id))
    svc.delete(copy.id)  # deleting the copy leaves the original
    assert {d.id for d in svc.documents()} == {original}
    assert {p.chunk.doc_id for p in svc.retrieve("Huawei Ascend chips")} == {original}
    # the other way round: the copy outlives the original
    copy = _upload(svc, "copy-of-cgtn.txt", CGTN.read_bytes())
    svc.delete(original)
    assert {d.id for d in svc.documents()} == {copy.id}
    assert {p.chunk.doc_id for p in svc.retrieve("Huawei Ascend chips")} == {copy.id}
    # the same rule for files: two folders holding the same file are two documents
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "same.txt").write_text(_note("the lock gates"))
    report = svc.ingest([tmp_path / "a", tmp_path / "b"])
    assert len(report.added) == 2 and len(set(report.ids.values())) == 2
    assert len(consistent(svc)) == 3


def test_delete_removes_the_stored_upload_unless_shared(make_assistant: MakeAssistant) -> None:
    svc = make_assistant()
    kept = _upload(svc, "kept.txt", _note("the pier"))
    gone = _upload(svc, "gone.txt", _note("the pump"))
    svc.delete(gone.id)
    assert set(_stored(svc)) == {Path(kept.saved_as).name}
    # the same bytes under two names that store alike share one file: it goes with the last of them
    one = _upload(svc, "a b.txt", _note("the weir"))
    two = _upload(svc, "a_b.txt", _note("the weir"))
    assert one.saved_as == two.saved_as and one.id != two.id
    svc.delete(one.id)
    assert Path(two.saved_as).name in _stored(svc)
    svc.delete(two.id)
    assert set(_stored(svc)) == {Path(kept.saved_as).name}
    consistent(svc)


def test_ingesting_the_upload_folder_brings_back_nothing_deleted(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    """``assistant ingest <data dir>/uploads`` re-cuts uploads after a chunking change; it never resurrects a
    deleted document or duplicates an uploaded one."""
    data_dir = tmp_path / "index"
    svc = make_assistant(data_dir)
    kept = _upload(svc, "kept.txt", _note("the canal") * 6)
    gone = _upload(svc, "gone.txt", _note("the lighthouse"))
    stale = Path(gone.saved_as).name
    stale_bytes = _stored(svc)[stale]
    svc.delete(gone.id)
    folder = data_dir / "uploads"
    (folder / stale).write_bytes(stale_bytes)  # a stored file no document refers to (as a crash could leave)
    report = svc.ingest([folder])
    assert not report.added and not report.replaced and report.unchanged == ("upload:kept.txt",)
    assert list(report.errors) == [str(folder / stale)] and "not ingested" in report.errors[str(folder / stale)]
    assert [(d.id, d.source) for d in svc.documents()] == [(kept.id, "kept.txt")]
    chunks = svc.document(kept.id).chunks
    svc.close()

    smaller = make_assistant(data_dir, chunk_tokens=48)
    assert stale not in _stored(smaller)  # swept on open
    recut = smaller.ingest([folder])
    assert recut.replaced == ("upload:kept.txt",) and not recut.added
    [doc] = smaller.documents()
    assert (doc.id, doc.source) == (kept.id, "kept.txt") and doc.chunks > chunks
    assert smaller.ingest([folder]).unchanged == ("upload:kept.txt",)
    # a later upload of the same name still replaces it (the folder ingest kept its identity)
    assert _upload(smaller, "kept.txt", _note("the aqueduct")).status == "replaced"
    assert len(consistent(smaller)) == 1


@pytest.fixture
def held(make_assistant: MakeAssistant) -> Iterator[tuple[Assistant, threading.Event]]:
    """A service whose write lock another thread holds (a slow write) until the event is set."""
    svc = make_assistant(write_wait_s=0.2)
    svc.ingest([DEMO_DIR])
    taken, done = threading.Event(), threading.Event()

    def slow_write() -> None:
        with svc._write_lock:
            taken.set()
            done.wait(60)

    thread = threading.Thread(target=slow_write)
    thread.start()
    taken.wait(10)
    yield svc, done
    done.set()
    thread.join()


def test_writes_wait_a_bounded_time_and_reads_do_not_wait(
    held: tuple[Assistant, threading.Event], tmp_path: Path
) -> None:
    svc, done = held
    doc = svc.documents()[0]
    (tmp_path / "new.txt").write_text(_note("the dam"))
    writes: list[Callable[[], object]] = [
        lambda: svc.delete(doc.id),
        lambda: _upload(svc, "new.txt", _note("the dam")),
        lambda: svc.ingest([tmp_path / "new.txt"]),
    ]
    for write in writes:
        with pytest.raises(WriteBusy) as busy:
            write()
        assert busy.value.retry_after >= 1 and "try again" in str(busy.value)
    assert not [n for n in _stored(svc)]  # the refused upload left nothing behind
    # reads go on while the write lock is held
    assert len(svc.documents()) == 2 and svc.health()["documents"] == 2
    assert not svc.ask("What replaced the Diffusion Rule?").abstained
    done.set()
    svc.delete(doc.id)
    assert len(svc.documents()) == 1


def test_stored_names() -> None:
    digest = "0123456789abcdef" * 4
    assert stored_name("../报告.txt", digest) == "0123456789ab-upload.txt"
    assert stored_name("Résumé Final.PDF", digest) == "0123456789ab-Resume_Final.pdf"
    assert is_stored_name(stored_name("x.md", digest)) and not is_stored_name("notes.md")
    assert safe_filename("../../etc/passwd.txt") == "passwd.txt"
    assert safe_filename(".hidden.md") == "hidden.md"
    assert safe_filename("") == "upload"
    assert safe_filename("a" * 500 + ".txt") == "a" * 100 + ".txt"


def test_the_caps_of_the_settings_fail_the_file_not_the_service(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    """max_document_chars and max_chunks_per_document reach the loaders and the chunker from the service: an upload
    over them is 'too large' (naming it), a file over them is reported, the index is untouched."""
    svc = make_assistant(max_document_chars=1000, max_chunks_per_document=2, chunk_tokens=48)
    small = _upload(svc, "small.txt", _note("the kiosk"))
    long_text = _note("the tunnel") * 30  # ~3,000 characters
    with pytest.raises(UploadTooLarge, match=r"^'?long\.txt"):
        _upload(svc, "long.txt", long_text)
    many = "\n\n".join(f"Paragraph {i} says the ferry {i} left at {i} o'clock." for i in range(40))[:990]
    with pytest.raises(UploadTooLarge, match=r"small\.txt.*chunks"):
        _upload(svc, "small.txt", many)  # within the characters, over the chunks (at a smaller chunk size)
    assert [d.id for d in svc.documents()] == [small.id]
    (tmp_path / "long.txt").write_text(long_text)
    report = svc.ingest([tmp_path / "long.txt"])
    assert not report.added and "long.txt" in report.errors[str(tmp_path / "long.txt")]
    assert len(consistent(svc)) == 1
