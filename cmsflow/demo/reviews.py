"""Compliance evaluations and management reviews of the demo company, texts in ``reviews.yaml``.

Driven through the services and workflows a user drives: evaluations go through the department
head and the management representative (one non-compliant, raising its nonconformity; one left
open); last year's review is prepared, held and signed, its actions partly done; this year's review
is opened by the review cycle and waits for the management representative's preparation.
"""
from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import yaml
from dateutil.relativedelta import relativedelta
from sqlmodel import Session, select

from cmsflow.auth.models import User
from cmsflow.compliance import service as compliance
from cmsflow.demo.seed import DEMO_PASSWORD
from cmsflow.registers.models import ComplianceObligation
from cmsflow.reviews import service as reviews
from cmsflow.reviews.models import ReviewAction

DATA = Path(__file__).with_name("reviews.yaml")


def seed_reviews(session: Session, users: dict[str, User]) -> None:
    """Add the compliance evaluations and the two management reviews (the caller commits)."""
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    for spec in data["evaluations"]:
        _evaluation(session, users, spec)
    next_review = date.today() + timedelta(days=24)
    _last_review(session, users, data["reviews"]["last"], next_review - relativedelta(months=12))
    sched = reviews.set_schedule(session, users["li.daibiao"], next_review_on=next_review, interval_months=12,
                                 preparation_days=30)  # preparation is due: the cycle opens this year's review
    assert sched.next_review_on > next_review, "the review cycle should have opened this year's review"


def _obligation(session: Session, title: str, article: str | None) -> ComplianceObligation:
    q = select(ComplianceObligation).where(ComplianceObligation.title == title)
    rows = [ob for ob in session.exec(q) if article is None or ob.article == article]
    return rows[0]


def _evaluation(session: Session, users: dict[str, User], spec: dict) -> None:
    ob = _obligation(session, *spec["obligation"])
    ev = compliance.start_evaluation(session, ob, "scheduled", date.today() - timedelta(days=10), None)
    if spec.get("open"):
        return
    head = session.exec(select(User).where(User.role == "department_head",
                                           User.department_id == ob.department_id)).first()
    compliance.complete_step(session, ev, head, "evaluate_obligation",
                             data={"result": spec["result"], "evidence": spec["evidence"]})
    compliance.complete_step(session, ev, users["li.daibiao"], "confirm_evaluation", decision="confirm",
                             comment=spec.get("confirm_comment", ""))


def _last_review(session: Session, users: dict[str, User], spec: dict, planned: date) -> None:
    mr, top = users["li.daibiao"], users["zhang.zong"]
    review = reviews.create_review(session, mr, period_start=planned - relativedelta(months=12),
                                   period_end=planned - timedelta(days=1), planned_on=planned, title=spec["title"])
    reviews.complete_step(session, review, mr, "prepare_review",
                          data={"commentary": spec["commentary"], "attendees": spec["attendees"]})
    decisions = [{"kind": d["kind"], "description": d["description"], "owner": d["owner"],
                  "due_on": (planned + relativedelta(months=d["due_months"])).isoformat()} for d in spec["decisions"]]
    reviews.complete_step(session, review, top, "hold_review", decision="record",
                          data={**spec["outputs"], "held_on": planned.isoformat(), "decisions": decisions})
    reviews.complete_step(session, review, top, "sign_minutes", decision="approve", password=DEMO_PASSWORD)
    actions = session.exec(select(ReviewAction).where(ReviewAction.review_id == review.id)
                           .order_by(ReviewAction.seq)).all()
    for action, d in zip(actions, spec["decisions"], strict=True):
        if d.get("done"):
            reviews.complete_action(session, users[d["owner"]], action.id, d["done"])
