"""Small helpers shared by the use cases."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Notes", "collect_warnings", "user_warnings"]


def user_warnings(caught: list[warnings.WarningMessage]) -> list[str]:
    """The first line of each distinct UserWarning, in order (what a stage's notes say)."""
    notes: list[str] = []
    for w in caught:
        if issubclass(w.category, UserWarning):
            text = str(w.message).splitlines()[0]
            if text not in notes:
                notes.append(text)
    return notes


class Notes(list[str]):
    """Notes collected while a use case ran (warnings in words), without duplicates."""

    def add(self, text: str) -> None:
        line = str(text).splitlines()[0] if str(text) else ""
        if line and line not in self:
            self.append(line)


@contextmanager
def collect_warnings(notes: Notes) -> Iterator[None]:
    """Record every UserWarning raised inside the block into ``notes``."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for text in user_warnings(caught):
        notes.add(text)
