# ruff: noqa
# Measurement script of stop 28 (docs/quality.md, docs/retrieval.md, docs/scale.md, docs/answer-speed.md): scratch, not part of the product; paths are this machine's (/work/shared, /work/cache/pdf, /work/runs).
"""Chroma (embedded, persistent) at N random unit vectors: CPU and wall of each add-60 / delete-60, to see whether
the HNSW sync every `sync_threshold` ops (default 1000) shows as a periodic spike. usage: python chroma_sync.py N DIR [SYNC_THRESHOLD]"""
import sys, time, resource, shutil
import numpy as np, chromadb
n, d = int(sys.argv[1]), sys.argv[2]
shutil.rmtree(d, ignore_errors=True)
c = chromadb.PersistentClient(path=d)
col = c.get_or_create_collection("xxx", embedding_function=None, configuration={"hnsw": {"space": "cosine", "max_neighbors": 16, "ef_construction": 100, "sync_threshold": int(sys.argv[3]) if len(sys.argv) > 3 else 1000}})
rng = np.random.default_rng(0)
def unit(k):
    v = rng.standard_normal((k, 384)).astype(np.float32); return v / np.linalg.norm(v, axis=1, keepdims=True)
t = time.time(); B = 5000
for s in range(0, n, B):
    col.add(ids=[f"c{i}" for i in range(s, s + B)], embeddings=unit(B), metadatas=[{"doc_id": f"d{i // 50}"} for i in range(s, s + B)])
print("built", n, round(time.time() - t, 1), "s", flush=True)
def cpu(): r = resource.getrusage(resource.RUSAGE_SELF); return r.ru_utime + r.ru_stime
for it in range(40):
    ids = [f"p{it}_{j}" for j in range(60)]
    c0, w0 = cpu(), time.time(); col.add(ids=ids, embeddings=unit(60), metadatas=[{"doc_id": f"pdf{it}"}] * 60); a = (cpu() - c0, time.time() - w0)
    c0, w0 = cpu(), time.time(); col.delete(where={"doc_id": f"pdf{it}"}); dl = (cpu() - c0, time.time() - w0)
    print(f"iter {it:2d} ops {(it + 1) * 120:5d} add cpu {a[0]:.3f} wall {a[1]:.3f} | delete cpu {dl[0]:.3f} wall {dl[1]:.3f}", flush=True)
