"""Shared mode in one process: two services on one real `chroma run` server, each with caches of its own
(real MiniLM, real Chroma, real lexical index). The two-process test over HTTP is test_two_servers.py."""

from __future__ import annotations

import io
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.config import get_settings
from assistant.errors import CollectionMismatch, InvalidSettings
from assistant.service import Assistant
from tests.assistant.conftest import consistent
from tests.chroma_server import ChromaServer

MakeAssistant = Callable[..., Assistant]

# made-up documents; each has a word no other one has, so a lexical-only query finds only it
LIGHTHOUSE = (
    "The Brackwater lighthouse keeper logs\n\n"
    "The keepers of the Brackwater lighthouse recorded every passing ship in a leather logbook. "
    "In the winter of the great storm they lit the lamp with zorbilite oil, which burned for nine days. "
    "The logbook now rests in the harbour museum, where visitors can read the keepers' notes.\n"
)
ORCHARD = (
    "Notes from the Fenwick orchard\n\n"
    "The Fenwick orchard grows eleven kinds of apple on a hill above the river. "
    "Its oldest tree was grafted by the gardener Mirela Oskarsdottir and still gives fruit each autumn. "
    "Pickers arrive in September and press the windfalls into cider.\n"
)


def _shared(
    tmp_path: Path, make_assistant: MakeAssistant, server: ChromaServer, name: str, collection: str
) -> Assistant:
    # no follower thread in these tests (followed by hand): each step sees exactly one round
    return make_assistant(
        tmp_path / name, chroma_url=server.url, collection=collection, shared=True, follow_interval_s=3600
    )


def _cited(svc: Assistant, question: str) -> set[str]:
    answer = svc.ask(question)
    return {c.source for c in answer.citations}


