"""The one exception type a pipeline step raises for a problem the user can fix, and how its messages list names."""

from __future__ import annotations

from collections.abc import Sequence


class PipelineError(Exception):
    """A step failed for a reason the message names, with what to do about it."""


def listed(names: Sequence[str], limit: int) -> str:
    """The first `limit` of `names` for a message, then how many more: `a, b, c and 4 more`."""
    more = len(names) - limit
    return ", ".join(names[:limit]) + (f" and {more} more" if more > 0 else "")
