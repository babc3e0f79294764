"""Carbon data of the demo company (``carbon.yaml``): the factor library with sources, how each
emission source is accounted, 24 months of activity data and output, the clinker intensity indicator.

Entered through the same services a user drives, so every month is accounted with its breakdown and
the deviation month raises its nonconformity.
"""
from __future__ import annotations

from pathlib import Path

import yaml
from sqlmodel import Session

from cmsflow.auth.models import User
from cmsflow.carbon import service

DATA = Path(__file__).with_name("carbon.yaml")


def seed_carbon(session: Session, users: dict[str, User]) -> None:
    """Factors, methods, indicator, then the months in order (the caller commits)."""
    data = yaml.safe_load(DATA.read_text(encoding="utf-8"))
    mr, staff = users["li.daibiao"], users["qian.jiliang"]
    for f in data["factors"]:
        service.add_factor(session, mr, code=f["code"], year=f["year"], name=f["name"], kind=f["kind"],
                           value=f["value"], unit=f["unit"], source=f["source"], gas=f.get("gas", "CO2"),
                           note=f.get("note", ""))
    for src in data["sources"]:
        service.set_method(session, mr, src["emission_source"], method=src["method"], unit=src["unit"],
                           factors=src["factors"])
    for ind in data["intensity_indicators"]:
        service.set_indicator(session, mr, product=ind["product"], name=ind["name"], target=ind["target"],
                              threshold_percent=ind["threshold_percent"], department=ind["department"],
                              sources=ind.get("sources"))
    months = sorted({m for row in data["activity"] for m in row["monthly"]})
    entrant = {row["emission_source"]: _entrant(session, users, row["emission_source"]) for row in data["activity"]}
    for month in months:
        for row in data["activity"]:
            if month in row["monthly"]:
                source = row["emission_source"]
                service.record_activity(session, entrant[source], emission_source=source, period=month,
                                        quantity=row["monthly"][month], unit=_unit(data, row["emission_source"]),
                                        data_source=row.get("data_source", "meter"), instrument=row.get("instrument"))
        for out in data["output"]:
            if month in out["monthly"]:
                service.record_output(session, staff, product=out["product"], product_name=out.get("name", ""),
                                      period=month, quantity=out["monthly"][month], unit=out["unit"])


def _entrant(session: Session, users: dict[str, User], source_name: str) -> User:
    """Who enters a source's monthly data: a staff member of the source's department (its head where it has no
    staff; the management representative for a source of no department) — as the write rule wants."""
    source = service.source_by_ref(session, source_name)
    mine = [u for u in users.values() if u.department_id == source.department_id and source.department_id]
    return next((u for role in ("staff", "department_head") for u in mine if u.role == role), users["li.daibiao"])


def _unit(data: dict, source_name: str) -> str:
    return next(s["unit"] for s in data["sources"] if s["emission_source"] == source_name)


def seed_maturity(session: Session, users: dict[str, User]) -> None:
    """The completed evaluation of ``maturity.yaml``, run through its process and approved by top management."""
    from cmsflow.carbon import evaluation
    from cmsflow.demo.seed import DEMO_PASSWORD

    data = yaml.safe_load(DATA.with_name("maturity.yaml").read_text(encoding="utf-8"))
    lead, top = users[data["lead"]], users["zhang.zong"]
    ev = evaluation.create_evaluation(session, users["li.daibiao"], title=data["title"],
                                      period_start=data["period"][0], period_end=data["period"][1], lead=lead.username,
                                      team=data["team"], product=data["product"])
    evaluation.complete_step(session, ev, lead, "plan_evaluation", data=data["plan"])
    evaluation.complete_step(session, ev, lead, "document_review",
                             data={"document_review": data["document_review"], "focus_points": data["focus_points"]})
    evaluation.complete_step(session, ev, lead, "onsite_evaluation", data={"findings": data["findings"]})
    scores = {code: {"score": str(item.points), "justification": ""}
              for code, item in evaluation.scheme().items().items()}
    scores.update({code: {"score": str(d["score"]), "justification": d["justification"]}
                   for code, d in data["deductions"].items()})
    evaluation.complete_step(session, ev, lead, "score_evaluation", data={
        "scores": scores, "best_previous": data["best_previous"], "conclusion": data["conclusion"]})
    evaluation.complete_step(session, ev, top, "approve_report", decision="approve", password=DEMO_PASSWORD)
