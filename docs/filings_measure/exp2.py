# ruff: noqa
# Measurement script of stop 28 (docs/quality.md, docs/retrieval.md, docs/scale.md, docs/answer-speed.md): scratch, not part of the product; paths are this machine's (/work/shared, /work/cache/pdf, /work/runs).
"""Page-level evidence (BM25 over page text, cosine to the page's mean chunk vector) added to the fused score of
the dumped top-50 lists. usage: python exp2.py DUMP.pkl [DUMP2.pkl ...]"""
import pickle, sys
from collections import defaultdict
import numpy as np
from pages import page_bm25, page_index
VARIANTS = [("base", 0, 0)] + [(f"bm{g}", g, 0) for g in (0.05, 0.1, 0.2, 0.3)] + [(f"dn{g}", 0, g) for g in (0.05, 0.1, 0.2, 0.3)] + [(f"both{g}", g, g) for g in (0.05, 0.1, 0.15, 0.2)]
for path in sys.argv[1:]:
    dump = pickle.load(open(path, "rb"))
    keys, bm, acc, cent = page_index(dump)
    res = defaultdict(lambda: defaultdict(list))
    for row in dump["rows"]:
        if not row["answerable"]:
            continue
        hits = row["hits"]
        ps = page_bm25(bm, row["question"])
        allowed = set(row["scope_docs"])
        idx = [i for i, (d, n) in enumerate(keys) if not allowed or d in allowed]
        mx = max(ps[idx].max(), 1e-9)
        pbm = {keys[i]: ps[i] / mx for i in idx}
        q = np.asarray(row["qvec"]).ravel()
        cs = {keys[i]: float(cent[keys[i]] @ q) for i in idx if keys[i] in cent}
        lo, hi = (min(cs.values()), max(cs.values())) if cs else (0, 1)
        pdn = {k: (c - lo) / max(hi - lo, 1e-9) for k, c in cs.items()}
        g = set(row["gold_pages"]); src = row["source"].split("/")[-1]
        def hit(top, k):
            return float(any(h["source"].split("/")[-1] == src and set(h["pages"]) & g for h in top[:k]))
        for name, gb, gd in VARIANTS:
            def sc(h):
                return h["score"] + max((gb * pbm.get((h["doc"], n), 0) + gd * pdn.get((h["doc"], n), 0) for n in h["pages"]), default=0)
            top = sorted(hits, key=lambda h: -sc(h)) if name != "base" else hits
            for s in (row["split"], "all"):
                res[(s, name)]["p1"].append(hit(top, 1)); res[(s, name)]["p5"].append(hit(top, 5))
    print(path)
    for s in ("tune", "heldout", "all"):
        line = [f"{name}:{np.mean(res[(s, name)]['p1']):.3f}/{np.mean(res[(s, name)]['p5']):.3f}" for name, _, _ in VARIANTS if (s, name) in res]
        if line:
            print(f"  {s:8} n={len(res[(s, 'base')]['p5'])}", " ".join(line))
