# ruff: noqa
# Measurement script of stop 28 (docs/quality.md, docs/retrieval.md, docs/scale.md, docs/answer-speed.md): scratch, not part of the product; paths are this machine's (/work/shared, /work/cache/pdf, /work/runs).
"""Build a persistent index of a page set through the eval's own path and score it.
usage: python evalidx.py REPO SET(fb|fbsub|uber|uber2) INDEX_DIR OUT_JSON"""
import json, sys
from pathlib import Path
repo = Path(sys.argv[1]).resolve(); sys.path.insert(0, str(repo))
import os; os.chdir(repo)
from assistant.config import get_settings
from assistant.service import Assistant
from eval.commands import EVAL_PARSE_TIMEOUT_S
from eval.filings import run_page_set
from sets import page_set
from ingest.loaders import set_pdf_cache
which, index, out = sys.argv[2], Path(sys.argv[3]), Path(sys.argv[4])
set_pdf_cache(Path("/work/cache/pdf"))
ps = page_set(which, repo)
rep = run_page_set(lambda: Assistant(get_settings(data_dir=index, parse_timeout_s=EVAL_PARSE_TIMEOUT_S)), ps, progress=True)
out.write_text(json.dumps({"metrics": rep.metrics, "meta": rep.meta, "rows": rep.rows}, indent=1, default=str))
print(json.dumps(rep.meta.get("by_split"), indent=1))
