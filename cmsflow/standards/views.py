"""Pages: the standards, the organisation's choice of applicable ones, and clause coverage."""
from __future__ import annotations

import io

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from cmsflow.core.db import db_session
from cmsflow.standards import service as standards
from cmsflow.web.setup import commit

blueprint = Blueprint("standards", __name__, template_folder="templates", url_prefix="/standards")
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@blueprint.route("/", methods=["GET", "POST"])
def index():
    s = db_session()
    if request.method == "POST":
        standards.set_applicable(s, current_user, request.form.getlist("codes"))
        commit()
        flash(_("适用标准已更新"), "success")
        return redirect(url_for(".index"))
    applicable = standards.applicable_codes(s)
    summaries = {code: standards.coverage_summary(standards.coverage(s, code)) for code in applicable}
    return render_template("standards/index.html", library=standards.library(), applicable=applicable,
                           summaries=summaries,
                           can_choose=current_user.role in ("admin", "management_representative"))


@blueprint.get("/<code>")
def coverage(code: str):
    rows = standards.coverage(db_session(), code)
    only_gaps = request.args.get("gaps") == "1"
    shown = [r for r in rows if r.gap] if only_gaps else rows
    return render_template("standards/coverage.html", std=standards.standard(code), rows=shown,
                           summary=standards.coverage_summary(rows), only_gaps=only_gaps)


@blueprint.get("/<code>/coverage.xlsx")
def coverage_xlsx(code: str):
    data = standards.coverage_xlsx(code, standards.coverage(db_session(), code))
    return send_file(io.BytesIO(data), mimetype=XLSX, as_attachment=True,
                     download_name=f"条款覆盖-{code}.xlsx")
