"""Follow-up questions: make a question standalone using the chat history.

Without an LLM, a short heuristic: a follow-up that leans on earlier turns
(pronouns, "and ...", very short) is joined with the previous user question,
so retrieval sees the topic the user is still talking about.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

_LEANING = re.compile(
    r"^(and|but|so|also|what about|how about|then)\b|\b(it|its|they|them|their|this|that|these|those|he|she|his|her)\b",
    re.IGNORECASE,
)


def is_follow_up(question: str) -> bool:
    return bool(_LEANING.search(question)) or len(question.split()) <= 3


def standalone_question(question: str, history: Sequence[tuple[str, str]]) -> str:
    """Rewrite ``question`` into a standalone one with the last user turn as context."""
    previous = [user for user, _ in history if user.strip()]
    if not previous or not is_follow_up(question):
        return question
    return f"{previous[-1].strip()} {question.strip()}"
