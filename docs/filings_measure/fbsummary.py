# ruff: noqa
# Measurement script of stop 28 (docs/quality.md, docs/retrieval.md, docs/scale.md, docs/answer-speed.md): scratch, not part of the product; paths are this machine's (/work/shared, /work/cache/pdf, /work/runs).
"""FinanceBench full-run report: ours vs the plain pipeline, all / tune / held-out / filings outside the 20-filing
sample. usage: python fbsummary.py REPORT.json SAMPLE_EVAL.json"""
import json, sys
from statistics import mean
rep = json.load(open(sys.argv[1]))
sample = {r["source"] for r in json.load(open(sys.argv[2]))["rows"]}
rows = rep["rows"]
def m(rs, k):
    v = [r[k] for r in rs if r.get(k) is not None]
    return (round(mean(v), 3), len(v)) if v else (None, 0)
groups = {"all": rows, "tune": [r for r in rows if r["split"] == "tune"], "heldout": [r for r in rows if r["split"] == "heldout"],
          "outside sample": [r for r in rows if r["source"] not in sample], "in sample": [r for r in rows if r["source"] in sample]}
keys = ["doc_hit@1", "doc_hit@5", "page_hit@1", "page_hit@5", "citation_precision", "citation_precision_page", "token_f1"]
bkeys = [k for k in rows[0] if k.startswith("baseline_") and k != "baseline_top"]
print("baseline keys:", bkeys)
for g, rs in groups.items():
    ans = [r for r in rs if r["answerable"]]
    single = [r for r in ans if r.get("single_number")]
    nf = [r["numbers_found"] for r in single if r.get("numbers_found") is not None]
    abst = mean([float(r["abstained"]) for r in ans]) if ans else None
    print(f"{g:15} n={len(ans):3} " + " ".join(f"{k} {m(ans, k)[0]}" for k in keys)
          + f" | abstain {abst:.3f} | one-number gold {sum(x == 1.0 for x in nf)}/{len(single)}")
    print(" " * 15 + " baseline: " + " ".join(f"{k} {m(ans, k)[0]}" for k in bkeys))
print({k: v for k, v in rep["metrics"].items()})
