"""Page through a register: ``paginate(rows, request.args)`` keeps the other filters in the links."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

PER_PAGE = 50


@dataclass
class Page:
    items: list
    number: int
    per_page: int
    total: int
    args: dict

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    def url(self, number: int) -> str:
        """Query string for page ``number`` with the current filters."""
        return "?" + urlencode({**{k: v for k, v in self.args.items() if k != "page"}, "page": number})


def paginate(rows: list, args, per_page: int = PER_PAGE) -> Page:
    """The ``page`` (1-based, from ``args``) of ``rows``; an out-of-range or malformed page shows page 1/last."""
    try:
        number = max(1, int(args.get("page", 1)))
    except (TypeError, ValueError):
        number = 1
    pages = max(1, -(-len(rows) // per_page))
    number = min(number, pages)
    start = (number - 1) * per_page
    return Page(rows[start:start + per_page], number, per_page, len(rows), dict(args.items()))
