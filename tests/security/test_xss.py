"""Stored and reflected XSS: a script payload typed into every free-text field of each kind of page (stored through
the API or the services) is shown as text on the pages that render it — never as markup.

Each case stores ``PAYLOAD`` and returns the pages (viewer, path) that show it. A page passes when an HTML parser
finds no element the payload could have made (an ``on…=`` handler attribute, a script with ``alert(1)``, the
``<img src=x>``) and finds the payload itself as text or as an attribute value (it was escaped, not dropped).
Issue 9 item 3; OWASP ASVS 5.3.3 (output encoding), 5.3.1.
"""
from __future__ import annotations

from datetime import date, timedelta
from html.parser import HTMLParser

import pytest

from cmsflow.auth.service import create_user
from cmsflow.core.db import session_scope
from cmsflow.registers.specs import SPECS
from tests.audits.test_internal_audit_api import approved_programme, plan
from tests.conftest import PASSWORD, PROCEDURE_FIELDS, signed_in
from tests.nonconformities.test_corrective_action_api import NC, step
from tests.registers.test_registers import sample
from tests.reviews.test_management_review import PERIOD

PAYLOAD = "<script>alert(1)</script>\"'><img src=x onerror=alert(1)>"


class _Scan(HTMLParser):
    """What the browser would build from the page: handler attributes, script bodies, text and attribute values."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.handlers, self.injected, self.texts, self._script = [], [], [], False

    def handle_starttag(self, tag, attrs):
        self.handlers += [(tag, name) for name, _ in attrs if name.startswith("on")]
        if tag == "img" and ("src", "x") in attrs:
            self.injected.append(tag)
        self._script = tag == "script"
        self.texts += [value for _, value in attrs if value]

    def handle_endtag(self, tag):
        self._script = False

    def handle_data(self, data):
        if self._script and "alert(1)" in data:
            self.injected.append("script")
        self.texts.append(data)


def assert_shown_as_text(html: str, where: str) -> None:
    scan = _Scan()
    scan.feed(html)
    assert not scan.handlers and not scan.injected, f"{where}: markup made {scan.handlers or scan.injected}"
    assert "<script>alert(1)</script>" not in html and "<img src=x" not in html, where
    assert any(PAYLOAD in text for text in scan.texts), f"{where}: the payload is not shown (escaped) at all"


def ok(res, status: int = 200) -> dict:
    assert res.status_code == status, res.get_json()
    return res.get_json()


# --- one function per page type: store the payload, return [(viewer, path)] ---------------------------------------

def document(api, app, org):
    a = api("staff_ene")
    fields = {**PROCEDURE_FIELDS, "purpose": PAYLOAD, "scope": PAYLOAD}
    doc = ok(a.post("/documents", json={"title": PAYLOAD, "doc_type": "procedure", "department": "ENE",
                                        "template": "procedure", "fields": fields, "clauses": []}), 201)
    return [("staff_ene", f"/documents/{doc['id']}"), ("staff_ene", f"/documents/{doc['id']}/edit"),
            ("mr", "/documents/")]


def nonconformity(api, app, org):
    nc = ok(api("auditor").post("/nonconformities", json={**NC, "title": PAYLOAD, "description": PAYLOAD,
                                                           "evidence": PAYLOAD}), 201)
    head, owner = api("head_prd"), api("staff_prd")
    ok(step(head, nc["id"], "accept", decision="accept", comment=PAYLOAD, data={"owner": "staff_prd"}))
    ok(step(owner, nc["id"], "correction", data={"correction": PAYLOAD, "consequences": PAYLOAD}))
    ok(step(owner, nc["id"], "cause_analysis", data={
        "whys": [PAYLOAD], "cause_categories": ["method"], "root_cause": PAYLOAD, "similar_check": PAYLOAD,
        "system_change_needed": True, "system_change_note": PAYLOAD}))
    due = (date.today() + timedelta(days=20)).isoformat()
    ok(step(owner, nc["id"], "action_plan", data={"actions": [
        {"description": PAYLOAD, "owner": "staff_prd", "due_date": due}]}))
    return [("head_prd", f"/nonconformities/{nc['id']}"), ("mr", "/nonconformities/")]


def task_comment(api, app, org):
    """A comment typed on a task (a disputed nonconformity), shown in the case's history and to the decider."""
    nc = ok(api("auditor").post("/nonconformities", json=NC), 201)
    ok(step(api("head_prd"), nc["id"], "accept", decision="dispute", comment=PAYLOAD))
    return [("mr", f"/nonconformities/{nc['id']}"), ("head_prd", f"/nonconformities/{nc['id']}")]


