"""Best-sentence scores and rule-based abstentions of every question of a set, at threshold 0 (docs/abstention.md).

usage: python docs/abstention_measure/calibrate.py SET OUT.jsonl [MAX_EXAMPLES] [UNANSWERABLE.txt]

SET is ``demo`` (eval/demo.jsonl over data/demo) or a LlamaIndex dataset directory; UNANSWERABLE.txt holds extra
made-up unanswerable questions, one a line, asked against the same index (keep them out of the repository).
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from assistant.config import get_settings
from assistant.service import Assistant
from eval.datasets import load_eval_set, load_llama_dataset
from eval.metrics import token_f1

REPO = Path(__file__).resolve().parents[2]


def main(argv: list[str]) -> None:
    name, out = argv[0], Path(argv[1])
    limit = int(argv[2]) if len(argv) > 2 and argv[2] != "0" else None
    extra = Path(argv[3]).read_text(encoding="utf-8").splitlines() if len(argv) > 3 else []
    rows: list[dict[str, Any]] = []
    questions: list[tuple[str, str, bool, str, str]]
    with tempfile.TemporaryDirectory(prefix="abstention-") as tmp:
        assistant = Assistant(get_settings(data_dir=Path(tmp) / "index", abstain_threshold=0.0))
        try:
            if name == "demo":
                assistant.ingest([REPO / "data" / "demo"])
                questions = [
                    (q.id, q.question, q.answerable, str(q.split or ""), q.reference)
                    for q in load_eval_set(REPO / "eval" / "demo.jsonl")
                ]
            else:
                dataset = load_llama_dataset(Path(name))
                assistant.ingest(list(dataset.files))
                questions = [
                    (str(i), e.query, True, "", e.reference_answer) for i, e in enumerate(dataset.examples[:limit])
                ]
            questions += [(f"x{i}", q, False, "extra", "") for i, q in enumerate(extra) if q.strip()]
            for qid, question, answerable, split, reference in questions:
                answer = assistant.ask(question)
                meta = answer.meta
                rows.append(
                    {
                        "id": qid,
                        "question": question,
                        "answerable": answerable,
                        "split": split,
                        "best": meta.get("best_score"),
                        "reason": meta.get("abstain_reason"),
                        "focus": meta.get("focus"),
                        "answer_type": meta.get("answer_type"),
                        "f1": token_f1("" if answer.abstained else answer.answer, reference) if reference else None,
                    }
                )
        finally:
            assistant.close()
    out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


if __name__ == "__main__":
    main(sys.argv[1:])
