"""Import memory and time: every import (registers, carbon activity data) goes through one streaming reader that
stops at the row, column and cell limits while reading and never trusts the sheet's declared dimension — a tiny
.xlsx claiming ``A1:XFD1048576`` (which once drove a worker to 2.8 GB) is refused in well under a second with a
Chinese message, on the API (400) and on the pages (flash + the page again), and nothing is stored.

Issue 17 item 7; OWASP ASVS 4.0.3 V12.1 (upload resource limits), V5.1.4.
"""
from __future__ import annotations

import io
import re
import time
import tracemalloc
import zipfile

import pytest

from cmsflow.core.imports import read_table
from tests.carbon.test_accounting import plant  # noqa: F401 - fixture
from tests.carbon.test_pages import _xlsx
from tests.conftest import signed_in

ACTIVITY_HEADER = ["排放源", "月份", "数量", "单位", "数据来源"]
TIME_LIMIT = 1.0  # seconds
MEMORY_LIMIT = 50 * 1024 * 1024  # bytes (tracemalloc peak)


def _lying_xlsx(rows: list[list], dimension: str = "A1:XFD1048576", extra_xml: str = "") -> bytes:
    """``rows`` in a workbook whose sheet1.xml declares ``dimension`` and has ``extra_xml`` (more <row>s)
    appended to its sheetData — the hostile file of the issue when a cell sits at XFD1048576."""
    src = zipfile.ZipFile(io.BytesIO(_xlsx(rows)))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename == "xl/worksheets/sheet1.xml":
                xml = data.decode()
                xml = re.sub(r'<dimension ref="[^"]*"\s*/>', f'<dimension ref="{dimension}"/>', xml)
                xml = xml.replace("</sheetData>", extra_xml + "</sheetData>")
                data = xml.encode()
            dst.writestr(info.filename, data)
    return out.getvalue()


FAR_CELL = '<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>'
WIDE_ROW = '<row r="3"><c r="XFD3" t="inlineStr"><is><t>x</t></is></c></row>'


def _measure(fn):
    """Run ``fn`` twice → (its result or the exception it raised, seconds of the first run, tracemalloc peak
    bytes of the second: tracemalloc slows Python down several times, so time is taken without it)."""
    def run():
        try:
            return fn()
        except Exception as exc:  # noqa: BLE001 - the refusal is the result under test
            return exc

    started = time.perf_counter()
    result = run()
    seconds = time.perf_counter() - started
    tracemalloc.start()
    try:
        run()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return result, seconds, peak


def _refused(app, name: str, data: bytes, code: str, time_limit: float = TIME_LIMIT):
    with app.app_context():
        result, seconds, peak = _measure(lambda: read_table(data, name))
    print(f"\n{name} ({len(data)} bytes): {type(result).__name__} {getattr(result, 'code', '')} "
          f"in {seconds * 1000:.0f} ms, peak {peak / 1024 / 1024:.1f} MB")
    assert getattr(result, "code", None) == code, result
    assert re.search(r"[\u4e00-\u9fff]", result.message)
    assert seconds < time_limit and peak < MEMORY_LIMIT, (seconds, peak)
    return result


def test_lying_dimension_with_a_cell_at_xfd1048576_is_refused_fast_and_small(app):
    data = _lying_xlsx([ACTIVITY_HEADER, ["净购入电力", "2026-01", 1, "MWh", "结算凭证"]], extra_xml=FAR_CELL)
    assert len(data) < 10 * 1024
    exc = _refused(app, "activity.xlsx", data, "too_many_rows")
    assert "5000" in exc.message


def test_lying_dimension_alone_is_ignored(app):
    """A sheet that only claims A1:XFD1048576 is read as what it really holds."""
    data = _lying_xlsx([ACTIVITY_HEADER, ["净购入电力", "2026-01", 1, "MWh", "结算凭证"]])
    with app.app_context():
        (header, rows), seconds, peak = _measure(lambda: read_table(data, "activity.xlsx"))
    print(f"\nlying dimension only: {len(rows)} row in {seconds * 1000:.0f} ms, peak {peak / 1024 / 1024:.1f} MB")
    assert header == ACTIVITY_HEADER and rows == [(2, ["净购入电力", "2026-01", 1, "MWh", "结算凭证"])]
    assert seconds < TIME_LIMIT and peak < MEMORY_LIMIT


def test_a_cell_in_column_xfd_is_refused_naming_the_column_limit(app):
    data = _lying_xlsx([ACTIVITY_HEADER, ["净购入电力", "2026-01", 1, "MWh", "结算凭证"]], extra_xml=WIDE_ROW)
    exc = _refused(app, "activity.xlsx", data, "too_many_columns")
    assert "第 3 行" in exc.message and "60" in exc.message


