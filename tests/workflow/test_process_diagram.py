"""The process diagram of an item: drawn from the BPMN version the instance runs on, with the completed path,
the current step and its holder, through the corrective-action loop; the workflow definitions page."""
from __future__ import annotations

import re
import shutil
from datetime import timedelta

import pytest
import time_machine

from cmsflow.core.db import utcnow
from cmsflow.workflow import diagram, engine
from tests.conftest import signed_in
from tests.nonconformities.test_corrective_action_api import raise_nc, run_to_implementation, step


def _element(html: str, element_id: str) -> str:
    """The opening tag of a step's link in the inline SVG."""
    m = re.search(rf'<a href="#wf-step-{element_id}" class="([^"]*)" data-element="{element_id}">', html)
    assert m, f"{element_id} not drawn"
    return m.group(1)


def _flow(html: str, flow_id: str) -> str:
    m = re.search(rf'<g class="([^"]*)" data-flow="{flow_id}">', html)
    assert m, f"{flow_id} not drawn"
    return m.group(1)


def _second_round(app, api, nc):
    run_to_implementation(api, nc)
    with time_machine.travel(utcnow() + timedelta(days=31), tick=False):
        from cmsflow.cli import worker_pass

        with app.app_context():
            worker_pass()
        res = step(api("auditor"), nc["id"], "verification", decision="not_effective", comment="仍有2天未复核")
    assert res.status_code == 200 and res.get_json()["cycle"] == 2


def test_a_nonconformity_in_its_second_cause_analysis_round_shows_the_loop(app, api, org):
    nc = raise_nc(api)
    _second_round(app, api, nc)
    html = signed_in(app, org["head_prd"]).get(f"/nonconformities/{nc['id']}").get_data(as_text=True)
    assert "<svg" in html and "流程进度" in html
    assert "wf-current" in _element(html, "cause_analysis")  # current again, in its second round
    for done in ("accept", "correction", "action_plan", "implementation", "verification"):
        assert "wf-completed" in _element(html, done), done
    assert "wf-pending" in _element(html, "close_effective")
    assert "wf-taken" in _flow(html, "flow_not_effective")  # the loop back was taken …
    assert "wf-taken" not in _flow(html, "flow_effective")  # … and not the way to closure
    # who holds the current step, in its tooltip, and its history row the diagram links to
    title = re.search(r'data-element="cause_analysis"><title>([^<]*)</title>', html).group(1)
    assert "当前步骤" in title and "STAFF_PRD" in title
    assert 'id="wf-step-cause_analysis"' in html and 'id="wf-step-verification"' in html
    assert "仍有2天未复核" in html  # the verifier's comment in the step history


def test_an_old_instance_keeps_its_diagram_when_the_workflow_file_changes(app, api, org, tmp_path, monkeypatch):
    old = raise_nc(api)
    changed = tmp_path / "workflows"
    shutil.copytree(app.config["WORKFLOWS_DIR"], changed)
    path = changed / "corrective_action.bpmn"
    path.write_text(path.read_text(encoding="utf-8").replace('name="原因分析"', 'name="根本原因分析（新版）"'),
                    encoding="utf-8")
    monkeypatch.setitem(app.extensions, "cmsflow_workflows", engine.load_definitions(changed))
    new = raise_nc(api, title="新流程版本下提出的不符合项")

    client = signed_in(app, org["mr"])
    old_html = client.get(f"/nonconformities/{old['id']}").get_data(as_text=True)
    new_html = client.get(f"/nonconformities/{new['id']}").get_data(as_text=True)
    assert "根本原因分析（新版）" not in old_html and ">原因分析<" in old_html
    assert "wf-current" in _element(old_html, "accept")
    assert "流程文件此后已修改" in old_html
    assert "根本原因分析（新版）" in new_html and "流程文件此后已修改" not in new_html
    assert "wf-current" in _element(new_html, "accept")

    page = client.get("/tasks/processes/corrective_action").get_data(as_text=True)
    assert page.count("查看流程图") == 2  # two stored versions, one instance each
    assert re.search(r"<td>1</td><td>0</td>", page)


def test_the_definitions_page_lists_every_workflow_for_the_management_representative(app, api, org):
    raise_nc(api)
    page = signed_in(app, org["mr"]).get("/tasks/processes").get_data(as_text=True)
    for name in ("corrective_action.bpmn", "document_approval.bpmn", "management_review.bpmn"):
        assert name in page
    detail = signed_in(app, org["admin"]).get("/tasks/processes/document_approval")
    assert detail.status_code == 200 and "<svg" in detail.get_data(as_text=True)
    assert signed_in(app, org["staff_ene"]).get("/tasks/processes").status_code == 403
    assert signed_in(app, org["mr"]).get("/tasks/processes/no_such_process").status_code == 404
    assert signed_in(app, org["mr"]).get("/tasks/processes/document_approval?version=999").status_code == 404


def test_the_diagram_escapes_names_and_refuses_a_file_without_a_diagram(app):
    text = (app.config["WORKFLOWS_DIR"] + "/document_approval.bpmn")
    raw = open(text, encoding="utf-8").read()
    hostile = re.sub(r'(<bpmn:userTask id="[^"]+" name=")[^"]*"', r'\1&lt;script&gt;alert(1)&lt;/script&gt;"', raw,
                     count=1)
    assert hostile != raw
    svg = str(diagram.render_svg(diagram.parse(hostile)))
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    with pytest.raises(diagram.DiagramError):
        diagram.parse("<not-bpmn")
    with pytest.raises(diagram.DiagramError):
        diagram.parse('<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL"/>')
