"""The inbox, the home page and the task page name what a task is about (code and title), not "文件 #1"."""
from __future__ import annotations

from tests.conftest import signed_in


def test_inbox_home_and_task_page_name_the_document(app, api, org, new_procedure):
    a, doc = new_procedure(title="温室气体排放监测管理程序")
    assert a.post(f"/documents/{doc['id']}/submit").status_code == 200
    client = signed_in(app, org["head_ene"])
    name = f"{doc['code']} 温室气体排放监测管理程序"
    inbox = client.get("/tasks/").get_data(as_text=True)
    assert name in inbox and f"#{doc['id']}<" not in inbox
    assert name in client.get("/").get_data(as_text=True)
    task_id = api("head_ene").get("/tasks").get_json()["tasks"][0]["id"]
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    assert name in page and f'href="/documents/{doc["id"]}"' in page


def test_the_document_activity_log_reads_in_words(app, api, org, new_procedure):
    a, doc = new_procedure()
    assert a.post(f"/documents/{doc['id']}/submit").status_code == 200
    head = api("head_ene")
    task = head.get("/tasks").get_json()["tasks"][0]
    assert head.post(f"/tasks/{task['id']}/complete", json={"decision": "approve", "password": "correct-horse-9",
                                                            "comment": "同意发布"}).status_code == 200
    page = signed_in(app, org["mr"]).get(f"/documents/{doc['id']}").get_data(as_text=True)
    assert "签名含义：审核" in page and "意见：同意发布" in page
    assert "task=" not in page and "sha256=" not in page
