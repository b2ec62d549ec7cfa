"""The dense index: chunk embeddings in a Chroma collection, written through llama-index's ``ChromaVectorStore``.

Writes go through llama-index (its node format: the text as the Chroma document, the node as JSON in the
metadata). Reads (``search``, ``chunks``) query the collection directly and read that format back: importing
llama-index costs about 3 s, which a process that only answers (``assistant serve`` at start) does not pay
until its first write.

Chroma runs embedded (``PersistentClient`` on a directory) or as a server
(``HttpClient`` for ``url="http://host:port"``). The collection uses the
cosine space, so ``score`` is the cosine similarity of query and chunk.
llama-index and chromadb objects stay inside this module: callers see only
``Chunk`` and ``Passage``.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Collection, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlparse

import chromadb
import numpy as np
from chromadb.config import Settings as ChromaSettings

from assistant.types import Chunk, Passage
from index.errors import ChromaUnavailable, IndexStoreError

if TYPE_CHECKING:
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

_LOCKED_TRIES = 6  # waits of 0.1, 0.2, 0.4, 0.8, 1.6 s at most, for a SQLite write lock held a moment

log = logging.getLogger(__name__)

_SPACE = "cosine"
_DOC_KEY = "doc_id"
_EXTRA_KEY = "meta_json"  # chunk.meta entries that are not flat scalars, as JSON
# keys the node metadata uses for itself (ours, and those llama-index's Chroma store adds)
_RESERVED = frozenset(
    {_DOC_KEY, "start", "end", _EXTRA_KEY, "document_id", "ref_doc_id", "_node_content", "_node_type"}
)
_PAGE = 1000  # rows per get() page when listing the collection
_OWNER_KEY = "assistant_index"  # collection metadata: the id of the index directory whose chunks it holds

# HNSW graph of the collection. M (``max_neighbors``) and ``ef_construction`` are fixed when a collection is
# created (collections built earlier keep theirs); ``ef_search`` is a query-time setting, applied on every open.
# These are still Chroma's defaults: measured (``python -m eval.bench_scale --sizes 10000 --sample 640``, dense
# recall@10 against exact numpy search, docs/scale.md) at 10k chunks, 640 real embeddings among random unit
# vectors, ef_search 10/20/40/100/200 gave recall 0.32/0.43/0.57/0.72/0.84: below the 0.95 target on that mix,
# and not yet measured with other M / ef_construction or on real embeddings only (see docs/scale.md).
HNSW_M = 16
HNSW_EF_CONSTRUCTION = 100
HNSW_EF_SEARCH = 100


def _is_flat(value: object) -> bool:
    return value is None or isinstance(value, str | int | float | bool)


def _to_node(chunk: Chunk, embedding: np.ndarray) -> TextNode:
    from llama_index.core.schema import NodeRelationship, RelatedNodeInfo, TextNode

    metadata: dict[str, Any] = {_DOC_KEY: chunk.doc_id, "start": chunk.start, "end": chunk.end}
    extra: dict[str, Any] = {}
    for key, value in chunk.meta.items():
        if key in _RESERVED or not _is_flat(value):
            extra[key] = value
        else:
            metadata[key] = value
    if extra:
        metadata[_EXTRA_KEY] = json.dumps(extra, ensure_ascii=False)
    return TextNode(
        id_=chunk.id,
        text=chunk.text,
        embedding=[float(x) for x in embedding],
        metadata=metadata,
        relationships={NodeRelationship.SOURCE: RelatedNodeInfo(node_id=chunk.doc_id)},
        start_char_idx=chunk.start,
        end_char_idx=chunk.end,
    )


def _to_chunk(row_id: str, text: str | None, stored: dict[str, Any]) -> Chunk:
    """The chunk of one Chroma row written by ``add``: its metadata is the node's (kept as JSON by llama-index's
    store, None values included), its text the row's document."""
    node_json = stored.get("_node_content")
    node = json.loads(node_json) if isinstance(node_json, str) else {}
    metadata = dict(node.get("metadata") or stored)
    meta = {k: v for k, v in metadata.items() if k not in _RESERVED}
    if metadata.get(_EXTRA_KEY):
        meta.update(json.loads(metadata[_EXTRA_KEY]))
    return Chunk(
        id=str(node.get("id_") or row_id),
        doc_id=str(metadata.get(_DOC_KEY) or stored.get("ref_doc_id") or ""),
        text=text or "",
        start=int(metadata["start"]),
        end=int(metadata["end"]),
        meta=meta,
    )


def _doc_filter(doc_ids: Collection[str]) -> dict[str, Any]:
    ids = sorted(doc_ids)
    if len(ids) == 1:
        return {_DOC_KEY: {"$eq": ids[0]}}
    return {_DOC_KEY: {"$in": ids}}


