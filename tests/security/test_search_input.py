"""Hostile search queries: query-syntax fragments, very long queries, NUL bytes, undecodable bytes and lone
surrogates get an answer (results or a message) from the search page and ``/api/v1/search`` — never a 500.

Issue 9 item 3; OWASP ASVS 5.1.3 (input validation), 7.4.1 (a message, not an error page).
"""
from __future__ import annotations

import time

import pytest

from tests.conftest import signed_in

QUERIES = {
    "lone_and": "AND", "unclosed_quote": '"unclosed', "open_parens": "(((", "empty_field": "title:", "star": "*",
    "dangling_or": "a OR", "not_only": "NOT", "open_range": "title:[a TO", "field_star": "code:*", "tilde": "~",
    "caret": "^", "chinese_open_group": "排放 AND (", "nul_inside": "排放\x00管理", "nul_only": "\x00",
    "phrase": '"温室气体 排放"', "long_phrase": '"' + "排放 " * 1600 + '"', "long_word": "x" * 5000,
    "long_chinese": "管理体系温室气体" * 625, "many_words": "a " * 2500, "many_wildcards": "a* " * 1666,
}
# bytes a browser or client may send that are not UTF-8: CESU-encoded surrogate, overlong NUL, invalid lead bytes
RAW_QUERIES = {"surrogate_bytes": "%ED%A0%80", "overlong_nul": "%C0%80", "invalid_utf8": "%FF%FE", "nul_byte": "a%00b"}


@pytest.fixture
def indexed(new_procedure):
    """One document in the index, so queries reach the search engine with something to find."""
    return new_procedure()


def _assert_answered(page, res, label):
    html = page.get_data(as_text=True)
    assert "服务器内部错误" not in html, label
    # a NUL is refused before any page (400 with a message); everything else gets the search page
    assert page.status_code == 200 or (page.status_code == 400 and "不允许的字符" in html), (label, page.status_code)
    body = res.get_json()
    assert res.status_code in (200, 400), (label, res.status_code, body)
    if res.status_code == 200:
        assert isinstance(body["results"], list), label
    else:
        assert body["error"]["code"] and body["error"]["message"], label


@pytest.mark.parametrize("label", list(QUERIES))
def test_query_syntax_and_size_get_an_answer_not_a_500(app, api, org, indexed, label):
    query = QUERIES[label]
    a = api("staff_ene")
    started = time.monotonic()
    page = signed_in(app, org["staff_ene"]).get("/search/", query_string={"q": query})
    res = a.client.get("/api/v1/search", query_string={"q": query}, headers=a.headers)
    _assert_answered(page, res, label)
    assert time.monotonic() - started < 10, f"{label}: a hostile query must not tie up a worker"


@pytest.mark.parametrize("label", list(RAW_QUERIES))
def test_undecodable_query_bytes_get_an_answer_not_a_500(app, api, org, indexed, label):
    raw = RAW_QUERIES[label]
    a = api("staff_ene")
    page = signed_in(app, org["staff_ene"]).get(f"/search/?q={raw}")
    res = a.client.get(f"/api/v1/search?q={raw}", headers=a.headers)
    _assert_answered(page, res, label)


@pytest.mark.parametrize("limit", ["abc", "-5", "0", "101", "1e3", "²", "99999999999999999999999"])
def test_a_malformed_limit_is_a_400_with_a_message(api, indexed, limit):
    a, _ = indexed
    res = a.get("/search", query_string={"q": "排放", "limit": limit})
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "invalid_limit"
    assert a.get("/search", query_string={"q": "排放", "limit": "5"}).status_code == 200


@pytest.mark.parametrize("text", ["排放\x00管理", "\ud800", "正常\udfff"])
def test_json_with_nul_or_a_lone_surrogate_is_refused_and_nothing_stored(api, org, text):
    """Valid JSON (``"\\u0000"``, ``"\\ud800"``) that no text column can hold (PostgreSQL refuses NUL; a lone
    surrogate cannot be encoded) is a 400 with a message on every JSON endpoint, before anything is written."""
    import json

    a = api("mr")
    body = json.dumps({"title": text, "kind": "risk", "category": "operational", "likelihood": 2, "impact": 2,
                       "status": "open", "department": "ENE"})
    res = a.post("/registers/risk", data=body, content_type="application/json")
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "invalid_characters"
    assert a.get("/registers/risk").get_json()["total"] == 0


@pytest.mark.parametrize("where", ["form", "query"])
def test_a_nul_in_a_page_field_is_refused_with_a_message_and_nothing_stored(app, api, org, where):
    """PostgreSQL text cannot hold NUL: refused at the edge (400 and a message), never a 500 or a stored value."""
    client = signed_in(app, org["auditor"])
    app.config["WTF_CSRF_ENABLED"] = False
    try:
        if where == "form":
            res = client.post("/nonconformities/new", data={
                "title": "数据\x00未复核", "description": "x", "source": "internal_audit", "department": "PRD"})
        else:
            res = client.get("/documents/", query_string={"q": "排放\x00"})
    finally:
        app.config["WTF_CSRF_ENABLED"] = True
    assert res.status_code == 400 and "不允许的字符" in res.get_data(as_text=True)
    assert api("mr").get("/nonconformities").get_json()["total"] == 0
