"""/api/v1/assets: carbon asset register (accounts, lots, transactions, holdings), prices and abatement cost,
compliance cycles (履约) with their steps, verifications (核查), neutrality statements and disclosure."""
from __future__ import annotations

import io
from datetime import date

from flask import g, jsonify, request, send_file
from sqlmodel import select

from cmsflow.api.reviews import step_body
from cmsflow.api.views import blueprint, read_json
from cmsflow.assets import compliance, disclosure, ledger, neutrality, presenters, valuation, verification
from cmsflow.assets.models import AssetAccount, AssetLot, AssetPrice, DisclosureCriteria, Verification
from cmsflow.core.db import db_session
from cmsflow.core.errors import ValidationError
from cmsflow.registers.transfer import MIME
from cmsflow.web.files import send_stored
from cmsflow.web.setup import commit


def _upload(label: str):
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationError(f"请以 multipart 字段 file 上传{label}", code="file_required")
    return upload.filename, upload.read()


# --- register ---------------------------------------------------------------------------------------------

@blueprint.get("/assets/accounts")
def asset_accounts():
    rows = db_session().exec(select(AssetAccount).order_by(AssetAccount.code))
    return jsonify({"accounts": [presenters.account_json(a) for a in rows]})


@blueprint.post("/assets/accounts")
def asset_account_open():
    b = read_json()
    row = ledger.create_account(db_session(), g.api_user, code=b.get("code"), name=b.get("name"),
                                kind=str(b.get("kind") or ""), institution=b.get("institution"), number=b.get("number"))
    commit()
    return jsonify(presenters.account_json(row)), 201


@blueprint.get("/assets/lots")
def asset_lots():
    rows = db_session().exec(select(AssetLot).order_by(AssetLot.asset_type, AssetLot.code))
    return jsonify({"lots": [presenters.lot_json(lot) for lot in rows]})


@blueprint.post("/assets/lots")
def asset_lot_create():
    b = read_json()
    row = ledger.create_lot(db_session(), g.api_user, **{k: b.get(k) for k in ledger.LOT_FIELDS})
    commit()
    return jsonify(presenters.lot_json(row)), 201


@blueprint.get("/assets/transactions")
def asset_transactions():
    filters = {k: request.args.get(k) for k in ("kind", "lot", "account", "cycle") if request.args.get(k)}
    if filters.get("cycle") and not filters["cycle"].isdigit():
        raise ValidationError("cycle 须为履约期编号（整数）", code="invalid_filter")
    rows = ledger.transactions(db_session(), filters)
    return jsonify({"transactions": [presenters.transaction_json(db_session(), t) for t in rows]})


@blueprint.post("/assets/transactions")
def asset_transaction_record():
    b = read_json()
    row = ledger.record_transaction(db_session(), g.api_user, **{k: b.get(k) for k in ledger.TX_FIELDS})
    commit()
    return jsonify(presenters.transaction_json(db_session(), row)), 201


@blueprint.post("/assets/transactions/<int:txn_id>/evidence")
def asset_transaction_evidence(txn_id: int):
    row = ledger.attach_evidence(db_session(), g.api_user, txn_id, *_upload("交易凭证"))
    commit()
    return jsonify(presenters.transaction_json(db_session(), row)), 201


@blueprint.get("/assets/transactions/<int:txn_id>/evidence")
def asset_transaction_evidence_get(txn_id: int):
    from cmsflow.assets.models import AssetTransaction

    row = db_session().get(AssetTransaction, txn_id)
    return send_stored(row.evidence_sha256 if row else None, (row.evidence_filename if row else None) or "evidence",
                       "没有交易凭证")


@blueprint.get("/assets/holdings")
def asset_holdings():
    rows = valuation.holdings(db_session())
    return jsonify({"holdings": [presenters.holding_json(r) for r in rows],
                    "by_type": [{k: (str(val) if not isinstance(val, str) else val) for k, val in t.items()}
                                for t in valuation.by_type(rows)]})


@blueprint.get("/assets/export.xlsx")
def asset_export():
    return send_file(io.BytesIO(presenters.export_xlsx(db_session())), mimetype=MIME["xlsx"], as_attachment=True,
                     download_name="carbon-assets.xlsx")


@blueprint.get("/assets/overview")
def asset_overview():
    s = db_session()
    o = compliance.overview(s)
    latest = neutrality.latest(s)
    return jsonify({"cycle": presenters.cycle_json(s, o["cycle"]) if o["cycle"] else None, "days_left": o["days_left"],
                    "neutrality": presenters.statement_json(s, latest) if latest else None})


# --- valuation ----------------------------------------------------------------------------------------------

@blueprint.get("/assets/prices")
def asset_prices():
    q = select(AssetPrice).order_by(AssetPrice.price_date, AssetPrice.asset_type)
    if request.args.get("asset_type"):
        q = q.where(AssetPrice.asset_type == request.args["asset_type"])
    return jsonify({"prices": [{"asset_type": p.asset_type, "date": p.price_date.isoformat(), "price": str(p.price),
                                "source": p.source} for p in db_session().exec(q)]})