class VectorIndex:
    """Chunk embeddings in Chroma; embedded at ``path`` or on the server at ``url``.

    ``add`` writes at most ``batch_size`` chunks per Chroma call (less if the client's ``max_batch_size`` is
    lower). A new collection gets the HNSW settings above; ``ef_search`` is set on every open.
    """

    def __init__(
        self,
        path: Path | None = None,
        *,
        url: str | None = None,
        collection: str = "assistant",
        batch_size: int = 2048,
        ef_search: int = HNSW_EF_SEARCH,
    ) -> None:
        if (path is None) == (url is None):
            raise ValueError("give exactly one of path (embedded Chroma) or url (Chroma server)")
        self._where = url or str(path)
        self._remote = url is not None
        settings = ChromaSettings(anonymized_telemetry=False)
        client: Any
        if url is not None:
            parsed = urlparse(url)
            if parsed.scheme not in ("http", "https") or not parsed.hostname:
                raise ValueError(f"not a Chroma server URL: {url!r} (expected http://HOST:PORT)")
            port = parsed.port or (443 if parsed.scheme == "https" else 8000)
            try:
                client = chromadb.HttpClient(
                    host=parsed.hostname, port=port, ssl=parsed.scheme == "https", settings=settings
                )
                client.heartbeat()
            except Exception as exc:
                raise ChromaUnavailable(f"cannot reach the Chroma server at {url}: {exc}") from exc
        else:
            assert path is not None
            path.mkdir(parents=True, exist_ok=True)
            try:
                client = chromadb.PersistentClient(path=str(path), settings=settings)
            except Exception as exc:
                raise IndexStoreError(f"cannot open the Chroma database in {path}: {exc}") from exc
        if ef_search < 1:
            raise ValueError(f"ef_search must be at least 1, not {ef_search}")
        with self._guard():
            # an existing collection is opened as it is (its configuration here is ignored by Chroma)
            self._collection = client.get_or_create_collection(
                name=collection,
                configuration={
                    "hnsw": {
                        "space": _SPACE,
                        "max_neighbors": HNSW_M,
                        "ef_construction": HNSW_EF_CONSTRUCTION,
                        "ef_search": ef_search,
                    }
                },
                embedding_function=None,
            )
            limit = int(client.get_max_batch_size())  # a server that does not say reports -1
            self._batch = max(1, min(limit, batch_size) if limit > 0 else batch_size)
        self._check_space()
        self._apply_ef_search(ef_search)
        self._writer: ChromaVectorStore | None = None
        self._client = client

    def close(self) -> None:
        """Release the Chroma client (an embedded store is flushed and let go). Safe to call twice.

        Embedded Chroma is not safe to open from two processes at once: a second one can get search results
        that disagree with ``count`` and ``get`` (chroma-core/chroma#3792). Close before another process opens
        the directory; ``index.lock`` keeps services from sharing one.
        """
        client, self._client = self._client, None
        close = getattr(client, "close", None)  # older chromadb clients have none
        if close is not None:
            with self._guard():
                close()

    # ------------------------------------------------------------------ writes

    @property
    def _store(self) -> ChromaVectorStore:
        """llama-index's store over the collection, made on the first write."""
        if self._writer is None:
            from llama_index.vector_stores.chroma import ChromaVectorStore

            self._writer = ChromaVectorStore(chroma_collection=self._collection)
        return self._writer

    def prepare_writes(self) -> None:
        """Make the writer now (importing llama-index: about 2 s of CPU and 46 MB), so the first write does not
        wait for it."""
        with self._guard():
            self._store  # noqa: B018 - the property makes it

    def add(self, chunks: Sequence[Chunk], embeddings: np.ndarray) -> None:
        """Store chunks with their precomputed embeddings; a chunk id already present is replaced."""
        vectors = np.asarray(embeddings, dtype=np.float32)
        if vectors.ndim != 2 or vectors.shape[0] != len(chunks):
            raise ValueError(f"{len(chunks)} chunks but embeddings of shape {vectors.shape}")
        for i in range(0, len(chunks), self._batch):
            part = chunks[i : i + self._batch]
            nodes: list[Any] = [_to_node(c, v) for c, v in zip(part, vectors[i : i + self._batch], strict=True)]
            with self._guard():
                self._store.delete_nodes(node_ids=[c.id for c in part])
                self._store.add(nodes)

    def delete(self, doc_id: str) -> None:
        """Remove every chunk of ``doc_id`` (nothing happens if there is none)."""
        with self._guard():
            self._store.delete(doc_id)

    def set_owner(self, owner: str) -> None:
        """Record in the collection's metadata which index directory its chunks belong to."""
        with self._guard():
            metadata = {k: v for k, v in (self._collection.metadata or {}).items() if not k.startswith("hnsw:")}
            self._collection.modify(metadata={**metadata, _OWNER_KEY: owner})

    # ------------------------------------------------------------------ reads

    @property
    def location(self) -> str:
        """The collection and where it is, for messages: "'assistant' at http://127.0.0.1:8001"."""
        return f"{self._collection.name!r} at {self._where}"

    @property
    def batch_size(self) -> int:
        """Chunks written per Chroma call."""
        return self._batch

    def hnsw(self) -> dict[str, Any]:
        """The HNSW settings of the collection as Chroma reports them (empty if it has no HNSW index)."""
        with self._guard():
            return dict((self._collection.configuration or {}).get("hnsw") or {})

    def owner(self) -> str | None:
        """The index directory recorded by ``set_owner``, or None."""
        value = (self._collection.metadata or {}).get(_OWNER_KEY)
        return str(value) if value is not None else None

    def search(self, embedding: np.ndarray, top_k: int, doc_ids: Collection[str] | None = None) -> list[Passage]:
        """The ``top_k`` chunks most similar to ``embedding`` (score = cosine similarity), best first."""
        if top_k <= 0 or (doc_ids is not None and len(doc_ids) == 0):
            return []
        # no count() first: Chroma returns what there is for an empty or small collection, and counting a
        # million rows cost 160 ms of CPU per question (docs/scale.md, "1M chunks"), ten times the search itself
        query: dict[str, Any] = {
            "query_embeddings": [np.asarray(embedding, dtype=np.float32).ravel().tolist()],
            "n_results": top_k,
            "include": ["documents", "metadatas", "distances"],
        }
        if doc_ids is not None:
            query["where"] = _doc_filter(doc_ids)
        with self._guard():
            result = self._collection.query(**query)
        rows = zip(
            result["ids"][0],
            (result["documents"] or [[]])[0],
            (result["metadatas"] or [[]])[0],
            (result["distances"] or [[]])[0],
            strict=True,
        )
        # the cosine distance is 1 - cosine similarity
        passages = [Passage(chunk=_to_chunk(i, t, dict(m or {})), score=1.0 - float(d)) for i, t, m, d in rows]
        passages.sort(key=lambda p: p.score, reverse=True)
        return passages

    def count(self) -> int:
        """Chunks stored."""
        with self._guard():
            return int(self._collection.count())

    def doc_ids(self) -> set[str]:
        """Ids of the documents that have chunks stored."""
        found: set[str] = set()
        offset = 0
        while True:
            with self._guard():
                rows = self._collection.get(include=["metadatas"], limit=_PAGE, offset=offset)
            metadatas = rows.get("metadatas") or []
            found.update(str(m[_DOC_KEY]) for m in metadatas if m and m.get(_DOC_KEY) is not None)
            if len(rows["ids"]) < _PAGE:
                return found
            offset += _PAGE

    def chunks(self, doc_id: str) -> list[Chunk]:
        """The chunks of ``doc_id``, ordered by start offset."""
        with self._guard():
            rows = self._collection.get(where=_doc_filter([doc_id]), include=["documents", "metadatas"])
        found = zip(rows["ids"], rows["documents"] or [], rows["metadatas"] or [], strict=True)
        return sorted((_to_chunk(i, t, dict(m or {})) for i, t, m in found), key=lambda c: (c.start, c.end))

    # ------------------------------------------------------------------ internals

    def _check_space(self) -> None:
        try:
            config = self._collection.configuration
            space = (config.get("hnsw") or {}).get("space") or (config.get("spann") or {}).get("space")
        except Exception:  # configuration introspection differs between Chroma versions
            return
        if space and space != _SPACE:
            raise IndexStoreError(
                f"the Chroma collection {self._collection.name!r} at {self._where} uses the {space!r} space, "
                f"not {_SPACE!r}; use another collection name"
            )

    def _apply_ef_search(self, ef_search: int) -> None:
        """Set the query-time ``ef_search`` of an HNSW collection when it differs (a collection built before
        these settings, or with another value)."""
        current = self.hnsw()
        if not current or current.get("ef_search") == ef_search:
            return
        # a write to the embedded store's SQLite file; another connection's write in progress makes it "database
        # is locked" for a moment (seen on a loaded machine right after a service over the same directory closed):
        # tried again, a few times, before it is an error
        for attempt in range(_LOCKED_TRIES):
            try:
                with self._guard():
                    self._collection.modify(configuration={"hnsw": {"ef_search": ef_search}})
                return
            except IndexStoreError as exc:
                if "database is locked" not in str(exc) or attempt == _LOCKED_TRIES - 1:
                    raise
                time.sleep(0.1 * 2**attempt)

    def _guard(self) -> AbstractContextManager[None]:
        return chroma_errors(self._where, remote=self._remote)


@contextmanager
def chroma_errors(where: str, *, remote: bool) -> Iterator[None]:
    """Report Chroma failures as IndexStoreError: ChromaUnavailable when ``remote`` and the server at ``where`` is
    unreachable; other errors of chromadb as IndexStoreError naming ``where``; anything else unchanged."""
    try:
        yield
    except IndexStoreError:
        raise
    except Exception as exc:
        unreachable = isinstance(exc, ConnectionError | OSError) or type(exc).__module__.startswith(
            ("httpx", "httpcore")
        )
        if remote and unreachable:
            raise ChromaUnavailable(f"lost the Chroma server at {where}: {exc}") from exc
        if type(exc).__module__.startswith("chromadb"):
            raise IndexStoreError(f"Chroma failed at {where}: {exc}") from exc
        raise
