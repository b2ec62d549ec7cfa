"""Metric functions against hand-computed values."""

from __future__ import annotations

import math

import pytest

from eval.metrics import (
    abstention_precision_recall,
    citation_matches,
    citation_precision,
    citation_recall,
    doc_ranking,
    hit_at_k,
    key_fact_coverage,
    key_term_recall,
    key_terms,
    mrr_at_k,
    ndcg_at_k,
    overlap_ratio,
    overlaps,
    percentile,
    recall_at_k,
    strip_citation_markers,
    token_f1,
    tokens,
)

# ----------------------------------------------------------------------------- text matching


def test_tokens_fold_case_quotes_dashes_and_no_break_spaces() -> None:
    assert tokens("Huawei’s “AI Diffusion Rule,”\u00a0three-tier—U.S.") == [
        "huawei",
        "s",
        "ai",
        "diffusion",
        "rule",
        "three",
        "tier",
        "u",
        "s",
    ]
    assert tokens('Huawei\'s "AI Diffusion Rule," three tier – U.S.') == tokens(
        "Huawei’s “AI Diffusion Rule,” three-tier—U.S."
    )


def test_strip_citation_markers() -> None:
    assert strip_citation_markers("On May 15 [1]. Huawei [2, 3]!") == "On May 15. Huawei!"


def test_overlap_contained_text_scores_one_either_way_round() -> None:
    quote = "scheduled to take effect on May 15"
    passage = "The rule, which was scheduled to take effect on May 15, aimed to control the export of chips."
    assert overlap_ratio(quote, passage) == 1.0
    assert overlap_ratio(passage, quote) == 1.0


def test_overlap_hand_computed_partial() -> None:
    # shorter text: 7 tokens; its trigrams "the chip is", "chip is expected", "is expected to" occur in the
    # other text, covering the, chip, is, expected, to = 5 of 7 tokens
    a = "The chip is expected to rival Nvidia"
    b = "Analysts say the chip is expected to ship soon"
    assert overlap_ratio(a, b) == pytest.approx(5 / 7)
    assert overlaps(a, b)
    assert not overlaps(a, b, threshold=0.75)


def test_overlap_ignores_shared_words_out_of_context() -> None:
    # every word but "sat" and "mat" is shared, yet no trigram is
    assert overlap_ratio("the cat sat on the mat", "on the other hand the cat") == 0.0


def test_overlap_short_texts_need_contiguous_containment() -> None:
    assert overlap_ratio("Huawei", "Chips made by Huawei are powerful") == 1.0
    assert overlap_ratio("May 15", "The rule took effect on May 15.") == 1.0
    assert overlap_ratio("15 May", "The rule took effect on May 15.") == 0.0
    assert overlap_ratio("", "anything") == 0.0


# ----------------------------------------------------------------------------- retrieval


