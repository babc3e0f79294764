"""Register pages: index, list with filters, export/import, create, view and edit with history."""
from __future__ import annotations

import io

from flask import Blueprint, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import func, select

from cmsflow.auth import permissions
from cmsflow.auth.models import Department, User
from cmsflow.core.db import db_session
from cmsflow.core.errors import CmsflowError, PermissionDenied, ValidationError
from cmsflow.history import service as history
from cmsflow.registers import service, transfer
from cmsflow.registers.specs import BASELINE_ADJUSTMENT_REASONS, SPECS, spec
from cmsflow.registers.values import display
from cmsflow.web.pagination import paginate
from cmsflow.web.setup import commit

blueprint = Blueprint("registers", __name__, template_folder="templates", url_prefix="/registers")


def _choices(row=None, form: bool = False):
    """The choices of the filters (every department) and of the form (``form``): every department for the
    management representative and the administrator; for the others their own (and the record's, to show it) —
    giving a record to another department is not theirs."""
    s = db_session()
    departments = s.exec(select(Department).order_by(Department.code)).all()
    if form and current_user.role not in permissions.WRITE_ANY_DEPARTMENT:
        keep = {current_user.department_id, getattr(row, "department_id", None)}
        departments = [d for d in departments if d.id in keep]
    return {"departments": departments,
            "users": s.exec(select(User).where(User.active == True).order_by(User.username)).all()}  # noqa: E712


@blueprint.get("/")
def index():
    s = db_session()
    counts = {name: s.exec(select(func.count()).select_from(sp.model)).one() for name, sp in SPECS.items()}
    return render_template("registers/index.html", specs=SPECS, counts=counts)


@blueprint.get("/<name>/")
def records(name: str):
    sp = spec(name)
    return _render_list(sp, request.args)


def _render_list(sp, args, errors=None, status=200):
    s = db_session()
    page = paginate(service.statement(s, sp, args, args.get("q")), args, session=s)
    return render_template("registers/list.html", sp=sp, rows=page.items, page=page, args=args, errors=errors,
                           display=lambda f, r: display(s, f, getattr(r, f.column)),
                           can_edit=service.can_edit(current_user, sp), **_choices()), status


@blueprint.get("/<name>/export.<fmt>")
def export(name: str, fmt: str):
    sp = spec(name)
    s = db_session()
    data = transfer.export(s, sp, service.query(s, sp, request.args, request.args.get("q")), fmt)
    return send_file(io.BytesIO(data), mimetype=transfer.MIME[fmt],
                     as_attachment=True, download_name=f"{sp.title}.{fmt}")


@blueprint.post("/<name>/import")
def import_records(name: str):
    sp = spec(name)
    upload = request.files.get("file")
    s = db_session()
    try:
        if upload is None or not upload.filename:
            raise ValidationError(_("请选择 .xlsx 或 .csv 文件"))
        n = transfer.import_file(s, current_user, sp, upload.filename, upload.read())
        commit()
    except ValidationError as exc:  # row errors, or a file refused whole (type, size, row/column limits)
        s.rollback()
        flash(exc.message, "error")
        return _render_list(sp, {}, getattr(exc, "errors", []), exc.status)
    except CmsflowError as exc:  # another department's records, a full disk: the list with the reason
        s.rollback()
        flash(exc.message, "error")
        return _render_list(sp, {}, None, exc.status)
    flash(_("已导入 %(n)s 条记录", n=n), "success")
    return redirect(url_for(".records", name=name))


def _form_data(sp) -> dict:
    data = {f.name: request.form.get(f.name, "") for f in sp.fields}
    for f in sp.fields:
        if f.type == "bool":
            data[f.name] = "1" if request.form.get(f.name) else "0"
    for key in ("clauses", "lock_version", "adjustment_reason", "adjustment_note"):
        if key in request.form:
            data[key] = request.form[key]
    return data


def _render_form(sp, values, errors, row=None, status=200):
    s = db_session()
    log = history.for_subject(s, service.subject_type(sp), row.id) if row is not None else []
    return render_template("registers/form.html", sp=sp, values=values, errors=errors, row=row, log=log,
                           reasons=BASELINE_ADJUSTMENT_REASONS, can_edit=service.may_write(current_user, sp, row),
                           **_choices(row, form=True)), status


@blueprint.route("/<name>/new", methods=["GET", "POST"])
def new(name: str):
    sp = spec(name)
    if request.method == "POST":
        data = _form_data(sp)
        try:
            row = service.create(db_session(), current_user, sp, data)
            commit()
            flash(_("已保存"), "success")
            return redirect(url_for(".detail", name=name, record_id=row.id))
        except service.RecordInvalid as exc:
            db_session().rollback()
            return _render_form(sp, data, exc.errors, status=400)
        except PermissionDenied as exc:  # another department's record: the form comes back with the input
            db_session().rollback()
            flash(exc.message, "error")
            return _render_form(sp, data, {"department": exc.message}, status=403)
    return _render_form(sp, {"clauses": "，".join(sp.default_clauses)}, {})


@blueprint.route("/<name>/<int:record_id>", methods=["GET", "POST"])
def detail(name: str, record_id: int):
    sp = spec(name)
    s = db_session()
    row = service.get(s, sp, record_id)
    if request.method == "POST":
        data = _form_data(sp)
        try:
            service.update(s, current_user, sp, record_id, data)
            commit()
            flash(_("已保存"), "success")
            return redirect(url_for(".detail", name=name, record_id=record_id))
        except service.RecordInvalid as exc:
            s.rollback()
            return _render_form(sp, data, exc.errors, service.get(s, sp, record_id), status=400)
        except PermissionDenied as exc:
            s.rollback()
            flash(exc.message, "error")
            return _render_form(sp, data, {"department": exc.message}, service.get(s, sp, record_id), status=403)
    values = service.as_json(s, sp, row)
    values["clauses"] = "，".join(values["clauses"])
    return _render_form(sp, values, {}, row)