def test_rows_padded_with_empty_cells_at_column_xfd_are_read_fast(app):
    """5000 rows that each end in an empty styled cell at XFD: 46 KB, once 13 s of padding to 16 384 columns."""
    extra = "".join(f'<row r="{n}"><c r="A{n}" t="inlineStr"><is><t>x</t></is></c><c r="XFD{n}" s="0"/></row>'
                    for n in range(3, 5003))
    data = _lying_xlsx([ACTIVITY_HEADER, ["净购入电力"]], extra_xml=extra)
    # 5000 real rows are parsed (0.3 s alone on the test machine, 13 s when rows were padded): a looser bound
    _refused(app, "activity.xlsx", data, "too_many_rows", time_limit=3.0)


def test_more_rows_than_the_limit_is_refused_naming_the_limit(app):
    body = "\n".join(["排放源,月份,数量,单位"] + [f"净购入电力,2026-01,{i},MWh" for i in range(5001)])
    exc = _refused(app, "activity.csv", body.encode(), "too_many_rows")
    assert "5000" in exc.message and "第 5002 行" in exc.message
    rows = [ACTIVITY_HEADER] + [["净购入电力", "2026-01", i, "MWh", "结算凭证"] for i in range(5001)]
    # 5001 real rows are parsed up to the limit (about 0.6 s alone on the test machine): a looser time bound
    _refused(app, "activity.xlsx", _xlsx(rows), "too_many_rows", time_limit=5.0)


def test_exactly_the_limit_is_accepted_and_blank_rows_do_not_count(app):
    body = "\n".join(["排放源,月份,数量,单位"] + [f"净购入电力,2026-01,{i},MWh" for i in range(5000)] + [",,,"] * 50)
    with app.app_context():
        header, rows = read_table(body.encode(), "activity.csv")
    assert len(rows) == 5000 and rows[-1][0] == 5001


def test_configured_limit_applies(app):
    app.config["IMPORT_MAX_ROWS"] = 3
    try:
        body = "\n".join(["排放源,月份,数量,单位"] + ["净购入电力,2026-01,1,MWh"] * 4)
        exc = _refused(app, "activity.csv", body.encode(), "too_many_rows")
        assert "3" in exc.message
    finally:
        app.config["IMPORT_MAX_ROWS"] = 5000


def test_csv_too_many_columns_and_too_long_cells_are_refused(app):
    _refused(app, "wide.csv", ("a," * 100 + "a\n").encode(), "too_many_columns")
    _refused(app, "commas.csv", ("排放源\n" + "," * 3_000_000 + "\n").encode(), "too_many_columns")
    _refused(app, "long.csv", ("排放源\n" + "长" * 40000 + "\n").encode(), "cell_too_long")
    _refused(app, "longer.csv", ("排放源\n" + "长" * 200000 + "\n").encode(), "cell_too_long")  # over csv's own limit


@pytest.mark.parametrize("user", ["mr", "staff_ene", "head_prd", "auditor"])
def test_api_refuses_the_hostile_file_on_both_importers_whatever_the_role(app, api, plant, user):  # noqa: F811
    data = _lying_xlsx([ACTIVITY_HEADER, ["净购入电力", "2026-01", 1, "MWh", "结算凭证"]], extra_xml=FAR_CELL)
    client = api(user)
    for url in ("/carbon/activity/import", "/registers/risk/import"):
        before = client.get("/carbon/activity").get_json() if url.startswith("/carbon") else None
        started = time.perf_counter()
        res = client.post(url, content_type="multipart/form-data", data={"file": (io.BytesIO(data), "a.xlsx")})
        seconds = time.perf_counter() - started
        print(f"\n{user} {url}: {res.status_code} in {seconds * 1000:.0f} ms")
        assert res.status_code in (400, 403), res.get_data(as_text=True)[:300]
        assert seconds < TIME_LIMIT
        err = res.get_json()["error"]
        assert re.search(r"[\u4e00-\u9fff]", err["message"]) and "Traceback" not in err["message"]
        if res.status_code == 400:
            assert err["code"] == "too_many_rows"
        if before is not None:
            assert client.get("/carbon/activity").get_json() == before


def test_pages_flash_the_refusal_and_show_the_page_again(app, org, plant):  # noqa: F811
    data = _lying_xlsx([ACTIVITY_HEADER, ["净购入电力", "2026-01", 1, "MWh", "结算凭证"]], extra_xml=FAR_CELL)
    client = signed_in(app, org["mr"])
    token = _csrf(client, "/carbon/activity")
    for url in ("/carbon/activity/import", "/registers/risk/import"):
        res = client.post(url, content_type="multipart/form-data",
                          data={"file": (io.BytesIO(data), "a.xlsx"), "csrf_token": token})
        page = res.get_data(as_text=True)
        assert res.status_code == 400, page[:300]
        assert "5000" in page and "<form" in page and "Traceback" not in page


def _csrf(client, url: str) -> str:
    page = client.get(url).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', page)
    assert match, "no CSRF token on the page"
    return match.group(1)
