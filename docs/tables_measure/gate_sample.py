# ruff: noqa
# Measurement script for docs/tables.md (run from the repository root with .venv/bin/python; reads ../shared/datasets).
"""Gate + extractor timing on a sample of FinanceBench pages; pdfplumber vs PyMuPDF on table pages."""

import glob
import json
import sys
import time

sys.path.append("/tmp/c1_mupdf")  # PyMuPDF for this measurement only (pip install --target): AGPL, not a dependency
import pdfplumber
from pypdf import PdfReader

from ingest.tables import _NUMERIC_TOKEN, looks_tabular, page_tables

out = {"sample": [], "compare": []}
files = sorted(glob.glob("/work/shared/datasets/financebench/pdfs/*.pdf"))
STEP = int(sys.argv[1])
total_pages = 0
for f in files:
    r = PdfReader(f)
    n = len(r.pages)
    total_pages += n
    idx = list(range(0, n, STEP))
    with pdfplumber.open(f, pages=[i + 1 for i in idx]) as pdf:
        for i, page in zip(idx, pdf.pages):
            t = time.perf_counter()
            text = r.pages[i].extract_text() or ""
            tp = time.perf_counter() - t
            t = time.perf_counter()
            try:
                tabs = page_tables(page)
            except Exception as e:
                tabs = []
                print("ERR", f, i, e)
            tt = time.perf_counter() - t
            page.close()
            out["sample"].append(
                {
                    "file": f.split("/")[-1],
                    "page": i + 1,
                    "numeric": len(_NUMERIC_TOKEN.findall(text)),
                    "gate": looks_tabular(text),
                    "tables": len(tabs),
                    "rows": sum(len(x.rows) for x in tabs),
                    "t_pypdf": tp,
                    "t_tables": tt,
                }
            )
print("total_pages", total_pages)
out["total_pages"] = total_pages
json.dump(out, open("var/tables_gate.json", "w"))
