# ruff: noqa
# Measurement script of stop 28 (docs/quality.md, docs/retrieval.md, docs/scale.md, docs/answer-speed.md): scratch, not part of the product; paths are this machine's (/work/shared, /work/cache/pdf, /work/runs).
"""Padded word pieces + call_cost per call of ExtractiveAnswerer._model over first-time asks, for the sentences
sorted by characters (HEAD) and by word pieces, same run. usage: python padcost.py REPO SET INDEX_COPY"""
import shutil, sys
from pathlib import Path
repo = Path(sys.argv[1]).resolve(); sys.path.insert(0, str(repo))
import os; os.chdir(repo)
from assistant.config import get_settings
from assistant.service import Assistant
from assistant import extractive
from sets import page_set
from index.embeddings import cut_batches
which, src = sys.argv[2], Path(sys.argv[3])
idx = Path(f"/tmp/padcost_{which}")
shutil.rmtree(idx, ignore_errors=True); shutil.copytree(src, idx)
(idx / "sentence_vectors.sqlite").unlink(missing_ok=True)
ps = page_set(which, repo)
tot = {"chars": [0, 0, 0], "pieces": [0, 0, 0]}
orig = extractive.ExtractiveAnswerer._model
def model(self, texts):
    size, cc, window = self.tuning.embed_batch, self.tuning.call_cost, self.embedder.max_tokens
    if size > 0 and len(texts) > 1:
        counts = [min(k, window) for k in self.embedder.count_tokens_batch(texts)]
        for name, order in (("chars", sorted(range(len(texts)), key=lambda i: -len(texts[i]))),
                            ("pieces", sorted(range(len(texts)), key=lambda i: -counts[i]))):
            lens = [counts[i] for i in order]
            spans = cut_batches(lens, size, cc)
            pad = sum((e - s) * max(lens[s:e]) for s, e in spans)
            tot[name][0] += pad; tot[name][1] += len(spans); tot[name][2] += pad + cc * len(spans)
    return orig(self, texts)
extractive.ExtractiveAnswerer._model = model
a = Assistant(get_settings(data_dir=idx))
answers = [a.ask(q.question).answer for q in ps.questions]
a.close()
print(which, len(answers), "padded pieces / calls / pieces + call_cost x calls:", tot)
