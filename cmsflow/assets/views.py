"""Carbon asset pages: the overview (holdings, values, prices, abatement cost against the market), the
register of accounts and lots, transactions, and the .xlsx export. Compliance cycles, verifications,
neutrality and disclosure pages are in ``pages.py`` on the same blueprint."""
from __future__ import annotations

import io

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select

from cmsflow.assets import compliance, ledger, presenters, valuation
from cmsflow.assets import values as v
from cmsflow.assets.models import (
    ACCOUNT_KINDS,
    ASSET_TYPES,
    CYCLE_STATUSES,
    DECISIONS,
    HOLDING_STATUSES,
    TRANSACTION_KINDS,
    AbatementMeasure,
    AssetAccount,
    AssetLot,
    AssetPrice,
    ComplianceCycle,
)
from cmsflow.auth.models import Department
from cmsflow.core.db import db_session
from cmsflow.core.errors import CmsflowError, NotFound
from cmsflow.registers.transfer import MIME
from cmsflow.web.files import send_stored
from cmsflow.web.setup import commit

blueprint = Blueprint("assets", __name__, template_folder="templates", url_prefix="/assets")


@blueprint.context_processor
def _labels() -> dict:
    s = db_session()
    return {"asset_types": ASSET_TYPES, "account_kinds": ACCOUNT_KINDS, "txn_kinds": TRANSACTION_KINDS,
            "holding_statuses": HOLDING_STATUSES, "cycle_statuses": CYCLE_STATUSES, "decisions": DECISIONS,
            "fmt": v.fmt, "may_trade": v.may_trade(s, current_user), "may_manage": current_user.role in v.MANAGE_ROLES,
            "depts": {d.id: d for d in s.exec(select(Department).order_by(Department.code))},
            "serial_label": ledger.serial_label}


def refused(exc: CmsflowError, page, *args):
    """Roll back, flash the reason and re-render ``page`` with the user's input and the field messages."""
    db_session().rollback()
    flash(exc.message, "error")
    return page(*args, values=request.form, errors=(exc.details or {}).get("fields") or {}, status=exc.status)


# --- overview ------------------------------------------------------------------------------------------------

def _overview(values=None, errors=None, status: int = 200):
    s = db_session()
    rows = valuation.holdings(s)
    prices = s.exec(select(AssetPrice).order_by(AssetPrice.price_date.desc(), AssetPrice.asset_type).limit(12)).all()
    return render_template("assets/index.html", holdings=rows, totals=valuation.by_type(rows), prices=prices,
                           latest=valuation.latest_prices(s), abatement=valuation.abatement_comparison(s),
                           overview=compliance.overview(s), values=values or {}, errors=errors or {},
                           measure_statuses=valuation.MEASURE_STATUSES), status


@blueprint.get("/")
def index():
    return _overview()


@blueprint.post("/prices")
def add_price():
    f = request.form
    try:
        valuation.add_price(db_session(), current_user, asset_type=f.get("asset_type", ""),
                            price_date=f.get("price_date"), price=f.get("price"), source=f.get("source"))
        commit()
        flash(_("价格已保存"), "success")
        return redirect(url_for(".index"))
    except CmsflowError as exc:
        return refused(exc, _overview)


@blueprint.post("/measures")
def save_measure():
    f = request.form
    try:
        valuation.save_measure(db_session(), current_user, int(f["measure_id"]) if f.get("measure_id") else None,
                               **{k: f.get(k) for k in valuation.MEASURE_FIELDS})
        commit()
        flash(_("减排措施已保存"), "success")
        return redirect(url_for(".index"))
    except CmsflowError as exc:
        return refused(exc, _overview)


@blueprint.get("/export.xlsx")
def export():
    return send_file(io.BytesIO(presenters.export_xlsx(db_session())), mimetype=MIME["xlsx"], as_attachment=True,
                     download_name="碳资产台账.xlsx")


# --- register of accounts and lots ---------------------------------------------------------------------------

def _register(values=None, errors=None, status: int = 200):
    s = db_session()
    return render_template("assets/register.html",
                           accounts=s.exec(select(AssetAccount).order_by(AssetAccount.code)).all(),
                           lots=s.exec(select(AssetLot).order_by(AssetLot.asset_type, AssetLot.code)).all(),
                           values=values or {}, errors=errors or {}), status


@blueprint.get("/register")
def register():
    return _register()


@blueprint.post("/accounts")
def add_account():
    f = request.form
    try:
        ledger.create_account(db_session(), current_user, code=f.get("code"), name=f.get("name"),
                              kind=f.get("kind", ""), institution=f.get("institution"), number=f.get("number"))
        commit()
        flash(_("账户已开立"), "success")
        return redirect(url_for(".register"))
    except CmsflowError as exc:
        return refused(exc, _register)


@blueprint.post("/lots")
def add_lot():
    f = request.form
    try:
        ledger.create_lot(db_session(), current_user, **{k: f.get(k) for k in ledger.LOT_FIELDS})
        commit()
        flash(_("碳资产批次已登记"), "success")
        return redirect(url_for(".register"))
    except CmsflowError as exc:
        return refused(exc, _register)


# --- transactions ------------------------------------------------------------------------------------------

def _transactions(values=None, errors=None, status: int = 200):
    s = db_session()
    filters = {k: request.args.get(k) for k in ("kind", "lot", "account") if request.args.get(k)}
    try:
        rows = ledger.transactions(s, filters)
    except NotFound as exc:
        flash(exc.message, "error")
        rows = ledger.transactions(s)
    return render_template("assets/transactions.html", rows=[presenters.transaction_json(s, t) for t in rows],
                           accounts=s.exec(select(AssetAccount).where(AssetAccount.active == True)  # noqa: E712
                                           .order_by(AssetAccount.code)).all(),
                           lots=s.exec(select(AssetLot).order_by(AssetLot.code)).all(), args=request.args,
                           cycles=s.exec(select(ComplianceCycle).where(ComplianceCycle.status != "closed")).all(),
                           values=values or {}, errors=errors or {}), status


@blueprint.get("/transactions")
def transactions():
    return _transactions()


@blueprint.post("/transactions")
def add_transaction():
    f = request.form
    s = db_session()
    try:
        row = ledger.record_transaction(s, current_user, **{k: f.get(k) for k in ledger.TX_FIELDS})
        upload = request.files.get("evidence")
        if upload is not None and upload.filename:
            ledger.attach_evidence(s, current_user, row.id, upload.filename, upload.read())
        commit()
        flash(_("交易 %(code)s 已登记", code=row.code), "success")
        return redirect(url_for(".transactions"))
    except CmsflowError as exc:
        return refused(exc, _transactions)


@blueprint.get("/transactions/<int:txn_id>/evidence")
def transaction_evidence(txn_id: int):
    from cmsflow.assets.models import AssetTransaction

    row = db_session().get(AssetTransaction, txn_id)
    if row is None:
        raise NotFound("交易不存在")
    return send_stored(row.evidence_sha256, row.evidence_filename or "evidence", "没有交易凭证")


@blueprint.get("/measures/<int:measure_id>")
def measure(measure_id: int):
    row = db_session().get(AbatementMeasure, measure_id)
    if row is None:
        raise NotFound("减排措施不存在")
    return _overview(values={**row.model_dump(), "measure_id": row.id,
                             "department": db_session().get(Department, row.department_id).code})


from cmsflow.assets import pages as _pages  # noqa: E402,F401 - the other pages, on this blueprint