@blueprint.post("/assets/prices")
def asset_price_add():
    b = read_json()
    row = valuation.add_price(db_session(), g.api_user, asset_type=str(b.get("asset_type") or ""),
                              price_date=b.get("date"), price=b.get("price"), source=b.get("source"))
    commit()
    return jsonify({"asset_type": row.asset_type, "date": row.price_date.isoformat(), "price": str(row.price),
                    "source": row.source}), 201


@blueprint.get("/assets/abatement")
def asset_abatement():
    res = valuation.abatement_comparison(db_session())
    price = res["price"]
    return jsonify({"price": {"date": price.price_date.isoformat(), "price": str(price.price)} if price else None,
                    "measures": [{**presenters.measure_json(r["measure"], price), "difference": str(r["difference"])
                                  if r["difference"] is not None else None} for r in res["measures"]]})


@blueprint.post("/assets/measures")
def asset_measure_add():
    b = read_json()
    row = valuation.save_measure(db_session(), g.api_user, None, **{k: b.get(k) for k in valuation.MEASURE_FIELDS})
    commit()
    return jsonify(presenters.measure_json(row)), 201


@blueprint.put("/assets/measures/<int:measure_id>")
def asset_measure_update(measure_id: int):
    b = read_json()
    row = valuation.save_measure(db_session(), g.api_user, measure_id,
                                 **{k: b.get(k) for k in valuation.MEASURE_FIELDS})
    commit()
    return jsonify(presenters.measure_json(row))


# --- compliance cycles --------------------------------------------------------------------------------------

@blueprint.get("/assets/cycles")
def asset_cycles():
    return jsonify({"cycles": [presenters.cycle_json(db_session(), c) for c in compliance.cycles(db_session())]})


@blueprint.post("/assets/cycles")
def asset_cycle_open():
    b = read_json()
    cycle = compliance.open_cycle(db_session(), g.api_user, compliance_year=b.get("compliance_year"),
                                  deadline=b.get("deadline"), department=b.get("department"))
    commit()
    return jsonify(presenters.cycle_json(db_session(), cycle, full=True)), 201


@blueprint.get("/assets/cycles/<int:cycle_id>")
def asset_cycle(cycle_id: int):
    return jsonify(presenters.cycle_json(db_session(), compliance.get(db_session(), cycle_id), full=True))


@blueprint.post("/assets/cycles/<int:cycle_id>/steps/<step>")
def asset_cycle_step(cycle_id: int, step: str):
    compliance.complete_step(db_session(), compliance.get(db_session(), cycle_id), g.api_user, step, **step_body())
    commit()
    return jsonify(presenters.cycle_json(db_session(), compliance.get(db_session(), cycle_id), full=True))


@blueprint.post("/assets/cycles/<int:cycle_id>/evidence")
def asset_cycle_evidence(cycle_id: int):
    cycle = compliance.get(db_session(), cycle_id)
    compliance.attach_evidence(db_session(), g.api_user, cycle, *_upload("履约完成证据"))
    commit()
    return jsonify(presenters.cycle_json(db_session(), cycle)), 201


@blueprint.get("/assets/cycles/<int:cycle_id>/evidence")
def asset_cycle_evidence_get(cycle_id: int):
    cycle = compliance.get(db_session(), cycle_id)
    return send_stored(cycle.evidence_sha256, cycle.evidence_filename or "evidence", "尚未上传完成证据")


# --- verifications -----------------------------------------------------------------------------------------

@blueprint.get("/assets/verifications")
def asset_verifications():
    rows = db_session().exec(select(Verification).order_by(Verification.compliance_year.desc(), Verification.id))
    return jsonify({"verifications": [presenters.verification_json(db_session(), ver) for ver in rows]})


@blueprint.post("/assets/verifications")
def asset_verification_create():
    b = read_json()
    ver = verification.create_verification(db_session(), g.api_user, **{k: b.get(k) for k in (
        "compliance_year", "period_start", "period_end", "scope", "verifier", "lead_verifier")})
    commit()
    return jsonify(presenters.verification_json(db_session(), ver, full=True)), 201


@blueprint.get("/assets/verifications/<int:ver_id>")
def asset_verification(ver_id: int):
    return jsonify(presenters.verification_json(db_session(), verification.get(db_session(), ver_id), full=True))


@blueprint.put("/assets/verifications/<int:ver_id>/result")
def asset_verification_result(ver_id: int):
    b = read_json()
    ver = verification.record_result(db_session(), g.api_user, verification.get(db_session(), ver_id),
                                     conclusion=b.get("conclusion"), verified_emissions=b.get("verified_emissions"),
                                     lines=b.get("lines") or [], lock_version=b.get("lock_version"))
    commit()
    return jsonify(presenters.verification_json(db_session(), ver, full=True))


