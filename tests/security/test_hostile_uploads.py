"""Hostile uploads on every upload path (Word documents, register and activity imports, evidence attachments):
each is refused with a clear Chinese message and a stable code, and nothing is stored (no row, no file).

Issue 9 item 3; OWASP ASVS 12.1.1–12.1.3, 12.2.1, 12.3.1, 5.5.2 (XXE). The files are built in ``hostile.py``.
"""
from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from sqlmodel import func, select

from cmsflow.core.db import session_scope
from cmsflow.core.storage import StoredFile
from tests.carbon.test_accounting import plant  # noqa: F401 - fixture
from tests.conftest import signed_in
from tests.security import hostile

DOCX_EXPECTED = {
    "zip_bomb_total": "zip_bomb", "zip_bomb_ratio": "zip_bomb", "zip_bomb_many_small": "zip_bomb",
    "zip_bomb_one_member": "zip_bomb", "lying_zip_header": "corrupt_file",
    "too_many_members": "zip_bomb", "zip_slip_member": "unsafe_archive", "vba_project": "macro_document",
    "docm_renamed": "macro_document", "activex_control": "macro_document", "xxe_document": "xml_dtd",
    "billion_laughs": "xml_dtd", "xxe_content_types": "xml_dtd", "xxe_relationships": "xml_dtd",
    "exe_renamed": "not_docx", "pdf_renamed": "not_docx", "truncated_zip": "not_docx", "xlsx_renamed": "not_docx",
    "traversal_name": "unsafe_filename", "absolute_name": "unsafe_filename",
    "windows_traversal_name": "unsafe_filename", "nul_byte_name": "unsafe_filename",
    "rtl_override_name": "unsafe_filename",
}
IMPORT_EXPECTED = {
    "zip_bomb_total": "zip_bomb", "zip_bomb_ratio": "zip_bomb", "xlsm_renamed": "macro_document",
    "xxe_sheet": "xml_dtd", "billion_laughs": "xml_dtd", "exe_renamed": "unsupported_file",
    "docx_renamed": "unsupported_file", "traversal_name": "unsafe_filename", "nul_byte_name": "unsafe_filename",
    "binary_csv": "unsupported_file",
}
ATTACHMENT_EXPECTED = {
    "exe_as_pdf": "attachment_type", "html_as_png": "attachment_type", "exe_as_jpg": "attachment_type",
    "zip_bomb_docx": "zip_bomb", "docm_renamed": "macro_document", "xxe_docx": "xml_dtd",
    "traversal_name": "unsafe_filename", "nul_byte_name": "unsafe_filename",
}
ACTIVITY_HEADER = ("排放源", "月份", "数量", "单位", "数据来源")


def _risk_header() -> tuple:
    from cmsflow.registers.specs import SPECS
    from cmsflow.registers.transfer import _headers

    return tuple(_headers(SPECS["risk"]))


def _case(cases, case_id: str) -> tuple[str, bytes]:
    return next((name, data) for cid, name, data in cases if cid == case_id)


def _store(app) -> tuple[set, int]:
    """The blobs on disk and the StoredFile rows: compared before and after a refused upload."""
    files = {p.name for p in Path(app.config["FILES_DIR"]).rglob("*") if p.is_file()}
    with app.app_context(), session_scope() as s:
        return files, s.exec(select(func.count()).select_from(StoredFile)).one()


def _refused_json(res, code: str) -> None:
    assert res.status_code in (400, 413), (res.status_code, res.get_data(as_text=True)[:300])
    err = res.get_json()["error"]
    assert err["code"] == code, err
    assert re.search(r"[\u4e00-\u9fff]", err["message"]) and "Traceback" not in err["message"]


def _multipart(name: str, data: bytes, field: str = "file", **extra) -> dict:
    return {"data": {field: (io.BytesIO(data), name), **extra}, "content_type": "multipart/form-data"}


