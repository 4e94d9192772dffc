"""The recommendation pipeline: request -> context -> candidates -> propose -> validate -> rerank
-> explain, each a public stage on plain values (:mod:`rag_recs.assistant.stages`).

Whatever the LLM says, an answer only holds items that exist, that the user has not seen and that
meet the asked constraints, ordered by the trained ranker; every number in a reason is computed.

Context, candidates and the LLM's proposal run as one LangChain chain (:attr:`Recommender.chain`),
built once from the stages; without an LLM its last step proposes nothing (or, for the random
baseline, shuffles the pool) and no prompt is made, and unless the chain was asked for (or set,
with callbacks) the same steps are called directly, without importing LangChain's runnables.

Final order (documented blend): ``score = ranker probability + support_weight * support +
like_weight * similarity to X + llm_weight * the LLM's probability``, where ``support`` is the
share of the most similar users (exact Jaccard, top ``n_neighbors``) who liked the item and X is
what a "something like X" or a taste asked for. Candidates are the validated LLM proposals plus
the ranker's own top-k of eligible items (and the k items closest to X), so the LLM can add items
but never push the ranker's best ones out with weaker picks: a proposal that does not make the
top k is reported as outranked.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from rag_recs.assistant import pool
from rag_recs.assistant.answer import Answer, AnswerItem
from rag_recs.assistant.config import AssistantConfig
from rag_recs.assistant.constraints import Constraints, item_genres
from rag_recs.assistant.evidence import Evidence, Neighbor
from rag_recs.assistant.explain import Explainer
from rag_recs.assistant.facts import Facts
from rag_recs.assistant.finder import ItemFinder
from rag_recs.assistant.intent import MAX_K
from rag_recs.assistant.links import HistoryLinks
from rag_recs.assistant.nouns import default_noun, plural
from rag_recs.assistant.stages import Candidates, Context, Ranked, Request
from rag_recs.assistant.validate import Catalog, Rejection, validate
from rag_recs.assistant.years import describe
from rag_recs.data.attributes import item_attributes
from rag_recs.data.index import InteractionIndex
from rag_recs.data.schema import Dataset
from rag_recs.data.sparse import InteractionMatrix
from rag_recs.errors import RagRecsError
from rag_recs.llm.schema import Candidate, Proposal
from rag_recs.ranker.ranker import DeepFMRanker
from rag_recs.retrieval.overlap import jaccard

if TYPE_CHECKING:
    from langchain_core.runnables import Runnable, RunnableConfig

Stage = Callable[[dict[str, Any]], Any]


class Recommender:
    """The stages over one dataset, ranker, optional vector store and optional LLM.

    Shared by every conversation around it; the LLM generates for one of them at a time.
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
        self._config = config or AssistantConfig()
        self._chain: Runnable | None = None  # built on first use, again after a new config
        self.catalog = Catalog(dataset.catalog, {i: dataset.title(i) for i in dataset.catalog})
        self.genres = item_genres(dataset)
        self.index = InteractionIndex.from_dataset(dataset, self._config.like_threshold)
        self.finder = ItemFinder(dataset, self.catalog, self.index, store, self._config.like_pool)
        self.constraints = Constraints(self.genres, dataset.title, self.catalog.ids)
        self.noun = plural(self._config.item_noun or default_noun(dataset))
        matrix, attributes = InteractionMatrix(self.index), item_attributes(dataset)
        links = HistoryLinks(dataset, self.index, matrix, attributes, store)
        self.explainer = Explainer(
            dataset, self.index, self.catalog, self.genres, links, ranker, self.noun
        )
        self.facts = Facts(dataset, self.index, matrix, attributes, self.finder, self.noun)
        self.llm_lock = threading.Lock()  # generations, one at a time across conversations

    @property
    def config(self) -> AssistantConfig:
        return self._config

    @config.setter
    def config(self, config: AssistantConfig) -> None:
        """New settings; the chain is built again for them (its last step depends on them)."""
        self._config, self._chain = config, None

    @property
    def genre_names(self) -> list[str]:
        return sorted({g for gs in self.genres.values() for g in gs})

    def resolve_user(self, user: Any) -> Any:
        """The dataset's user id for ``user`` ("78" finds 78); unknown users are a clear error."""
        return self.index.resolve_user(user)

    def answer(self, request: Request, stream_to: Callable[[str], None] | None = None) -> Answer:
        """The stages after :meth:`request`, in order: :meth:`propose` (the chain:
        :meth:`context` -> :meth:`candidates` -> LLM), :meth:`validate`, :meth:`rerank` and
        :meth:`explain_items`; the request's answer, complete."""
        if request.answer.message:
            return request.answer
        proposal = self.propose(request, stream_to=stream_to)
        kept = self.validate(request, proposal)
        ranked = self.rerank(request, proposal, kept)
        request.answer.items = self.explain_items(request, ranked, proposal)
        return request.answer

    # ---- the stages, in order ---------------------------------------------------------------
    def request(
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
    ) -> Request:
        """What the stages work on: the user, k (``config.default_k`` when None), the eligible
        items and the answer being built. When nothing can be ranked (k < 1, nothing eligible)
        the answer already holds the message saying why; unknown users are a clear error."""
        user = self.resolve_user(user)
        k = self.config.default_k if k is None else k
        answer = Answer(question or f"recommend {k} items for user {user}", user=user)
        answer.notes.extend(self.notes)
        seen = self.index.seen(user)
        request = Request(user, k, answer.question, answer, seen, lambda i: None, [], list(like))
        request.taste, request.include = taste, list(include)
        if k < 1:
            answer.message = "Ask for at least one item (k must be 1 or more)."
            return request
        if years is not None and not self.constraints.dated:
            answer.notes.append(
                f"no title here gives a year: the request for items {describe(years)} "
                "could not be applied"
            )
            years = None
        request.allowed = allowed = self.constraints.allowed(include, exclude, years)
        if include or exclude or years is not None:
            request.eligible = [i for i in self.catalog.ids if i not in seen and allowed(i) is None]
        else:  # nothing to check but what was seen
            request.eligible = [i for i in self.catalog.ids if i not in seen]
        if not request.eligible:
            answer.message = self.constraints.nothing_left(include, exclude, years)
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

    def context(self, user: Any) -> Context:
        """What the LLM reads about ``user``: the items they liked, their most similar users with
        the exact overlap, and what the closest of those liked that ``user`` has not seen."""
        index, config, explainer = self.index, self.config, self.explainer
        seen = index.seen(user)
        neighbors = self.similar_users(user) if seen else []
        liked = explainer.by_popularity(index.liked(user))[: config.context_items]
        also = {}
        for n in neighbors[: config.context_neighbors]:
            theirs = [i for i in explainer.by_popularity(index.liked(n.user_id)) if i not in seen]
            if theirs:
                also[n.user_id] = theirs[: config.context_items]
        return Context(user, liked, neighbors, also)

    def candidates(self, request: Request, context: Context) -> Candidates:
        """The pool the LLM picks from (items near a "like X", similar users' favourites, the
        ranker's top list, as ``config.pool_sources`` says), with the evidence behind it."""
        eligible, neighbors = request.eligible, context.neighbors
        ranker_top = self.ranker.top_k(
            request.user, max(request.k, self.config.pool_size), candidates=eligible
        )
        support = pool.support(self.index, neighbors, eligible)
        like_to, near, notes = self.finder.requested(request.like, request.taste, set(eligible))
        request.answer.notes.extend(notes)
        offered = pool.pool(
            ranker_top, support, near, size=self.config.pool_size,
            sources=self.config.pool_sources, title=self.dataset.title,
        )  # fmt: skip
        return Candidates(offered, ranker_top, support, near, like_to, neighbors)

    def propose(self, request: Request, stream_to: Callable[[str], None] | None = None) -> Proposal:
        """The chain (:attr:`chain`): context -> candidates -> the LLM's proposal, parsed.

        Whatever the LLM does, the ranker still answers: an LLM failure is a note and an empty
        proposal. With ``stream_to``, the LLM's words go to it as it writes them.
        """
        inputs = {"request": request, "stream": stream_to is not None}
        out: dict[str, Any] = {}
        wrote = False
        if self._chain is None and (self.llm is None or self.config.proposer != "llm"):
            # no LLM to call: the same steps, called directly (LangChain's runnables and
            # tracers cost a repeated ask 0.45 s of imports, for three function calls)
            out = self._steps_without_llm(inputs)
        else:
            for chunk in self.chain.stream(inputs):
                if stream_to is not None and (text := chunk.get("answer")):
                    stream_to(text)
                    wrote = True
                out.update({key: value for key, value in chunk.items() if key != "answer"})
        if wrote:
            stream_to("\n")
        answer, proposal = request.answer, out.get("proposal", Proposal())
        request.candidates = out["candidates"]
        answer.similar_users = request.candidates.neighbors
        if out.get("error"):
            answer.notes.append(f"the LLM failed ({out['error']}); ranker only")
        for text in proposal.unparsed:
            if text.strip():
                answer.rejected.append(Rejection("unparsed", "could not be read", text=text[:80]))
            else:
                answer.notes.append("the LLM returned nothing; the ranker answered alone")
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
    ) -> list[Ranked]:
        """The final k over the validated proposals, the ranker's own top k and the k items
        closest to X. ``config.order == "blend"``: the documented blend (module docstring);
        ``"proposal"``: the validated proposals in the LLM's order first, the ranker's after."""
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
        return [Ranked(i, float(scores[i]), blended[i], source[i]) for i in chosen]

    def explain_items(
        self, request: Request, ranked: list[Ranked], proposal: Proposal
    ) -> list[AnswerItem]:
        """The answer's items: each ranked item with its computed evidence and a reason
        (:meth:`Explainer.items`)."""
        tic = time.perf_counter()
        items = self.explainer.items(
            request.user, ranked, proposal, request.candidates, request.include
        )
        request.answer.timings["explain"] = time.perf_counter() - tic
        return items

    # ---- evidence -----------------------------------------------------------------------------
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

    def explain(self, user: Any, item: Any) -> Evidence:
        """The computed evidence for ``item`` and ``user`` (any item, seen or not)."""
        user = self.resolve_user(user)
        resolved = self.catalog.resolve(item)
        if resolved is None:
            raise RagRecsError(f"unknown item {item!r}")
        score = float(self.ranker.score(user, [resolved])[0])
        return self.explainer.evidence(user, resolved, self.similar_users(user), score)

    def like_items(self, text: str, *, titles: bool = True) -> tuple[str, dict[Any, float], str]:
        """Items close to ``text``: (what it matched, item -> similarity, how measured); see
        :meth:`ItemFinder.near`."""
        return self.finder.near(text, titles=titles)

    # ---- the chain ----------------------------------------------------------------------------
    @property
    def chain(self) -> Runnable:
        """``{"request", "stream"?}`` -> ``{"context", "candidates", "proposal", "answer"?,
        "error"?}``: :meth:`context` -> :meth:`candidates` -> the LLM step (prompt -> LLM ->
        parse), or without an LLM a step that proposes nothing (the random baseline: a seeded
        shuffle of the pool). Each step times itself into the request's answer."""
        if self._chain is None:
            from langchain_core.runnables import (
                RunnableGenerator,
                RunnableLambda,
                RunnablePassthrough,
            )

            last = self._no_llm_step
            if self.llm is not None and self.config.proposer == "llm":
                from rag_recs.llm.chain import chain_mode, make_proposer

                proposer = make_proposer(self.llm, mode=self.config.llm_mode, noun=self.noun)
                labels = chain_mode(self.llm, self.config.llm_mode) == "labels"

                def last(chunks: Iterator[dict], config: RunnableConfig) -> Iterator[dict]:
                    yield from self._llm_step(chunks, config, proposer, labels)

            self._chain = (
                RunnablePassthrough.assign(
                    context=RunnableLambda(_timed("neighbors", self._context), name="context")
                )
                | RunnablePassthrough.assign(
                    candidates=RunnableLambda(_timed("ranker", self._candidates), name="candidates")
                )
                | RunnableGenerator(last).with_config(run_name="propose")
            ).with_config(run_name="rag_recs_recommend")
        return self._chain

    @chain.setter
    def chain(self, chain: Runnable) -> None:
        """The same chain with other settings (callbacks, tags), as ``chain.with_config`` makes."""
        self._chain = chain

    def _context(self, inputs: dict[str, Any]) -> Context:
        return self.context(inputs["request"].user)

    def _candidates(self, inputs: dict[str, Any]) -> Candidates:
        return self.candidates(inputs["request"], inputs["context"])

    def _steps_without_llm(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """What :attr:`chain` gives without an LLM, its steps called in turn."""
        inputs = {**inputs, "context": _timed("neighbors", self._context)(inputs)}
        inputs["candidates"] = _timed("ranker", self._candidates)(inputs)
        return self._no_llm_proposal(inputs)

    def _no_llm_step(self, chunks: Iterator[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        from langchain_core.runnables.utils import AddableDict

        yield AddableDict(self._no_llm_proposal(_gather(chunks)))

    def _no_llm_proposal(self, inputs: dict[str, Any]) -> dict[str, Any]:
        """The last step without an LLM: no proposal, or the random baseline's (a seeded
        shuffle of the pool in the LLM's place)."""
        found, proposal = inputs["candidates"], Proposal()
        if self.config.proposer == "random":
            shuffled = list(found.pool)
            random.Random(f"{self.config.seed}:{inputs['request'].user}").shuffle(shuffled)
            proposal = Proposal(items=[Candidate(item_id=i, score=0.0) for i in shuffled])
        return {"context": inputs["context"], "candidates": found, "proposal": proposal}

    def _llm_step(
        self,
        chunks: Iterator[dict[str, Any]],
        config: RunnableConfig,
        proposer: Runnable,
        labels: bool,
    ) -> Iterator[dict[str, Any]]:
        """``proposer`` (prompt -> LLM -> parse, :func:`rag_recs.llm.chain.make_proposer`) on
        the context, pool and evidence (by letter when ``labels``), holding the LLM's lock; its
        failure is reported, never raised."""
        from langchain_core.runnables.utils import AddableDict

        inputs = _gather(chunks)  # the earlier steps' errors are raised here, as they are
        request, found = inputs["request"], inputs["candidates"]
        yield AddableDict(context=inputs["context"], candidates=found)
        step = {
            "context": inputs["context"].texts(self.dataset.title),
            "pool": found.pool,
            "evidence": pool.support_text(found.pool, found.support, len(found.neighbors), labels),
            "question": request.question,
            "k": request.k,
            "stream": inputs.get("stream", False),
        }
        tic = time.perf_counter()
        try:
            with self.llm_lock:
                for chunk in proposer.stream(step, config):
                    yield AddableDict({k: chunk[k] for k in ("answer", "proposal") if k in chunk})
        except Exception as exc:  # noqa: BLE001 - a failed LLM leaves the ranker to answer
            first = str(exc).strip().splitlines()[0][:120] if str(exc).strip() else ""
            yield AddableDict(proposal=Proposal(), error=f"{type(exc).__name__}: {first}")
        request.answer.timings["llm"] = time.perf_counter() - tic


def _gather(chunks: Iterator[dict[str, Any]]) -> dict[str, Any]:
    """A step's whole input from the chunks the previous steps stream."""
    inputs: dict[str, Any] = {}
    for chunk in chunks:
        inputs.update(chunk)
    return inputs


def _timed(key: str, stage: Stage) -> Stage:
    """``stage`` recording its seconds under ``key`` in the request's answer timings."""

    def run(inputs: dict[str, Any]) -> Any:
        tic = time.perf_counter()
        try:
            return stage(inputs)
        finally:
            inputs["request"].answer.timings[key] = time.perf_counter() - tic

    return run
