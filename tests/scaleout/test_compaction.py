"""Compaction of the change log (index.changelog ``SharedLibrary.compact``, run by writers at commit): a follower
that was away longer than the log keeps changes catches up, deletes included, by comparing every record (real
`chroma run`, real MiniLM, real lexical index)."""

from __future__ import annotations

import io
import time
import types
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.service import Assistant
from index import changelog
from index.changelog import COMPACTED, LAG_US
from tests.assistant.conftest import consistent
from tests.chroma_server import ChromaServer
from tests.scaleout.test_shared import LIGHTHOUSE, ORCHARD
from tests.scaleout.test_shared_ingest import CANAL

MakeAssistant = Callable[..., Assistant]

WEIR = (
    "The Ashcombe weir\n\n"
    "Below the mill at Ashcombe the river drops over a stone weir built of squared blocks. "
    "Eel traps once hung from its crest, and the miller's children counted the trout that leapt it each spring.\n"
)
DAY_S = 86_400


def _shared(tmp_path: Path, make_assistant: MakeAssistant, url: str, name: str, collection: str) -> Assistant:
    # no follower thread: each follow() is one round, by hand
    return make_assistant(tmp_path / name, chroma_url=url, collection=collection, shared=True, follow_interval_s=3600)


def _upload(svc: Assistant, name: str, text: str) -> str:
    doc_id = svc.upload(name, io.BytesIO(text.encode())).id
    assert doc_id is not None
    return doc_id


def test_a_follower_away_past_the_horizon_catches_up_after_compaction(
    tmp_path: Path, make_assistant: MakeAssistant, chroma_server: ChromaServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    collection = f"compact-{uuid.uuid4().hex[:10]}"
    writer = _shared(tmp_path, make_assistant, chroma_server.url, "writer", collection)
    online = _shared(tmp_path, make_assistant, chroma_server.url, "online", collection)  # never follows meanwhile
    restarted = _shared(tmp_path, make_assistant, chroma_server.url, "restarted", collection)
    lighthouse = _upload(writer, "lighthouse.txt", LIGHTHOUSE)
    _upload(writer, "orchard.txt", ORCHARD)
    assert online.follow() == 2 and restarted.follow() == 2
    cache = restarted.settings.data_dir
    restarted.close()

    # while both are away: a delete, a new document, a new version of another
    writer.delete(lighthouse)
    canal = _upload(writer, "canal.txt", CANAL)
    _upload(writer, "orchard.txt", ORCHARD.replace("eleven", "twelve"))
    assert writer.library is not None
    # each commit may compact (at most hourly): the first one set the horizon a day back, below every change
    kinds = [c.kind for c in writer.library.since(0)]
    assert kinds == [COMPACTED, "put", "put", "delete", "put", "put", "delete"]

    # two days later (the clock of the change log), a write compacts everything older than the kept day
    real = time.time_ns
    monkeypatch.setattr(changelog, "time", types.SimpleNamespace(time_ns=lambda: real() + 2 * DAY_S * 10**9))
    weir = _upload(writer, "weir.txt", WEIR)
    horizon, now_us = writer.library.horizon(), real() // 1000
    assert now_us + (DAY_S - 60) * 10**6 < horizon <= now_us + DAY_S * 10**6  # now (two days on) less a day
    left = writer.library.since(0)
    assert [c.kind for c in left] == [COMPACTED, "put"] and left[1].doc_id == weir  # the delete is gone too

    expected = {"orchard.txt", "canal.txt", "weir.txt"}
    assert online.follow() == 5  # lighthouse and the old orchard gone; canal, the new orchard, weir in
    reopened = _shared(tmp_path, make_assistant, chroma_server.url, "restarted", collection)
    assert reopened.settings.data_dir == cache
    assert reopened.health()["shared"]["startup"]["rebuilt"] is False  # type: ignore[index]
    for svc in (online, reopened):
        assert {d.source for d in svc.documents()} == expected
        assert "twelve" in svc.document_text(next(d.id for d in svc.documents() if d.source == "orchard.txt")).text
        assert len(consistent(svc)) == 3
        assert not svc.retriever.lexical.search("zorbilite", 5)  # the deleted document's word
        assert [p.chunk.doc_id for p in svc.retriever.lexical.search("vantrelium", 5)] == [canal]
        assert {c.doc_id for c in svc.ask("What did the keeper seal the leaking canal gates with?").citations} == {
            canal
        }

    # past the horizon now: the next rounds read the log alone, without comparing every record again
    def compare_all() -> set[str]:
        raise AssertionError("compared every record again")

    monkeypatch.setattr(online, "_stale", compare_all)
    assert online.follow() == 0
    assert int(online.catalog.setting("changes_seen") or 0) > horizon + LAG_US
    _upload(writer, "lighthouse.txt", LIGHTHOUSE)
    assert online.follow() == 1
    assert "lighthouse.txt" in {d.source for d in online.documents()}
