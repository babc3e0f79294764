"""Home dashboard, notifications and the language switch."""
from __future__ import annotations

from datetime import date

from flask import Blueprint, redirect, render_template, request, session
from flask_babel import gettext
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlmodel import select

from cmsflow.core.db import db_session, utcnow
from cmsflow.core.urls import safe_next
from cmsflow.documents.models import DOC_TYPES, VERSION_STATUSES, Document
from cmsflow.documents.service import clause_label
from cmsflow.web.setup import commit
from cmsflow.workflow import service as workflow
from cmsflow.workflow import subjects
from cmsflow.workflow.assignment import inbox_filter
from cmsflow.workflow.models import HumanTask, Notification
from cmsflow.workflow.views import subject_url

blueprint = Blueprint("web", __name__, template_folder="templates", static_folder="static",
                      static_url_path="/static/web")

ROLE_LABELS = {
    "top_management": _l("最高管理者"), "management_representative": _l("管理者代表"),
    "internal_auditor": _l("内审员"), "department_head": _l("部门负责人"), "staff": _l("部门人员"),
    "admin": _l("系统管理员"),
}
ACTION_LABELS = {
    "document_created": _l("创建文件"), "document_submitted": _l("提交审批"), "process_started": _l("启动流程"),
    "task_approve": _l("同意"), "task_reject": _l("退回"), "task_completed": _l("完成任务"),
    "document_published": _l("发布生效"), "revision_started": _l("开始修订"), "file_uploaded": _l("上传文件"),
    "draft_edited": _l("编辑草稿"), "document_withdrawn": _l("作废"), "signed_in": _l("登录"),
    "nonconformity_raised": _l("提出不符合项"), "nonconformity_closed": _l("关闭不符合项"),
    "nonconformity_withdrawn": _l("撤销不符合项"), "task_accept": _l("确认不符合"), "task_dispute": _l("提出异议"),
    "task_uphold": _l("裁定维持"), "task_withdraw": _l("裁定撤销"), "task_effective": _l("验证有效"),
    "task_not_effective": _l("验证无效"),
    "programme_created": _l("编制审核方案"), "audit_planned": _l("加入审核"), "programme_approved": _l("批准审核方案"),
    "audit_plan_set": _l("确定审核计划"), "audit_notice_sent": _l("发送审核通知"),
    "finding_recorded": _l("记录审核发现"),
    "audit_report_drafted": _l("编写审核报告"), "audit_report_distributed": _l("分发审核报告"),
    "audit_closed": _l("关闭审核"),
    "review_opened": _l("发起管理评审"), "review_inputs_prepared": _l("完成评审输入"),
    "review_inputs_refreshed": _l("重新汇总评审输入"), "review_outputs_recorded": _l("记录评审输出"),
    "review_minutes_issued": _l("发布管理评审报告"), "review_action_done": _l("完成评审措施"),
    "review_schedule_set": _l("设定评审周期"), "task_record": _l("记录评审输出"), "task_return": _l("退回"),
    "evaluation_started": _l("发起合规性评价"), "obligation_evaluated": _l("评价合规性"),
    "task_confirm": _l("确认评价结果"), "evaluation_closed": _l("完成合规性评价"),
    "process_cancelled": _l("流程取消"),
    "login_failed": _l("登录失败"), "account_locked": _l("账户锁定"), "account_unlocked": _l("账户解锁"),
    "password_changed": _l("修改密码"), "password_reset": _l("重置密码"), "user_changed": _l("变更用户角色或状态"),
    "token_issued": _l("签发 API 令牌"), "token_revoked": _l("撤销 API 令牌"),
    "record_created": _l("新增记录"), "record_updated": _l("修改记录"), "baseline_adjusted": _l("调整基准"),
    "asset_account_opened": _l("开立碳资产账户"), "asset_lot_registered": _l("登记碳资产批次"),
    "asset_transaction_recorded": _l("登记碳资产交易"), "asset_transaction_evidence": _l("上传交易凭证"),
    "asset_price_entered": _l("录入碳价"), "abatement_measure_saved": _l("保存减排措施"),
    "compliance_cycle_opened": _l("开启履约期"), "compliance_emissions_confirmed": _l("确认核查排放量"),
    "compliance_position_computed": _l("计算配额盈缺"), "compliance_decision_proposed": _l("提出履约方案"),
    "compliance_decision_approved": _l("批准履约方案"), "compliance_trades_executed": _l("完成履约交易"),
    "compliance_surrendered": _l("完成清缴"), "compliance_evidence_attached": _l("上传履约证据"),
    "compliance_cycle_closed": _l("关闭履约期"), "compliance_deadline_missed": _l("清缴逾期"),
    "verification_created": _l("登记第三方核查"), "verification_completed": _l("录入核查结果"),
    "verification_report_attached": _l("上传核查报告"), "verification_finding_recorded": _l("登记核查发现"),
    "verification_nonconformity_raised": _l("核查发现提出不符合项"),
    "neutrality_statement_issued": _l("发布碳中和声明"), "disclosure_criteria_saved": _l("保存披露准则"),
    "disclosure_report_prepared": _l("生成信息披露报告"),
    "accounting_method_set": _l("设定核算方法"),
    "activity_recorded": _l("录入活动数据"),
    "activity_corrected": _l("更正活动数据"),
    "activity_evidence_attached": _l("上传活动数据证据"),
    "applicable_standards_set": _l("设定适用标准"),
    "department_created": _l("新建部门"),
    "department_renamed": _l("部门更名"),
    "emissions_recalculated": _l("重新核算排放量"),
    "factor_added": _l("新增排放因子版本"),
    "maturity_evaluation_opened": _l("发起成熟度评价"),
    "maturity_plan_set": _l("确定评价计划"),
    "maturity_report_issued": _l("发布成熟度评价报告"),
    "maturity_scored": _l("完成评分"),
    "output_recorded": _l("录入产量"),
    "segregation_of_duties_relaxed": _l("职责分离已放宽"),
    "sessions_ended": _l("结束会话"),
    "signature_failed": _l("电子签名密码错误"),
    "signature_refused": _l("电子签名被拒绝"),
    "signed_out": _l("退出登录"),
    "task_reassigned": _l("任务改派"),
    "tokens_revoked": _l("撤销全部 API 令牌"),
    "user_created": _l("新建用户"),
    "workflow_step_retried": _l("重试流程步骤"),
    "history_digest_upgraded": _l("审计日志摘要升级"),
    "history_checkpoint_reset": _l("重置审计日志检查点"),
}
PROCESS_LABELS = {
    "document_approval": _l("文件审批"), "corrective_action": _l("纠正措施"), "internal_audit": _l("内部审核"),
    "audit_programme_approval": _l("审核方案审批"), "management_review": _l("管理评审"),
    "compliance_evaluation": _l("合规性评价"), "carbon_compliance": _l("配额履约"),
}
SUBJECT_LABELS = {"document": _l("文件"), "nonconformity": _l("不符合项"), "audit": _l("审核"),
                  "audit_programme": _l("审核方案"), "management_review": _l("管理评审"),
                  "compliance_evaluation": _l("合规性评价"), "compliance_cycle": _l("履约期"),
                  "maturity_evaluation": _l("成熟度评价")}
