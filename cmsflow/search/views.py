"""Search page."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_login import current_user
from markupsafe import Markup

from cmsflow.search import service as search

blueprint = Blueprint("search", __name__, template_folder="templates", url_prefix="/search")


@blueprint.get("/")
def page():
    q = request.args.get("q", "").strip()
    hits = search.search(current_user, q, limit=50) if q else []
    # snippets are built by cmsflow.search.backend.snippet, which escapes the text before it adds <mark> tags
    return render_template("search/page.html", q=q, hits=[(h, Markup(h.snippet)) for h in hits])
