"""From text to items: the title a text names, else the item documents closest to it, and the
items near either ("something like X", "light-hearted")."""

from __future__ import annotations

import functools
import re
from typing import Any

from rag_recs.assistant.validate import Catalog
from rag_recs.data.index import InteractionIndex
from rag_recs.data.schema import Dataset


class ItemFinder:
    """Finds the items a piece of text points at, through titles, item vectors and shared users."""

    def __init__(
        self,
        dataset: Dataset,
        catalog: Catalog,
        index: InteractionIndex,
        store: Any = None,
        pool: int = 50,
    ) -> None:
        self.dataset, self.catalog, self.index, self.store, self.pool = (
            dataset,
            catalog,
            index,
            store,
            pool,
        )

    def near(self, text: str, *, titles: bool = True) -> tuple[str, dict[Any, float], str]:
        """Items close to ``text``: (what it matched, item -> similarity, how it was measured).

        A catalog title is matched first (unless ``titles`` is False: a taste such as
        "light-hearted"); its neighbours come from the store's item vectors (cosine), else from
        the users the items share. Other text is searched in the store's item documents.
        Without a match and a store, nothing is close.
        """
        anchor = self.title_match(text) if titles else None
        if anchor is not None:
            name = self.dataset.title(anchor)
            if self.store is not None:
                near = self.store.similar_items(anchor, self.pool)
                if near:
                    return name, {self.catalog.resolve(i): s for i, s in near}, "item vectors"
            return name, self.index.co_occurrence(anchor), "users in common"
        if self.store is not None:
            hits = self.store.search(text, k=self.pool, kind="item")
            found = {self.catalog.resolve(d.metadata["item_id"]): d.metadata["score"] for d in hits}
            return text, {i: s for i, s in found.items() if i is not None}, "item vectors"
        return text, {}, ""

    def requested(
        self, like: list[str], taste: str | None, eligible: set
    ) -> tuple[str, dict[Any, float], list[str]]:
        """The "like X" and taste ("light-hearted") requests: what they were read as, the
        eligible items close to them (the closer of the two for each item), and notes saying
        what was matched, or that nothing could be."""
        asked = [(text, True) for text in like[:1]] + ([(taste, False)] if taste else [])
        names, near, notes = [], {}, []
        for text, titles in asked:
            matched, found, how = self.near(text, titles=titles)
            found = {i: s for i, s in found.items() if i in eligible and s > 0}
            if found:
                names.append(matched)
                notes.append(
                    f"'{text}' was read as '{matched}': items close to it ({how}) are favoured"
                )
            else:
                where = "" if self.store is not None else " and there is no vector store to search"
                what = "no such title here" if titles else "no item documents match"
                notes.append(
                    f"nothing the user has not seen is close to '{text}' ({what}{where}):"
                    f" the {'like' if titles else 'taste'} request could not be applied"
                )
            for i, sim in found.items():
                near[i] = max(near.get(i, 0.0), sim)
        if len(like) > 1:
            notes.append(f"only the first 'like' was used ('{like[0]}')")
        return " / ".join(names), near, notes

    def title_match(self, text: str, *, strict: bool = False) -> Any:
        """The catalog item whose title ``text`` names (the most popular of several), or None.
        ``strict``: a part of a title counts only as whole words of five letters or more (a
        question such as "what's new?" names no title)."""
        wanted = plain_title(text)
        if len(wanted) < 2:
            return None
        whole = re.compile(rf"(?<!\w){re.escape(wanted)}(?!\w)")
        exact, partial = [], []
        for item, title in self._plain_titles.items():
            if title == wanted:
                exact.append(item)
            elif wanted in title and (not strict or len(wanted) >= 5 and whole.search(title)):
                partial.append(item)
        found = exact or partial
        if not found:
            return None
        count = self.index.popularity
        return max(found, key=lambda i: (count[self.index.item_row(i)], str(i)))

    @functools.cached_property
    def _plain_titles(self) -> dict[Any, str]:
        """Every item's title as :func:`plain_title` compares it, built on first use."""
        return {item: plain_title(self.dataset.title(item)) for item in self.catalog.ids}


def plain_title(title: str) -> str:
    """A title compared loosely: lower case, no year, "Godfather, The" read as "the godfather"."""
    text = re.sub(r"\s*\(\d{4}\)\s*$", "", title.strip().lower())
    moved = re.match(r"^(.*),\s*(the|a|an|le|la|les|el|los|las|der|die|das)$", text)
    if moved:
        text = f"{moved.group(2)} {moved.group(1)}"
    return re.sub(r"\s+", " ", text).strip(" \"'")
