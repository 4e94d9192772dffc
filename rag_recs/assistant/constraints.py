"""What a request allows: genres or topics asked for or refused, and years read from titles."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from rag_recs.assistant.years import describe, title_year
from rag_recs.data.schema import GENRES, ITEM, Dataset, to_python


def item_genres(dataset: Dataset) -> dict[Any, list[str]]:
    """Each item's genres or topics, from the items table (empty without one)."""
    items = dataset.items
    if items is None or GENRES not in items.columns:
        return {}
    return {to_python(i): list(g) for i, g in zip(items[ITEM], items[GENRES], strict=True)}


class Constraints:
    """Checks items against a request's genres and years; says why when nothing is left."""

    def __init__(
        self, genres: dict[Any, list[str]], title: Callable[[Any], str], items: Iterable[Any]
    ) -> None:
        self.genres, self.title, self.items = genres, title, list(items)

    @functools.cached_property
    def years(self) -> dict[Any, int | None]:
        """Every item's year, from its title, built on first use."""
        return {item: title_year(self.title(item)) for item in self.items}

    @property
    def dated(self) -> bool:
        """True when some title gives a year, so that a years request can be applied."""
        return any(y is not None for y in self.years.values())

    def allowed(
        self, include: Iterable[str], exclude: Iterable[str], years: tuple[int, int] | None = None
    ) -> Callable[[Any], str | None]:
        """``allowed(item)``: None when the item meets the constraints, else why not."""
        inc, exc = set(include), set(exclude)

        def allowed(item: Any) -> str | None:
            if years is not None:
                year = self.years.get(item)
                if year is None or not years[0] <= year <= years[1]:
                    return f"not {describe(years)}"
            genres = set(self.genres.get(item, []))
            if inc and not genres & inc:
                return f"not {' or '.join(sorted(inc))}"
            if genres & exc:
                return f"is {' and '.join(sorted(genres & exc))}, which was excluded"
            return None

        return allowed

    @staticmethod
    def nothing_left(
        include: Iterable[str], exclude: Iterable[str], years: tuple[int, int] | None = None
    ) -> str:
        """Why no item is eligible."""
        include, exclude = list(include), list(exclude)
        if set(include) & set(exclude):
            return (
                "The request both asks for and excludes the same genre or topic; "
                "nothing can satisfy it."
            )
        if include or exclude or years:
            return "No unseen item meets those constraints; try relaxing them."
        return "This user has already seen every item in the catalog."
