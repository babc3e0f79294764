"""The controlled-document lifecycle through the REST API, as the issue's 'done when' describes."""
from __future__ import annotations

import io
import shutil
import subprocess

import pytest
from docx import Document as Docx

from tests.conftest import PASSWORD


def _task(a, name):
    tasks = a.get("/tasks").get_json()["tasks"]
    matches = [t for t in tasks if t["name"] == name]
    assert matches, f"{name} not in {[t['name'] for t in tasks]}"
    return matches[0]


def _approve(a, name, password=PASSWORD, **extra):
    t = _task(a, name)
    return a.post(f"/tasks/{t['id']}/complete", json={"decision": "approve", "password": password, **extra})


def _publish(api, doc_id):
    staff = api("staff_ene")
    assert staff.post(f"/documents/{doc_id}/submit").status_code == 200
    assert _approve(api("head_ene"), "review").status_code == 200
    assert _approve(api("mr"), "mr_approval").status_code == 200
    return staff.get(f"/documents/{doc_id}").get_json()


def test_procedure_from_template_becomes_effective_with_code_and_version(api, new_procedure):
    staff, doc = new_procedure()
    assert doc["code"] == "CEMS-PR-001"
    assert doc["status"] == "draft" and doc["versions"][0]["number"] == 1

    doc = _publish(api, doc["id"])

    assert doc["status"] == "effective"
    assert doc["current_version"] == 1
    v1 = doc["versions"][0]
    assert v1["status"] == "effective" and v1["effective_date"]
    data = staff.get(f"/documents/{doc['id']}/versions/1/file").data
    text = "\n".join(p.text for s in Docx(io.BytesIO(data)).sections for p in s.header.paragraphs)
    assert "CEMS-PR-001" in text and "受控" in text and "V1" in text
    import hashlib
    assert hashlib.sha256(data).hexdigest() == v1["sha256"]


def test_signatures_record_who_when_and_meaning(app, api, new_procedure):
    _, doc = new_procedure()
    _publish(api, doc["id"])
    from cmsflow.core.db import session_scope
    from cmsflow.workflow.service import signatures_for
    with app.app_context(), session_scope() as s:
        sigs = signatures_for(s, "document", doc["id"])
        assert [(x.signer_name, x.meaning, x.decision) for x in sigs] == [
            ("HEAD_ENE", "reviewed", "approve"), ("MR", "approved", "approve")]
        assert all(x.signed_at is not None for x in sigs)


def test_every_staff_member_of_the_department_gets_a_read_acknowledgement(api, new_procedure):
    _, doc = new_procedure()
    _publish(api, doc["id"])
    for user in ("staff_ene", "staff_ene2"):
        t = _task(api(user), "read_acknowledgement")
        assert t["subject"] == {"type": "document", "id": doc["id"]}
    assert not [t for t in api("staff_prd").get("/tasks").get_json()["tasks"]
                if t["name"] == "read_acknowledgement"]
    ack = _task(api("staff_ene"), "read_acknowledgement")
    assert api("staff_ene").post(f"/tasks/{ack['id']}/complete", json={}).status_code == 200


def test_reject_returns_to_author_with_required_comment(api, new_procedure):
    staff, doc = new_procedure()
    staff.post(f"/documents/{doc['id']}/submit")
    head = api("head_ene")
    t = _task(head, "review")
    res = head.post(f"/tasks/{t['id']}/complete", json={"decision": "reject", "password": PASSWORD})
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "comment_required"
    res = head.post(f"/tasks/{t['id']}/complete",
                    json={"decision": "reject", "comment": "职责分工不清", "password": PASSWORD})
    assert res.status_code == 200
    revise = _task(staff, "revise_draft")
    assert staff.post(f"/tasks/{revise['id']}/complete", json={"comment": "已修改"}).status_code == 200
    assert _task(head, "review")["subject"]["id"] == doc["id"]


def test_manual_needs_top_management_approval(api):
    mr = api("mr")
    res = mr.post("/documents", json={
        "title": "碳排放管理手册", "doc_type": "manual", "department": "MGT", "template": "manual",
        "fields": {"foreword": "本手册依据 T/CECA-G 编制。", "scope_boundary": "公司全部生产设施。",
                   "policy_statement": "低碳发展，持续改进。", "organisation_duties": ["总经理：最高管理者"],
                   "system_elements": ["4 组织环境"], "procedure_index": ["文件和记录控制程序"]}})
    assert res.status_code == 201, res.get_json()
    doc_id = res.get_json()["id"]
    mr.post(f"/documents/{doc_id}/submit")
    head_mgt = mr  # no MGT head in the fixture org: the review task waits for a department head
    assert not [t for t in head_mgt.get("/tasks").get_json()["tasks"] if t["name"] == "review"]


