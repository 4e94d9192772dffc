"""The assistant: question -> intent -> evidence -> LLM candidates -> validation -> DeepFM rerank.

Whatever the LLM says, an answer only holds items that exist, that the user has not seen and that
meet the asked constraints, ordered by the trained ranker; every number in a reason is computed.

Final order (documented blend): ``score = ranker probability + support_weight * support``, where
``support`` is the share of the most similar users (exact Jaccard, top ``n_neighbors``) who liked
the item, plus ``like_weight * similarity to X`` when asked for something like X. Candidates are
the validated LLM proposals plus the ranker's own top-k of eligible items (and the k items
closest to X), so the LLM can add items but never push the ranker's best ones out with weaker
picks: a proposal that does not make the top k is reported as outranked.
"""

from __future__ import annotations

import copy
import functools
import logging
import random
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

from langchain_core.documents import Document
from pydantic import BaseModel, Field

from rag_recs.assistant.answer import Answer, AnswerItem
from rag_recs.assistant.evidence import Evidence, Neighbor, numbers_ok
from rag_recs.assistant.extract import needs_llm, read_with_llm
from rag_recs.assistant.facts import Facts
from rag_recs.assistant.finder import ItemFinder
from rag_recs.assistant.intent import MAX_K, Intent, parse_question
from rag_recs.assistant.links import HistoryLinks, unseen_rank
from rag_recs.assistant.nouns import default_noun, plural
from rag_recs.assistant.questions import FactQuestion, read_fact
from rag_recs.assistant.stages import Candidates, Request, neighbors_in
from rag_recs.assistant.validate import Catalog, Rejection, validate
from rag_recs.assistant.wording import word_fact
from rag_recs.assistant.years import describe, title_year
from rag_recs.data.attributes import item_attributes
from rag_recs.data.index import InteractionIndex
from rag_recs.data.schema import GENRES, ITEM, Dataset, to_python
from rag_recs.data.sparse import InteractionMatrix
from rag_recs.errors import RagRecsError
from rag_recs.llm.schema import Candidate, Proposal
from rag_recs.ranker.ranker import DeepFMRanker
from rag_recs.retrieval.overlap import jaccard

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable

log = logging.getLogger(__name__)


def _serialised(method: Callable) -> Callable:
    """Run ``method`` holding the assistant's lock: one call at a time, whatever the thread.

    The conversation (history, current user) and the LLM are shared state; a local llama.cpp
    model in particular must never run two generations at once.
    """

    @functools.wraps(method)
    def run(self: Assistant, *args: Any, **kwargs: Any) -> Any:
        with self._lock:
            return method(self, *args, **kwargs)

    return run


class AssistantConfig(BaseModel):
    """How the assistant gathers evidence and blends it with the ranker."""

    n_neighbors: int = Field(10, ge=1, description="similar users shown and used as evidence")
    search_neighbors: int = Field(30, ge=1, description="users fetched by vector search first")
    pool_size: int = Field(20, ge=1, description="candidates offered to the LLM")
    support_weight: float = Field(0.1, ge=0.0, description="weight of similar-user support")
    like_threshold: float = Field(4.0, description="a rating at or above this counts as liked")
    default_k: int = Field(5, ge=1, le=MAX_K)
    like_weight: float = Field(
        1.0, ge=0.0, description="weight of the similarity to X when asked for something like X"
    )
    like_pool: int = Field(50, ge=1, description="items near X fetched by vector search")
    item_noun: str | None = Field(
        None,
        description="the data's word for items in answers and prompts (default: movies "
        "for MovieLens, else items)",
    )
    history_size: int = Field(100, ge=1, description="answers kept for follow-ups (the latest)")
    context_items: int = Field(8, ge=1, description="liked titles per document the LLM reads")
    context_neighbors: int = Field(2, ge=0, description="similar users whose likes it reads")
    pool_sources: tuple[Literal["like", "support", "ranker"], ...] = Field(
        ("like", "support", "ranker"), description="where the pool's candidates come from"
    )
    llm_mode: Literal["auto", "labels", "generate"] = Field(
        "auto", description="labels: rank a lettered pool by next-token probability; generate"
    )
    llm_weight: float = Field(0.0, ge=0.0, description="weight of the LLM's probability")
    proposer: Literal["llm", "random"] = Field("llm", description="random: a baseline")
    order: Literal["blend", "proposal"] = Field(
        "blend", description="proposal: the validated proposals first, in the LLM's order"
    )
    seed: int = 0


