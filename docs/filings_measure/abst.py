# ruff: noqa
# Measurement script of stop 28 (docs/quality.md, docs/retrieval.md, docs/scale.md, docs/answer-speed.md): scratch, not part of the product; paths are this machine's (/work/shared, /work/cache/pdf, /work/runs).
"""The FinanceBench questions a full run abstained on: index the filings of their companies, ask them again, print
why each abstains. usage: python abst.py REPO REPORT.json INDEX_DIR"""
import json, sys
from pathlib import Path
repo = Path(sys.argv[1]).resolve(); sys.path.insert(0, str(repo))
import os; os.chdir(repo)
from assistant.config import get_settings
from assistant.service import Assistant
from eval.commands import EVAL_PARSE_TIMEOUT_S
from ingest.loaders import set_pdf_cache
FB = Path("/work/shared/datasets/financebench")
rep = json.load(open(sys.argv[2]))
abst = [r for r in rep["rows"] if r["abstained"] and r["answerable"]]
docs = [json.loads(l) for l in open(FB / "documents.jsonl")]
company = {d["doc_name"] + ".pdf": d["company"] for d in docs}
wanted = {company[r["source"]] for r in abst}
files = [FB / "pdfs" / (d["doc_name"] + ".pdf") for d in docs if d["company"] in wanted]
set_pdf_cache(Path("/work/cache/pdf"))
a = Assistant(get_settings(data_dir=Path(sys.argv[3]), parse_timeout_s=EVAL_PARSE_TIMEOUT_S))
a.ingest(files, progress=True)
out = []
for r in abst:
    ans = a.ask(r["question"])
    out.append({"id": r["id"], "split": r["split"], "abstained": ans.abstained, "reason": ans.meta.get("abstain_reason"), "best": ans.meta.get("best_score"), "type": ans.meta.get("answer_type")})
    print(out[-1], flush=True)
a.close()
json.dump(out, open("/work/runs/abst.json", "w"), indent=1)