def test_revision_supersedes_version_one(api, new_procedure):
    staff, doc = new_procedure()
    _publish(api, doc["id"])
    res = staff.post(f"/documents/{doc['id']}/revise", json={"change_summary": "增加余热发电扣减"})
    assert res.status_code == 201
    doc2 = res.get_json()
    assert doc2["current_version"] == 2 and doc2["versions"][1]["status"] == "draft"
    assert doc2["versions"][0]["status"] == "effective"  # v1 stays effective until v2 is approved
    doc2 = _publish(api, doc["id"])
    statuses = {v["number"]: v["status"] for v in doc2["versions"]}
    assert statuses == {1: "superseded", 2: "effective"}
    assert doc2["effective_version"] == 2


def test_wrong_role_gets_403(api, new_procedure):
    staff, doc = new_procedure()
    staff.post(f"/documents/{doc['id']}/submit")
    review = _task(api("head_ene"), "review")
    for user in ("staff_ene", "head_prd", "auditor", "mr"):
        res = api(user).post(f"/tasks/{review['id']}/complete",
                             json={"decision": "approve", "password": PASSWORD})
        assert res.status_code == 403, user
    res = api("top").post("/documents", json={"title": "x", "doc_type": "procedure", "department": "ENE",
                                              "template": "procedure", "fields": {}})
    assert res.status_code == 403
    res = api("staff_prd").post("/documents", json={"title": "x", "doc_type": "procedure",
                                                    "department": "ENE", "template": "procedure"})
    assert res.status_code == 403


def test_wrong_signature_password_leaves_task_open(api, new_procedure):
    staff, doc = new_procedure()
    staff.post(f"/documents/{doc['id']}/submit")
    head = api("head_ene")
    res = _approve(head, "review", password="wrong-password")
    assert res.status_code == 403
    assert res.get_json()["error"]["code"] == "bad_signature"
    assert _task(head, "review")  # still open
    assert not [t for t in api("mr").get("/tasks").get_json()["tasks"] if t["name"] == "mr_approval"]


def test_completed_task_cannot_be_completed_again(api, new_procedure):
    staff, doc = new_procedure()
    staff.post(f"/documents/{doc['id']}/submit")
    head = api("head_ene")
    t = _task(head, "review")
    body = {"decision": "approve", "password": PASSWORD}
    assert head.post(f"/tasks/{t['id']}/complete", json=body).status_code == 200
    res = head.post(f"/tasks/{t['id']}/complete", json=body)
    assert res.status_code == 409


def test_renamed_exe_upload_is_refused_and_nothing_stored(app, api, new_procedure):
    staff, doc = new_procedure()
    before = staff.get(f"/documents/{doc['id']}").get_json()
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + b"\x00" * 200
    res = staff.post(f"/documents/{doc['id']}/versions", data={"file": (io.BytesIO(exe), "procedure.docx")},
                     content_type="multipart/form-data")
    assert res.status_code == 400
    assert res.get_json()["error"]["code"] == "not_docx"
    assert staff.get(f"/documents/{doc['id']}").get_json() == before
    import hashlib

    from cmsflow.core.db import session_scope
    from cmsflow.core.storage import StoredFile
    with app.app_context(), session_scope() as s:
        assert s.get(StoredFile, hashlib.sha256(exe).hexdigest()) is None
    assert not app.extensions["cmsflow_files"].path_for(hashlib.sha256(exe).hexdigest()).exists()


def test_zip_that_is_not_word_is_refused(api, new_procedure):
    staff, doc = new_procedure()
    buf = io.BytesIO()
    import zipfile
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("hello.txt", "not a word file")
    res = staff.post(f"/documents/{doc['id']}/versions", data={"file": (io.BytesIO(buf.getvalue()), "a.docx")},
                     content_type="multipart/form-data")
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "not_docx"


def test_oversized_upload_is_refused(app, api, new_procedure):
    staff, doc = new_procedure()
    old = app.config["MAX_UPLOAD_BYTES"]
    app.config["MAX_UPLOAD_BYTES"] = 1000
    try:
        res = staff.post(f"/documents/{doc['id']}/versions",
                         data={"file": (io.BytesIO(b"PK\x03\x04" + b"0" * 2000), "a.docx")},
                         content_type="multipart/form-data")
    finally:
        app.config["MAX_UPLOAD_BYTES"] = old
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "file_too_large"


