"""A sentence-transformers model (a transformer and mean pooling) run by ONNX Runtime, without torch.

The graph is exported once from the local weights with ``torch.onnx.export`` into a cache directory
(``export_model``: the only code here that imports torch and transformers), then run by ``OnnxModel`` with
``onnxruntime`` and the Rust ``tokenizers.Tokenizer`` of the model's ``tokenizer.json``: truncation at the model's
window, padding per batch, batches of similar lengths, mean pooling over the attention mask, L2 normalisation,
float32 — what sentence-transformers does (agreement with torch measured in docs/embeddings.md).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import sys
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from index.errors import ModelUnavailable

log = logging.getLogger(__name__)

# Bump when the export changes (exporter, opset, optimisation): a new file name, so an old cache is never read.
EXPORT_VERSION = 1
OPSET = 17
# onnxruntime.transformers.optimizer (model type bert) on the exported graph: attention, layer-norm and GELU
# fusions, fp32. Measured in docs/embeddings.md ("torch-free backend").
OPTIMIZE = True
_WEIGHTS = ("model.safetensors", "pytorch_model.bin")
_INPUTS = ("input_ids", "attention_mask", "token_type_ids")


@dataclass(frozen=True)
class Recipe:
    """What running a local sentence-transformers directory needs, read from its files (no model code)."""

    location: Path
    weights: Path
    max_tokens: int
    dim: int
    model_type: str
    heads: int
    pad_token: str


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot read {path.name}: {exc}") from exc


def read_recipe(location: str | Path) -> Recipe:
    """The recipe of the model directory ``location``; ``ModelUnavailable`` when it is not a transformer followed
    by mean pooling (and optionally normalisation), with a ``tokenizer.json``, or lowercases its input."""
    root = Path(location)
    if not (root / "modules.json").is_file():
        raise ModelUnavailable(f"{root} is not a local sentence-transformers directory")
    modules = _read_json(root / "modules.json")
    kinds = [str(m.get("type", "")).rsplit(".", 1)[-1] for m in modules]
    if kinds not in (["Transformer", "Pooling"], ["Transformer", "Pooling", "Normalize"]):
        raise ModelUnavailable(f"modules {kinds} are not a transformer and a pooling")
    if modules[0].get("path", "") not in ("", "."):
        raise ModelUnavailable("the transformer is not at the top of the model directory")
    pooling = _read_json(root / modules[1]["path"] / "config.json")
    modes = {k for k, v in pooling.items() if k.startswith("pooling_mode") and v}
    if modes != {"pooling_mode_mean_tokens"}:
        raise ModelUnavailable(f"pooling {sorted(modes)} is not mean pooling")
    st_config = _read_json(root / "sentence_bert_config.json") if (root / "sentence_bert_config.json").is_file() else {}
    if st_config.get("do_lower_case"):
        raise ModelUnavailable("the model lowercases its input")
    config = _read_json(root / "config.json")
    window = st_config.get("max_seq_length") or config.get("max_position_embeddings")
    if not window:
        raise ModelUnavailable("the model states no maximum sequence length")
    if not (root / "tokenizer.json").is_file():
        raise ModelUnavailable("the model has no tokenizer.json")
    weights = next((root / w for w in _WEIGHTS if (root / w).is_file()), None)
    if weights is None:
        raise ModelUnavailable("the model has no weights file")
    special = _read_json(root / "special_tokens_map.json") if (root / "special_tokens_map.json").is_file() else {}
    pad = special.get("pad_token", "[PAD]")
    pad = pad.get("content", "[PAD]") if isinstance(pad, dict) else str(pad)
    dim = int(pooling.get("word_embedding_dimension") or config.get("hidden_size") or 0)
    if not dim:
        raise ModelUnavailable("the model states no embedding dimension")
    return Recipe(
        location=root.resolve(),
        weights=weights.resolve(),
        max_tokens=int(window),
        dim=dim,
        model_type=str(config.get("model_type", "")),
        heads=int(config.get("num_attention_heads") or 0),
        pad_token=pad,
    )


def export_path(recipe: Recipe, cache_dir: Path, *, optimize: bool = OPTIMIZE) -> Path:
    """Where the export of ``recipe`` lives in ``cache_dir``: one folder per model directory and weights file
    (its size and modification time: new weights, a new export), one file per export version."""
    stat = recipe.weights.stat()
    key = f"{recipe.location}\0{recipe.weights.name}\0{stat.st_size}\0{stat.st_mtime_ns}"
    digest = hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]
    flavour = "opt" if optimize and recipe.model_type == "bert" else "plain"
    return (
        Path(cache_dir) / f"{recipe.location.name}-{digest}" / "onnxruntime" / f"model-v{EXPORT_VERSION}-{flavour}.onnx"
    )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def export_model(recipe: Recipe, cache_dir: Path, *, optimize: bool = OPTIMIZE) -> Path:
    """The ONNX graph of ``recipe``'s transformer in ``cache_dir``, exported from the local weights the first time.

    One process exports at a time (a lock file beside it; a second one waits, then finds the file); the graph is
    written to a temporary file and renamed into place, so a kill mid-export leaves no file that looks finished.
    Imports torch and transformers (only here). Raises what the export raises.
    """
    target = export_path(recipe, cache_dir, optimize=optimize)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(target.parent / ".export.lock"):
        if target.is_file():  # built by another process while this one waited
            return target
        fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".export-", suffix=".onnx")
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            _export(recipe, tmp)
            if optimize and recipe.model_type == "bert":
                _optimize(recipe, tmp)
            with open(tmp, "rb") as handle:
                os.fsync(handle.fileno())
            tmp.chmod(0o644)  # mkstemp's file is private; the cache may be shared by users of one checkout
            os.replace(tmp, target)
        finally:
            tmp.unlink(missing_ok=True)
    log.info("exported %s to %s", recipe.location, target)
    return target


def _export(recipe: Recipe, out: Path) -> None:
    """``torch.onnx.export`` of the transformer's last hidden state (TorchScript exporter, eager attention: the
    graph whose attention onnxruntime's optimiser fuses), batch and sequence axes dynamic."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    model = AutoModel.from_pretrained(str(recipe.location), local_files_only=True, attn_implementation="eager")
    model.eval()
    accepted = set(_forward_inputs(model))
    names = [n for n in _INPUTS if n in accepted]

    class Encoder(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, *tensors: Any) -> Any:
            return self.inner(**dict(zip(names, tensors, strict=True))).last_hidden_state

    sample = tuple(torch.ones(2, 8, dtype=torch.long) for _ in names)
    axes = {n: {0: "batch", 1: "sequence"} for n in [*names, "last_hidden_state"]}
    import warnings

    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            Encoder(model),
            sample,
            str(out),
            dynamo=False,
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
        )


