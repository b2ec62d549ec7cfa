"""What a document says about itself: a title worth showing, who it is by or about, its form and period.

``describe_document`` is called by ``ingest.loaders.read_document`` for every file. Its ``meta`` keys
(all optional, all JSON scalars or lists of strings):

* ``entity``: the organisation the document is by or about ("Apple Inc."), from the cover page or the running
  headers/footers;
* ``form``: the kind of document when it states one ("10-K", "10-Q", "8-K", "annual report");
* ``period``: the period it covers, as a reader writes it ("Q3 2023", "FY2022");
* ``period_end``: that period's last day, ISO ("2023-07-01"), so documents can be ordered ("the latest 10-Q");
* ``date``: the date the document was issued or published, ISO, when it states one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from assistant.types import Page

__all__ = ["Described", "describe_document"]


@dataclass(frozen=True)
class Described:
    """A better title than the first line (None: keep the loader's), and the meta keys above."""

    title: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)


def describe_document(
    text: str,
    *,
    pages: Sequence[Page] = (),
    running: Sequence[str] = (),
    title: str | None = None,
    source: str = "",
) -> Described:
    """Work out title, entity, form, period and date from the text's first pages and its running lines.

    ``title`` is the title the file itself declares (PDF metadata, HTML <title>, a Markdown heading), if any.
    """
    return Described()