def audit_programme(api, app, org):
    year = date.today().year
    prog = ok(api("mr").post("/audit-programmes", json={
        "title": PAYLOAD, "period_start": f"{year}-01-01", "period_end": f"{year}-12-31", "objectives": PAYLOAD,
        "criteria": ["DB44T1944"], "audits": [{"title": PAYLOAD, "month": date.today().strftime("%Y-%m"),
                                               "departments": ["PRD"], "clauses": ["DB44T1944:7.5"],
                                               "lead_auditor": "auditor"}]}), 201)
    return [("mr", f"/audits/programmes/{prog['id']}"), ("mr", "/audits/")]


def audit_finding(api, app, org):
    audit_id = approved_programme(api)["audits"][0]["id"]
    audit = ok(plan(api, audit_id))  # (scope/objectives were never plan fields: undeclared keys are now refused)
    auditor = api("auditor")
    line = audit["checklist"][0]["id"]
    ok(auditor.client.put(f"/api/v1/audits/{audit_id}/checklist/{line}", headers=auditor.headers,
                          json={"result": "observation", "objective_evidence": PAYLOAD, "note": PAYLOAD}))
    return [("auditor", f"/audits/{audit_id}"), ("mr", f"/audits/findings/{line}")]


def review(api, app, org):
    mr, top = api("mr"), api("top")
    rev = ok(mr.post("/management-reviews", json={**PERIOD, "title": PAYLOAD}), 201)
    ok(mr.post(f"/management-reviews/{rev['id']}/steps/prepare_review", json={"data": {
        "commentary": {"nonconformities": PAYLOAD}, "attendees": PAYLOAD}}))
    due = (date.today() + timedelta(days=30)).isoformat()
    ok(top.post(f"/management-reviews/{rev['id']}/steps/hold_review", json={"decision": "record", "data": {
        "suitability": PAYLOAD, "adequacy": PAYLOAD, "effectiveness": PAYLOAD, "conclusion": PAYLOAD,
        "improvement": PAYLOAD, "decisions": [{"kind": "improvement", "description": PAYLOAD, "owner": "head_ene",
                                               "due_on": due}]}}))
    return [("top", f"/reviews/{rev['id']}"), ("mr", "/reviews/")]


def register_rows(api, app, org):
    """Every register: each text field of a valid record holds the payload (where it fits the column)."""
    pages = []
    for name, spec in SPECS.items():
        body = sample(name, 0)
        body.update({f.name: PAYLOAD for f in spec.fields if f.type in ("text", "longtext")
                     and (spec.model.__table__.c[f.column].type.length or 999) >= len(PAYLOAD)})
        row = ok(api("mr").post(f"/registers/{name}", json=body), 201)
        pages += [("mr", f"/registers/{name}/"), ("mr", f"/registers/{name}/{row['id']}")]
    return pages


def compliance_obligation(api, app, org):
    ob = ok(api("mr").post("/registers/compliance_obligation", json={
        "title": PAYLOAD, "obligation_type": "rule", "issuing_body": PAYLOAD, "article": PAYLOAD,
        "requirement": PAYLOAD, "department": "ENE", "evaluation_frequency": "monthly"}), 201)
    ev = ok(api("mr").post("/compliance-evaluations", json={"obligation_id": ob["id"]}), 201)
    ok(api("head_ene").post(f"/compliance-evaluations/{ev['id']}/steps/evaluate_obligation", json={
        "data": {"result": "compliant", "evidence": PAYLOAD}}))
    return [("mr", f"/compliance/{ev['id']}"), ("mr", "/compliance/"), ("mr", "/registers/compliance_obligation/")]


def carbon_note(api, app, org):
    mr = api("mr")
    ok(mr.post("/carbon/factors", json={"code": "ef.grid", "year": 2026, "name": PAYLOAD, "kind": "emission_factor",
                                        "value": "0.5703", "unit": "tCO2/MWh", "source": PAYLOAD, "note": PAYLOAD}),
       201)
    src = ok(mr.post("/registers/emission_source", json={"name": PAYLOAD, "facility": PAYLOAD,
                                                          "source_category": "purchased_electricity",
                                                          "department": "ENE"}), 201)
    ok(mr.client.put(f"/api/v1/carbon/methods/{src['id']}", headers=mr.headers,
                     json={"method": "electricity", "unit": "MWh", "factors": {"emission_factor": "ef.grid"}}))
    res = ok(api("staff_ene").post("/carbon/activity", json={
        "emission_source": src["id"], "period": "2026-03", "quantity": "500", "unit": "MWh",
        "data_source": "meter", "note": PAYLOAD}), 201)
    result_id = res["result"]["id"] if "result" in res else res["id"]
    return [("mr", "/carbon/activity?period=2026-03"), ("mr", f"/carbon/results/{result_id}"),
            ("mr", "/carbon/factors")]


