"""Opens an embedded VectorIndex in a fresh process and prints its snapshot as JSON (used by the tests)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from index.vector import VectorIndex


def snapshot(index: VectorIndex, query: np.ndarray, top_k: int) -> dict[str, Any]:
    """What a reader sees: count, document ids, a search and every document's chunks."""
    return {
        "count": index.count(),
        "doc_ids": sorted(index.doc_ids()),
        "search": [[p.chunk.id, round(p.score, 5)] for p in index.search(query, top_k)],
        "chunks": {d: [c.model_dump() for c in index.chunks(d)] for d in sorted(index.doc_ids())},
    }


def main(argv: list[str]) -> None:
    path, collection, query_file, top_k = argv
    query = np.array(json.loads(Path(query_file).read_text()), dtype=np.float32)
    index = VectorIndex(Path(path), collection=collection)
    sys.stdout.write(json.dumps(snapshot(index, query, int(top_k))) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:])
