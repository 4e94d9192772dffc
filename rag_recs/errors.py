"""User-facing errors: one clear line saying what is wrong, where, and how to fix it."""

from __future__ import annotations


class RagRecsError(Exception):
    """A mistake in the user's input or set-up (the CLI exits with code 2 on these)."""


class DataError(RagRecsError, ValueError):
    """Bad input data; names the source, the column and the first bad row where it applies."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: str | None = None,
        row: int | None = None,
        hint: str | None = None,
    ) -> None:
        self.message, self.source, self.column, self.row, self.hint = (
            message,
            source,
            column,
            row,
            hint,
        )
        where = [p for p in (source, f"column '{column}'" if column else None) if p]
        if row is not None:
            where.append(f"row {row}")
        text = (", ".join(where) + ": " if where else "") + message
        if hint:
            text += f" ({hint})"
        super().__init__(one_line(text))


def one_line(text: str) -> str:
    """``text`` with line breaks and other invisible characters escaped: one printable line."""
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


class UnknownUser(RagRecsError, LookupError):
    """A user id the data does not have."""


class StoreMissing(RagRecsError):
    """No vector store (or an empty one) where one was expected: ``rag-recs index`` builds it."""


class ModelError(RagRecsError):
    """A saved model that cannot be loaded or does not match the data it is used with."""