@pytest.mark.parametrize("case_id", list(DOCX_EXPECTED))
def test_hostile_docx_version_upload_is_refused_and_nothing_stored(app, new_procedure, case_id):
    staff, doc = new_procedure()
    before, store = staff.get(f"/documents/{doc['id']}").get_json(), _store(app)
    name, data = _case(hostile.docx_cases(), case_id)
    res = staff.post(f"/documents/{doc['id']}/versions", **_multipart(name, data))
    _refused_json(res, DOCX_EXPECTED[case_id])
    assert staff.get(f"/documents/{doc['id']}").get_json() == before
    assert _store(app) == store


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token"[^>]*value="([^"]+)"', html).group(1)


@pytest.mark.parametrize("case_id", list(DOCX_EXPECTED))
def test_hostile_docx_new_document_page_is_refused_and_nothing_stored(app, org, case_id):
    from cmsflow.documents.models import Document

    client = signed_in(app, org["staff_ene"])
    token = _csrf(client.get("/documents/new-upload").get_data(as_text=True))
    store = _store(app)
    name, data = _case(hostile.docx_cases(), case_id)
    res = client.post("/documents/new-upload", **_multipart(name, data, field="up-file", csrf_token=token,
                                                               title="上传的程序", doc_type="procedure",
                                                               department="ENE"))
    html = res.get_data(as_text=True)
    assert res.status_code == 400 and 'class="flash error"' in html and "Traceback" not in html
    assert _store(app) == store
    with app.app_context(), session_scope() as s:
        assert s.exec(select(func.count()).select_from(Document)).one() == 0


@pytest.mark.parametrize("case_id", list(IMPORT_EXPECTED))
def test_hostile_register_import_is_refused_and_nothing_stored(app, api, case_id):
    mr = api("mr")
    store = _store(app)
    name, data = _case(hostile.xlsx_cases(_risk_header()), case_id)
    res = mr.post("/registers/risk/import", **_multipart(name, data))
    _refused_json(res, IMPORT_EXPECTED[case_id])
    assert mr.get("/registers/risk").get_json()["records"] == []
    assert _store(app) == store


@pytest.mark.parametrize("case_id", list(IMPORT_EXPECTED))
def test_hostile_activity_import_is_refused_and_nothing_stored(app, api, case_id):
    staff = api("staff_ene")
    store = _store(app)
    name, data = _case(hostile.xlsx_cases(ACTIVITY_HEADER), case_id)
    res = staff.post("/carbon/activity/import", **_multipart(name, data))
    _refused_json(res, IMPORT_EXPECTED[case_id])
    assert _store(app) == store


def test_hostile_register_import_page_shows_the_reason(app, org):
    client = signed_in(app, org["mr"])
    token = _csrf(client.get("/registers/risk/").get_data(as_text=True))
    name, data = _case(hostile.xlsx_cases(_risk_header()), "xlsm_renamed")
    res = client.post("/registers/risk/import", **_multipart(name, data, csrf_token=token))
    html = res.get_data(as_text=True)
    assert res.status_code == 400 and "宏" in html and "Traceback" not in html


@pytest.fixture
def activity(api, plant):  # noqa: F811 - the imported fixture
    staff = api("staff_ene")
    res = staff.post("/carbon/activity", json={"emission_source": "净购入电力", "period": "2026-03",
                                               "quantity": "500000", "unit": "kWh", "data_source": "invoice"})
    assert res.status_code == 201, res.get_json()
    return staff, res.get_json()["id"]


@pytest.mark.parametrize("case_id", list(ATTACHMENT_EXPECTED))
def test_hostile_evidence_attachment_is_refused_and_nothing_stored(app, activity, case_id):
    staff, aid = activity
    store = _store(app)
    name, data = _case(hostile.attachment_cases(), case_id)
    res = staff.post(f"/carbon/activity/{aid}/evidence", **_multipart(name, data))
    _refused_json(res, ATTACHMENT_EXPECTED[case_id])
    assert staff.get(f"/carbon/activity/{aid}/evidence").status_code == 404
    assert _store(app) == store


def test_request_over_max_content_length_is_413_with_a_message(app, new_procedure):
    """The configured MAX_CONTENT_LENGTH (MAX_UPLOAD_BYTES + 1 MB) stops the request before it is read."""
    assert app.config["MAX_CONTENT_LENGTH"] == app.config["MAX_UPLOAD_BYTES"] + 1024 * 1024
    staff, doc = new_procedure()
    store = _store(app)
    body = b"PK\x03\x04" + b"\0" * app.config["MAX_CONTENT_LENGTH"]
    res = staff.post(f"/documents/{doc['id']}/versions", **_multipart("大文件.docx", body))
    _refused_json(res, "file_too_large")
    assert "21 MB" in res.get_json()["error"]["message"]
    page = signed_in(app, staff_id(app, "staff_ene")).post("/documents/new-upload",
                                                          **_multipart("大文件.docx", body, field="up-file"))
    assert page.status_code == 413 and "上传的文件过大" in page.get_data(as_text=True)
    assert _store(app) == store


def test_uncompressed_size_limit(app, new_procedure, monkeypatch):
    """Incompressible content over UPLOAD_MAX_UNCOMPRESSED_BYTES is refused on the declared total alone."""
    staff, doc = new_procedure()
    monkeypatch.setitem(app.config, "UPLOAD_MAX_UNCOMPRESSED_BYTES", 1024 * 1024)
    data = hostile.rezip(hostile.base_docx(), add={"word/media/photo.bin": hostile.random.randbytes(1536 * 1024)})
    res = staff.post(f"/documents/{doc['id']}/versions", **_multipart("a.docx", data))
    _refused_json(res, "zip_bomb")
    assert "解压后大小超过 1 MB" in res.get_json()["error"]["message"]


def staff_id(app, username: str) -> int:
    from cmsflow.auth.models import User

    with app.app_context(), session_scope() as s:
        return s.exec(select(User.id).where(User.username == username)).one()


def test_docx_over_the_upload_limit_is_refused(app, new_procedure, monkeypatch):
    """Under MAX_CONTENT_LENGTH but over MAX_UPLOAD_BYTES: 400 ``file_too_large``, nothing stored."""
    staff, doc = new_procedure()
    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES", 2000)
    store = _store(app)
    _refused_json(staff.post(f"/documents/{doc['id']}/versions", **_multipart("a.docx", hostile.base_docx())),
                  "file_too_large")
    assert _store(app) == store


def test_import_over_its_limit_is_refused(app, api, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_IMPORT_BYTES", 2000)
    res = api("staff_ene").post("/carbon/activity/import",
                                **_multipart("a.xlsx", hostile.base_xlsx(ACTIVITY_HEADER)))
    _refused_json(res, "file_too_large")


def test_attachment_over_the_limit_is_refused(app, activity, monkeypatch):
    staff, aid = activity
    monkeypatch.setitem(app.config, "MAX_UPLOAD_BYTES", 2000)
    store = _store(app)
    _refused_json(staff.post(f"/carbon/activity/{aid}/evidence", **_multipart("a.pdf", b"%PDF-1.4" + b" " * 3000)),
                  "file_too_large")
    assert _store(app) == store


def test_ordinary_files_still_pass(app, activity):
    """The checks refuse hostile files only: a Word document, a workbook, a CSV and a PDF are accepted."""
    staff, aid = activity
    ok = staff.post(f"/carbon/activity/{aid}/evidence", **_multipart("2026-03 电费结算单.pdf", b"%PDF-1.4 invoice"))
    assert ok.status_code == 201, ok.get_json()
    res = staff.post("/carbon/activity/import", **_multipart("四月.xlsx", hostile.base_xlsx(ACTIVITY_HEADER)))
    assert res.status_code == 201, res.get_json()
    res = staff.post("/carbon/activity/import", **_multipart("四月.csv", ",".join(ACTIVITY_HEADER).encode("utf-8-sig")))
    assert res.status_code == 201, res.get_json()
    ok = staff.post(f"/carbon/activity/{aid}/evidence", **_multipart("证据.docx", hostile.base_docx()))
    assert ok.status_code == 201, ok.get_json()


@pytest.mark.parametrize("name", ["../x.pdf", "..", "/etc/x.pdf", "C:\\x.pdf", "C:x.pdf", "\\\\server\\share\\x.pdf",
                                  "a\x00.pdf", "a\u202egpj.pdf", "a\nb.pdf", "x" * 201 + ".pdf", " "])
def test_unsafe_file_names_are_refused(name):
    from cmsflow.core.uploads import UploadRefused, clean_filename

    with pytest.raises(UploadRefused) as exc:
        clean_filename(name)
    assert exc.value.code == "unsafe_filename" and "未保存" in exc.value.message


def test_ordinary_chinese_file_names_are_kept():
    from cmsflow.core.uploads import clean_filename

    assert clean_filename("2026年3月 电费结算单（盖章）v1.2.pdf") == "2026年3月 电费结算单（盖章）v1.2.pdf"
