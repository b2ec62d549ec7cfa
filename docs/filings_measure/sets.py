# ruff: noqa
# Measurement script of stop 28 (docs/quality.md, docs/retrieval.md, docs/scale.md, docs/answer-speed.md): scratch, not part of the product; paths are this machine's (/work/shared, /work/cache/pdf, /work/runs).
"""The page sets these scripts measure, by short name: fb (FinanceBench --max-pages 1500), fbsub (--max-pages 300),
uber (eval/uber_10k.jsonl), uber2 (eval/uber_10k_heldout2.jsonl). Import after the repository is on sys.path."""
from pathlib import Path

SH = Path("/work/shared/datasets")


def page_set(which, repo):
    from eval.filings import load_financebench, load_page_set

    if which in ("fb", "fbsub"):
        return load_financebench(SH / "financebench", max_pages=1500 if which == "fb" else 300)
    name = {"uber": "eval/uber_10k.jsonl", "uber2": "eval/uber_10k_heldout2.jsonl"}[which]
    return load_page_set(Path(repo) / name, SH / "uber_10k_2021")