def test_shared_mode_needs_a_chroma_server(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    with pytest.raises(InvalidSettings, match="ASSISTANT_SHARED=true needs a Chroma server"):
        make_assistant(tmp_path / "x", shared=True)


def test_shared_mode_is_the_default_with_a_chroma_server(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASSISTANT_SHARED", raising=False)
    monkeypatch.delenv("ASSISTANT_CHROMA_URL", raising=False)
    assert get_settings(chroma_url="http://127.0.0.1:8001").shared is True
    assert get_settings().shared is False  # the embedded store: one data directory
    assert get_settings(chroma_url="http://127.0.0.1:8001", shared=False).shared is False
    monkeypatch.setenv("ASSISTANT_SHARED", "false")
    assert get_settings(chroma_url="http://127.0.0.1:8001").shared is False


def test_two_services_share_one_index(
    tmp_path: Path, make_assistant: MakeAssistant, chroma_server: ChromaServer
) -> None:
    collection = f"shared-{uuid.uuid4().hex[:10]}"
    a = _shared(tmp_path, make_assistant, chroma_server, "a", collection)
    b = _shared(tmp_path, make_assistant, chroma_server, "b", collection)
    assert a.settings.data_dir != b.settings.data_dir  # caches of their own

    added = a.upload("lighthouse.txt", io.BytesIO(LIGHTHOUSE.encode()))
    a.upload("orchard.txt", io.BytesIO(ORCHARD.encode()))
    assert b.follow() == 2
    assert {d.source for d in b.documents()} == {"lighthouse.txt", "orchard.txt"}
    assert len(consistent(b)) == 2
    assert _cited(b, "What oil did the keepers burn in the lamp during the storm?") == {"lighthouse.txt"}
    lexical = b.retriever.lexical.search("zorbilite", 5)
    assert [p.chunk.doc_id for p in lexical] == [added.id]

    # the same content uploaded through B is a no-op everywhere
    again = b.upload("lighthouse.txt", io.BytesIO(LIGHTHOUSE.encode()))
    assert again.status == "unchanged" and again.id == added.id
    assert a.follow() == 0

    # a delete through B is seen by A
    assert added.id is not None
    b.delete(added.id)
    assert a.follow() == 1
    assert {d.source for d in a.documents()} == {"orchard.txt"}
    assert not a.retriever.lexical.search("zorbilite", 5)
    assert "lighthouse.txt" not in _cited(a, "What oil did the keepers burn in the lamp during the storm?")
    assert len(consistent(a)) == 1

    # a replaced version (same name, other content) replaces it everywhere
    b.upload("orchard.txt", io.BytesIO(ORCHARD.replace("eleven", "twelve").encode()))
    a.follow()
    assert [d.source for d in a.documents()] == ["orchard.txt"]
    assert "twelve" in a.document_text(a.documents()[0].id).text
    assert len(consistent(a)) == 1


def test_a_restarted_service_catches_up_from_its_cache(
    tmp_path: Path, make_assistant: MakeAssistant, chroma_server: ChromaServer
) -> None:
    collection = f"shared-{uuid.uuid4().hex[:10]}"
    a = _shared(tmp_path, make_assistant, chroma_server, "a", collection)
    a.upload("orchard.txt", io.BytesIO(ORCHARD.encode()))
    cache = a.settings.data_dir
    a.close()
    b = _shared(tmp_path, make_assistant, chroma_server, "b", collection)
    b.upload("lighthouse.txt", io.BytesIO(LIGHTHOUSE.encode()))

    reopened = _shared(tmp_path, make_assistant, chroma_server, "a", collection)
    assert reopened.settings.data_dir == cache
    startup = reopened.health()["shared"]["startup"]  # type: ignore[index]
    assert startup["rebuilt"] is False and startup["applied"] == 1  # only what it missed
    assert {d.source for d in reopened.documents()} == {"orchard.txt", "lighthouse.txt"}
    assert len(consistent(reopened)) == 2


def test_a_write_killed_half_way_is_completed_by_another_process(
    tmp_path: Path, make_assistant: MakeAssistant, chroma_server: ChromaServer
) -> None:
    """A's upload stopped after its chunks reached Chroma and before its record: no one shows them; B's upload
    of the same file completes it; A's next start keeps the chunks (B's record names them) and takes it up."""
    collection = f"shared-{uuid.uuid4().hex[:10]}"
    a = _shared(tmp_path, make_assistant, chroma_server, "a", collection)
    b = _shared(tmp_path, make_assistant, chroma_server, "b", collection)
    a.upload("orchard.txt", io.BytesIO(ORCHARD.encode()))
    b.follow()

    def power_cut() -> None:
        raise KeyboardInterrupt  # not an Exception: no rollback, as with kill -9

    a._publish = lambda entries: power_cut()  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        a.upload("lighthouse.txt", io.BytesIO(LIGHTHOUSE.encode()))
    cache = a.settings.data_dir
    a._dir_lock.release()  # the process is gone
    assert b.follow() == 0
    assert "lighthouse.txt" not in _cited(b, "What oil did the keepers burn in the lamp during the storm?")

    done = b.upload("lighthouse.txt", io.BytesIO(LIGHTHOUSE.encode()))
    assert done.status == "added"
    reopened = _shared(tmp_path, make_assistant, chroma_server, "a", collection)
    assert reopened.settings.data_dir == cache
    assert {d.source for d in reopened.documents()} == {"orchard.txt", "lighthouse.txt"}
    assert len(consistent(reopened)) == 2
    assert _cited(reopened, "What oil did the keepers burn in the lamp during the storm?") == {"lighthouse.txt"}


def test_a_collection_of_one_data_directory_becomes_shared_through_that_directory(
    tmp_path: Path, make_assistant: MakeAssistant, chroma_server: ChromaServer
) -> None:
    """A collection made in one-directory mode: refused to a shared process with another data directory; opened in
    shared mode with the directory that built it, its document records are published from that directory's
    catalog (its chunks stay), and every shared process sees its documents; the directory alone is refused then."""
    collection = f"shared-{uuid.uuid4().hex[:10]}"
    alone = make_assistant(tmp_path / "alone", chroma_url=chroma_server.url, collection=collection, shared=False)
    orchard = alone.upload("orchard.txt", io.BytesIO(ORCHARD.encode())).id
    lighthouse = alone.upload("lighthouse.txt", io.BytesIO(LIGHTHOUSE.encode())).id
    alone.close()
    with pytest.raises(CollectionMismatch, match="holds the index of one data directory, not a shared index"):
        _shared(tmp_path, make_assistant, chroma_server, "other", collection)

    converted = _shared(tmp_path, make_assistant, chroma_server, "alone", collection)
    assert converted.settings.data_dir != tmp_path / "alone"  # its caches under it, as every shared process's
    assert converted.library is not None and converted.library.ids() == {orchard, lighthouse}
    assert converted.vector.owner() == "shared"
    other = _shared(tmp_path, make_assistant, chroma_server, "other", collection)
    for svc in (converted, other):
        assert {d.source for d in svc.documents()} == {"orchard.txt", "lighthouse.txt"}
        assert len(consistent(svc)) == 2
        assert [p.chunk.doc_id for p in svc.retriever.lexical.search("zorbilite", 5)] == [lighthouse]
    assert _cited(other, "What oil did the keepers burn in the lamp during the storm?") == {"lighthouse.txt"}
    assert lighthouse is not None
    other.delete(lighthouse)
    assert converted.follow() == 1 and {d.source for d in converted.documents()} == {"orchard.txt"}

    with pytest.raises(CollectionMismatch, match="holds a shared index .*; leave ASSISTANT_SHARED unset"):
        make_assistant(tmp_path / "alone", chroma_url=chroma_server.url, collection=collection, shared=False)