def test_doc_ranking_keeps_each_document_at_its_best_chunk() -> None:
    assert doc_ranking(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


def test_hit_recall_mrr_by_hand() -> None:
    ranked = ["x", "a", "y", "b", "z"]
    relevant = {"a", "b", "c"}
    assert hit_at_k(ranked, relevant, 1) == 0.0
    assert hit_at_k(ranked, relevant, 2) == 1.0
    assert recall_at_k(ranked, relevant, 2) == pytest.approx(1 / 3)
    assert recall_at_k(ranked, relevant, 5) == pytest.approx(2 / 3)
    assert mrr_at_k(ranked, relevant, 10) == pytest.approx(1 / 2)
    assert mrr_at_k(ranked, relevant, 1) == 0.0
    assert recall_at_k(ranked, set(), 5) == 0.0


def test_graded_relevance_zero_is_not_relevant_and_duplicates_count_once() -> None:
    qrels = {"a": 0, "b": 2}
    assert hit_at_k(["a"], qrels, 1) == 0.0
    assert mrr_at_k(["a", "b"], qrels, 10) == pytest.approx(1 / 2)
    # "b" repeated: its second occurrence neither adds gain nor takes a rank
    assert mrr_at_k(["b", "b", "a"], qrels, 10) == 1.0
    assert recall_at_k(["b", "b"], {"b": 1, "c": 1}, 2) == pytest.approx(1 / 2)


def test_ndcg_graded_hand_checked() -> None:
    qrels = {"d1": 2, "d2": 1, "d3": 3, "d4": 0}
    ranking = ["d2", "dX", "d3", "d1", "d4"]
    # DCG@10  = 1/log2(2) + 0 + 3/log2(4) + 2/log2(5) + 0 = 1 + 1.5 + 0.861353 = 3.361353
    # IDCG@10 = 3/log2(2) + 2/log2(3) + 1/log2(4)        = 3 + 1.261860 + 0.5 = 4.761860
    assert ndcg_at_k(ranking, qrels, 10) == pytest.approx(3.361353 / 4.761860, abs=1e-6)
    assert ndcg_at_k(ranking, qrels, 10) == pytest.approx(0.705891, abs=1e-6)
    # cut at 2: DCG = 1, IDCG = 3 + 1.261860
    assert ndcg_at_k(ranking, qrels, 2) == pytest.approx(1 / 4.261860, abs=1e-6)
    # not the exponential-gain variant (2^rel - 1)
    exponential = (1 + 7 / 2 + 3 / math.log2(5)) / (7 + 3 / math.log2(3) + 1 / 2)
    assert ndcg_at_k(ranking, qrels, 10) != pytest.approx(exponential, abs=1e-3)


def test_ndcg_edges() -> None:
    qrels = {"a": 3, "b": 1}
    assert ndcg_at_k(["a", "b"], qrels, 10) == pytest.approx(1.0)
    assert ndcg_at_k(["b", "a"], qrels, 10) < 1.0
    assert ndcg_at_k(["x", "y"], qrels, 10) == 0.0
    assert ndcg_at_k(["a"], {"a": 0}, 10) == 0.0  # nothing relevant
    assert ndcg_at_k(["a", "a", "b"], qrels, 10) == pytest.approx(1.0)
    with pytest.raises(ValueError):
        ndcg_at_k(["a"], qrels, 0)


# ----------------------------------------------------------------------------- answers


def test_key_fact_coverage() -> None:
    answer = "The rule, due on May 15 [1], used a three-tier system; Huawei’s chips are targeted [2]."
    assert key_fact_coverage(answer, ["May 15", "Three-Tier", "Huawei", "Ascend"]) == pytest.approx(3 / 4)
    assert key_fact_coverage(answer, ["May 1"]) == 0.0  # whole tokens only: "May 15" is not "May 1"
    assert key_fact_coverage(answer, ["1"]) == 0.0  # citation markers are not answer text
    assert key_fact_coverage("anything", []) == 1.0


def test_token_f1_squad_style() -> None:
    # pred -> [ascend, 910d, chip] ("The" and "[1]" dropped); ref -> [huaweis, ascend, 910d]; 2 in common
    assert token_f1("The Ascend 910D chip [1].", "Huawei's Ascend 910D") == pytest.approx(2 / 3)
    assert token_f1("An answer", "the answer!") == 1.0
    assert token_f1("", "") == 1.0
    assert token_f1("something", "") == 0.0
    assert token_f1("alpha beta", "gamma") == 0.0
    # precision 1/4, recall 1/1 -> F1 = 2 * 0.25 / 1.25 = 0.4
    assert token_f1("a b c d tariffs", "tariffs") == pytest.approx(0.4)


# ----------------------------------------------------------------------------- citations

TLG = "tlg-us-refocuses-ai-chip-restrictions.txt"
CGTN = "cgtn-us-chip-guidance-huawei.txt"


def test_citation_matching_rules() -> None:
    gold = (TLG, "scheduled to take effect on May 15")
    sentence = "The rule, which was scheduled to take effect on May 15, aimed to control the export of AI chips."
    assert citation_matches((f"/abs/path/{TLG}", sentence), gold)  # gold inside the cited text, same file
    assert not citation_matches((f"/abs/path/{CGTN}", sentence), gold)  # same text, other file
    assert citation_matches(sentence, gold)  # no source on one side: text only
    assert citation_matches((TLG, "take effect on May 15"), gold)  # cited quote inside the gold quote
    assert not citation_matches((TLG, "Analysts suggest that the US alters its stance."), gold)


def test_citation_precision_recall_by_hand() -> None:
    gold = [(TLG, "scheduled to take effect on May 15"), (CGTN, "the Ascend 910D")]
    cited = [
        (TLG, "The rule, which was scheduled to take effect on May 15, aimed to control exports."),  # right
        (TLG, "US officials indicated that maintaining the rule could harm domestic innovation."),  # wrong
        (TLG, "It was scheduled to take effect on May 15."),  # right (same gold again)
    ]
    assert citation_precision(cited, gold) == pytest.approx(2 / 3)
    assert citation_recall(cited, gold) == pytest.approx(1 / 2)
    assert citation_precision([], gold) == 0.0
    assert citation_recall([], gold) == 0.0
    assert citation_recall(cited, []) == 1.0


# ----------------------------------------------------------------------------- abstention and latency


def test_abstention_precision_recall_by_hand() -> None:
    predicted = [True, True, False, False, True]
    unanswerable = [True, False, True, False, True]
    # abstained on 3, 2 of them unanswerable; 3 unanswerable, 2 caught
    assert abstention_precision_recall(predicted, unanswerable) == pytest.approx((2 / 3, 2 / 3))
    assert abstention_precision_recall([False, False], [True, False]) == (1.0, 0.0)
    assert abstention_precision_recall([True, False], [False, False]) == (0.0, 1.0)
    with pytest.raises(ValueError):
        abstention_precision_recall([True], [True, False])


def test_percentile_linear_interpolation() -> None:
    values = [4.0, 1.0, 3.0, 2.0]
    assert percentile(values, 50) == pytest.approx(2.5)
    assert percentile(values, 95) == pytest.approx(3.85)  # position 0.95 * 3 = 2.85 -> 3 + 0.85 * (4 - 3)
    assert percentile(values, 0) == 1.0
    assert percentile(values, 100) == 4.0
    assert percentile([7.0], 95) == 7.0
    with pytest.raises(ValueError):
        percentile([], 50)
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_key_terms_are_the_reference_content_words() -> None:
    assert key_terms("The virus spreads mainly through respiratory droplets, the WHO says; 2 metres.") == [
        "virus",
        "spreads",
        "mainly",
        "respiratory",
        "droplets",
        "says",
        "2",
        "metres",
    ]
    assert key_terms("It is what it is.") == []


def test_key_term_recall() -> None:
    reference = "Wash your hands with soap for 20 seconds."  # key terms: wash, hands, soap, 20, seconds
    assert key_term_recall("Hands should be washed with soap [1] for twenty seconds.", reference) == pytest.approx(
        3 / 5
    )
    assert key_term_recall("", reference) == 0.0
    assert key_term_recall("anything", "It is what it is.") == 1.0