# History details on activity logs: known keys get a label, internal ones (BPMN task ids, file hashes) are left to
# the history itself and the API; unknown keys are shown as they are.
DETAIL_LABELS = {"title": _l("任务"), "comment": _l("意见"), "signature": _l("签名含义"), "version": _l("版本"),
                 "code": _l("编号"), "filename": _l("文件名"), "reason": _l("原因"), "summary": _l("变更说明"),
                 "source": _l("来源")}
DETAIL_HIDDEN = {"task", "sha256", "prev_hash", "hash", "signed"}  # signed: the signature binding (signature table)
SIGNATURE_MEANINGS = {"reviewed": _l("审核"), "approved": _l("批准")}


def history_details(details: dict | None) -> str:
    """An activity entry's details in words: "任务：部门负责人审核 · 签名含义：审核 · 意见：…"."""
    parts = []
    for key, value in (details or {}).items():
        if value in (None, "", [], {}) or key in DETAIL_HIDDEN:
            continue
        if key == "signature":
            value = SIGNATURE_MEANINGS.get(str(value), value)
        label = DETAIL_LABELS.get(key)
        parts.append(f"{label}：{value}" if label else f"{key}={value}")
    return " · ".join(parts)


TASK_STATUS = {"open": _l("待办"), "completed": _l("已完成"), "cancelled": _l("已取消")}


