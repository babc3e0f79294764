"""/api/v1/management-reviews, /api/v1/review-actions: reviews, their schedule, inputs, steps, records."""
from __future__ import annotations

from flask import g, jsonify, request
from sqlmodel import select

from cmsflow.api.views import blueprint, read_json
from cmsflow.core.db import db_session
from cmsflow.core.errors import ValidationError
from cmsflow.reviews import service
from cmsflow.reviews.models import ManagementReview
from cmsflow.reviews.presenters import action_json, review_json, schedule_json
from cmsflow.web.files import send_stored
from cmsflow.web.setup import commit


def step_body() -> dict:
    """``{decision, comment, password, data}`` of a step request; ValidationError when data is not an object."""
    body = read_json()
    data = body.get("data") or {}
    if not isinstance(data, dict):
        raise ValidationError("data 必须是对象", code="invalid_json")
    return {"decision": body.get("decision"), "comment": str(body.get("comment") or ""),
            "password": body.get("password"), "data": data}


@blueprint.get("/management-reviews")
def review_list():
    rows = db_session().exec(select(ManagementReview).order_by(ManagementReview.planned_on.desc()))
    return jsonify({"reviews": [review_json(db_session(), r) for r in rows],
                    "schedule": schedule_json(service.current_schedule(db_session()))})


@blueprint.post("/management-reviews")
def review_create():
    body = read_json()
    review = service.create_review(db_session(), g.api_user, period_start=body.get("period_start"),
                                   period_end=body.get("period_end"), planned_on=body.get("planned_on"),
                                   title=str(body.get("title") or ""))
    commit()
    return jsonify(review_json(db_session(), review, full=True)), 201


@blueprint.get("/management-reviews/<int:review_id>")
def review_get(review_id: int):
    return jsonify(review_json(db_session(), service.get(db_session(), review_id, g.api_user), full=True))


@blueprint.post("/management-reviews/<int:review_id>/inputs/refresh")
def review_refresh(review_id: int):
    review = service.refresh_inputs(db_session(), g.api_user, service.get(db_session(), review_id))
    commit()
    return jsonify(review_json(db_session(), review, full=True))


@blueprint.post("/management-reviews/<int:review_id>/steps/<step>")
def review_step(review_id: int, step: str):
    body = step_body()
    service.complete_step(db_session(), service.get(db_session(), review_id), g.api_user, step, **body)
    commit()
    return jsonify(review_json(db_session(), service.get(db_session(), review_id), full=True))


@blueprint.get("/management-reviews/<int:review_id>/input-report.docx")
def review_input_report(review_id: int):
    review = service.get(db_session(), review_id)
    return send_stored(review.input_report_sha256, f"{review.code}-inputs.docx")


@blueprint.get("/management-reviews/<int:review_id>/minutes.docx")
def review_minutes(review_id: int):
    review = service.get(db_session(), review_id)
    return send_stored(review.record_sha256 or review.minutes_sha256, f"{review.code}-minutes.docx")


@blueprint.get("/management-reviews/schedule")
def review_schedule_get():
    return jsonify({"schedule": schedule_json(service.current_schedule(db_session()))})


@blueprint.put("/management-reviews/schedule")
def review_schedule_set():
    body = read_json()
    sched = service.set_schedule(db_session(), g.api_user, next_review_on=body.get("next_review_on"),
                                 interval_months=body.get("interval_months"),
                                 preparation_days=body.get("preparation_days"))
    commit()
    return jsonify({"schedule": schedule_json(sched)})


@blueprint.get("/review-actions")
def review_actions():
    mine = request.args.get("mine") in ("1", "true")
    rows = service.open_actions(db_session(), g.api_user if mine else None, viewer=g.api_user)
    return jsonify({"actions": [action_json(db_session(), a) for a in rows]})


@blueprint.post("/review-actions/<int:action_id>/complete")
def review_action_complete(action_id: int):
    body = read_json()
    action = service.complete_action(db_session(), g.api_user, action_id, str(body.get("note") or ""))
    commit()
    return jsonify(action_json(db_session(), action))
