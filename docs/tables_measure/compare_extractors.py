# ruff: noqa
# Measurement script for docs/tables.md (run from the repository root with .venv/bin/python; reads ../shared/datasets).
"""pdfplumber vs PyMuPDF find_tables on table pages: seconds per page, tables, cell text quality."""

import json
import re
import sys
import time

sys.path.append("/tmp/c1_mupdf")  # PyMuPDF for this measurement only (pip install --target): AGPL, not a dependency
import pdfplumber
import pymupdf

FB = "/work/shared/datasets/financebench/pdfs/"
SETS = [("/work/shared/datasets/uber_10k_2021/uber_2021.pdf", list(range(77, 117)))]
for name, pages in [
    ("3M_2018_10K", [58, 60]),
    ("PEPSICO_2022_10K", [62, 64]),
    ("AMERICANEXPRESS_2022_10K", [44, 96, 98]),
    ("CVSHEALTH_2022_10K", [108, 110]),
    ("BESTBUY_2023_10K", [40, 42]),
    ("NIKE_2021_10K", [59, 61]),
]:
    SETS.append((FB + name + ".pdf", pages))
GLUED = re.compile(r"[A-Za-z]{22,}")


def bad(cell):
    return bool(GLUED.search(cell)) or "\n," in cell or re.search(r"\d\n,", cell) is not None


res = {}
for lib in ("pdfplumber", "pymupdf"):
    secs = 0.0
    n = 0
    tables = 0
    cells = 0
    bads = 0
    numeric = 0
    numeric_bad = 0
    for path, pages in SETS:
        if lib == "pdfplumber":
            pdf = pdfplumber.open(path, pages=pages)
            for page in pdf.pages:
                t = time.perf_counter()
                found = page.find_tables()
                rows = [r for tb in found for r in tb.extract()]
                secs += time.perf_counter() - t
                n += 1
                tables += len(found)
                page.close()
                for r in rows:
                    for c in r:
                        if c:
                            cells += 1
                            bads += bad(c)
            pdf.close()
        else:
            doc = pymupdf.open(path)
            for p in pages:
                page = doc[p - 1]
                t = time.perf_counter()
                found = page.find_tables().tables
                rows = [r for tb in found for r in tb.extract()]
                secs += time.perf_counter() - t
                n += 1
                tables += len(found)
                for r in rows:
                    for c in r:
                        if c:
                            cells += 1
                            bads += bad(c)
    res[lib] = dict(
        pages=n,
        s_per_page=round(secs / n, 3),
        tables=tables,
        cells=cells,
        bad_cells=bads,
        bad_share=round(bads / max(cells, 1), 3),
    )
    print(lib, res[lib], flush=True)
json.dump(res, open("var/tables_compare.json", "w"))
