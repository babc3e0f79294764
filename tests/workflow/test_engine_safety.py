"""The engine: restricted expressions, whitelisted services, validated BPMN, specs stored once."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlmodel import select

from cmsflow.core.db import session_scope
from cmsflow.workflow import services
from cmsflow.workflow.engine import WorkflowDefinitionError, load_definitions
from cmsflow.workflow.models import ProcessInstance, ProcessSpec
from cmsflow.workflow.restricted import RestrictedEnvironment, ScriptError

ROOT = Path(__file__).resolve().parents[2]


def test_conditions_cannot_import_modules():
    env = RestrictedEnvironment()
    with pytest.raises(ScriptError):
        env.evaluate("__import__('os').system('true')", {})
    with pytest.raises(NameError):
        env.evaluate("open('/etc/passwd').read()", {})
    with pytest.raises(ScriptError):
        env.evaluate("().__class__.__bases__[0].__subclasses__()", {})


def test_conditions_evaluate_task_data():
    env = RestrictedEnvironment()
    assert env.evaluate('doc_type in ("manual", "policy")', {"doc_type": "manual"}) is True
    assert env.evaluate('review_decision == "approve"', {"review_decision": "reject"}) is False
    assert env.evaluate("len(readers)", {"readers": [1, 2, 3]}) == 3


def test_unregistered_service_is_refused():
    with pytest.raises(LookupError):
        services.call("os_system", None, {})
    assert {"publish_document", "send_reminder"} <= services.registered()


def test_broken_bpmn_file_stops_loading_with_its_name(tmp_path):
    shutil.copy(ROOT / "workflows" / "document_approval.bpmn", tmp_path)
    (tmp_path / "zz_broken.bpmn").write_text("<definitions><process id='x'>", encoding="utf-8")
    with pytest.raises(WorkflowDefinitionError, match="zz_broken.bpmn"):
        load_definitions(tmp_path)


def test_every_workflow_file_parses():
    defs = load_definitions(ROOT / "workflows")
    assert "document_approval" in defs
    assert defs["document_approval"].lanes["部门负责人"] == "department_head"


def test_spec_is_stored_once_and_instances_hold_only_state(app, api, new_procedure):
    for title in ("程序一", "程序二"):
        staff, doc = new_procedure(title=title)
        staff.post(f"/documents/{doc['id']}/submit")
    with app.app_context(), session_scope() as s:
        assert len(s.exec(select(ProcessSpec)).all()) == 1
        for inst in s.exec(select(ProcessInstance)).all():
            assert '"spec"' not in inst.state[:2000] and "serializer_version" in inst.state
