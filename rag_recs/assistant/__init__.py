"""Assistant stage: a conversation (:class:`Assistant`) around a pipeline (question -> intent ->
context -> candidates -> LLM proposal -> validation -> DeepFM rerank -> reasons)."""

from rag_recs.assistant.answer import Answer, AnswerItem
from rag_recs.assistant.assistant import Assistant
from rag_recs.assistant.config import AssistantConfig
from rag_recs.assistant.intent import Intent, parse_question

__all__ = ["Answer", "AnswerItem", "Assistant", "AssistantConfig", "Intent", "parse_question"]
