"""Embedding backends: an export built from the packaged weights into a cache, or torch when it cannot be built."""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path

import numpy as np
import pytest

from index.embeddings import Embedder, default_model_path
from index.errors import ModelUnavailable

TEXTS = ["The cat sat on the mat.", "Quarterly revenue rose by four percent.", "tokenisation " * 300]


def _tree(path: Path) -> dict[str, float]:
    return {str(p.relative_to(path)): p.stat().st_mtime for p in path.rglob("*")}


def test_unknown_backend_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="unknown embedding backend 'tensorrt'"):
        Embedder(backend="tensorrt", cache_dir=tmp_path)


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("optimum") is not None, reason="optimum is installed: the export works")
def test_failed_export_falls_back_to_torch(
    embedder: Embedder, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Without optimum the ONNX export fails: the embedder says so once and runs on torch, same vectors."""
    packaged = Path(default_model_path())
    before = _tree(packaged)
    with caplog.at_level(logging.WARNING, logger="index.embeddings"):
        fallback = Embedder(backend="onnx-O3", cache_dir=tmp_path / "cache")
    assert fallback.backend == "torch"
    assert any("embedding backend onnx-O3 unavailable" in r.getMessage() for r in caplog.records)
    np.testing.assert_allclose(fallback.embed(TEXTS), embedder.embed(TEXTS), atol=1e-5)
    assert _tree(packaged) == before  # nothing written into the installed package


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("optimum") is None, reason="optimum (optimum-onnx) is not installed")
def test_onnx_export_is_built_once_and_agrees_with_torch(embedder: Embedder, tmp_path: Path) -> None:
    packaged = Path(default_model_path())
    before = _tree(packaged)
    cache = tmp_path / "cache"
    onnx = Embedder(backend="onnx-O3", cache_dir=cache)
    assert onnx.backend == "onnx-O3"
    built = list(cache.rglob("model_O3.onnx"))
    assert len(built) == 1
    stamp = built[0].stat().st_mtime
    cosines = np.sum(onnx.embed(TEXTS) * embedder.embed(TEXTS), axis=1)
    assert cosines.min() >= 0.999
    again = Embedder(backend="onnx-O3", cache_dir=cache)  # loaded from the cache, not exported again
    assert again.backend == "onnx-O3" and built[0].stat().st_mtime == stamp
    assert _tree(packaged) == before
    assert not any(os.path.islink(p) and not p.exists() for p in cache.rglob("*"))


@pytest.mark.slow
@pytest.mark.skipif(importlib.util.find_spec("optimum") is not None, reason="optimum is installed: the export works")
def test_the_service_embeds_with_the_backend_of_its_settings(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """ASSISTANT_EMBED_BACKEND reaches the service's embedder (here: asked for, cannot be built, so torch)."""
    from assistant.config import get_settings
    from assistant.service import Assistant

    settings = get_settings(data_dir=tmp_path / "index", embed_backend="onnx-O3", embed_cache_dir=tmp_path / "cache")
    with caplog.at_level(logging.WARNING, logger="index.embeddings"):
        assistant = Assistant(settings)
    try:
        assert assistant.embedder.backend == "torch"
        assert any("embedding backend onnx-O3 unavailable" in r.getMessage() for r in caplog.records)
    finally:
        assistant.close()
