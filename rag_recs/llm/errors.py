"""Errors of the LLM layer: one line saying what is missing and how to get it."""

from __future__ import annotations

from rag_recs.errors import RagRecsError


class LLMError(RagRecsError):
    """An LLM backend that cannot be built or reached (missing package, token, server or file)."""


class PromptError(LLMError):
    """A prompt file that is missing, unreadable or does not use the variables the code fills."""
