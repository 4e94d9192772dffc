"""Assistant stage: question -> evidence -> LLM candidates -> validation -> DeepFM rerank."""

from rag_recs.assistant.answer import Answer, AnswerItem
from rag_recs.assistant.assistant import Assistant, AssistantConfig
from rag_recs.assistant.intent import Intent, parse_question

__all__ = ["Answer", "AnswerItem", "Assistant", "AssistantConfig", "Intent", "parse_question"]
