"""The service object end to end: real MiniLM, real embedded Chroma, real BM25."""

from __future__ import annotations

import re
import shutil
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from assistant.errors import CollectionMismatch, DocumentNotFound, EmptyIndex, IndexMismatch, InvalidQuestion
from assistant.service import Assistant
from assistant.types import Answer, Document
from index.catalog import Catalog
from index.embeddings import Embedder
from index.errors import IndexInUse
from index.lock import DirectoryLock
from index.vector import VectorIndex
from ingest.chunking import split_sentences
from ingest.loaders import read_document
from tests.assistant.conftest import consistent
from tests.chroma_server import ChromaServer
from tests.conftest import DEMO_DIR, assert_verbatim_citations
from tests.index.helpers import make_chunks

FINAL_PUNCTUATION = re.compile(r"[.!?…][\"'”’»)\]]*$")

MakeAssistant = Callable[..., Assistant]


def _check_citations(svc: Assistant, answer: Answer) -> None:
    assert_verbatim_citations(answer, lambda doc_id: svc.document_text(doc_id).text)


def test_incremental_ingest_unchanged_changed_removed(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(DEMO_DIR, corpus)
    svc = make_assistant()

    first = svc.ingest([corpus])
    assert len(first.added) == 2 and not first.errors
    ids_before = consistent(svc)

    again = svc.ingest([corpus])
    assert len(again.unchanged) == 2 and not again.added and not again.replaced
    assert consistent(svc) == ids_before

    changed = corpus / "tlg-us-refocuses-ai-chip-restrictions.txt"
    changed.write_text(changed.read_text() + "\n\nA brand-new paragraph about quantum sensors in Lisbon.\n")
    third = svc.ingest([corpus])
    assert third.replaced == (str(changed.resolve()),)
    ids_after = consistent(svc)
    assert len(ids_after) == 2 and len(ids_after - ids_before) == 1  # old chunks gone, new ones in
    answer = svc.ask("quantum sensors in Lisbon")
    assert not answer.abstained and "Lisbon" in answer.answer

    changed.unlink()
    fourth = svc.ingest([corpus], prune=True)
    assert fourth.removed == (str(changed.resolve()),)
    assert len(consistent(svc)) == 1


def test_documents_cut_by_other_chunk_settings_are_cut_again_on_ingest(
    tmp_path: Path, make_assistant: MakeAssistant
) -> None:
    """Chunks follow the settings and chunker they were cut with: ingesting the same unchanged files under other
    chunk settings, or into an index written by an older chunker, replaces their chunks; the same settings again
    change nothing."""
    corpus = tmp_path / "corpus"
    shutil.copytree(DEMO_DIR, corpus)
    data_dir = tmp_path / "index"
    svc = make_assistant(data_dir)
    svc.ingest([corpus])
    ids = consistent(svc)
    counts = {d.id: d.chunks for d in svc.documents()}
    svc.close()

    smaller = make_assistant(data_dir, chunk_tokens=100)
    report = smaller.ingest([corpus])
    assert len(report.replaced) == 2 and not report.unchanged and not report.added
    assert consistent(smaller) == ids  # same content, same documents
    assert all(d.chunks > counts[d.id] for d in smaller.documents())
    again = smaller.ingest([corpus])
    assert len(again.unchanged) == 2 and not again.replaced
    # an index whose fingerprints predate the chunking signature (size:mtime only) is cut again too
    for entry in smaller.catalog.entries():
        smaller.catalog.set_fingerprint(entry.id, entry.fingerprint.split("|")[0])
    upgraded = smaller.ingest([corpus])
    assert len(upgraded.replaced) == 2
    assert consistent(smaller) == ids
    assert not smaller.ask("What replaced the AI Diffusion Rule?").abstained


def test_bad_files_are_reported_and_the_rest_ingests(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "good.md").write_text("# Otters\n\nSea otters hold hands while they sleep so they do not drift.\n")
    (docs / "data.xyz").write_text("not a document")
    (docs / "broken.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    svc = make_assistant()
    report = svc.ingest([docs])
    assert len(report.added) == 1
    assert set(Path(p).name for p in report.errors) == {"data.xyz", "broken.pdf"}
    assert all("\n" not in reason for reason in report.errors.values())
    consistent(svc)


def test_interrupted_ingest_is_rolled_back(
    tmp_path: Path, make_assistant: MakeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(DEMO_DIR, corpus)
    data_dir = tmp_path / "index"
    svc = make_assistant(data_dir)
    svc.ingest([corpus / "cgtn-us-chip-guidance-huawei.txt"])
    kept = consistent(svc)

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(svc.lexical, "add", crash)  # the vector index is written, the lexical one is not
    with pytest.raises(RuntimeError):
        svc.ingest([corpus / "tlg-us-refocuses-ai-chip-restrictions.txt"])
    monkeypatch.undo()
    svc.close()

    reopened = make_assistant(data_dir)
    assert consistent(reopened) == kept
    assert reopened.ingest([corpus]).added  # the interrupted file ingests on the next run
    assert len(consistent(reopened)) == 2


def test_delete_removes_from_both_indexes(make_assistant: MakeAssistant) -> None:
    svc = make_assistant()
    svc.ingest([DEMO_DIR])
    doc = svc.documents()[0]
    svc.delete(doc.id)
    assert doc.id not in consistent(svc)
    with pytest.raises(DocumentNotFound):
        svc.delete(doc.id)
    with pytest.raises(DocumentNotFound):
        svc.document("nope")


def test_chunks_of_a_document_tile_its_text_in_reading_order(demo_assistant: Assistant) -> None:
    """What answerers see of a whole document (``Corpus.chunks``): every chunk, in order, verbatim."""
    for info in demo_assistant.documents():
        text = demo_assistant.document_text(info.id).text
        chunks = demo_assistant.chunks(info.id)
        assert len(chunks) == info.chunks > 1
        assert [c.start for c in chunks] == sorted(c.start for c in chunks)
        assert chunks[0].start == 0 or not text[: chunks[0].start].strip()
        assert all(text[c.start : c.end] == c.text and c.doc_id == info.id for c in chunks)
        # no text falls between two chunks: they overlap, or meet where a section heading starts the next one
        assert all(
            a.end >= b.start or not text[a.end : b.start].strip() for a, b in zip(chunks, chunks[1:], strict=False)
        )
        assert any(a.end >= b.start for a, b in zip(chunks, chunks[1:], strict=False))
    assert demo_assistant.chunks("no-such-document") == []


def test_diffusion_rule_answer_cites_both_articles(demo_assistant: Assistant) -> None:
    answer = demo_assistant.ask("What replaced the Diffusion Rule?")
    assert not answer.abstained
    sources = {Path(c.source).name for c in answer.citations}
    assert sources == {"cgtn-us-chip-guidance-huawei.txt", "tlg-us-refocuses-ai-chip-restrictions.txt"}
    _check_citations(demo_assistant, answer)
    assert {"retrieve", "answer", "total"} <= set(answer.timings_ms)


@pytest.mark.parametrize(
    "question",
    [
        "When was the AI Diffusion Rule scheduled to take effect?",
        "what did jensen huang say about china",
        "Which chip is expected to rival Nvidia's H100",
        "How did the Chinese Foreign Ministry react to the chip export controls?",
    ],
)
def test_citations_resolve_to_verbatim_quotes(demo_assistant: Assistant, question: str) -> None:
    answer = demo_assistant.ask(question)
    assert not answer.abstained
    _check_citations(demo_assistant, answer)


@pytest.mark.parametrize(
    "question",
    [
        "Who won the 2022 FIFA World Cup?",
        "What is the boiling point of ethanol?",
        "best pizza in Naples",
        "How many transistors does the Nvidia H100 have?",
    ],
)
def test_abstains_when_the_documents_do_not_say(demo_assistant: Assistant, question: str) -> None:
    answer = demo_assistant.ask(question)
    assert answer.abstained
    assert not answer.citations and "[" not in answer.answer
    assert answer.passages  # the nearest passages are shown instead


def test_filters_restrict_to_one_document(demo_assistant: Assistant) -> None:
    tlg = next(d for d in demo_assistant.documents() if "tlg" in d.source)
    answer = demo_assistant.ask("What replaced the Diffusion Rule?", doc_ids=[tlg.id])
    assert answer.citations and {c.doc_id for c in answer.citations} == {tlg.id}
    by_source = demo_assistant.ask("What replaced the Diffusion Rule?", sources=[Path(tlg.source).name])
    assert {c.doc_id for c in by_source.citations} == {tlg.id}
    assert all(p.chunk.doc_id == tlg.id for p in by_source.passages)


def _demo(svc: Assistant, name: str) -> str:
    return next(d.id for d in svc.documents() if name in d.source)


def _body_sentences(svc: Assistant, doc_id: str) -> list[str]:
    """The document's sentences that end like sentences (its title, byline and subtitles left out)."""
    text = svc.document_text(doc_id).text
    return [" ".join(text[a:b].split()) for a, b in split_sentences(text) if FINAL_PUNCTUATION.search(text[a:b])]


def test_a_named_document_is_the_only_one_searched(demo_assistant: Assistant) -> None:
    cgtn = _demo(demo_assistant, "cgtn")
    answer = demo_assistant.ask("What came before the latest guideline, according to CGTN?")
    assert answer.meta["named_documents"] == [cgtn]
    assert answer.passages and {p.chunk.doc_id for p in answer.passages} == {cgtn}
    assert "regulatory volatility" in answer.answer
    # documents the caller chose win over the ones the question names
    tlg = _demo(demo_assistant, "tlg")
    chosen = demo_assistant.ask("What came before the latest guideline, according to CGTN?", doc_ids=[tlg])
    assert {p.chunk.doc_id for p in chosen.passages} == {tlg}


def test_how_a_named_document_ends_is_its_last_sentence(demo_assistant: Assistant) -> None:
    cgtn = _demo(demo_assistant, "cgtn")
    answer = demo_assistant.ask("What question does the CGTN commentary end with?")
    assert answer.meta["focus"] == "end" and not answer.abstained
    assert [" ".join(c.quote.split()) for c in answer.citations] == _body_sentences(demo_assistant, cgtn)[-1:]
    assert "innovate faster?" in answer.answer
    assert [p.chunk.id for p in answer.passages] == [c.id for c in demo_assistant.chunks(cgtn)[:-3:-1]]
    assert_verbatim_citations(answer, lambda doc_id: demo_assistant.document_text(doc_id).text)


def test_who_wrote_a_named_document_is_its_author_line(demo_assistant: Assistant) -> None:
    answer = demo_assistant.ask("Who wrote the CGTN commentary?")
    assert answer.meta["focus"] == "author"
    assert [c.quote for c in answer.citations] == ["Zhao Chenchen"]
    assert_verbatim_citations(answer, lambda doc_id: demo_assistant.document_text(doc_id).text)
    unsigned = demo_assistant.ask("Who is the author of the tlg article?")
    assert unsigned.abstained and unsigned.meta["abstain_reason"] == "no author line"
    # a name that is only an author line: the answer is that line, not the lead paragraph under it
    who = demo_assistant.ask("Who is Zhao Chenchen?")
    assert [c.quote for c in who.citations] == ["Zhao Chenchen"] and who.meta["focus"] == "author"
    # a name some sentence mentions is answered from the sentences
    huang = demo_assistant.ask("Who is Jensen Huang?")
    assert huang.citations and "NVIDIA CEO Jensen Huang" in huang.citations[0].quote


def test_a_paper_ends_before_its_references(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    """Its reference list fills several chunks: the end is looked for before the list, not in its last chunks."""
    body = "\n\n".join(
        f"Section {k} shows that harbour basin number {k} silted up within {k + 2} years of its last dredge."
        for k in range(1, 12)
    )
    refs = "\n\n".join(f"{k}. Author{k}, A.: Silt in harbour {k}, volume {k} ({1990 + k})." for k in range(60))
    paper = tmp_path / "harbour-paper.txt"
    paper.write_text(
        f"Silt in Harbours\n\nJane Smith and Tom Lee\n\n{body}\n\n"
        f"We conclude that regular dredging pays for itself.\n\nReferences\n\n{refs}\n",
        encoding="utf-8",
    )
    svc = make_assistant()
    svc.ingest([paper])
    doc_id = svc.documents()[0].id
    chunks = svc.chunks(doc_id)
    assert len(chunks) > 4 and "References" not in "".join(c.text for c in chunks[-2:])
    answer = svc.ask("How does the paper end?")
    assert answer.meta["focus"] == "end"
    assert [c.quote for c in answer.citations] == ["We conclude that regular dredging pays for itself."]
    author = svc.ask("Who wrote the paper?")
    assert [c.quote for c in author.citations] == ["Jane Smith and Tom Lee"]


def test_a_document_added_or_deleted_is_named_or_not_at_once(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    """The names of the library are worked out once and kept until the next ingest or delete."""
    svc = make_assistant()
    (tmp_path / "alpha-memo.txt").write_text("Harbour Memo\n\nThe harbour reopened in spring after dredging.\n")
    svc.ingest([tmp_path / "alpha-memo.txt"])
    assert svc.ask("summarise the alpha memo").meta.get("named_documents")
    (tmp_path / "beta-memo.txt").write_text("Bridge Memo\n\nThe bridge closed in winter for repairs.\n")
    beta = svc.ingest([tmp_path / "beta-memo.txt"]).ids[str(tmp_path / "beta-memo.txt")]
    answer = svc.ask("summarise the beta memo")
    assert answer.meta["named_documents"] == [beta]
    assert [c.quote for c in answer.citations] == ["The bridge closed in winter for repairs."]
    svc.delete(beta)
    assert "named_documents" not in svc.ask("summarise the beta memo").meta


def test_the_warm_up_builds_the_names_and_a_write_meanwhile_is_not_lost(
    tmp_path: Path, make_assistant: MakeAssistant, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``Assistant(..., warm=True)`` (a server's start) loads the dense index and builds what names the documents
    in the background, then, once a question is answered, the index's writer; names built while a write lands are
    not kept, so the next question sees the new document."""
    import assistant.service as service_module
    from assistant.config import get_settings

    svc = make_assistant()
    svc.warm()  # an empty index: nothing to name, and nothing fails
    (tmp_path / "alpha-memo.txt").write_text("Harbour Memo\n\nThe harbour reopened in spring after dredging.\n")
    svc.ingest([tmp_path / "alpha-memo.txt"])
    data_dir = svc.settings.data_dir
    svc.close()
    svc = Assistant(get_settings(data_dir=data_dir), embedder=embedder, warm=True)
    try:
        warming = svc._warming
        assert warming is not None
        waited = 0.0
        while svc._names is None and waited < 120:
            time.sleep(0.1)
            waited += 0.1
        assert svc._names is not None and len(svc._names.ids) == 1
        assert svc.vector._writer is None  # the writer waits for the first answer
        assert svc.ask("summarise the alpha memo").meta.get("named_documents")
        warming.join(timeout=120)
        assert not warming.is_alive() and svc.vector._writer is not None  # made after it, before any write

        built = service_module.DocumentNames

        def write_meanwhile(documents: list[object]) -> object:
            names = built(documents)  # type: ignore[arg-type]
            svc._library_changed()  # as a commit landing during the build does
            return names

        svc._library_changed()
        monkeypatch.setattr(service_module, "DocumentNames", write_meanwhile)
        svc._document_names()
        assert svc._names is None  # built across a write: not kept
        monkeypatch.setattr(service_module, "DocumentNames", built)
        svc._document_names()
        assert svc._names is not None
    finally:
        svc.close()


def test_a_summary_of_many_chosen_documents_covers_three(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    svc = make_assistant()
    for k, topic in enumerate(["harbour", "bridge", "library", "station", "market"]):
        (tmp_path / f"note-{k}.txt").write_text(f"Note {k}\n\nThe {topic} reopened in spring after repairs.\n")
    svc.ingest([tmp_path])
    ids = [d.id for d in svc.documents()]
    answer = svc.ask("summarise the documents", doc_ids=ids)
    assert answer.meta["focus"] == "summary"
    assert len({p.chunk.doc_id for p in answer.passages}) == 3
    assert 1 <= len(answer.citations) <= svc.settings.answer_sentences


def test_how_the_article_begins_is_its_lead_paragraph(demo_assistant: Assistant) -> None:
    tlg = _demo(demo_assistant, "tlg")
    answer = demo_assistant.ask("How does the article begin?", doc_ids=[tlg])
    assert answer.meta["focus"] == "start"
    assert answer.citations[0].quote == _body_sentences(demo_assistant, tlg)[0]
    assert {c.doc_id for c in answer.citations} == {tlg}


def test_a_summary_quotes_the_named_document_from_its_lead(demo_assistant: Assistant) -> None:
    tlg = _demo(demo_assistant, "tlg")
    answer = demo_assistant.ask("summarize the tlg article")
    assert answer.meta["focus"] == "summary" and answer.meta["named_documents"] == [tlg]
    assert {c.doc_id for c in answer.citations} == {tlg}
    assert answer.citations[0].quote == _body_sentences(demo_assistant, tlg)[0]
    assert 2 <= len(answer.citations) <= demo_assistant.settings.answer_sentences
    assert_verbatim_citations(answer, lambda doc_id: demo_assistant.document_text(doc_id).text)
    # both articles: the lead of each
    both = demo_assistant.ask("What are the main points of the articles?")
    assert {c.doc_id for c in both.citations} == {tlg, _demo(demo_assistant, "cgtn")}


def test_follow_up_uses_the_history(demo_assistant: Assistant) -> None:
    history = [("What was the AI Diffusion Rule?", "…")]
    answer = demo_assistant.ask("and when was it supposed to take effect?", history=history)
    assert answer.meta["standalone_question"].startswith("What was the AI Diffusion Rule?")
    assert "May 15" in answer.answer


def test_the_bundled_reranker_is_switched_on_by_settings(make_assistant: MakeAssistant) -> None:
    svc = make_assistant(reranker="onnx-cross-encoder", rerank_depth=8)
    svc.ingest([DEMO_DIR])
    passages = svc.retrieve("Which company makes the Ascend chips?", top_k=5)
    assert len(passages) == 5
    assert all({"rerank_score", "fused_score"} <= set(p.meta) for p in passages)
    assert [p.score for p in passages] == sorted((p.score for p in passages), reverse=True)
    assert "Huawei" in passages[0].chunk.text
    answer = svc.ask("What replaced the Diffusion Rule?")
    assert {Path(c.source).name for c in answer.citations} == {
        "cgtn-us-chip-guidance-huawei.txt",
        "tlg-us-refocuses-ai-chip-restrictions.txt",
    }
    _check_citations(svc, answer)


def test_bad_questions_and_empty_index(make_assistant: MakeAssistant, demo_assistant: Assistant) -> None:
    with pytest.raises(InvalidQuestion):
        demo_assistant.ask("   ")
    with pytest.raises(InvalidQuestion):
        demo_assistant.ask("why " * 1000)
    with pytest.raises(InvalidQuestion):
        demo_assistant.ask("What replaced the Diffusion Rule?", mode="telepathic")
    with pytest.raises(InvalidQuestion, match="mode 'generative' is not offered here; modes: extractive"):
        demo_assistant.ask("What replaced the Diffusion Rule?", mode="generative")  # no LLM configured
    with pytest.raises(EmptyIndex):
        make_assistant().ask("What replaced the Diffusion Rule?")


def test_index_built_with_another_model_is_refused(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    svc = make_assistant(tmp_path / "idx")
    svc.catalog.set_setting("embed_model", "some-other-model")
    svc.close()
    with pytest.raises(IndexMismatch):
        make_assistant(tmp_path / "idx")
    lock = DirectoryLock(tmp_path / "idx")  # the refused service let go of the directory
    lock.acquire()
    lock.release()


def test_one_service_at_a_time_on_a_directory(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    svc = make_assistant(tmp_path / "idx")
    svc.ingest([DEMO_DIR / "cgtn-us-chip-guidance-huawei.txt"])
    with pytest.raises(IndexInUse, match="in use by another service object in this process"):
        make_assistant(tmp_path / "idx")
    # the first one is untouched and still writes
    assert svc.ingest([DEMO_DIR]).added
    assert len(consistent(svc)) == 2
    svc.close()
    svc.close()  # twice is harmless
    reopened = make_assistant(tmp_path / "idx")
    assert len(consistent(reopened)) == 2


def test_stream_yields_text_then_the_answer(demo_assistant: Assistant) -> None:
    pieces = list(demo_assistant.stream("What replaced the Diffusion Rule?"))
    assert isinstance(pieces[-1], Answer)
    text = "".join(p for p in pieces[:-1] if isinstance(p, str))
    assert text == pieces[-1].answer


def test_the_service_on_a_chroma_server(
    tmp_path: Path, make_assistant: MakeAssistant, chroma_server: ChromaServer
) -> None:
    """Embeddings on a real `chroma run` server, catalog and BM25 in the data directory; the collection is
    this directory's alone."""
    on_server = {"chroma_url": chroma_server.url, "collection": f"svc-{uuid.uuid4().hex[:10]}", "shared": False}
    svc = make_assistant(tmp_path / "a", **on_server)
    assert len(svc.ingest([DEMO_DIR]).added) == 2
    assert len(consistent(svc)) == 2
    assert not (tmp_path / "a" / "chroma").exists()  # nothing embedded
    answer = svc.ask("What replaced the Diffusion Rule?")
    assert not answer.abstained and "Huawei" in answer.answer
    _check_citations(svc, answer)
    svc.close()

    with pytest.raises(CollectionMismatch, match="holds the index of another data directory, not .*/b;"):
        make_assistant(tmp_path / "b", **on_server)

    chroma_server.restart()
    reopened = make_assistant(tmp_path / "a", **on_server)
    assert len(consistent(reopened)) == 2
    again = reopened.ask("What replaced the Diffusion Rule?")
    assert [c.quote for c in again.citations] == [c.quote for c in answer.citations]


def test_a_collection_filled_by_no_known_index_is_refused(
    tmp_path: Path, make_assistant: MakeAssistant, chroma_server: ChromaServer, embedder: Embedder
) -> None:
    collection = f"svc-{uuid.uuid4().hex[:10]}"
    chunks = make_chunks("stray", ["A chunk some other program wrote.", "And another one."])
    VectorIndex(url=chroma_server.url, collection=collection).add(chunks, embedder.embed([c.text for c in chunks]))
    with pytest.raises(CollectionMismatch, match=r"holds 2 chunks that .*/fresh did not write"):
        make_assistant(tmp_path / "fresh", chroma_url=chroma_server.url, collection=collection, shared=False)

    # an index directory built before collections recorded their owner: it has documents, so it claims the collection
    catalog = Catalog(tmp_path / "old" / "catalog.sqlite")
    stray = Document(id="stray", title="Stray", source="stray.txt", text="x")
    catalog.put(stray, chunks=2, fingerprint="1:1", state="ready")
    catalog.close()
    svc = make_assistant(tmp_path / "old", chroma_url=chroma_server.url, collection=collection, shared=False)
    assert svc.vector.owner() == svc.catalog.setting("index_id")


# ---------------------------------------------------------------------- sources, identity, bounds (issue #14)


def test_sources_are_relative_to_what_was_ingested(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    """Responses name a file by its path under the directory ingested (a file given alone: its name), never by an
    absolute server path; the absolute path stays the identity for incremental ingest and prune."""
    corpus = tmp_path / "corpus"
    (corpus / "sub").mkdir(parents=True)
    shutil.copy(DEMO_DIR / "cgtn-us-chip-guidance-huawei.txt", corpus / "sub" / "cgtn.txt")
    single = tmp_path / "elsewhere" / "tlg.txt"
    single.parent.mkdir()
    shutil.copy(DEMO_DIR / "tlg-us-refocuses-ai-chip-restrictions.txt", single)
    svc = make_assistant()
    with pytest.raises(EmptyIndex) as empty:
        svc.ask("What replaced the Diffusion Rule?")
    assert str(tmp_path) not in str(empty.value)  # the data directory is the server's business
    svc.ingest([corpus, single])
    assert {d.source for d in svc.documents()} == {"sub/cgtn.txt", "tlg.txt"}
    answer = svc.ask("What replaced the Diffusion Rule?")
    assert answer.citations and {c.source for c in answer.citations} <= {"sub/cgtn.txt", "tlg.txt"}
    assert all(not p.chunk.meta["source"].startswith("/") for p in answer.passages)
    assert all(svc.document_text(d.id).source == d.source for d in svc.documents())
    # filters by the shown source, or by a suffix of the path
    cgtn = next(d.id for d in svc.documents() if d.source == "sub/cgtn.txt")
    for wanted in ("sub/cgtn.txt", "cgtn.txt", str((corpus / "sub" / "cgtn.txt").resolve())):
        assert {p.chunk.doc_id for p in svc.retrieve("Diffusion Rule", sources=[wanted])} == {cgtn}
    # the same files through another root are the same documents (identity is the absolute path)
    again = svc.ingest([tmp_path])
    assert len(again.unchanged) == 2 and not again.added
    (corpus / "sub" / "cgtn.txt").unlink()
    assert svc.ingest([corpus], prune=True).removed == (str((corpus / "sub" / "cgtn.txt").resolve()),)
    assert {d.source for d in svc.documents()} == {"tlg.txt"}


_OLD_SCHEMA = """
CREATE TABLE documents (
    id TEXT PRIMARY KEY, source TEXT NOT NULL, title TEXT NOT NULL, text TEXT NOT NULL,
    pages TEXT NOT NULL DEFAULT '[]', meta TEXT NOT NULL DEFAULT '{}', chunks INTEGER NOT NULL DEFAULT 0,
    fingerprint TEXT NOT NULL DEFAULT '', state TEXT NOT NULL DEFAULT 'pending', ingested_at TEXT NOT NULL
);
"""


def test_an_index_from_before_origins_is_migrated(tmp_path: Path, make_assistant: MakeAssistant) -> None:
    """Catalogs written before origins had absolute sources (and uploads stored as uploads/<safe name>): on open the
    absolute path becomes the origin, responses show the file name, and old uploads are uploads again."""
    data_dir = tmp_path / "index"
    folder = data_dir / "uploads"
    folder.mkdir(parents=True)
    tlg = DEMO_DIR / "tlg-us-refocuses-ai-chip-restrictions.txt"
    old_upload = folder / "cgtn_notes.txt"
    shutil.copy(DEMO_DIR / "cgtn-us-chip-guidance-huawei.txt", old_upload)
    svc = make_assistant(data_dir)
    svc.ingest_documents([read_document(tlg, source=str(tlg)), read_document(old_upload, source=str(old_upload))])
    svc.close()
    db = sqlite3.connect(data_dir / "catalog.sqlite")
    db.executescript(
        "ALTER TABLE documents RENAME TO newer;" + _OLD_SCHEMA + "INSERT INTO documents SELECT id, source, title, text,"
        " pages, meta, chunks, fingerprint, state, ingested_at FROM newer; DROP TABLE newer;"
    )
    db.close()

    reopened = make_assistant(data_dir)
    assert {d.source for d in reopened.documents()} == {tlg.name, "cgtn_notes.txt"}
    entries = {e.source: e for e in reopened.catalog.entries()}
    assert entries[tlg.name].origin == str(tlg) and not entries[tlg.name].stored
    assert (entries["cgtn_notes.txt"].origin, entries["cgtn_notes.txt"].stored) == (
        "upload:cgtn_notes.txt",
        "cgtn_notes.txt",
    )
    answer = reopened.ask("What replaced the Diffusion Rule?")  # chunks written with absolute paths: shown relative
    assert answer.citations and all(c.source in {tlg.name, "cgtn_notes.txt"} for c in answer.citations)
    assert all(p.chunk.meta["source"] in {tlg.name, "cgtn_notes.txt"} for p in answer.passages)
    report = reopened.ingest([tlg])  # the file is known by its origin: cut again (no fingerprint), not duplicated
    assert not report.added and report.replaced == (str(tlg),)
    assert {d.source for d in reopened.documents()} == {tlg.name, "cgtn_notes.txt"}
    reopened.delete(entries["cgtn_notes.txt"].id)
    assert not old_upload.exists()  # an old upload's file goes with it too


def test_history_and_filters_are_bounded(make_assistant: MakeAssistant, demo_assistant: Assistant) -> None:
    """Over a limit of the settings: a one-line InvalidQuestion naming it, before any work (the same for the CLI,
    the API and the UI); no SQLite 'too many variables' from tens of thousands of ids."""
    q = "What replaced the Diffusion Rule?"
    limits = demo_assistant.settings
    cases: list[tuple[dict[str, object], str]] = [
        ({"history": [("a", "b")] * (limits.max_history_turns + 1)}, f"the limit is {limits.max_history_turns}"),
        ({"history": [("x" * limits.max_history_chars, "y")]}, f"the limit is {limits.max_history_chars}"),
        (
            {"doc_ids": [f"id{i}" for i in range(40_000)]},
            f"filters.doc_ids has 40000 entries; the limit is {limits.max_filter_ids}",
        ),
        ({"sources": [f"f{i}.txt" for i in range(limits.max_filter_ids + 1)]}, "filters.sources has"),
    ]
    for kwargs, message in cases:
        with pytest.raises(InvalidQuestion, match=re.escape(message)) as caught:
            demo_assistant.ask(q, **kwargs)  # type: ignore[arg-type]
        assert "\n" not in str(caught.value)
    with pytest.raises(InvalidQuestion, match="filters.doc_ids"):
        demo_assistant.retrieve(q, doc_ids=[f"id{i}" for i in range(40_000)])
    with pytest.raises(InvalidQuestion, match="filters.doc_ids"):  # before the empty index is noticed
        make_assistant().ask(q, doc_ids=[f"id{i}" for i in range(40_000)])
    # at the limits it answers
    ids = [d.id for d in demo_assistant.documents()]
    ok = demo_assistant.ask(q, doc_ids=ids + [f"id{i}" for i in range(limits.max_filter_ids - len(ids))])
    assert not ok.abstained
    small = make_assistant(max_history_turns=2, max_history_chars=10)
    with pytest.raises(InvalidQuestion, match="the limit is 2"):
        small.ask(q, history=[("a", "b"), ("c", "d"), ("e", "f")])
    # what a chat front end keeping every turn sends: the latest turns within both limits
    assert small.recent_history([("a", "b"), ("c", "d"), ("e", "f")]) == [("c", "d"), ("e", "f")]
    assert small.recent_history([("a", "b"), ("ccccc", "dddd"), ("e", "f")]) == [("e", "f")]
    assert small.recent_history([]) == []