def asset_names(api, app, org):
    mr = api("mr")
    ok(mr.post("/assets/accounts", json={"code": "REG", "name": PAYLOAD, "kind": "registry", "institution": PAYLOAD,
                                         "number": PAYLOAD}), 201)
    ok(mr.post("/assets/lots", json={"asset_type": "ccer", "code": "CCER-X", "name": PAYLOAD, "methodology": PAYLOAD,
                                     "vintage": 2024, "serial_prefix": "CCER-", "serial_start": 1,
                                     "serial_end": 10}), 201)
    return [("mr", "/assets/register"), ("mr", "/assets/transactions")]


def user_full_name(api, app, org):
    with app.app_context(), session_scope() as s:
        create_user(s, "xss_user", PASSWORD, "staff", "ENE", full_name=PAYLOAD)
    doc = ok(api("xss_user").post("/documents", json={"title": "排放监测程序", "doc_type": "procedure",
                                                       "department": "ENE", "template": "procedure",
                                                       "fields": PROCEDURE_FIELDS, "clauses": []}), 201)
    return [("admin", "/admin/users"), ("xss_user", "/"), ("mr", f"/documents/{doc['id']}")]


def search_echo(api, app, org):
    """The query is echoed in the search box and the results; an indexed title and body come back as hits."""
    a = api("staff_ene")
    ok(a.post("/documents", json={"title": f"排放监测程序 {PAYLOAD}", "doc_type": "procedure", "department": "ENE",
                                  "template": "procedure", "fields": {**PROCEDURE_FIELDS, "purpose": PAYLOAD},
                                  "clauses": []}), 201)
    return [("staff_ene", "/search/?q=" + PAYLOAD.replace("<", "%3C").replace(">", "%3E").replace("'", "%27")
             .replace('"', "%22").replace(" ", "+")), ("staff_ene", "/search/?q=排放监测程序")]


def flash_message(api, app, org):
    """A refused filter echoes the typed value in the flashed error message."""
    return [("mr", "/assets/transactions?account=" + PAYLOAD.replace("<", "%3C").replace(">", "%3E")
             .replace("'", "%27").replace('"', "%22").replace(" ", "+"))]


CASES = [document, nonconformity, task_comment, audit_programme, audit_finding, review, register_rows,
         compliance_obligation, carbon_note, asset_names, user_full_name, search_echo, flash_message]


@pytest.mark.parametrize("store", CASES, ids=[c.__name__ for c in CASES])
def test_typed_script_is_shown_as_text_on_every_page_that_renders_it(app, api, org, store):
    pages = store(api, app, org)
    ids = dict(org)
    with app.app_context(), session_scope() as s:
        from sqlmodel import select

        from cmsflow.auth.models import User

        ids.update({u.username: u.id for u in s.exec(select(User))})
    for viewer, path in pages:
        res = signed_in(app, ids[viewer]).get(path, follow_redirects=True)
        assert res.status_code == 200, (path, res.status_code)
        assert_shown_as_text(res.get_data(as_text=True), f"{viewer} {path}")


def test_search_snippets_mark_the_hits_inside_escaped_text(app, api, org):
    """The snippet is the one piece of HTML built in code (``search.backend.snippet``): the text around each
    ``<mark>`` must be escaped first, on the page and in the API answer."""
    search_echo(api, app, org)
    html = signed_in(app, org["staff_ene"]).get("/search/?q=alert").get_data(as_text=True)
    snippet = html[html.index('<div class="snippet">'):]
    assert '&lt;script&gt;<mark class="hit">alert</mark>(1)&lt;/script&gt;' in snippet
    scan = _Scan()
    scan.feed(html)
    assert not scan.handlers and not scan.injected
    hits = ok(api("staff_ene").get("/search?q=alert"))["results"]
    assert hits and all("<script" not in h["snippet"] and "<img" not in h["snippet"] for h in hits)