@blueprint.app_context_processor
def _labels():
    return {"role_label": lambda r: ROLE_LABELS.get(r, r),
            "status_label": lambda s: gettext(VERSION_STATUSES[s]) if s in VERSION_STATUSES else TASK_STATUS.get(s, s),
            "doc_type_label": lambda t: DOC_TYPES.get(t, t), "doc_types": DOC_TYPES,
            "action_label": lambda a: ACTION_LABELS.get(a, a), "history_details": history_details,
            "process_label": lambda p: PROCESS_LABELS.get(p, p), "subject_label": lambda t: SUBJECT_LABELS.get(t, t),
            "clause_label": clause_label, "now": utcnow}


@blueprint.get("/")
def home():
    session_ = db_session()
    tasks = workflow.open_tasks_for(session_, current_user, limit=10)
    recent = session_.exec(select(Document).where(Document.effective_version.is_not(None))
                           .order_by(Document.updated_at.desc()).limit(8)).all()
    notes = session_.exec(select(Notification).where(Notification.user_id == current_user.id,
                                                     Notification.read_at.is_(None))
                          .order_by(Notification.id.desc()).limit(5)).all()
    overdue = _overdue(session_)
    return render_template("home.html", tasks=tasks, recent=recent, notes=notes, overdue=overdue,
                           subject_url=subject_url, calendar=_calendar(session_),
                           names=subjects.names(session_, [*tasks, *overdue]))


def _calendar(session_) -> dict:
    """Dashboard tiles: the next management review, obligations due or overdue for evaluation, and
    the caller's open review actions."""
    from cmsflow.compliance.service import due_overview
    from cmsflow.reviews import service as reviews
    from cmsflow.reviews.models import ManagementReview

    open_review = session_.exec(select(ManagementReview).where(ManagementReview.status != "closed")
                                .order_by(ManagementReview.planned_on)).first()
    return {"schedule": reviews.current_schedule(session_), "open_review": open_review, "carbon": _carbon(session_),
            "assets": _assets(session_),
            "obligations": due_overview(session_),
            "my_actions": reviews.open_actions(session_, current_user, viewer=current_user),
            "today": date.today()}


def _assets(session_) -> dict:
    """Dashboard tiles of carbon assets: the allowance position of the open (else latest) compliance cycle,
    the days to the next surrender deadline, the net position of the latest neutrality statement."""
    from cmsflow.assets import compliance, neutrality

    return {**compliance.overview(session_), "neutrality": neutrality.latest(session_)}


OVERSEERS = ("management_representative", "top_management", "admin")


def _overdue(session_) -> list[HumanTask]:
    """Open tasks past their due date: all of them for those who oversee the system, else the caller's."""
    q = select(HumanTask).where(HumanTask.status == "open", HumanTask.due_at <= utcnow())
    if current_user.role not in OVERSEERS:
        q = q.where(inbox_filter(current_user))
    return list(session_.exec(q.order_by(HumanTask.due_at).limit(15)))


def _carbon(session_) -> list[dict]:
    """The last twelve months of each monitored intensity, for the dashboard's trend chart."""
    from decimal import Decimal

    from dateutil.relativedelta import relativedelta

    from cmsflow.carbon import service as carbon
    from cmsflow.carbon.models import IntensityIndicator
    from cmsflow.carbon.views import bars
    from cmsflow.core.errors import NotFound

    end = date.today().replace(day=1)
    out = []
    for ind in session_.exec(select(IntensityIndicator).where(IntensityIndicator.active == True)):  # noqa: E712
        try:
            data = carbon.intensity(session_, ind.product, end - relativedelta(months=11), end)
        except NotFound:
            continue
        series = [(m["month"], Decimal(m["intensity"])) for m in data["months"] if m["intensity"]]
        if series:
            out.append({"ind": ind, "unit": data["unit"], "last": series[-1], "chart": bars(series, ind.target)})
    return out


@blueprint.get("/lang/<lang>")
def set_language(lang: str):
    if lang in ("zh_CN", "en"):
        session["lang"] = lang
    return redirect(safe_next(request.args.get("next")))


@blueprint.route("/notifications", methods=["GET", "POST"])
def notifications():
    session_ = db_session()
    rows = session_.exec(select(Notification).where(Notification.user_id == current_user.id)
                         .order_by(Notification.id.desc()).limit(200)).all()
    if request.method == "POST":
        for n in rows:
            n.read_at = n.read_at or utcnow()
        commit()
        return redirect(request.path)
    return render_template("notifications.html", rows=rows)
