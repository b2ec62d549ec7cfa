# ruff: noqa
# Measurement script of stop 28 (docs/quality.md, docs/retrieval.md, docs/scale.md, docs/answer-speed.md): scratch, not part of the product; paths are this machine's (/work/shared, /work/cache/pdf, /work/runs).
"""Per question: the top-50 passages through the path ask takes (Assistant._passages), with pages; and each
indexed document's page texts. usage: python dump.py REPO SET INDEX_DIR OUT.pkl"""
import pickle, sys
from pathlib import Path
repo = Path(sys.argv[1]).resolve(); sys.path.insert(0, str(repo))
import os; os.chdir(repo)
from assistant.config import get_settings
from assistant.service import Assistant
from eval.filings import pages_of
from sets import page_set
which, index, out = sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
ps = page_set(which, repo)
a = Assistant(get_settings(data_dir=index))
docs = {}
for info in a.documents():
    d = a.document_text(info.id)
    docs[d.id] = {"source": d.source, "pages": [(p.number, d.text[p.start:p.end]) for p in d.pages], "meta": dict(d.meta)}
import numpy as np
from index.vector import _doc_filter, _to_chunk
vecs = {}
for did, dd in docs.items():
    got = a.vector._collection.get(where=_doc_filter([did]), include=["embeddings", "metadatas", "documents"])
    doc = a.document_text(did)
    for i, t, m, e in zip(got["ids"], got["documents"], got["metadatas"], got["embeddings"]):
        c = _to_chunk(i, t, dict(m or {}))
        vecs[i] = (did, sorted(pages_of(doc, c.start, c.end)), np.asarray(e, dtype=np.float32))
rows = []
for q in ps.questions:
    passages, scope = a._passages(q.question, top_k=50, doc_ids=None, sources=None)
    d = {}
    hits = []
    for p in passages:
        c = p.chunk
        doc = a.document_text(c.doc_id) if c.doc_id not in d else d[c.doc_id]
        d[c.doc_id] = doc
        hits.append({"id": c.id, "doc": c.doc_id, "source": str(c.meta.get("source", "")), "pages": sorted(pages_of(doc, c.start, c.end)),
                     "score": p.score, "text": c.text, "context": c.meta.get("context"), "meta": {k: v for k, v in p.meta.items()}})
    rows.append({"id": q.id, "question": q.question, "split": q.split, "answerable": q.answerable, "source": q.source,
                 "gold_pages": list(q.gold_pages), "scope_docs": list(scope.doc_ids), "preferred": list(scope.preferred),
                 "per_document": scope.per_document, "qvec": a.embedder.embed_query(q.question), "focus": str(scope.focus), "hits": hits})
a.close()
pickle.dump({"docs": docs, "rows": rows, "vecs": vecs}, open(out, "wb"))
print(len(rows), "questions", len(docs), "docs")
