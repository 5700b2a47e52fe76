"""Evaluation: the metrics every evaluator and trainer shares (``metrics``: which questions count, recall@k,
NDCG@k, the question states), retrieval evaluation (``retrieval``: ``evaluate_retrieval``) and end-to-end question
answering (``qa``: ``evaluate_qa``). ``from reme.eval import evaluate_retrieval, recall_at, ...`` keeps working."""

from reme.eval.metrics import (
    RETRIEVAL_CATEGORIES,
    QuestionState,
    default_cache_path,
    is_scored,
    ndcg_at,
    parse_ks,
    question_states,
    recall_at,
    sessions_in_order,
)
from reme.eval.retrieval import evaluate_retrieval

__all__ = [
    "RETRIEVAL_CATEGORIES", "QuestionState", "default_cache_path", "evaluate_retrieval", "is_scored", "ndcg_at",
    "parse_ks", "question_states", "recall_at", "sessions_in_order",
]  # fmt: skip
