"""Every link a role is shown leads somewhere it may go (issue 20 item 2): signed in as each demo role, the
crawler follows every ``href`` and GET form target reachable from the home page, three links deep, and fails on
any 403, 404 or 500 a link reached; a POST form's target must be allowed for the role by the route rules
(:func:`cmsflow.auth.permissions.route_allowed`) — the crawler does not post."""
from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from sqlmodel import select
from werkzeug.exceptions import HTTPException

from cmsflow.auth.models import User
from cmsflow.auth.permissions import route_allowed
from cmsflow.carbon.models import Deviation
from cmsflow.core.db import session_scope
from cmsflow.demo.seed import seed_demo
from cmsflow.reviews.models import ReviewAction
from tests.conftest import signed_in

# one user per role, and the head and staff of a second department
CRAWLED = ["admin", "zhang.zong", "li.daibiao", "wang.neishen", "chen.nengyuan", "qian.jiliang",
           "zhao.shengchan", "zheng.gongyi"]
DEPTH = 3  # the home page's links, their links and theirs
CAP = 400  # pages fetched per role
SKIPPED = ("/static/", "/logout", "/lang/")
BAD = (403, 404, 500)


class _Links(HTMLParser):
    """Collects ``(kind, target)``: ("get", href or GET form action) and ("post", POST form action)."""

    def __init__(self):
        super().__init__()
        self.found: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a" and a.get("href"):
            self.found.append(("get", a["href"]))
        elif tag == "form":
            method = (a.get("method") or "get").lower()
            self.found.append(("post" if method == "post" else "get", a.get("action") or ""))


def _targets(page: str, html: str) -> list[tuple[str, str]]:
    """Same-site targets of a page, absolute paths with their query, fragments dropped."""
    parser = _Links()
    parser.feed(html)
    out = []
    for kind, target in parser.found:
        if target.startswith(("mailto:", "javascript:", "#")):
            continue
        url = urlsplit(urljoin("http://localhost" + page, target))
        if url.netloc != "localhost" or url.path.startswith(SKIPPED):
            continue
        out.append((kind, url.path + (f"?{url.query}" if url.query else "")))
    return out


def _endpoint(app, path: str, method: str = "GET") -> str | None:
    """The endpoint a ``method`` request to ``path`` reaches (None: no route takes it)."""
    try:
        endpoint, _args = app.url_map.bind("localhost").match(urlsplit(path).path, method=method)
    except HTTPException:
        return None
    return endpoint


class _Crawl:
    """One role's walk from "/": pages fetched up to DEPTH links away; the links of the last level, and every
    POST form target, are checked against the route rules without being requested."""

    def __init__(self, app, client, who: str, role: str, depth: int = DEPTH):
        self.app, self.client, self.who, self.role, self.depth = app, client, who, role, depth
        self.failures: list[str] = []
        self.seen, self.checked = {"/"}, set()
        self.fetched = 0

    def run(self, start: str = "/") -> _Crawl:
        level = [(start, None)]
        self.seen.add(start)
        for depth in range(self.depth + 1):
            following = []
            for page, source in level[:max(CAP - self.fetched, 0)]:
                following += self._visit(page, source, last=depth == self.depth)
            level = following
        return self

    def _visit(self, page: str, source: str | None, last: bool) -> list[tuple[str, str]]:
        """Fetch ``page``; returns the new GET targets to follow (none on the last level)."""
        res = self.client.get(page)
        self.fetched += 1
        if res.status_code in BAD:
            self.failures.append(f"{self.who}: {source} → {page}: {res.status_code}")
        if res.status_code != 200 or res.mimetype != "text/html":
            return []
        following = []
        for kind, target in _targets(page, res.get_data(as_text=True)):
            if kind == "post" or last:
                self._check_rule(page, kind.upper(), target)
            elif target not in self.seen:
                self.seen.add(target)
                following.append((target, page))
        return following

    def _check_rule(self, page: str, method: str, target: str) -> None:
        if (method, target) in self.checked or (method == "GET" and target in self.seen):
            return
        self.checked.add((method, target))
        endpoint = _endpoint(self.app, target, method)
        if endpoint is None or not route_allowed(self.role, endpoint):
            self.failures.append(f"{self.who}: {page} → {method} {target}: {endpoint or 'no route'} refused")


