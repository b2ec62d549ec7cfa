"""The torch-free backend: an ONNX export built once into a cache, run by ONNX Runtime, agreeing with torch."""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from index.embeddings import Embedder, default_model_path
from index.errors import ModelUnavailable
from index.onnx_embedding import export_path, read_recipe

REPO = Path(__file__).resolve().parents[2]

# made-up texts of every shape the pipeline meets: empty, one word, sentences, far past the window, mixed scripts
TEXTS = [
    "",
    "x",
    "The cat sat on the mat.",
    "Quarterly revenue of the ferry company rose by 4.5 % to $1,234 million (see Note 7).",
    "  leading and trailing spaces  ",
    "Ünïcödé, emoji 🙂 and CJK 日本語のテキスト; tabs\tand\nnew lines.",
    "tokenisation " * 400,
    "harbour " * 250,  # near the window
    *[
        f"Sentence {i} about herons, swallows and the night train to the island number {i % 7}." * (1 + i % 5)
        for i in range(40)
    ],
]


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_")}
    env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    return env


def _export_command(cache: Path) -> list[str]:
    return [sys.executable, "-m", "index.onnx_embedding", "--cache", str(cache)]


@pytest.fixture(scope="module")
def concurrent_export(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Two processes asked to build the export into one empty cache at the same moment."""
    cache = tmp_path_factory.mktemp("onnx-cache")
    procs = [
        subprocess.Popen(
            _export_command(cache), cwd=REPO, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=900) for p in procs]
    return {"cache": cache, "codes": [p.returncode for p in procs], "outs": outs}


@pytest.fixture(scope="module")
def cache(concurrent_export: dict[str, Any]) -> Path:
    assert concurrent_export["codes"] == [0, 0], concurrent_export["outs"]
    return Path(concurrent_export["cache"])


@pytest.fixture(scope="module")
def onnx(cache: Path) -> Embedder:
    embedder = Embedder(backend="onnxruntime", cache_dir=cache)
    assert embedder.backend == "onnxruntime"
    return embedder


@pytest.fixture(scope="module")
def torch_embedder() -> Embedder:
    return Embedder(backend="torch")


def test_two_processes_at_once_build_one_export(concurrent_export: dict[str, Any]) -> None:
    assert concurrent_export["codes"] == [0, 0]
    paths = {out.strip() for out, _ in concurrent_export["outs"]}
    assert len(paths) == 1 and Path(paths.pop()).is_file()
    logs = "".join(err for _, err in concurrent_export["outs"])
    assert logs.count("exported ") == 1, logs  # the second process waited for the first and found its file
    built = list(Path(concurrent_export["cache"]).rglob("*.onnx"))
    assert [p.name for p in built] == ["model-v1-opt.onnx"]  # no temporary file left


def test_vectors_agree_with_torch(onnx: Embedder, torch_embedder: Embedder) -> None:
    assert (onnx.name, onnx.dim, onnx.max_tokens) == (
        torch_embedder.name,
        torch_embedder.dim,
        torch_embedder.max_tokens,
    )
    vectors = onnx.embed(TEXTS)
    assert vectors.shape == (len(TEXTS), 384) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    cosines = np.sum(vectors * torch_embedder.embed(TEXTS), axis=1)
    assert cosines.min() >= 0.999, cosines.min()
    # one text alone gives the vector it gets in a padded batch
    np.testing.assert_allclose(onnx.embed([TEXTS[3]])[0], vectors[3], atol=1e-5)
    assert onnx.embed([]).shape == (0, 384)


def test_token_counts_are_torch_s(onnx: Embedder, torch_embedder: Embedder) -> None:
    """The chunker's counts (and so chunk ids) do not depend on the backend."""
    assert [onnx.count_tokens(t) for t in TEXTS] == [torch_embedder.count_tokens(t) for t in TEXTS]
    assert onnx.count_tokens_batch(TEXTS) == torch_embedder.count_tokens_batch(TEXTS)
    assert onnx.count_tokens("tokenisation " * 400) > onnx.max_tokens  # counting never truncates


def test_queries_run_on_one_thread_and_ingest_on_the_default(onnx: Embedder, monkeypatch: pytest.MonkeyPatch) -> None:
    model = onnx._model
    seen: list[int | None] = []

    def encode(texts: list[str], **kwargs: Any) -> Any:
        seen.append(kwargs.get("threads"))
        return type(model).encode(model, texts, **kwargs)

    monkeypatch.setattr(model, "encode", encode)
    onnx.forget_queries()
    query = onnx.embed_query("Where do swallows nest in winter?")
    batch = onnx.embed(["Where do swallows nest in winter?", "Herons nest in colonies."])
    assert seen == [1, None]  # the question on 1 thread, ingest on the session's default
    np.testing.assert_allclose(query, batch[0], atol=1e-5)
    onnx.forget_queries()


def test_loading_and_embedding_import_no_torch(cache: Path) -> None:
    script = (
        "import sys\n"
        "from pathlib import Path\n"
        "from index.embeddings import Embedder\n"
        f"e = Embedder(cache_dir=Path({str(cache)!r}))\n"
        "e.embed(['A made-up sentence about a lighthouse.']); e.embed_query('Which lighthouse?')\n"
        "e.count_tokens('lighthouse')\n"
        "print(e.backend, sorted(m for m in ('torch', 'transformers', 'sentence_transformers', 'sklearn')"
        " if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=300, check=True
    )
    assert out.stdout.split("\n")[0] == "onnxruntime []", out.stdout + out.stderr


def test_a_kill_mid_export_leaves_no_export(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    proc = subprocess.Popen(
        _export_command(cache), cwd=REPO, env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 600
        while not list(cache.rglob(".export-*.onnx")):  # the temporary file: the export has begun
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    target = export_path(read_recipe(default_model_path()), cache)
    assert not target.exists()  # a half-written graph never has the name the embedder loads


def _model_copy(tmp_path: Path, pooling: dict[str, Any] | None = None) -> Path:
    """A copy of the packaged model's small files (weights linked), with another pooling when given."""
    source = Path(default_model_path())
    copy = tmp_path / "model"
    shutil.copytree(source, copy, ignore=shutil.ignore_patterns("*.safetensors", "*.bin"))
    (copy / "model.safetensors").symlink_to(source / "model.safetensors")
    if pooling is not None:
        config = json.loads((copy / "1_Pooling" / "config.json").read_text())
        config.update(pooling)
        (copy / "1_Pooling" / "config.json").write_text(json.dumps(config))
    return copy


def test_the_export_is_keyed_to_the_weights(tmp_path: Path) -> None:
    model = _model_copy(tmp_path)
    (model / "model.safetensors").unlink()
    (model / "model.safetensors").write_bytes(b"weights, first version")
    first = export_path(read_recipe(model), tmp_path / "cache")
    assert export_path(read_recipe(model), tmp_path / "cache") == first
    (model / "model.safetensors").write_bytes(b"weights, second version, longer")
    assert export_path(read_recipe(model), tmp_path / "cache") != first  # new weights: a new export


def test_another_kind_of_model_runs_on_torch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    model = _model_copy(tmp_path, {"pooling_mode_mean_tokens": False, "pooling_mode_cls_token": True})
    with pytest.raises(ModelUnavailable, match="not mean pooling"):
        read_recipe(model)
    with caplog.at_level(logging.WARNING, logger="index.embeddings"):
        embedder = Embedder(str(model), backend="onnxruntime", cache_dir=tmp_path / "cache")
    assert embedder.backend == "torch"
    assert any("embedding backend onnxruntime unavailable" in r.getMessage() for r in caplog.records)
    assert not (tmp_path / "cache").exists()  # nothing exported


def test_ingest_threads_are_the_constructor_s(cache: Path) -> None:
    """An ingest worker's share of the cores: ``embed`` runs on a session of that many threads."""
    one = Embedder(backend="onnxruntime", cache_dir=cache, threads=1)
    one.embed(["A made-up sentence about a ferry timetable."])
    assert list(one._model._sessions) == [1]
    assert one._model.session(1).get_session_options().intra_op_num_threads == 1


class _Recorder:
    """A session that notes the shape of each batch it runs, then runs it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.shapes: list[tuple[int, int]] = []

    def run(self, names: Any, feeds: dict[str, np.ndarray]) -> Any:
        self.shapes.append(tuple(feeds["input_ids"].shape))
        return self.inner.run(names, feeds)


def test_batches_are_texts_of_like_word_pieces_not_like_characters(onnx: Embedder) -> None:
    """Batches group texts by word pieces (as the model reads them), so a batch pads little even where character
    lengths say otherwise; the vectors are those of each text alone."""
    model = onnx._model
    # made-up texts whose order by characters interleaves their order by word pieces
    texts = ["  ".join(["x"] * 10), " ".join(["x"] * 10), "harbour harbour harbour", "harbour harbour"]
    pieces = [onnx.count_tokens(t) for t in texts]
    chars = [len(t) for t in texts]
    assert chars[0] > chars[2] > chars[1] > chars[3] and pieces[0] == pieces[1] > pieces[2] > pieces[3]
    recorder = _Recorder(model.session(model.threads))
    model._sessions[model.threads] = recorder
    try:
        vectors = model.encode(texts, batch_size=2)
    finally:
        model._sessions[model.threads] = recorder.inner
    # by word pieces: (x, x) then (harbour x3, harbour x2), each padded to its own longest
    assert recorder.shapes == [(2, pieces[0]), (2, pieces[2])]
    padded = sum(rows * width for rows, width in recorder.shapes)
    assert padded == 2 * pieces[0] + 2 * pieces[2] < 4 * pieces[0]  # by characters: every batch pads to the x's
    alone = np.stack([model.encode([t])[0] for t in texts])
    assert np.sum(vectors * alone, axis=1).min() >= 0.9999
    assert model.encode(texts[:1] * 3, batch_size=2).shape == (3, 384)  # a short last batch
