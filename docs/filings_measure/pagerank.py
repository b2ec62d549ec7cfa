# ruff: noqa
# Measurement script of stop 28 (docs/quality.md, docs/retrieval.md, docs/scale.md, docs/answer-speed.md): scratch, not part of the product; paths are this machine's (/work/shared, /work/cache/pdf, /work/runs).
"""Pages ranked alone (BM25 of page text, cosine to the page's mean chunk vector, and their mix) inside the scope:
page hit@1/@5 and the gold page's rank. usage: python pagerank.py DUMP.pkl"""
import pickle, sys
from collections import defaultdict
import numpy as np
from pages import page_bm25, page_index
for path in sys.argv[1:]:
    dump = pickle.load(open(path, "rb"))
    keys, bm, acc, cent = page_index(dump)
    src_of = {did: d["source"].split("/")[-1] for did, d in dump["docs"].items()}
    res = defaultdict(lambda: defaultdict(list))
    for row in dump["rows"]:
        if not row["answerable"]:
            continue
        ps = page_bm25(bm, row["question"])
        allowed = set(row["scope_docs"])
        idx = [i for i, (d, n) in enumerate(keys) if (not allowed or d in allowed) and keys[i] in cent]
        q = np.asarray(row["qvec"]).ravel()
        b = np.array([ps[i] for i in idx]); c = np.array([float(cent[keys[i]] @ q) for i in idx])
        cmax = np.array([max(float(v @ q) for v in acc[keys[i]]) for i in idx])
        def mm(x):
            return (x - x.min()) / max(x.max() - x.min(), 1e-9)
        g = set(row["gold_pages"]); src = row["source"].split("/")[-1]
        gold = np.array([src_of[keys[i][0]] == src and keys[i][1] in g for i in idx])
        for name, s in (("bm", b), ("cent", c), ("bm+cent", mm(b) + mm(c)), ("bm+chunkmax", mm(b) + mm(cmax)), ("bm+cent+cmax", mm(b) + mm(c) + mm(cmax))):
            order = np.argsort(-s)
            ranks = np.where(gold[order])[0]
            r = int(ranks[0]) + 1 if len(ranks) else 10**6
            for sp in (row["split"], "all"):
                res[(sp, name)]["p1"].append(r <= 1); res[(sp, name)]["p5"].append(r <= 5); res[(sp, name)]["mrr"].append(1 / r)
    print(path)
    for (sp, name), m in sorted(res.items()):
        print(f"  {sp:8} {name:14} n={len(m['p5'])} page@1 {np.mean(m['p1']):.3f} page@5 {np.mean(m['p5']):.3f} mrr {np.mean(m['mrr']):.3f}")
