"""Page through a register: ``paginate(statement, request.args, session=…)`` counts and slices in the database
(only one page of rows is loaded) and keeps the other filters in the links."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy import func, select
from sqlalchemy.sql import Select

PER_PAGE = 50
API_PER_PAGE = 100  # API lists: ?page=&per_page= (1–500)
MAX_PER_PAGE = 500


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

    def as_dict(self) -> dict:
        """Paging fields of an API list answer: ``page``, ``per_page``, ``pages``, ``total``."""
        return {"page": self.number, "per_page": self.per_page, "pages": self.pages, "total": self.total}


def _int_arg(args, name: str, default: int, low: int, high: int) -> int:
    try:
        return min(high, max(low, int(args.get(name, default))))
    except (TypeError, ValueError):
        return default


def paginate(source: Select, args, per_page: int | None = PER_PAGE, session=None) -> Page:
    """The ``page`` (1-based, from ``args``) of the rows of ``source``; an out-of-range or malformed page shows
    page 1/last. ``session`` runs one COUNT and one LIMIT/OFFSET query (ordering is the statement's).
    With ``per_page=None`` the size comes from ``args["per_page"]`` (1–500, default 100: API lists)."""
    if per_page is None:
        per_page = _int_arg(args, "per_page", API_PER_PAGE, 1, MAX_PER_PAGE)
    number = _int_arg(args, "page", 1, 1, 10**9)
    total = session.execute(select(func.count()).select_from(source.order_by(None).subquery())).scalar_one()
    number = min(number, max(1, -(-total // per_page)))
    items = list(session.exec(source.limit(per_page).offset((number - 1) * per_page)))
    return Page(items, number, per_page, total, dict(args.items()))
