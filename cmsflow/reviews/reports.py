"""The review input report and the minutes, from ``doc_templates/records/management_review_*.docx``.

Charts (nonconformities per month, compliance results) are drawn with matplotlib (Agg backend,
PNG) from the gathered inputs and placed as inline images; a chart with no data is left out.
"""
from __future__ import annotations

import io
from datetime import date

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from dateutil.relativedelta import relativedelta  # noqa: E402
from docx.shared import Cm  # noqa: E402
from docxtpl import DocxTemplate, InlineImage  # noqa: E402
from flask import current_app  # noqa: E402
from sqlmodel import Session  # noqa: E402

from cmsflow.auth.models import User  # noqa: E402
from cmsflow.core.runtime import config  # noqa: E402
from cmsflow.reviews.models import ACTION_KINDS, ManagementReview, ReviewAction  # noqa: E402


def _template(name: str) -> DocxTemplate:
    return DocxTemplate(f"{current_app.config['DOC_TEMPLATES_DIR']}/records/{name}")


def _save(tpl: DocxTemplate, ctx: dict) -> bytes:
    tpl.render(ctx, autoescape=True)
    buf = io.BytesIO()
    tpl.save(buf)
    return buf.getvalue()


def _section(review: ManagementReview, key: str) -> dict:
    return next((s for s in review.inputs.get("sections", []) if s["key"] == key), {"data": {}})


def months_of(start: date, end: date) -> list[str]:
    """Every "YYYY-MM" from ``start``'s month to ``end``'s month inclusive."""
    out, cur = [], start.replace(day=1)
    while cur <= end:
        out.append(cur.strftime("%Y-%m"))
        cur += relativedelta(months=1)
    return out


def _bar_png(labels: list[str], values: list[float], color: str = "#2e7d32", target: float | None = None) -> bytes:
    fig, ax = plt.subplots(figsize=(7.5, 3.0), dpi=150)
    try:
        bars = ax.bar(labels, values, color=color)
        if target is not None:
            ax.axhline(target, color="#c0392b", linestyle="--", linewidth=1)
        ax.bar_label(bars, fmt="%.3g", fontsize=7)
        ax.set_ylim(0, max(values + [target or 0, 1 if target is None else 0]) * 1.25)
        if target is None:  # counts
            ax.yaxis.get_major_locator().set_params(integer=True)
        ax.tick_params(axis="x", labelrotation=45, labelsize=8)
        ax.spines[["top", "right"]].set_visible(False)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)


def charts(review: ManagementReview) -> list[tuple[str, bytes]]:
    """(caption, PNG) pairs for the review period; empty when the records give nothing to plot."""
    out = []
    nc = _section(review, "nonconformities").get("data", {})
    if nc.get("total"):
        months = months_of(review.period_start, review.period_end)
        out.append(("评审期间每月提出的不符合项数量", _bar_png(months, [nc["by_month"].get(m, 0) for m in months])))
    for ind in _section(review, "carbon_performance").get("data", {}).get("indicators", []):
        months = sorted(ind["months"])
        out.append((f"{ind['name']}：每月强度与目标（虚线 {ind['target']:g}）",
                    _bar_png(months, [ind["months"][m] for m in months], "#6d4c41", ind["target"])))
    ce = _section(review, "compliance").get("data", {})
    if ce.get("evaluations"):
        labels = ["compliant", "non-compliant", "n/a"]
        values = [ce["by_result"].get(k, 0) for k in ("compliant", "non_compliant", "not_applicable")]
        out.append(("合规性评价结果（合规 / 不合规 / 不适用）", _bar_png(labels, values, "#1565c0")))
    return out


def _common(review: ManagementReview) -> dict:
    return {"organisation": config()["ORGANISATION_NAME"], "code": review.code, "title": review.title,
            "period_start": review.period_start.isoformat(), "period_end": review.period_end.isoformat()}


def render_inputs(session: Session, review: ManagementReview, prepared_by: User) -> bytes:
    """The 管理评审输入报告 .docx: every input with its figures, items and the MR's commentary."""
    tpl = _template("management_review_inputs.docx")
    sections = [{"no": i, "title": s["title"], "clause": s["clause"], "summary": s["summary"],
                 "figures": s["figures"], "items": s["items"], "commentary": review.commentary.get(s["key"], "")}
                for i, s in enumerate(review.inputs.get("sections", []), start=1)]
    ctx = {**_common(review), "planned_on": review.planned_on.isoformat() if review.planned_on else "",
           "prepared_by": prepared_by.display_name, "prepared_on": date.today().isoformat(), "sections": sections,
           "charts": [{"title": title, "image": InlineImage(tpl, io.BytesIO(png), width=Cm(15))}
                      for title, png in charts(review)]}
    return _save(tpl, ctx)


def _actions(session: Session, review: ManagementReview) -> list[dict]:
    """Signed actions when they exist, else the recorded decisions (draft minutes)."""
    from sqlmodel import select

    from cmsflow.nonconformities.models import Nonconformity

    rows = list(session.exec(select(ReviewAction).where(ReviewAction.review_id == review.id)
                             .order_by(ReviewAction.seq)))
    items = [{"kind": a.kind, "description": a.description, "owner_id": a.owner_id, "due_on": a.due_on.isoformat(),
              "nc": a.nonconformity_id} for a in rows] or [
        {**d, "nc": None} for d in review.decisions]
    out = []
    for i, a in enumerate(items, start=1):
        owner = session.get(User, a["owner_id"])
        nc = session.get(Nonconformity, a["nc"]) if a["nc"] else None
        out.append({"no": i, "kind": str(ACTION_KINDS.get(a["kind"], a["kind"])), "description": a["description"],
                    "owner": owner.display_name if owner else "", "due_on": a["due_on"],
                    "nonconformity": nc.code if nc else ""})
    return out


def render_minutes(session: Session, review: ManagementReview, signed_by: User | None = None) -> bytes:
    """The 管理评审报告 .docx (draft when ``signed_by`` is None): inputs in brief, the conclusion on
    suitability, adequacy and effectiveness, the outputs and the action list."""
    chair = session.get(User, review.chair_id) if review.chair_id else None
    ctx = {**_common(review), "held_on": review.held_on.isoformat() if review.held_on else "",
           "chair": chair.display_name if chair else "", "attendees": list(review.attendees),
           "inputs_summary": [{"title": s["title"], "summary": s["summary"]}
                              for s in review.inputs.get("sections", [])],
           **{k: getattr(review, k) or "" for k in ("suitability", "adequacy", "effectiveness", "conclusion",
                                                     "policy_changes", "objective_changes", "system_changes",
                                                     "improvement", "resource_needs")},
           "actions": _actions(session, review),
           "signed_by": signed_by.display_name if signed_by else "",
           "signed_on": date.today().isoformat() if signed_by else ""}
    return _save(_template("management_review_minutes.docx"), ctx)