@blueprint.post("/assets/verifications/<int:ver_id>/report")
def asset_verification_report(ver_id: int):
    ver = verification.attach_report(db_session(), g.api_user, verification.get(db_session(), ver_id),
                                     *_upload("核查报告"))
    commit()
    return jsonify(presenters.verification_json(db_session(), ver)), 201


@blueprint.post("/assets/verifications/<int:ver_id>/findings")
def asset_verification_finding(ver_id: int):
    b = read_json()
    verification.add_finding(db_session(), g.api_user, verification.get(db_session(), ver_id),
                             description=b.get("description"), severity=str(b.get("severity") or "minor"),
                             emission_source=b.get("emission_source"))
    commit()
    return jsonify(presenters.verification_json(db_session(), verification.get(db_session(), ver_id), full=True)), 201


@blueprint.post("/assets/verification-findings/<int:finding_id>/nonconformity")
def asset_finding_nonconformity(finding_id: int):
    finding = verification.raise_nonconformity(db_session(), g.api_user, finding_id, read_json().get("department"))
    commit()
    return jsonify({"finding_id": finding.id, "nonconformity_id": finding.nonconformity_id}), 201


# --- neutrality -------------------------------------------------------------------------------------------

@blueprint.get("/assets/neutrality/balance")
def asset_neutrality_balance():
    s = db_session()
    try:
        start = date.fromisoformat(request.args.get("from") or "")
        end = date.fromisoformat(request.args.get("to") or "")
    except ValueError as exc:
        raise ValidationError("from/to 日期格式应为 YYYY-MM-DD", code="invalid_date") from exc
    sources = neutrality.boundary_sources(s, [x for x in request.args.getlist("source") if x])
    picked = {int(x) for x in request.args.getlist("transaction") if x.isdigit()}
    pool = neutrality.candidates(s)
    res = neutrality.balance(s, start, end, sources, [u for u in pool if u[0].id in picked] if picked else pool)
    return jsonify({"from": start.isoformat(), "to": end.isoformat(), "source_ids": sources,
                    **{k: str(res[k]) for k in ("emissions", "offsets", "net", "tolerance")}, "status": res["status"],
                    "transactions": [presenters.transaction_json(s, t) for t, _ in res["units"]]})


@blueprint.get("/assets/neutrality")
def asset_statements():
    s = db_session()
    return jsonify({"statements": [presenters.statement_json(s, st) for st in neutrality.statements(s)]})


@blueprint.post("/assets/neutrality")
def asset_statement_issue():
    b = read_json()
    stmt = neutrality.issue_statement(db_session(), g.api_user, period_start=b.get("period_start"),
                                      period_end=b.get("period_end"), boundary=b.get("boundary"),
                                      source_ids=b.get("source_ids"), transactions=b.get("transactions"))
    commit()
    return jsonify(presenters.statement_json(db_session(), stmt)), 201


@blueprint.get("/assets/neutrality/<int:stmt_id>")
def asset_statement(stmt_id: int):
    return jsonify(presenters.statement_json(db_session(), neutrality.get(db_session(), stmt_id)))


@blueprint.get("/assets/neutrality/<int:stmt_id>/statement.docx")
def asset_statement_docx(stmt_id: int):
    stmt = neutrality.get(db_session(), stmt_id)
    return send_stored(stmt.statement_sha256, f"{stmt.code}.docx")


# --- disclosure --------------------------------------------------------------------------------------------

@blueprint.get("/assets/disclosure-criteria")
def asset_criteria():
    rows = db_session().exec(select(DisclosureCriteria).order_by(DisclosureCriteria.code))
    return jsonify({"criteria": [presenters.criteria_json(db_session(), c) for c in rows]})


@blueprint.post("/assets/disclosure-criteria")
def asset_criteria_create():
    b = read_json()
    row = disclosure.save_criteria(db_session(), g.api_user, None, **{k: b.get(k) for k in disclosure.CRITERIA_FIELDS
                                                                      if k in b})
    commit()
    return jsonify(presenters.criteria_json(db_session(), row)), 201


@blueprint.put("/assets/disclosure-criteria/<int:criteria_id>")
def asset_criteria_update(criteria_id: int):
    b = read_json()
    row = disclosure.save_criteria(db_session(), g.api_user, criteria_id,
                                   **{k: b.get(k) for k in disclosure.CRITERIA_FIELDS if k in b})
    commit()
    return jsonify(presenters.criteria_json(db_session(), row))


@blueprint.get("/assets/disclosures")
def asset_disclosures():
    s = db_session()
    return jsonify({"disclosures": [presenters.disclosure_json(s, d) for d in disclosure.disclosures(s)]})


@blueprint.post("/assets/disclosures")
def asset_disclosure_prepare():
    b = read_json()
    row = disclosure.prepare_report(db_session(), g.api_user, criteria_id=b.get("criteria_id"), year=b.get("year"))
    commit()
    return jsonify(presenters.disclosure_json(db_session(), row)), 201
