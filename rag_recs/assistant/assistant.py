"""The conversation: questions in, answers out, over one recommendation pipeline.

An :class:`Assistant` keeps what a conversation needs (its answers for follow-ups, whom it is
about, its lock), reads each question once into an :class:`Intent` and routes it: a follow-up
("why the second one?") is answered from the history, a recommendation goes to the pipeline
(:class:`rag_recs.assistant.pipeline.Recommender`), and a question that names nobody readable is
asked back. Build one with :func:`rag_recs.assistant.build.build_assistant`.
"""

from __future__ import annotations

import functools
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from rag_recs.assistant.answer import Answer
from rag_recs.assistant.config import AssistantConfig
from rag_recs.assistant.evidence import Evidence
from rag_recs.assistant.extract import needs_llm, read_with_llm
from rag_recs.assistant.intent import Intent, parse_question
from rag_recs.assistant.pipeline import Recommender
from rag_recs.assistant.questions import FactQuestion, read_fact
from rag_recs.assistant.wording import word_fact
from rag_recs.data.schema import Dataset
from rag_recs.ranker.ranker import DeepFMRanker


def _serialised(method: Callable) -> Callable:
    """Run ``method`` holding the conversation's lock: one call at a time, whatever the thread.

    The conversation (history, current user) is shared state; the LLM has a lock of its own in
    the pipeline, so that conversations in parallel still generate one at a time.
    """

    @functools.wraps(method)
    def run(self: Assistant, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return run


class Assistant:
    """Recommendations in plain language, validated and ordered by a DeepFM ranker.

    Safe to call from several threads: one conversation's calls are serialised. For independent
    conversations in parallel, take :meth:`conversation`: a new Assistant around the same
    pipeline (data, ranker, store and LLM); the LLM still generates for one at a time.
    """

    def __init__(
        self,
        dataset: Dataset | None = None,
        ranker: DeepFMRanker | None = None,
        *,
        store: Any = None,
        llm: Any = None,
        config: AssistantConfig | None = None,
        notes: list[str] | None = None,
        pipeline: Recommender | None = None,
    ) -> None:
        """A conversation over a new pipeline for ``dataset`` and ``ranker`` (with the optional
        store, LLM, settings and build notes), or around an existing ``pipeline``."""
        if pipeline is None:
            if dataset is None or ranker is None:
                raise TypeError("an Assistant needs a dataset and a ranker, or a pipeline")
            pipeline = Recommender(
                dataset, ranker, store=store, llm=llm, config=config, notes=notes
            )
        self.pipeline = pipeline
        self.history: deque[Answer] = deque(maxlen=pipeline.config.history_size)  # the latest
        self.current_user: Any = None  # whom the conversation is about
        self.user_pinned = False  # chosen explicitly (chat's /user): every turn is about them
        self.stream_to: Callable[[str], None] | None = None  # gets the LLM's words as written
        self.last_item: Any = None  # the item the conversation spoke of last ("it")
        self._lock = threading.RLock()  # this conversation's calls, one at a time

    # ---- what it runs on (the pipeline's) -----------------------------------------------------
    @property
    def dataset(self) -> Dataset:
        return self.pipeline.dataset

    @property
    def ranker(self) -> DeepFMRanker:
        return self.pipeline.ranker

    @property
    def llm(self) -> Any:
        return self.pipeline.llm

    @property
    def store(self) -> Any:
        return self.pipeline.store

    @property
    def config(self) -> AssistantConfig:
        return self.pipeline.config

    @config.setter
    def config(self, config: AssistantConfig) -> None:
        """New settings for the pipeline (and so for every conversation around it)."""
        self.pipeline.config = config

    @property
    def genre_names(self) -> list[str]:
        return self.pipeline.genre_names

    def resolve_user(self, user: Any) -> Any:
        """The dataset's user id for ``user`` ("78" finds 78); unknown users are a clear error."""
        return self.pipeline.resolve_user(user)

    # ---- the conversation ---------------------------------------------------------------------
    @_serialised
    def ask(self, question: str) -> Answer:
        """Answer a plain-language question (recommendations or a follow-up such as 'why #2')."""
        start = time.perf_counter()
        intent = parse_question(question, self.genre_names)  # the patterns: the fast path
        facts = self.pipeline.facts
        fact = read_fact(
            question, intent.user, asks_count=intent.k is not None, names_item=facts.names
        )
        read_note, read_s = "", 0.0
        if fact is None and self.llm is not None and needs_llm(intent, self.user_pinned):
            with self.pipeline.llm_lock:  # what the LLM reads is checked against the question
                intent, read_note = read_with_llm(
                    self.llm, question, intent, self.genre_names, self.resolve_user
                )
            read_s = time.perf_counter() - start
        if fact is not None:
            answer = self._fact(question, fact)
        elif intent.kind == "why":
            answer = self._why(question, intent)
        elif (user := self._addressee(intent)) is None:
            answer = Answer(question, message=self._who_message(intent))
        else:
            answer = self.recommend(
                user,
                intent.k,
                include=intent.include,
                exclude=intent.exclude,
                question=question,
                like=intent.like,
                taste=intent.taste,
                years=intent.years,
            )
        if read_note:
            answer.notes.insert(0, read_note)
            answer.timings["read_by_llm"] = read_s
        answer.timings["total"] = time.perf_counter() - start
        self.history.append(answer)
        return answer

    @_serialised
    def recommend(
        self,
        user: Any,
        k: int | None = None,
        *,
        include: list[str] | tuple = (),
        exclude: list[str] | tuple = (),
        question: str | None = None,
        like: list[str] | tuple = (),
        taste: str | None = None,
        years: tuple[int, int] | None = None,
    ) -> Answer:
        """Top-``k`` (default ``config.default_k``) unseen items for ``user`` that meet the
        constraints, with reasons and evidence; ``user`` becomes the conversation's user.

        ``like`` ("something like X") and ``taste`` (free text such as "light-hearted") favour
        the items close to them; ``years`` (inclusive) keeps the items whose title gives a year
        in the range. A request that cannot be applied is said in the answer's notes. The
        pipeline's stages run in order (:meth:`Recommender.request`, :meth:`Recommender.answer`).
        """
        request = self.pipeline.request(
            user, k, include=include, exclude=exclude, question=question, like=like,
            taste=taste, years=years,
        )  # fmt: skip
        self.current_user = request.user
        return self.pipeline.answer(request, stream_to=self.stream_to)

    @_serialised
    def explain(self, user: Any, item: Any) -> Evidence:
        """The computed evidence for ``item`` and ``user`` (works for any item, seen or not)."""
        return self.pipeline.explain(user, item)

    @_serialised
    def use_user(self, user: Any) -> Any:
        """Make ``user`` the conversation's user for every later question that names nobody."""
        self.current_user, self.user_pinned = self.resolve_user(user), True
        return self.current_user

    def conversation(self) -> Assistant:
        """A new conversation around the same pipeline (nothing is rebuilt)."""
        return Assistant(pipeline=self.pipeline)

    # ---- LangChain ----------------------------------------------------------------------------
    def as_runnable(self):
        """The assistant as a LangChain Runnable: question (str) -> answer (dict)."""
        from langchain_core.runnables import RunnableLambda

        return RunnableLambda(lambda q: self.ask(q).to_dict(), name="rag_recs_assistant")

    def as_tool(self):
        """The validated recommender as a LangChain tool an agent can call."""
        from langchain_core.tools import StructuredTool

        def recommend_items(user: str, k: int | None = None) -> dict:
            """Top-k unseen items for a user, checked and ordered by the DeepFM ranker."""
            return self.recommend(user, k).to_dict()

        return StructuredTool.from_function(recommend_items)

    # ---- routing ------------------------------------------------------------------------------
    def _addressee(self, intent: Intent) -> Any:
        """Whom a recommendation question is for, or None when that is not certain.

        A named user wins; the conversation's user is kept only for real follow-ups ("3 more",
        "what about comedies?") or when it was chosen explicitly, and never when the question
        refers to a person the patterns could not read: an answer for the wrong person is worse
        than none.
        """
        if intent.kind == "unknown":
            return None
        if intent.user is not None:
            return intent.user
        if intent.names_person or self.current_user is None:
            return None
        return self.current_user if intent.follow_up or self.user_pinned else None

    @staticmethod
    def _who_message(intent: Intent) -> str:
        example = "Try, for example: 'Suggest 3 items to user 12 that they have not seen'."
        if intent.names_person:
            return f"I could not tell which user that is; name them by id. {example}"
        return f"I could not tell which user to recommend for. {example}"

    def _fact(self, question: str, fact: FactQuestion) -> Answer:
        """A question about the data, answered by the facts module; a pronoun stands for the
        conversation's user or last item. An LLM words it only with the facts' own figures."""
        user = fact.user or (self.current_user if fact.user_pronoun or self.user_pinned else None)
        found = self.pipeline.facts.answer(fact, user, self.last_item)
        if isinstance(found, str):
            return Answer(question, user=user, message=found, kind="fact")
        answer = Answer(question, user=found.user, kind="fact", facts=found.to_dict())
        answer.message, by = found.text, "template"
        if self.llm is not None:
            with self.pipeline.llm_lock:
                titles = self.pipeline.catalog.titles
                answer.message, by = word_fact(self.llm, question, found, titles)
        answer.notes.append(f"computed from the data; worded by the {by}")
        self.current_user = found.user if found.user is not None else self.current_user
        self.last_item = found.item if found.item is not None else self.last_item
        return answer

    def _why(self, question: str, intent: Intent) -> Answer:
        """A follow-up about the last answer's items, from its computed evidence."""
        last = next((a for a in reversed(self.history) if a.items), None)
        if last is None:
            return Answer(question, message="There is no earlier recommendation to explain yet.")
        if intent.position is None:
            lines = [
                f"{n}. '{i.title}': {i.evidence.sentence()}" for n, i in enumerate(last.items, 1)
            ]
            return Answer(question, user=last.user, message="\n".join(lines))
        pos = intent.position
        index = len(last.items) - 1 if pos == -1 else pos - 1
        if not 0 <= index < len(last.items):
            return Answer(
                question,
                user=last.user,
                message=f"The last answer had {len(last.items)} items; ask about 1 to "
                f"{len(last.items)}.",
            )
        item = last.items[index]
        return Answer(
            question,
            user=last.user,
            message=f"Item {index + 1}, '{item.title}': {item.evidence.sentence()}",
        )
