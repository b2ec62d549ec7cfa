"""eval.bench_answer on the demo corpus: kept sentence vectors answer as the old path does; CPU time is measured."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest

from assistant.extractive import ExtractiveAnswerer
from assistant.service import Assistant
from eval.bench_answer import Path_, fill_asked, measure
from index.sentence_vectors import SentenceVectors, store_path

DEMO = Path(__file__).resolve().parents[2] / "data" / "demo"
QUESTIONS = ["What replaced the Diffusion Rule?", "Who won the 2022 FIFA World Cup?", "When was the guidance issued?"]


def test_kept_vectors_answer_like_the_old_path(make_assistant: Callable[..., Assistant], tmp_path: Path) -> None:
    assistant = make_assistant()
    assistant.ingest([DEMO])
    store = SentenceVectors(store_path(tmp_path / "kept"))
    assert fill_asked(assistant, store, QUESTIONS) > 0
    assert fill_asked(assistant, store, QUESTIONS) == 0  # kept already
    kept = ExtractiveAnswerer(assistant.settings, assistant.embedder, corpus=assistant, sentence_vectors=store)
    embedded = ExtractiveAnswerer(assistant.settings, assistant.embedder, corpus=assistant)
    result = measure(assistant, {"kept": Path_(kept, 1), "embedded": Path_(embedded, 1)}, QUESTIONS, warmup=1)
    assert result["questions"] == 3 and result["same_answers"] == 3
    for name in ("kept", "embedded"):
        assert len(result[name]["cpu_ms_per_ask"]) == 3 and all(c > 0 for c in result[name]["cpu_ms_per_ask"])
    # how much less the kept path costs is the benchmark's to say (make bench-answer), not a test's
    store.close()


def test_questions_keep_their_sentence_vectors_until_the_document_goes(
    make_assistant: Callable[..., Assistant], monkeypatch: pytest.MonkeyPatch
) -> None:
    assistant = make_assistant()
    report = assistant.ingest([DEMO])
    store = SentenceVectors(store_path(Path(assistant.settings.data_dir)))
    assert store.count() == 0  # ingest embeds each token once: nothing is kept before a question
    assistant.ask(QUESTIONS[0])
    assert store.count() > 0  # the service's answerer keeps what it embedded

    passages = assistant.retrieve(QUESTIONS[1])
    first = ExtractiveAnswerer(assistant.settings, assistant.embedder, corpus=assistant, sentence_vectors=store)
    expected = first.answer(QUESTIONS[1], passages)
    embedded: list[str] = []
    real = assistant.embedder.embed

    def counting(texts: Sequence[str], **kwargs: Any) -> Any:
        embedded.extend(texts)
        return real(texts, **kwargs)

    monkeypatch.setattr(assistant.embedder, "embed", counting)
    assistant.embedder.forget_queries()  # the question's vector was kept by the retrieval above
    # a new answerer (nothing in its memory) finds every sentence in the store
    again = ExtractiveAnswerer(assistant.settings, assistant.embedder, corpus=assistant, sentence_vectors=store)
    assert again.answer(QUESTIONS[1], passages).answer == expected.answer
    assert embedded  # the question itself is embedded ...
    assert not [t for t in embedded if any(t in p.chunk.text for p in passages)]  # ... and no sentence of a passage

    for doc_id in set(report.ids.values()):
        assistant.delete(doc_id)
    assert store.count() == 0  # what a user deletes is gone everywhere
    store.close()


def test_an_answer_embeds_its_sentences_on_the_question_s_threads(
    make_assistant: Callable[..., Assistant], monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    assistant = make_assistant()
    assistant.ingest([DEMO])
    embedder = assistant.embedder
    passages = assistant.retrieve(QUESTIONS[0])
    model = embedder._model
    seen: list[tuple[int, int]] = []  # (texts, intra-op threads) of each model call

    class Recording:
        def __getattr__(self, name: str) -> Any:
            return getattr(model, name)

        def encode(self, texts: list[str], **kwargs: Any) -> Any:
            # ONNX Runtime (the default) is told its threads per call; torch runs on the thread's setting
            threads = kwargs["threads"] if embedder.backend == "onnxruntime" else torch.get_num_threads()
            seen.append((len(texts), threads))
            return model.encode(texts, **kwargs)

    monkeypatch.setattr(embedder, "_model", Recording())
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # torch's default on a 2-core machine, as at ingest
        fresh = ExtractiveAnswerer(assistant.settings, embedder, corpus=assistant)  # nothing kept: it must embed
        fresh.answer(QUESTIONS[0], passages)
        assert sum(n for n, _ in seen) > 1  # sentences were embedded now ...
        assert {t for _, t in seen} == {embedder.query_threads}  # ... on the question's threads, not ingest's
        assert torch.get_num_threads() == 2  # put back
    finally:
        torch.set_num_threads(before)
