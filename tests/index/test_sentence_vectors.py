"""Sentence vectors pooled from the chunk pass (index.sentence_vectors), kept in SQLite, used by the answerer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from assistant.config import get_settings
from assistant.extractive import ExtractiveAnswerer, _segments
from assistant.types import Chunk, Passage
from index.embeddings import Embedder
from index.sentence_vectors import (
    SentenceRow,
    SentenceVectors,
    encode_sentences,
    fill_sentence_vectors,
    store_path,
)

TEXT = (
    "The Commerce Department issued new guidance on Monday. It says that using Huawei's Ascend chips anywhere "
    "may violate export controls. Companies were warned of the consequences."
)


def _chunk(text: str = TEXT, *, context: str = "", doc_id: str = "doc") -> Chunk:
    meta = {"title": "Guidance", "source": "g.txt"} | ({"context": context} if context else {})
    return Chunk(id=f"{doc_id}:0000", doc_id=doc_id, text=text, start=0, end=len(text), meta=meta)


def test_store_keeps_rows_across_reopening_and_deletes_by_document(tmp_path: Path) -> None:
    path = store_path(tmp_path)
    store = SentenceVectors(path)
    assert store.get(["One sentence."]) == {} and not store.holds("a") and store.count() == 0
    assert not path.exists()  # reading creates nothing: an answerer may hold the store of an index without one
    v = np.array([0.6, 0.8, 0.0], dtype=np.float32)
    store.add([SentenceRow("a:0", "a", "One sentence.", v), SentenceRow("b:0", "b", "Another one.", -v)])
    store.add([SentenceRow("a:1", "a", "Empty.", np.zeros(3, dtype=np.float32))])  # nothing pooled: not kept
    store.close()
    store = SentenceVectors(path)
    found = store.get(["One sentence.", "Another one.", "Empty.", "Unknown."])
    assert set(found) == {"One sentence.", "Another one."}
    assert np.allclose(found["One sentence."], v, atol=1e-3)
    assert store.holds("a") and store.count() == 2
    store.delete("a")
    assert not store.holds("a") and set(store.get(["One sentence.", "Another one."])) == {"Another one."}
    store.close()


def test_encode_sentences_gives_each_sentence_its_own_vector(embedder: Embedder) -> None:
    chunks = [_chunk(), _chunk("Revenue was $17,455 million. It grew 57% from 2020.", context="Uber", doc_id="u")]
    rows = encode_sentences(embedder, chunks, _segments)
    texts = [c.text[a:b] for c in chunks for a, b in _segments(c)]
    assert [r.text for r in rows] == texts and [r.doc_id for r in rows] == ["doc"] * 3 + ["u"] * 2
    assert np.allclose(np.stack([r.vector for r in rows]), embedder.embed(texts), atol=1e-5)


def test_answerer_reads_kept_vectors_and_answers_as_before(tmp_path: Path, embedder: Embedder) -> None:
    chunk = _chunk()
    store = SentenceVectors(store_path(tmp_path))
    assert fill_sentence_vectors(store, embedder, ["doc"], lambda _: [chunk], _segments) == 1
    assert fill_sentence_vectors(store, embedder, ["doc"], lambda _: [chunk], _segments) == 0  # already kept
    settings = get_settings(data_dir=tmp_path)
    kept = ExtractiveAnswerer(settings, embedder, sentence_vectors=store)
    plain = ExtractiveAnswerer(settings, embedder)
    question = "What may using Huawei's Ascend chips violate?"
    passages = [Passage(chunk=chunk, score=1.0)]
    a, b = kept.answer(question, passages), plain.answer(question, passages)
    assert not a.abstained
    assert (a.answer, [c.quote for c in a.citations]) == (b.answer, [c.quote for c in b.citations])
    # what the answerer uses is what the store holds, not a new embedding
    texts = [chunk.text[a:b] for a, b in _segments(chunk)]
    marker = np.zeros(embedder.dim, dtype=np.float32)
    marker[0] = 1.0
    store.add([SentenceRow(chunk.id, chunk.doc_id, texts[1], marker)])
    fresh = ExtractiveAnswerer(settings, embedder, sentence_vectors=store)
    assert np.allclose(fresh._embed(texts)[1], marker)
    assert np.allclose(fresh._embed(texts)[0], embedder.embed(texts[:1])[0], atol=1e-3)
    store.close()


def test_answerer_cache_never_drops_the_texts_it_is_asked_for(
    embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import assistant.extractive as extractive

    size = 3
    monkeypatch.setattr(extractive, "_CACHE_SIZE", size)
    answerer = ExtractiveAnswerer(get_settings(), embedder)
    answerer._embed(["a b c d", "e f g h", "i j k l"])
    vectors = answerer._embed(["a b c d", "m n o p", "q r s t", "u v w x"])  # more than the cache holds
    assert vectors.shape == (4, embedder.dim) and len(answerer._cache) == size
