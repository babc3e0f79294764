"""The clause library loads and validates; coverage shows evidence and gaps; unknown clauses are refused."""
from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from cmsflow.standards.library import DATA_DIR, ClauseLibraryError, load_library, load_standard
from tests.conftest import PASSWORD, signed_in

SEED_CODES = {"DB44T1944", "TCECAG", "CNMS", "DB14T2970", "TCIECCPA"}


def test_the_shipped_library_passes_its_own_validation():
    library = load_library(DATA_DIR)
    assert set(library) == SEED_CODES
    db44 = library["DB44T1944"]
    for top in map(str, range(4, 11)):
        assert top in db44.clauses, top
    audit = db44.clauses["9.3"]
    assert "TCECAG:10.2" in audit.equivalents
    # equivalences are symmetric
    for std in library.values():
        for clause in std.clauses.values():
            for ref in clause.equivalents:
                code, _, number = ref.partition(":")
                assert clause.ref in library[code].clauses[number].equivalents, (clause.ref, ref)


def _write(tmp_path, name, body):
    path = tmp_path / f"{name}.yaml"
    path.write_text(body, encoding="utf-8")
    return path


def test_duplicate_numbers_fail_with_file_and_line(tmp_path):
    path = _write(tmp_path, "X", 'code: X\nclauses:\n  - number: "4"\n    title: 组织环境\n'
                                 '  - number: "4"\n    title: 重复\n')
    with pytest.raises(ClauseLibraryError, match=r"X.yaml:5: duplicate clause number 4"):
        load_standard(path)


def test_missing_parent_fails_with_file_and_line(tmp_path):
    path = _write(tmp_path, "X", 'code: X\nclauses:\n  - number: "4.1"\n    parent: "4"\n    title: 理解组织\n')
    with pytest.raises(ClauseLibraryError, match=r"X.yaml:3: .*parent 4 does not exist"):
        load_standard(path)


def test_unknown_equivalent_fails(tmp_path):
    _write(tmp_path, "X", 'code: X\nclauses:\n  - number: "9"\n    title: 绩效评价\n    equivalents: ["Y:9"]\n')
    with pytest.raises(ClauseLibraryError, match=r"equivalent Y:9 does not exist"):
        load_library(tmp_path)


def test_bad_documented_information_value_fails(tmp_path):
    path = _write(tmp_path, "X", 'code: X\nclauses:\n  - number: "7"\n    title: 支持\n'
                                 '    documented_information: sometimes\n')
    with pytest.raises(ClauseLibraryError, match=r"X.yaml:3: documented_information"):
        load_standard(path)


def test_unknown_clause_link_is_refused(api):
    res = api("staff_ene").post("/documents", json={
        "title": "x", "doc_type": "procedure", "department": "ENE", "template": "procedure",
        "fields": {"purpose": "a", "scope": "b", "responsibilities": ["c"], "steps": ["d"]},
        "clauses": ["DB44T1944:99.9"]})
    assert res.status_code == 400
    err = res.get_json()["error"]
    assert err["code"] == "unknown_clause" and "DB44T1944:99.9" in err["message"]


def _effective_doc(api, clauses):
    staff = api("staff_ene")
    res = staff.post("/documents", json={
        "title": "文件和记录控制程序", "doc_type": "procedure", "department": "ENE", "template": "procedure",
        "fields": {"purpose": "a", "scope": "b", "responsibilities": ["c"], "steps": ["d"]}, "clauses": clauses})
    doc = res.get_json()
    staff.post(f"/documents/{doc['id']}/submit")
    for user, name in (("head_ene", "review"), ("mr", "mr_approval")):
        a = api(user)
        t = [t for t in a.get("/tasks").get_json()["tasks"] if t["name"] == name][0]
        a.post(f"/tasks/{t['id']}/complete", json={"decision": "approve", "password": PASSWORD})
    return doc


def test_coverage_lists_every_clause_with_evidence_and_gaps(app, api):
    doc = _effective_doc(api, ["DB44T1944:7.5"])
    body = api("auditor").get("/standards/DB44T1944/coverage").get_json()
    by_ref = {c["ref"]: c for c in body["clauses"]}
    library = app.extensions["cmsflow_clause_library"]["DB44T1944"]
    assert set(by_ref) == {c.ref for c in library.clauses.values()}
    assert [e["id"] for e in by_ref["DB44T1944:7.5"]["evidence"]] == [doc["id"]]
    required = [c for c in body["clauses"] if c["documented_information"]]
    assert required and all(c["gap"] == (not c["evidence"]) for c in required)
    assert body["summary"]["gaps"] == len([c for c in required if not c["evidence"]])
    assert body["summary"]["gaps"] > 0


def test_evidence_counts_through_equivalent_clauses(app, api):
    library = app.extensions["cmsflow_clause_library"]
    target = library["DB44T1944"].clauses["7.5"]
    equivalent = next(e for e in target.equivalents if e.startswith("TCECAG:"))
    doc = _effective_doc(api, [equivalent])
    body = api("mr").get("/standards/DB44T1944/coverage").get_json()
    row = next(c for c in body["clauses"] if c["ref"] == "DB44T1944:7.5")
    assert [(e["id"], e["via"]) for e in row["evidence"]] == [(doc["id"], equivalent)]


def test_drafts_are_not_evidence(api):
    api("staff_ene").post("/documents", json={
        "title": "草稿", "doc_type": "procedure", "department": "ENE", "template": "procedure",
        "fields": {"purpose": "a", "scope": "b", "responsibilities": ["c"], "steps": ["d"]},
        "clauses": ["DB44T1944:7.5"]})
    body = api("mr").get("/standards/DB44T1944/coverage").get_json()
    assert next(c for c in body["clauses"] if c["ref"] == "DB44T1944:7.5")["evidence"] == []


def test_coverage_export_matches_the_view(app, api, org):
    _effective_doc(api, ["DB44T1944:7.5"])
    res = signed_in(app, org["mr"]).get("/standards/DB44T1944/coverage.xlsx")
    assert res.status_code == 200
    ws = load_workbook(io.BytesIO(res.data)).active
    rows = list(ws.iter_rows(min_row=3, values_only=True))
    body = api("mr").get("/standards/DB44T1944/coverage").get_json()
    assert len(rows) == len(body["clauses"])
    statuses = {r[0].strip("　"): r[6] for r in rows}
    for c in body["clauses"]:
        expected = "缺口" if c["gap"] else ("已覆盖" if c["evidence"] else "—")
        assert statuses[c["number"]] == expected


def test_applicable_standards_are_chosen_by_admin_or_mr(api):
    assert api("staff_ene").client.put("/api/v1/standards/applicable", json={"codes": ["DB44T1944"]},
                                       headers=api("staff_ene").headers).status_code == 403
    mr = api("mr")
    res = mr.client.put("/api/v1/standards/applicable", json={"codes": ["DB44T1944", "TCECAG"]}, headers=mr.headers)
    assert res.status_code == 200
    flags = {s["code"]: s["applicable"] for s in mr.get("/standards").get_json()}
    assert flags["DB44T1944"] and flags["TCECAG"] and not flags["CNMS"]
    res = mr.client.put("/api/v1/standards/applicable", json={"codes": ["NOPE"]}, headers=mr.headers)
    assert res.status_code == 404
