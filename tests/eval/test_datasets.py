"""Loaders: BEIR, LlamaIndex LabelledRagDataset, JSONL eval sets (small fixtures and the shared datasets)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.datasets import load_beir, load_eval_set, load_llama_dataset
from eval.errors import DatasetError

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "datasets"


def _beir(tmp_path: Path) -> Path:
    root = tmp_path / "tiny"
    (root / "qrels").mkdir(parents=True)
    docs = [{"_id": "d1", "title": "Alpha", "text": "alpha text"}, {"_id": "d2", "title": "", "text": "beta text"}]
    (root / "corpus.jsonl").write_text("\n".join(json.dumps(d) for d in docs) + "\n")
    queries = [{"_id": "q1", "text": "alpha?"}, {"_id": "q2", "text": "beta?"}, {"_id": "q3", "text": "train only"}]
    (root / "queries.jsonl").write_text("\n".join(json.dumps(q) for q in queries) + "\n\n")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\td1\t2\nq1\td2\t0\nq2\td2\t1\n")
    (root / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\nq3\td1\t1\n")
    return root


def test_load_beir_restricts_queries_to_the_split(tmp_path: Path) -> None:
    ds = load_beir(_beir(tmp_path))
    assert ds.name == "tiny" and ds.split == "test"
    assert ds.corpus == {"d1": ("Alpha", "alpha text"), "d2": ("", "beta text")}
    assert ds.queries == {"q1": "alpha?", "q2": "beta?"}
    assert ds.qrels == {"q1": {"d1": 2, "d2": 0}, "q2": {"d2": 1}}
    train = load_beir(_beir(tmp_path / "again"), "train")
    assert train.queries == {"q3": "train only"}


def test_load_beir_errors(tmp_path: Path) -> None:
    root = _beir(tmp_path)
    with pytest.raises(DatasetError, match="dev.tsv"):
        load_beir(root, "dev")
    (root / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq9\td1\t1\n")
    with pytest.raises(DatasetError, match="missing from queries"):
        load_beir(root)
    (root / "corpus.jsonl").write_text('{"_id": "d1", "text": "x"}\nnot json\n')
    with pytest.raises(DatasetError, match="corpus.jsonl:2"):
        load_beir(root)


@pytest.mark.skipif(not (SHARED / "scifact").is_dir(), reason="shared datasets not present")
def test_load_scifact_test_split() -> None:
    ds = load_beir(SHARED / "scifact", "test")
    # published_baselines.json: "test split (300 queries, 339 qrels, 5183 docs)"
    assert len(ds.corpus) == 5183
    assert len(ds.queries) == 300
    assert sum(len(v) for v in ds.qrels.values()) == 339
    assert set(ds.queries) == set(ds.qrels)
    assert all(doc in ds.corpus for judged in ds.qrels.values() for doc in judged)


def test_load_llama_dataset_lists_source_files_only(tmp_path: Path) -> None:
    root = tmp_path / "mini"
    (root / "source_files").mkdir(parents=True)
    (root / "source_files" / "paper.txt").write_text("Solana uses Proof of History.")
    (root / "README.md").write_text("# about this dataset")
    (root / "card.json").write_text("{}")
    examples = [
        {
            "query": "What does Solana use?",
            "reference_answer": "Proof of History.",
            "reference_contexts": ["Solana uses Proof of History."],
            "query_by": None,
        },
        {"query": "Second?", "reference_answer": None, "reference_contexts": None},
    ]
    (root / "rag_dataset.json").write_text(json.dumps({"examples": examples}))
    ds = load_llama_dataset(root)
    assert ds.name == "mini"
    assert ds.files == (root / "source_files" / "paper.txt",)
    assert ds.examples[0].query == "What does Solana use?"
    assert ds.examples[0].reference_contexts == ("Solana uses Proof of History.",)
    assert ds.examples[1].reference_answer == "" and ds.examples[1].reference_contexts == ()


def test_load_llama_dataset_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="rag_dataset.json"):
        load_llama_dataset(tmp_path)
    (tmp_path / "rag_dataset.json").write_text(json.dumps({"examples": []}))
    with pytest.raises(DatasetError, match="no source documents"):
        load_llama_dataset(tmp_path)


@pytest.mark.skipif(not (SHARED / "blockchain_solana").is_dir(), reason="shared datasets not present")
def test_load_blockchain_solana() -> None:
    ds = load_llama_dataset(SHARED / "blockchain_solana")
    assert [p.name for p in ds.files] == ["BlockchainSolana.pdf"]
    assert len(ds.examples) == 58  # card.json: numberObservations
    assert all(ex.query and ex.reference_answer and ex.reference_contexts for ex in ds.examples)


def _line(**fields: object) -> str:
    base: dict[str, object] = {
        "id": "q1",
        "question": "When?",
        "answerable": True,
        "reference": "On May 15.",
        "key_facts": ["May 15"],
        "gold": [{"source": "a.txt", "quote": "on May 15"}],
        "tags": ["factoid"],
    }
    base.update(fields)
    return json.dumps(base)


def test_load_eval_set(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    unanswerable = _line(id="q2", answerable=False, reference="", key_facts=[], gold=[], tags=[])
    path.write_text(_line() + "\n\n" + unanswerable + "\n")
    questions = load_eval_set(path)
    assert [q.id for q in questions] == ["q1", "q2"]
    assert questions[0].gold[0].quote == "on May 15" and questions[0].key_facts == ("May 15",)
    assert not questions[1].answerable and questions[1].gold == ()


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{not json", ":1:"),
        (_line(gold=[]), "gold quote"),
        (_line(answerable=False), "unanswerable"),
        (_line(extra="field"), "extra"),
        (_line(gold=[{"source": "a.txt", "quote": "  "}]), "blank"),
    ],
)
def test_load_eval_set_rejects_bad_lines(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(line + "\n")
    with pytest.raises(DatasetError, match=message):
        load_eval_set(path)


def test_load_eval_set_rejects_duplicate_ids_and_empty_files(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(_line() + "\n" + _line() + "\n")
    with pytest.raises(DatasetError, match=":2: duplicate id 'q1'"):
        load_eval_set(path)
    path.write_text("\n")
    with pytest.raises(DatasetError, match="no questions"):
        load_eval_set(path)
