"""Chinese full-text search over titles, codes and the text inside .docx files, including real
regulations imported as external documents."""
from __future__ import annotations

import shutil
from pathlib import Path

from sqlmodel import select

from cmsflow.auth.models import User
from cmsflow.core.db import session_scope
from cmsflow.documents import service as documents
from cmsflow.documents.external import law_to_docx
from cmsflow.search.service import process_outbox
from tests.conftest import PASSWORD

LAWS = Path(__file__).resolve().parents[1] / "data" / "laws"


def _results(a, q):
    res = a.get("/search", query_string={"q": q})
    assert res.status_code == 200, res.get_json()
    return res.get_json()["results"]


def _publish(api, doc_id, dept_head="head_ene"):
    api("staff_ene").post(f"/documents/{doc_id}/submit")
    for user, name in ((dept_head, "review"), ("mr", "mr_approval")):
        a = api(user)
        t = [t for t in a.get("/tasks").get_json()["tasks"] if t["name"] == name][0]
        assert a.post(f"/tasks/{t['id']}/complete",
                      json={"decision": "approve", "password": PASSWORD}).status_code == 200


def test_searching_paifang_finds_the_emission_procedure(api, new_procedure):
    _, doc = new_procedure(title="温室气体排放管理程序")
    _publish(api, doc["id"])
    hits = _results(api("staff_prd"), "排放")
    assert [h["title"] for h in hits] == ["温室气体排放管理程序"]
    assert hits[0]["url"] == f"/documents/{doc['id']}" and hits[0]["type"] == "document"


def test_text_inside_the_docx_and_the_code_are_searchable(api, new_procedure):
    _, doc = new_procedure(title="监测程序")
    _publish(api, doc["id"])
    assert _results(api("auditor"), "活动数据")[0]["id"] == doc["id"]
    assert _results(api("auditor"), doc["code"])[0]["id"] == doc["id"]
    assert _results(api("auditor"), "光伏组件回收") == []


def test_drafts_are_hidden_from_other_departments(api, new_procedure):
    _, doc = new_procedure(title="碳资产管理程序")
    assert _results(api("staff_ene2"), "碳资产") == []  # staff see their own drafts, not their colleagues'
    assert [h["id"] for h in _results(api("head_ene"), "碳资产")] == [doc["id"]]
    assert _results(api("staff_prd"), "碳资产") == []
    assert [h["id"] for h in _results(api("mr"), "碳资产")] == [doc["id"]]


def _import_law(path):
    """Import a regulation as an external document (as the demo seed does)."""
    title, data = law_to_docx(path.read_text(encoding="utf-8"))
    with session_scope() as s:
        mr = s.exec(select(User).where(User.username == "mr")).one()
        doc = documents.create_document(s, mr, title=title, doc_type="external", department="MGT",
                                        upload=(f"{title}.docx", data))
        doc_id = doc.id
    with session_scope() as s:
        process_outbox(s)
    return title, doc_id


def test_phrases_from_real_regulations_find_them(ctx, api):
    ids = {}
    for path in sorted(LAWS.glob("*.md")):
        title, doc_id = _import_law(path)
        ids[title] = doc_id
    mr = api("mr")
    cases = {
        "碳排放权交易管理暂行条例": ["重点排放单位", "碳排放配额", "注册登记机构"],
        "中华人民共和国能源法": ["能源规划", "能源储备"],
        "中华人民共和国可再生能源法": ["可再生能源发展基金", "上网电价"],
    }
    for title, phrases in cases.items():
        doc_id = next(v for k, v in ids.items() if title in k or k in title)
        for phrase in phrases:
            hits = [h["id"] for h in _results(mr, phrase)]
            assert doc_id in hits[:3], (phrase, title, hits)


def test_reindex_rebuilds_from_the_database(app, api, new_procedure):
    _, doc = new_procedure(title="温室气体排放管理程序")
    shutil.rmtree(app.config["INDEX_DIR"])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["cmsflow", "reindex"])
    assert result.exit_code == 0, result.output
    assert [h["id"] for h in _results(api("mr"), "排放")] == [doc["id"]]


def test_search_without_query_is_a_400(api, org):
    res = api("mr").get("/search")
    assert res.status_code == 400 and res.get_json()["error"]["code"] == "query_required"


def test_snippet_is_html_escaped(api, new_procedure):
    fields = {"purpose": "<script>alert(1)</script> 碳足迹核查", "scope": "全厂", "responsibilities": ["a"],
              "steps": ["b"]}
    _, doc = new_procedure(title="核查程序", fields=fields)
    hits = _results(api("mr"), "碳足迹")
    assert hits and "<script>" not in hits[0]["snippet"]


def test_snippet_shows_the_passage_of_a_long_text_where_the_query_matches(tmp_path):
    from cmsflow.search.backend import Entry, WhooshBackend

    filler = "本条款规定了企业能源计量器具的配备和管理要求。" * 120  # ~2,800 characters before the match
    body = filler + "窑尾烟气排放连续在线监测数据应当每日核对<b>并留存</b>。" + filler
    backend = WhooshBackend(tmp_path / "index")
    backend.upsert([Entry(key="law:1", type="external", id=1, title="排放监测管理办法", code="", body=body,
                          url="/x", visibility="all")], [])
    (hit,) = backend.search("在线监测")
    assert hit.snippet.startswith("…") and hit.snippet.endswith("…")
    assert '<mark class="hit">监测</mark>' in hit.snippet and "每日核对&lt;b&gt;" in hit.snippet
    assert len(hit.snippet) < 400  # a passage, not the text
    (again,) = backend.search("排放监测管理办法")  # "管理" occurs at the start: the snippet is the opening
    assert again.snippet.startswith("本条款规定")


def test_a_kept_searcher_sees_new_entries_and_a_rebuilt_index(tmp_path):
    from cmsflow.search.backend import Entry, WhooshBackend

    def entry(i, title):
        return Entry(key=f"law:{i}", type="external", id=i, title=title, code="", body=title, url="/x",
                     visibility="all")

    backend = WhooshBackend(tmp_path / "index")
    backend.upsert([entry(1, "排污许可管理条例")], [])
    assert [h.id for h in backend.search("排污许可")] == [1]
    backend.upsert([entry(2, "排污许可证申请与核发")], [])  # a commit after the searcher was opened
    assert sorted(h.id for h in backend.search("排污许可")) == [1, 2]
    other = WhooshBackend(tmp_path / "index")  # another worker process deletes one
    other.upsert([], ["law:1"])
    assert [h.id for h in backend.search("排污许可")] == [2]
    other.rebuild([entry(3, "排污许可管理办法")])  # the directory is replaced
    assert [h.id for h in backend.search("排污许可")] == [3]