def test_every_link_of_every_demo_role_leads_to_a_page_it_may_see(app, capsys):
    with app.app_context(), session_scope() as s:
        seed_demo(s)
    with app.app_context(), session_scope() as s:
        users = {u.username: (u.id, u.role) for u in s.exec(User.__table__.select()).all()}
    failures, visited = [], {}
    for username in CRAWLED:
        user_id, role = users[username]
        who = f"{username} ({role})"
        crawl = _Crawl(app, signed_in(app, user_id), who, role).run()
        visited[who] = crawl.fetched
        failures += crawl.failures
    with capsys.disabled():
        print("\nlink crawl, pages fetched:", ", ".join(f"{k}: {v}" for k, v in visited.items()))
    assert all(n > 10 for n in visited.values()), visited
    assert not failures, "\n".join(failures)


def _nc_links(app, user_id: int, page: str) -> set[str]:
    res = signed_in(app, user_id).get(page)
    assert res.status_code == 200
    return {t for _kind, t in _targets(page, res.get_data(as_text=True)) if t.startswith("/nonconformities/")}


def test_a_nonconformity_link_is_drawn_only_for_who_may_see_it(app):
    """The deviation table links the nonconformity it raised (ENE's): the ENE head sees it and gets the link;
    ENE staff, who neither raised, own nor hold a task on it, may not see it and get no link (it was a 404)."""
    with app.app_context(), session_scope() as s:
        seed_demo(s)
        users = {u.username: u.id for u in s.exec(User.__table__.select()).all()}
        (nc_id,) = [d.nonconformity_id for d in s.exec(select(Deviation)) if d.nonconformity_id]
    link = f"/nonconformities/{nc_id}"
    assert link in _nc_links(app, users["chen.nengyuan"], "/carbon/")
    assert signed_in(app, users["chen.nengyuan"]).get(link).status_code == 200
    assert link not in _nc_links(app, users["qian.jiliang"], "/carbon/")
    assert signed_in(app, users["qian.jiliang"]).get(link).status_code == 404


def test_a_refused_page_shows_its_message_once(app, org):
    client = signed_in(app, org["staff_ene"])
    res = client.get("/carbon/factors")
    assert res.status_code == 403
    assert res.get_data(as_text=True).count("您的角色无权使用此功能") == 1
    home = client.get("/").get_data(as_text=True)
    assert "您的角色无权使用此功能" not in home  # nothing was left flashed for the next page
    for hidden in ("/carbon/factors", "/carbon/maturity/"):
        assert hidden not in client.get("/carbon/").get_data(as_text=True)


def test_staff_owning_a_review_action_reach_the_review_but_not_its_records(app):
    """Staff see a management review only as the owner of one of its actions; its page then draws no link to
    the input report or minutes (``reviews.docx`` is for the management system's people)."""
    with app.app_context(), session_scope() as s:
        seed_demo(s)
        staff = s.exec(select(User).where(User.username == "qian.jiliang")).one()
        action = s.exec(select(ReviewAction).order_by(ReviewAction.id)).first()
        action.owner_id, review_id, staff_id = staff.id, action.review_id, staff.id
        s.add(action)
    page = f"/reviews/{review_id}"
    crawl = _Crawl(app, signed_in(app, staff_id), "qian.jiliang (staff)", "staff", depth=1).run(page)
    assert crawl.fetched > 1 and not crawl.failures, crawl.failures
    assert "/docx" not in signed_in(app, staff_id).get(page).get_data(as_text=True)