class Assistant:
    """Recommendations in plain language, validated and ordered by a DeepFM ranker.

    Safe to call from several threads: one conversation's calls are serialised. For independent
    conversations in parallel, take :meth:`conversation`: it shares the data, ranker, store and
    LLM, and the LLM still generates for one conversation at a time.
    """

    def __init__(
        self,
        dataset: Dataset,
        ranker: DeepFMRanker,
        *,
        store: Any = None,
        llm: Any = None,
        config: AssistantConfig | None = None,
        notes: list[str] | None = None,
    ) -> None:
        self.dataset, self.ranker, self.store, self.llm = dataset, ranker, store, llm
        self.notes = list(notes or [])  # how it was built, said in every recommendation
        self.config = config or AssistantConfig()
        self.catalog = Catalog(dataset.catalog, {i: dataset.title(i) for i in dataset.catalog})
        self.genres = self._genres()
        self.index = InteractionIndex.from_dataset(dataset, self.config.like_threshold)
        self.finder = ItemFinder(dataset, self.catalog, self.index, store, self.config.like_pool)
        self.noun = plural(self.config.item_noun or default_noun(dataset))
        matrix, attributes = InteractionMatrix(self.index), item_attributes(dataset)
        self.links = HistoryLinks(dataset, self.index, matrix, attributes, store)
        self.facts = Facts(dataset, self.index, matrix, attributes, self.finder, self.noun)
        self.last_item: Any = None  # the item the conversation spoke of last ("it")
        self.history: deque[Answer] = deque(maxlen=self.config.history_size)  # bounded memory
        self.current_user: Any = None  # whom the conversation is about
        self.user_pinned = False  # chosen explicitly (chat's /user): every turn is about them
        self.stream_to: Callable[[str], None] | None = None  # gets the LLM's words as written
        self._lock = threading.RLock()  # this conversation's calls, one at a time
        self._llm_lock = threading.Lock()  # generations, one at a time across conversations

    # ---- set-up -----------------------------------------------------------------------------
    def _genres(self) -> dict[Any, list[str]]:
        items = self.dataset.items
        if items is None or GENRES not in items.columns:
            return {}
        return {to_python(i): list(g) for i, g in zip(items[ITEM], items[GENRES], strict=True)}

    @property
    def genre_names(self) -> list[str]:
        return sorted({g for gs in self.genres.values() for g in gs})

    # ---- public API -------------------------------------------------------------------------
    @_serialised
    def ask(self, question: str) -> Answer:
        """Answer a plain-language question (recommendations or a follow-up such as 'why #2')."""
        start = time.perf_counter()
        intent = parse_question(question, self.genre_names)  # the patterns: the fast path
        fact = read_fact(
            question, intent.user, asks_count=intent.k is not None, names_item=self.facts.names
        )
        read_note, read_s = "", 0.0
        if fact is None and self.llm is not None and needs_llm(intent, self.user_pinned):
            with self._llm_lock:  # what the LLM reads is checked against the question
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
                intent.k if intent.k is not None else self.config.default_k,
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
        """Top-``k`` unseen items for ``user`` that meet the constraints, with reasons, evidence.

        ``like`` ("something like X") and ``taste`` (free text such as "light-hearted") favour
        the items close to them; ``years`` (inclusive) keeps the items whose title gives a year
        in the range. A request that cannot be applied is said in the answer's notes.

        Runs the stages in order: :meth:`request`, :meth:`propose` (the retrieval chain:
        :meth:`context` -> :meth:`candidates` -> prompt -> LLM -> parse), :meth:`validate`,
        :meth:`rerank` and :meth:`explain_items`.
        """
        k = self.config.default_k if k is None else k
        request = self.request(
            user, k, include=include, exclude=exclude, question=question, like=like,
            taste=taste, years=years,
        )  # fmt: skip
        self.current_user = request.user
        if request.answer.message:
            return request.answer
        proposal = self.propose(request)
        kept = self.validate(request, proposal)
        ranked = self.rerank(request, proposal, kept)
        self.explain_items(request, ranked, proposal)
        return request.answer

    # ---- the stages, in order ---------------------------------------------------------------
    def context(self, user: Any) -> list[Document]:
        """Retrieval: what the LLM reads about ``user``: the items they liked, their most
        similar users with the exact overlap, and what the closest of those liked that ``user``
        has not seen. The similar users travel in the metadata (:func:`neighbors_in`)."""
        index, config = self.index, self.config
        seen = index.seen(user)
        neighbors = self.similar_users(user) if seen else []
        liked = self._by_popularity(index.liked(user))[: config.context_items]
        titles = "; ".join(self.dataset.title(i) for i in liked) or "nothing yet"
        own = {"kind": "user", "user_id": user}
        docs = [Document(f"User {user} liked: {titles}", metadata=own)]
        if not neighbors:
            return docs
        line = ", ".join(str(n.user_id) for n in neighbors)
        docs.append(
            Document(
                f"Most similar users: {line}",
                metadata={"kind": "neighbors", "neighbors": neighbors},
            )
        )
        for n in neighbors[: config.context_neighbors]:
            theirs = [i for i in self._by_popularity(index.liked(n.user_id)) if i not in seen]
            if theirs:
                shown = "; ".join(self.dataset.title(i) for i in theirs[: config.context_items])
                meta = {"kind": "history", "user_id": n.user_id}
                docs.append(Document(f"User {n.user_id} also liked: {shown}", metadata=meta))
        return docs

    def candidates(self, request: Request, docs: list[Document]) -> Candidates:
        """The pool the LLM picks from (items near a "like X", similar users' favourites, the
        ranker's top list, as ``config.pool_sources`` says), with the evidence behind it."""
        tic = time.perf_counter()
        answer, eligible = request.answer, request.eligible
        neighbors = neighbors_in(docs)
        answer.similar_users = neighbors
        ranker_top = self.ranker.top_k(
            request.user, max(request.k, self.config.pool_size), candidates=eligible
        )
        support = self._support(neighbors, eligible)
        like_to, near = self._like(answer, request.like, set(eligible), request.taste)
        pool = self._pool(ranker_top, support, near)
        found = Candidates(pool, ranker_top, support, near, like_to)
        request.candidates = found
        answer.timings["ranker"] = time.perf_counter() - tic
        return found

    def propose(self, request: Request) -> Proposal:
        """The retrieval chain (:attr:`chain`): context -> candidates -> prompt -> LLM -> parse.

        Whatever the LLM does, the ranker still answers: an LLM failure is a note and an empty
        proposal. Without an LLM the context and candidates stages run alone; with
        ``config.proposer == "random"`` the pool is shuffled instead (a baseline).
        """
        tic = time.perf_counter()
        inputs = {"question": request.question, "user": request.user, "k": request.k}
        inputs["request"] = request
        answer = request.answer
        if self.llm is None or self.config.proposer == "random":
            # nothing to prompt: the chain's first two steps, run directly (LangChain's runnables
            # are not even imported), and a seeded shuffle in the LLM's place for the baseline
            found = self.candidates(request, self._request_context(request))
            if self.config.proposer != "random":
                return Proposal()
            pool = list(found.pool)
            random.Random(f"{self.config.seed}:{request.user}").shuffle(pool)
            return Proposal(items=[Candidate(item_id=i, score=0.0) for i in pool])
        try:
            with self._llm_lock:
                proposal = self._run_chain(inputs)
        except Exception as exc:
            if request.candidates is None:  # failed before the LLM ran: not the LLM's fault
                raise
            first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
            answer.notes.append(f"the LLM failed ({type(exc).__name__}: {first}); ranker only")
            proposal = Proposal()
        for text in proposal.unparsed:
            if text.strip():
                answer.rejected.append(Rejection("unparsed", "could not be read", text=text[:80]))
            else:
                answer.notes.append("the LLM returned nothing; the ranker answered alone")
        before = answer.timings.get("neighbors", 0.0) + answer.timings.get("ranker", 0.0)
        answer.timings["llm"] = time.perf_counter() - tic - before
        return proposal

    def validate(self, request: Request, proposal: Proposal) -> list[tuple[Any, str]]:
        """The proposals that exist, are unseen, are not repeats and meet the constraints, as
        (item, reason); the rest are added to the answer's rejections with why. A ranked pool
        proposes its first k."""
        ranked = any(c.score is not None for c in proposal.items)
        picks = proposal.items[: request.k] if ranked else proposal.items
        kept, rejected = validate(
            [(c.item_id, c.reason) for c in picks], self.catalog, request.seen, request.allowed
        )
        request.answer.proposed = len(picks)
        request.answer.rejected += rejected
        return kept

    def rerank(
        self, request: Request, proposal: Proposal, kept: list[tuple[Any, str]]
    ) -> list[tuple[Any, float, float, str]]:
        """The final k as (item, ranker probability, blend, source), over the validated
        proposals, the ranker's own top k and the k items closest to X.

        ``config.order == "blend"``: ranker probability + support_weight x support +
        like_weight x similarity to X + llm_weight x the LLM's probability. ``"proposal"``: the
        validated proposals in the LLM's order first, the ranker's best after them.
        """
        tic = time.perf_counter()
        found, k, config = request.candidates, request.k, self.config
        near = found.near
        llm_p = {self.catalog.resolve(c.item_id): c.score for c in proposal.items if c.score}
        closest = sorted(near, key=lambda i: (-near[i], str(i)))[:k]
        kept_ids = [i for i, _ in kept]
        pool = list(dict.fromkeys(kept_ids + [i for i, _ in found.ranker_top[:k]] + closest))
        scores = dict(zip(pool, self.ranker.score(request.user, pool), strict=True))
        blended = {
            i: float(scores[i])
            + config.support_weight * found.support.get(i, 0.0)
            + config.like_weight * near.get(i, 0.0)
            + config.llm_weight * llm_p.get(i, 0.0)
            for i in pool
        }
        order = sorted(pool, key=lambda i: -blended[i])
        if config.order == "proposal":
            order = kept_ids + [i for i in order if i not in set(kept_ids)]
        chosen, llm_ids = order[:k], set(kept_ids)
        for item in order[k:]:
            if item in llm_ids:
                detail = f"ranker score {scores[item]:.2f} is below the top {k}"
                request.answer.rejected.append(Rejection("outranked", detail, item))
        filled = sum(1 for i in chosen if i not in llm_ids)
        if self.llm is not None and filled:
            request.answer.notes.append(
                f"{filled} of {k} items come from the ranker's own top list "
                f"({len(kept)} LLM proposals survived validation)"
            )
        request.answer.timings["rerank"] = time.perf_counter() - tic
        source = {i: "llm" if i in llm_ids else "ranker" for i in chosen}
        return [(i, float(scores[i]), blended[i], source[i]) for i in chosen]

    def explain_items(
        self, request: Request, ranked: list[tuple[Any, float, float, str]], proposal: Proposal
    ) -> None:
        """Add the ranked items to the answer, each with its computed evidence and a reason: the
        template sentence, led by the LLM's own words when they state no figure of their own
        and are a sentence rather than a fragment."""
        found, answer = request.candidates, request.answer
        ranks, unseen = unseen_rank(self.ranker, request.user, [i for i, *_ in ranked])
        reasons: dict[Any, str] = {}
        for c in proposal.items:
            item = self.catalog.resolve(c.item_id)
            if item is not None and c.reason:
                reasons.setdefault(item, c.reason)
        for item, score, blend, source in ranked:
            evidence = self.evidence(
                request.user, item, answer.similar_users, score, request.include
            )
            evidence.rank, evidence.unseen = ranks[item], unseen
            if found.near.get(item, 0.0) > 0:
                evidence.similar_to, evidence.similarity = found.like_to, found.near[item]
            own = reasons.get(item, "").strip()
            reason, by = evidence.sentence(), "evidence"
            if own and numbers_ok(own, evidence) and not self._fragment(own, found.pool):
                reason, by = f"{own} ({reason})", "llm"
            title = self.dataset.title(item)
            answer.items.append(AnswerItem(item, title, score, reason, evidence, source, blend, by))

    @_serialised
    def explain(self, user: Any, item: Any) -> Evidence:
        """The computed evidence for ``item`` and ``user`` (works for any item, seen or not)."""
        user = self.resolve_user(user)
        resolved = self.catalog.resolve(item)
        if resolved is None:
            raise RagRecsError(f"unknown item {item!r}")
        score = float(self.ranker.score(user, [resolved])[0])
        evidence = self.evidence(user, resolved, self.similar_users(user), score)
        ranks, unseen = unseen_rank(self.ranker, user, [resolved])
        if resolved not in self.index.seen(user):
            evidence.rank, evidence.unseen = ranks[resolved], unseen
        return evidence

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

    def conversation(self) -> Assistant:
        """A new conversation over the same data, ranker, store and LLM (nothing is rebuilt)."""
        fresh = copy.copy(self)
        fresh.history = deque(maxlen=self.config.history_size)
        fresh.current_user, fresh.user_pinned = None, False
        fresh._lock = threading.RLock()
        fresh.__dict__.pop("chain", None)  # its stages are bound to the instance
        return fresh

    @_serialised
    def use_user(self, user: Any) -> Any:
        """Make ``user`` the conversation's user for every later question that names nobody."""
        self.current_user, self.user_pinned = self.resolve_user(user), True
        return self.current_user

    # ---- pieces -----------------------------------------------------------------------------
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

    def resolve_user(self, user: Any) -> Any:
        """The dataset's user id for ``user`` ("78" finds 78); unknown users are a clear error."""
        return self.index.resolve_user(user)

    def similar_users(self, user: Any) -> list[Neighbor]:
        """The most similar users by exact Jaccard, among those vector search finds first."""
        index = self.index
        mine = index.seen(user)
        if self.store is not None:
            found = self.store.similar_users(user, self.config.search_neighbors)
            others = [u for u, _ in found]
        else:  # without a store: exact overlap with everyone
            others = [index.user_id(r) for r in range(1, index.n_users + 1)]
        theirs = {o: index.seen(o) for o in others if o != user}
        rows = [Neighbor(o, jaccard(mine, s), len(mine & s)) for o, s in theirs.items()]
        rows.sort(key=lambda n: (-n.jaccard, str(n.user_id)))
        return [n for n in rows if n.shared][: self.config.n_neighbors]

    def evidence(
        self, user: Any, item: Any, neighbors: list[Neighbor], score: float, asked=()
    ) -> Evidence:
        """The computed evidence: supporters among ``neighbors`` and the item's links to the
        user's own history (``asked``: the genres the question asked for, said for a user
        without history)."""
        supporters = [n for n in neighbors if item in self.index.liked(n.user_id)]
        return Evidence(
            item,
            self.dataset.title(item),
            score,
            len(neighbors),
            supporters,
            self.genres.get(item, []),
            self.links.links(user, item, asked),
            noun=self.noun,
        )

    @functools.cached_property
    def _years(self) -> dict[Any, int | None]:
        """Every item's year, from its title, built on first use."""
        return {item: title_year(self.dataset.title(item)) for item in self.catalog.ids}

    def _constraint(self, include, exclude, years=None) -> Callable[[Any], str | None]:
        inc, exc = set(include), set(exclude)

        def allowed(item: Any) -> str | None:
            if years is not None:
                year = self._years.get(item)
                if year is None or not years[0] <= year <= years[1]:
                    return f"not {describe(years)}"
            genres = set(self.genres.get(item, []))
            if inc and not genres & inc:
                return f"not {' or '.join(sorted(inc))}"
            if genres & exc:
                return f"is {' and '.join(sorted(genres & exc))}, which was excluded"
            return None

        return allowed

    def _nothing_left(self, include, exclude, years=None) -> str:
        if set(include) & set(exclude):
            return (
                "The request both asks for and excludes the same genre or topic; "
                "nothing can satisfy it."
            )
        if include or exclude or years:
            return "No unseen item meets those constraints; try relaxing them."
        return "This user has already seen every item in the catalog."

    def _support(self, neighbors: list[Neighbor], eligible: list) -> dict[Any, float]:
        if not neighbors:
            return {}
        allowed = set(eligible)
        counts: dict[Any, int] = {}
        for n in neighbors:
            for item in self.index.liked(n.user_id) & allowed:
                counts[item] = counts.get(item, 0) + 1
        return {i: c / len(neighbors) for i, c in counts.items()}

    def _pool(
        self,
        ranker_top: list[tuple[Any, float]],
        support: dict[Any, float],
        near: dict[Any, float] | None = None,
    ) -> dict:
        """The LLM's candidates from ``config.pool_sources``: items near a "like X" first, then
        similar users' and the ranker's favourites (half the pool at most for each of the
        first two when the ranker's list follows)."""
        size, sources = self.config.pool_size, self.config.pool_sources
        share = size // 2 if "ranker" in sources else size
        near = near or {}
        closest = sorted(near, key=lambda i: (-near[i], str(i)))[:share]
        closest = closest if "like" in sources else []
        by_support = sorted(support, key=lambda i: (-support[i], str(i)))[:share]
        ranked = [i for i, _ in ranker_top] if "ranker" in sources else []
        chosen = closest + (by_support if "support" in sources else []) + ranked
        ids = list(dict.fromkeys(chosen))[:size]
        return {i: self.dataset.title(i) for i in ids}

    def like_items(self, text: str, *, titles: bool = True) -> tuple[str, dict[Any, float], str]:
        """Items close to ``text``: (what it matched, item -> similarity, how measured); see
        :meth:`ItemFinder.near`."""
        return self.finder.near(text, titles=titles)

    def _like(
        self, answer: Answer, like, eligible: set, taste: str | None = None
    ) -> tuple[str, dict[Any, float]]:
        """The "like X" and taste ("light-hearted") requests: the eligible items close to them
        (the closer of the two for each item), and a note saying what was matched, or that
        nothing could be."""
        asked = [(text, True) for text in like[:1]] + ([(taste, False)] if taste else [])
        names, near = [], {}
        for text, titles in asked:
            matched, found, how = self.like_items(text, titles=titles)
            found = {i: s for i, s in found.items() if i in eligible and s > 0}
            if found:
                names.append(matched)
                answer.notes.append(
                    f"'{text}' was read as '{matched}': items close to it ({how}) are favoured"
                )
            else:
                where = "" if self.store is not None else " and there is no vector store to search"
                what = "no such title here" if titles else "no item documents match"
                answer.notes.append(
                    f"nothing the user has not seen is close to '{text}' ({what}{where}):"
                    f" the {'like' if titles else 'taste'} request could not be applied"
                )
            for i, sim in found.items():
                near[i] = max(near.get(i, 0.0), sim)
        if len(like) > 1:
            answer.notes.append(f"only the first 'like' was used ('{like[0]}')")
        return " / ".join(names), near

    def request(
        self,
        user: Any,
        k: int = 5,
        *,
        include: list[str] | tuple = (),
        exclude: list[str] | tuple = (),
        question: str | None = None,
        like: list[str] | tuple = (),
        taste: str | None = None,
        years: tuple[int, int] | None = None,
    ) -> Request:
        """What the stages work on: the user, k, the eligible items and the answer being built.

        When nothing can be ranked (k < 1, nothing eligible) the answer already holds the
        message saying why; unknown users are a clear error."""
        user = self.resolve_user(user)
        answer = Answer(question or f"recommend {k} items for user {user}", user=user)
        answer.notes.extend(self.notes)
        seen = self.index.seen(user)
        request = Request(user, k, answer.question, answer, seen, lambda i: None, [], list(like))
        request.taste, request.include = taste, list(include)
        if k < 1:
            answer.message = "Ask for at least one item (k must be 1 or more)."
            return request
        if years is not None and not any(y is not None for y in self._years.values()):
            answer.notes.append(
                f"no title here gives a year: the request for items {describe(years)} "
                "could not be applied"
            )
            years = None
        request.allowed = allowed = self._constraint(include, exclude, years)
        request.eligible = [i for i in self.catalog.ids if i not in seen and allowed(i) is None]
        if not request.eligible:
            answer.message = self._nothing_left(include, exclude, years)
            return request
        if k > MAX_K:
            answer.notes.append(f"k is capped at {MAX_K}")
            request.k = k = MAX_K
        if k > len(request.eligible):
            answer.notes.append(
                f"only {len(request.eligible)} items meet the request; showing them all"
            )
            request.k = len(request.eligible)
        if not seen:
            answer.notes.append(f"user {user} has no history yet: a cold-start answer")
        return request

    @functools.cached_property
    def chain(self) -> Runnable:
        """The retrieval chain every recommendation runs through: the user's context
        (:meth:`context`, as a retriever) -> :meth:`candidates` -> prompt -> LLM -> parse."""
        from rag_recs.assistant.context import ContextRetriever
        from rag_recs.llm.chain import make_chain

        return make_chain(
            ContextRetriever(context=self._request_context),
            self.llm,
            mode=self.config.llm_mode,
            retrieve_key="request",
            stream=self.stream_to is not None,
            candidates=lambda inputs: self.candidates(inputs["request"], inputs["context"]).pool,
            evidence=lambda inputs: self._evidence_text(inputs["request"]),
        )

    def _run_chain(self, inputs: dict[str, Any]) -> Proposal:
        """The chain's proposal; with ``stream_to`` set, the LLM's words go to it as written."""
        if self.stream_to is None:
            return self.chain.invoke(inputs)["proposal"]
        proposal, wrote = Proposal(), False
        for chunk in self.chain.stream(inputs):
            if text := chunk.get("answer"):
                self.stream_to(text)
                wrote = True
            proposal = chunk.get("proposal", proposal)
        if wrote:
            self.stream_to("\n")
        return proposal

    def _request_context(self, request: Request) -> list[Document]:
        """:meth:`context` for the request's user, timed into its answer."""
        tic = time.perf_counter()
        docs = self.context(request.user)
        request.answer.timings["neighbors"] = time.perf_counter() - tic
        return docs

    def _evidence_text(self, request: Request) -> str:
        """The computed support for the pool's items, as the prompt's evidence section: by
        letter where the LLM ranks a lettered pool (short prompts answer faster), else by id."""
        from rag_recs.llm.chain import chain_mode
        from rag_recs.llm.labels import label_pool

        found = request.candidates
        n = len(request.answer.similar_users)
        counts = {i: round(found.support.get(i, 0.0) * n) for i in found.pool}
        if chain_mode(self.llm, self.config.llm_mode) == "labels":
            named = [f"{lb} {counts[i]}" for lb, i in label_pool(found.pool).items() if counts[i]]
            return f"Liked by the {n} most similar users: {', '.join(named)}" if named else ""
        return "\n".join(
            f"item {i}: liked by {c} of {n} similar users" for i, c in counts.items() if c
        )

    def _by_popularity(self, items: set) -> list:
        """``items`` from the most to the least interacted with (ties by id)."""
        count, row = self.index.popularity, self.index.item_row
        return sorted(items, key=lambda i: (-count[row(i)], str(i)))

    @staticmethod
    def _fragment(text: str, pool: dict[Any, str]) -> bool:
        """True when ``text`` is no sentence of its own: under four words once the pool's
        titles are taken out (so "The (1997)", a title's pieces, is no reason)."""
        rest = text
        for title in sorted(pool.values(), key=len, reverse=True):
            rest = rest.replace(title, " ")
        return len(re.findall(r"[^\W\d_]{2,}", rest)) < 4

    def _fact(self, question: str, fact: FactQuestion) -> Answer:
        """A data question, answered from computed facts (:class:`Facts`); a pronoun stands for
        the conversation's user or last item. Worded by the LLM only with the facts' figures."""
        user = fact.user or (self.current_user if fact.user_pronoun or self.user_pinned else None)
        found = self.facts.answer(fact, user, self.last_item)
        if isinstance(found, str):
            return Answer(question, user=user, message=found, kind="fact")
        answer = Answer(question, user=found.user, kind="fact", facts=found.to_dict())
        answer.message, by = found.text, "template"
        if self.llm is not None:
            with self._llm_lock:
                answer.message, by = word_fact(self.llm, question, found, self.catalog.titles)
        answer.notes.append(f"computed from the data; worded by the {by}")
        self.current_user = found.user if found.user is not None else self.current_user
        self.last_item = found.item if found.item is not None else self.last_item
        return answer

    def _why(self, question: str, intent: Intent) -> Answer:
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
