"""``flask cmsflow verify-files`` (issue 9 item 1): every stored file re-hashed against its SHA-256; a file
altered or removed behind the application's back is named with the records that use it, exit code 1."""
from __future__ import annotations

import re

from sqlmodel import select

from cmsflow.core.db import session_scope
from cmsflow.documents.models import DocumentVersion


def _verify(app):
    return app.test_cli_runner().invoke(args=["cmsflow", "verify-files"])


def test_verify_files_names_altered_and_missing_files(app, new_procedure):
    _, first = new_procedure("温室气体排放管理程序")
    _, second = new_procedure("能源计量器具管理程序")
    ok = _verify(app)
    assert ok.exit_code == 0, ok.output
    assert "已校验 2 个文件：缺失 0 个，被改动 0 个" in ok.output
    with app.app_context(), session_scope() as s:
        rows = {v.document_id: (v.id, v.draft_sha256) for v in s.exec(select(DocumentVersion))}
    (first_row, first_sha), (second_row, second_sha) = rows[first["id"]], rows[second["id"]]
    store = app.extensions["cmsflow_files"]
    altered = store.path_for(first_sha)
    data = bytearray(altered.read_bytes())
    data[len(data) // 2] ^= 0xFF  # one byte flipped, same size, behind the application's back
    altered.write_bytes(bytes(data))
    store.path_for(second_sha).unlink()
    res = _verify(app)
    assert res.exit_code == 1
    assert f"被改动: {first_sha}（document_version#{first_row}.draft_sha256）" in res.output
    assert f"缺失: {second_sha}（document_version#{second_row}.draft_sha256）" in res.output
    assert "缺失 1 个，被改动 1 个" in res.output


def test_a_stray_file_on_disk_is_reported_but_not_an_error(app, org):
    def stray_count(output: str) -> int:
        return int(re.search(r"未登记的磁盘文件 (\d+) 个", output).group(1))

    before = _verify(app)
    store = app.extensions["cmsflow_files"]
    stray = store.path_for("ab" + "0" * 62)
    stray.parent.mkdir(parents=True, exist_ok=True)
    stray.write_bytes(b"left by a rolled-back upload")
    try:
        res = _verify(app)
        assert res.exit_code == 0 and stray_count(res.output) == stray_count(before.output) + 1
    finally:
        stray.unlink()
