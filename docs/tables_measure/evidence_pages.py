# ruff: noqa
# Measurement script for docs/tables.md (run from the repository root with .venv/bin/python; reads ../shared/datasets).
import json
import re
import time

import pdfplumber
from pypdf import PdfReader

from ingest.tables import looks_tabular, page_tables

qs = [json.loads(l) for l in open("/work/shared/datasets/financebench/questions.jsonl")]
seen = set()
stats = dict(pages=0, gated=0, with_tables=0, rows=0, rows_with_headers=0, answers=0, answer_in_row=0)
secs = 0
for q in qs:
    for e in q["evidence"]:
        t = e["evidence_text"]
        if sum(c.isdigit() for c in t) < 80:
            continue
        key = (e["doc_name"], e["evidence_page_num"])
        path = f"/work/shared/datasets/financebench/pdfs/{e['doc_name']}.pdf"
        n = e["evidence_page_num"] + 1
        try:
            text = PdfReader(path).pages[n - 1].extract_text()
        except Exception:
            continue
        with pdfplumber.open(path, pages=[n]) as pdf:
            t0 = time.perf_counter()
            tabs = page_tables(pdf.pages[0])
            dt = time.perf_counter() - t0
        rows = [r for tb in tabs for r in tb.rows]
        if key not in seen:
            seen.add(key)
            secs += dt
            stats["pages"] += 1
            stats["gated"] += looks_tabular(text)
            stats["with_tables"] += bool(tabs)
            stats["rows"] += len(rows)
            stats["rows_with_headers"] += sum(bool(re.search(r"\w: \S", r)) for r in rows)
        nums = [x.replace(",", "") for x in re.findall(r"\d[\d,]*(?:\.\d+)?", q["answer"])]
        nums = [x[:-3] if x.endswith(".00") else x for x in nums]
        nums = [x for x in nums if len(x.replace(".", "")) >= 3]
        if len(nums) == 1:
            stats["answers"] += 1
            hit = any(nums[0] in r.replace(",", "") for r in rows)
            stats["answer_in_row"] += hit
            if not hit:
                print("MISS", q["doc_name"], n, q["answer"][:40])
stats["s_per_page"] = round(secs / max(stats["pages"], 1), 2)
print(stats)