def _forward_inputs(model: Any) -> list[str]:
    import inspect

    return list(inspect.signature(model.forward).parameters)


def _optimize(recipe: Recipe, path: Path) -> None:
    """onnxruntime's transformer optimiser (model type bert, fp32) on ``path``, in place."""
    from onnxruntime.transformers.optimizer import optimize_model

    optimized = optimize_model(
        str(path), model_type="bert", num_heads=recipe.heads, hidden_size=recipe.dim, opt_level=0
    )
    optimized.save_model_to_file(str(path))


def _session(path: Path, threads: int) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.intra_op_num_threads = max(0, threads)
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    # no busy-waiting between operators: on a shared 2-core machine a spinning thread burns the other's CPU
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])


class OnnxModel:
    """The exported graph of a ``Recipe`` and its tokenizer: ``encode`` gives L2-normalised float32 vectors.

    ``threads`` is ONNX Runtime's intra-op thread count for ``encode`` (0: its default, one per core); a call
    with another count runs on a session of its own, created on first use and kept.
    """

    def __init__(self, recipe: Recipe, graph: Path, *, threads: int = 0) -> None:
        from tokenizers import Tokenizer

        self.recipe = recipe
        self.graph = graph
        self.threads = threads
        self.max_tokens = recipe.max_tokens
        self.dim = recipe.dim
        self._sessions: dict[int, Any] = {}
        self._lock = threading.Lock()
        main = self.session(threads)
        self._inputs = [i.name for i in main.get_inputs()]
        unknown = set(self._inputs) - set(_INPUTS)
        if unknown:
            raise ModelUnavailable(f"the exported graph takes unknown inputs {sorted(unknown)}")
        tokenizer = Tokenizer.from_file(str(recipe.location / "tokenizer.json"))
        tokenizer.no_padding()
        tokenizer.no_truncation()
        self.counter = tokenizer  # word pieces, special tokens included, never truncated
        batcher = Tokenizer.from_file(str(recipe.location / "tokenizer.json"))
        pad_id = batcher.token_to_id(recipe.pad_token)
        self._pad_id = pad_id if pad_id is not None else 0
        batcher.enable_truncation(max_length=recipe.max_tokens)
        batcher.no_padding()  # encode pads each batch itself, to its longest text in word pieces
        self._batcher = batcher

    def session(self, threads: int) -> Any:
        """The session running with ``threads`` intra-op threads (created on first use)."""
        with self._lock:
            if threads not in self._sessions:
                self._sessions[threads] = _session(self.graph, threads)
            return self._sessions[threads]

    def encode(
        self,
        texts: Sequence[str],
        *,
        batch_size: int = 32,
        threads: int | None = None,
        show_progress_bar: bool = False,
    ) -> np.ndarray:
        """(n, dim) float32 unit vectors of ``texts`` (stripped, as sentence-transformers does), embedded in
        batches of ``batch_size`` texts of similar length, longest first, each padded to its longest text.

        Lengths are word pieces (each text tokenised once, truncated at the window): sentence-transformers sorts
        by characters, which on chunks of one token budget pads much more (764 SciFact chunks, batches of 32:
        1.22x the real word pieces sorted by characters, 1.03x by word pieces; docs/embeddings.md)."""
        n = len(texts)
        out = np.zeros((n, self.dim), dtype=np.float32)
        if n == 0:
            return out
        session = self.session(self.threads if threads is None else threads)
        encodings = self._batcher.encode_batch([str(t).strip() for t in texts], add_special_tokens=True)
        lengths = [len(e.ids) for e in encodings]
        order = sorted(range(n), key=lambda i: -lengths[i])  # stable: equal lengths keep their order
        types = "token_type_ids" in self._inputs
        starts: Any = range(0, n, max(1, batch_size))
        if show_progress_bar:
            from tqdm.auto import tqdm

            starts = tqdm(starts, desc="Batches", unit="batch")
        for start in starts:
            rows = order[start : start + batch_size]
            width = lengths[rows[0]]
            ids = np.full((len(rows), width), self._pad_id, dtype=np.int64)
            mask = np.zeros((len(rows), width), dtype=np.int64)
            type_ids = np.zeros((len(rows), width), dtype=np.int64)
            for r, i in enumerate(rows):
                e = encodings[i]
                ids[r, : lengths[i]] = e.ids
                mask[r, : lengths[i]] = 1
                if types:
                    type_ids[r, : lengths[i]] = e.type_ids
            feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": type_ids}
            hidden = session.run(["last_hidden_state"], {k: v for k, v in feeds.items() if k in self._inputs})[0]
            weights = mask[:, :, None].astype(np.float32)
            summed = (hidden.astype(np.float32) * weights).sum(axis=1)
            pooled = summed / np.clip(weights.sum(axis=1), 1e-9, None)
            norms = np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
            out[rows] = pooled / norms
        return out


def load(location: str | Path, cache_dir: Path, *, threads: int = 0) -> OnnxModel:
    """The ONNX Runtime model of the local sentence-transformers directory ``location``, exported into
    ``cache_dir`` first when it is not there yet."""
    recipe = read_recipe(location)
    return OnnxModel(recipe, export_model(recipe, cache_dir), threads=threads)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m index.onnx_embedding [--model DIR] [--cache DIR]``: build the export now (``make install`` does,
    so that serving never needs torch); prints where it is. Exit 1 when the model cannot be exported."""
    import argparse

    from index.embeddings import default_cache_dir, default_model_path

    parser = argparse.ArgumentParser(prog="python -m index.onnx_embedding", description=main.__doc__)
    parser.add_argument(
        "--model", default="", help="a local sentence-transformers directory (default: the packaged one)"
    )
    parser.add_argument("--cache", type=Path, default=None, help="the export cache (default: ~/.cache/assistant/embed)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        recipe = read_recipe(args.model or default_model_path())
        path = export_model(recipe, args.cache or default_cache_dir())
    except Exception as exc:
        log.error("no ONNX export (%s); the embedder will run on torch", str(exc).splitlines()[0])
        return 1
    sys.stdout.write(f"{path}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
