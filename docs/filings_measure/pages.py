# ruff: noqa
# Measurement script of stop 28 (docs/quality.md, docs/retrieval.md, docs/scale.md, docs/answer-speed.md): scratch, not part of the product; paths are this machine's (/work/shared, /work/cache/pdf, /work/runs).
"""Page-level scores over a dump.py pickle: BM25 over each page's text (the tokenizer index.lexical uses) and each
page's centroid (the mean of its chunks' vectors, unit length)."""
from collections import defaultdict

import bm25s
import numpy as np
import Stemmer

STEM = Stemmer.Stemmer("english")


def tokens(texts):
    return bm25s.tokenize(texts, stopwords="en", stemmer=STEM, show_progress=False)


def page_index(dump):
    """(keys, bm, chunk_vectors, centroids): keys[i] = (doc_id, page) of BM25 document i; chunk_vectors and
    centroids by (doc_id, page)."""
    keys, texts = [], []
    for did, d in dump["docs"].items():
        for n, t in d["pages"]:
            keys.append((did, n))
            texts.append(t)
    bm = bm25s.BM25()
    bm.index(tokens(texts), show_progress=False)
    vectors = defaultdict(list)
    for did, pages, v in dump["vecs"].values():
        for n in pages:
            vectors[(did, n)].append(v)
    centroids = {}
    for k, vs in vectors.items():
        m = np.mean(vs, axis=0)
        centroids[k] = m / np.linalg.norm(m)
    return keys, bm, vectors, centroids


def page_bm25(bm, question):
    return bm.get_scores(bm25s.tokenize(question, stopwords="en", stemmer=STEM, return_ids=False, show_progress=False)[0])