def test_uploaded_docx_replaces_the_draft(api, new_procedure):
    staff, doc = new_procedure()
    d = Docx()
    d.add_paragraph("上传的新草稿：碳资产台账管理要求")
    buf = io.BytesIO()
    d.save(buf)
    res = staff.post(f"/documents/{doc['id']}/versions", data={"file": (io.BytesIO(buf.getvalue()), "新稿.docx")},
                     content_type="multipart/form-data")
    assert res.status_code == 201
    body = res.get_json()
    assert len(body["versions"]) == 1 and body["versions"][0]["source"] == "upload"
    data = staff.get(f"/documents/{doc['id']}/versions/1/file").data
    assert "碳资产台账" in "\n".join(p.text for p in Docx(io.BytesIO(data)).paragraphs)


def test_tampered_file_is_detected_on_read(app, api, new_procedure):
    staff, doc = new_procedure()
    sha = doc["versions"][0]["sha256"]
    path = app.extensions["cmsflow_files"].path_for(sha)
    path.write_bytes(path.read_bytes() + b"x")
    res = staff.get(f"/documents/{doc['id']}/versions/1/file")
    assert res.status_code == 500 and res.get_json()["error"]["code"] == "file_integrity"


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_effective_file_opens_in_libreoffice_and_shows_the_code(tmp_path, api, new_procedure):
    staff, doc = new_procedure()
    _publish(api, doc["id"])
    src = tmp_path / "doc.docx"
    src.write_bytes(staff.get(f"/documents/{doc['id']}/versions/1/file").data)
    profile = f"-env:UserInstallation=file://{tmp_path}/lo-profile"  # no clash with another soffice
    subprocess.run(["soffice", profile, "--headless", "--convert-to", "html", "--outdir", str(tmp_path), str(src)],
                   check=True, capture_output=True, timeout=180)
    html = (tmp_path / "doc.html").read_text(encoding="utf-8", errors="replace")
    assert "温室气体排放管理程序" in html
    assert "CEMS-PR-001" in html and "受控" in html  # header/footer stamp survives LibreOffice


def _docx(text: str) -> bytes:
    d = Docx()
    d.add_paragraph(text)
    buf = io.BytesIO()
    d.save(buf)
    return buf.getvalue()


def test_stale_upload_is_refused_and_keeps_the_newer_content(api, new_procedure):
    staff, doc = new_procedure()
    lock = doc["lock_version"]
    first = staff.post(f"/documents/{doc['id']}/versions", content_type="multipart/form-data",
                       data={"file": (io.BytesIO(_docx("甲的修改")), "a.docx"), "lock_version": str(lock)})
    assert first.status_code == 201
    second = staff.post(f"/documents/{doc['id']}/versions", content_type="multipart/form-data",
                        data={"file": (io.BytesIO(_docx("乙的修改")), "b.docx"), "lock_version": str(lock)})
    assert second.status_code == 409 and second.get_json()["error"]["code"] == "stale_edit"
    data = staff.get(f"/documents/{doc['id']}/versions/1/file").data
    assert "甲的修改" in "\n".join(p.text for p in Docx(io.BytesIO(data)).paragraphs)


def test_withdrawal_makes_the_document_obsolete_and_needs_the_representative(api, new_procedure):
    _, doc = new_procedure()
    _publish(api, doc["id"])
    res = api("head_ene").post(f"/documents/{doc['id']}/withdraw", json={"reason": "废止", "password": PASSWORD})
    assert res.status_code == 403
    res = api("mr").post(f"/documents/{doc['id']}/withdraw", json={"reason": "", "password": PASSWORD})
    assert res.status_code == 400
    res = api("mr").post(f"/documents/{doc['id']}/withdraw", json={"reason": "被新标准替代", "password": PASSWORD})
    assert res.status_code == 200
    body = res.get_json()
    assert body["status"] == "obsolete" and body["effective_version"] is None
    assert body["versions"][0]["status"] == "obsolete"


def test_register_filters(api, new_procedure):
    _, a = new_procedure(title="温室气体排放管理程序")
    _publish(api, a["id"])
    new_procedure(title="碳资产管理程序")
    mr = api("mr")

    def titles(**q):
        return sorted(d["title"] for d in mr.get("/documents", query_string=q).get_json()["documents"])

    assert titles() == ["温室气体排放管理程序", "碳资产管理程序"]
    assert titles(status="effective") == ["温室气体排放管理程序"]
    assert titles(status="draft") == ["碳资产管理程序"]
    assert titles(q="碳资产") == ["碳资产管理程序"]
    assert titles(department="PRD") == []
    assert titles(doc_type="manual") == []


def test_storing_the_same_content_again_repairs_a_damaged_blob(app, ctx):
    from cmsflow.core.db import session_scope
    store = app.extensions["cmsflow_files"]
    with session_scope() as s:
        sha = store.put(s, b"controlled copy", "text/plain")
    store.path_for(sha).write_bytes(b"damaged")
    with session_scope() as s:
        assert store.put(s, b"controlled copy", "text/plain") == sha
    assert store.get(sha) == b"controlled copy"
