"""Pages: document register, new document (template or upload), detail with history, actions."""
from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select

from cmsflow.auth.models import Department, User
from cmsflow.core.db import db_session
from cmsflow.core.errors import CmsflowError
from cmsflow.core.runtime import template_catalog
from cmsflow.documents import service as documents
from cmsflow.documents.forms import (
    DocumentForm,
    ReviseForm,
    UploadForm,
    WithdrawForm,
    field_values,
    fields_form,
    split_clauses,
)
from cmsflow.documents.presenters import file_response_args
from cmsflow.history import service as history
from cmsflow.web.pagination import paginate
from cmsflow.web.setup import commit
from cmsflow.workflow import service as workflow
from cmsflow.workflow import signing

blueprint = Blueprint("documents", __name__, template_folder="templates", url_prefix="/documents")


def _departments():
    return db_session().exec(select(Department).order_by(Department.code)).all()


@blueprint.get("/")
def register():
    a = request.args
    stmt = documents.register_statement(current_user, doc_type=a.get("doc_type") or None,
                                        department=a.get("department") or None, status=a.get("status") or None,
                                        text=a.get("q") or None, clause=a.get("clause") or None)
    depts = {d.id: d for d in _departments()}
    page = paginate(stmt, a, session=db_session())
    return render_template("documents/register.html", docs=page.items, page=page, depts=depts, args=a)


@blueprint.route("/new", methods=["GET", "POST"])
def new():
    catalog = template_catalog()
    info = catalog.get(request.args.get("template", ""))
    if info is None:
        return render_template("documents/choose.html", catalog=catalog)
    form = fields_form(info, DocumentForm)()
    form.department.choices = [(d.code, f"{d.code} {d.name}") for d in _departments()]
    if request.method == "GET" and current_user.department_id:
        dept = db_session().get(Department, current_user.department_id)
        form.department.data = dept.code
    if form.validate_on_submit():
        try:
            doc = documents.create_document(db_session(), current_user, title=form.title.data,
                                            doc_type=info.doc_type, department=form.department.data,
                                            template=info.name, fields=field_values(form, info),
                                            clauses=split_clauses(form.clauses.data))
            commit()
            flash(_("文件 %(code)s 已创建为草稿", code=doc.code), "success")
            return redirect(url_for(".detail", doc_id=doc.id))
        except CmsflowError as exc:
            db_session().rollback()
            flash(exc.message, "error")
    return render_template("documents/new.html", form=form, info=info,
                           upload=UploadForm(prefix="up"))


@blueprint.route("/new-upload", methods=["POST"])
def new_upload():
    upload = request.files.get("up-file")
    try:
        if upload is None or not upload.filename:
            raise CmsflowError(_("请选择要上传的 .docx 文件"))
        doc = documents.create_document(db_session(), current_user, title=request.form.get("title", ""),
                                        doc_type=request.form.get("doc_type", ""),
                                        department=request.form.get("department", ""),
                                        clauses=split_clauses(request.form.get("clauses")),
                                        upload=(upload.filename, upload.read()))
        commit()
    except CmsflowError as exc:
        db_session().rollback()
        flash(exc.message, "error")
        return render_template("documents/upload_new.html", depts=_departments(),
                               values=request.form), exc.status  # 400, or 507 when storage is full
    flash(_("文件 %(code)s 已创建为草稿", code=doc.code), "success")
    return redirect(url_for(".detail", doc_id=doc.id))


@blueprint.get("/new-upload")
def new_upload_form():
    return render_template("documents/upload_new.html", depts=_departments(), values={})


def _load(doc_id: int):
    return documents.get_document(db_session(), doc_id, current_user)


@blueprint.get("/<int:doc_id>")
def detail(doc_id: int):
    s = db_session()
    doc = _load(doc_id)
    users = {u.id: u for u in s.exec(select(User)).all()}
    latest = documents.version(s, doc, doc.current_version)
    signatures = workflow.signatures_for(s, "document", doc.id)
    return render_template(
        "documents/detail.html", doc=doc, versions=documents.versions(s, doc), latest=latest,
        dept=s.get(Department, doc.department_id), clauses=documents.clauses(s, doc), users=users,
        signatures=signatures, forged=signing.mismatched(s, signatures),
        tasks=workflow.tasks_for_subject(s, "document", doc.id),
        log=history.for_subject(s, "document", doc.id), upload=UploadForm(), revise_form=ReviseForm(),
        withdraw_form=WithdrawForm(), can_author=documents.can_author(current_user, doc.department_id))


@blueprint.post("/<int:doc_id>/submit")
def submit(doc_id: int):
    documents.submit(db_session(), current_user, _load(doc_id))
    commit()
    flash(_("已提交审批"), "success")
    return redirect(url_for(".detail", doc_id=doc_id))


@blueprint.post("/<int:doc_id>/revise")
def revise(doc_id: int):
    form = ReviseForm()
    if not form.validate_on_submit():
        flash(_("请填写修订说明"), "error")
        return redirect(url_for(".detail", doc_id=doc_id))
    row = documents.revise(db_session(), current_user, _load(doc_id), form.change_summary.data)
    commit()
    flash(_("已创建第 %(n)s 版草稿", n=row.number), "success")
    return redirect(url_for(".detail", doc_id=doc_id))


@blueprint.post("/<int:doc_id>/upload")
def upload(doc_id: int):
    form = UploadForm()
    doc = _load(doc_id)
    file = request.files.get("file")
    if not form.validate_on_submit() or file is None or not file.filename:
        flash(_("请选择要上传的 .docx 文件"), "error")
        return redirect(url_for(".detail", doc_id=doc_id))
    lock = int(form.lock_version.data) if (form.lock_version.data or "").isdigit() else None
    documents.upload_version(db_session(), current_user, doc, file.filename, file.read(),
                             form.change_summary.data or "", expected_lock=lock)
    commit()
    flash(_("文件已上传"), "success")
    return redirect(url_for(".detail", doc_id=doc_id))


@blueprint.route("/<int:doc_id>/edit", methods=["GET", "POST"])
def edit(doc_id: int):
    s = db_session()
    doc = _load(doc_id)
    latest = documents.version(s, doc, doc.current_version)
    info = template_catalog().get(latest.template or "")
    if info is None:
        abort(404)
    form = fields_form(info)()
    if request.method == "GET":
        form.lock_version.data = doc.lock_version
        for f in info.fields:
            val = latest.fields.get(f.name, "")
            getattr(form, f"f_{f.name}").data = "\n".join(val) if isinstance(val, list) else val
    if form.validate_on_submit():
        try:
            lock = int(form.lock_version.data) if (form.lock_version.data or "").isdigit() else None
            documents.update_draft_fields(s, current_user, doc, field_values(form, info), expected_lock=lock)
            commit()
            flash(_("草稿已保存"), "success")
            return redirect(url_for(".detail", doc_id=doc_id))
        except CmsflowError as exc:
            s.rollback()
            flash(exc.message, "error")
    return render_template("documents/edit.html", form=form, doc=doc, info=info)


@blueprint.post("/<int:doc_id>/withdraw")
def withdraw(doc_id: int):
    form = WithdrawForm()
    if not form.validate_on_submit():
        flash(_("请填写作废原因并输入密码"), "error")
        return redirect(url_for(".detail", doc_id=doc_id))
    documents.withdraw(db_session(), current_user, _load(doc_id), form.reason.data, form.password.data)
    commit()
    flash(_("文件已作废"), "success")
    return redirect(url_for(".detail", doc_id=doc_id))


@blueprint.get("/<int:doc_id>/versions/<int:number>/file")
def download(doc_id: int, number: int):
    doc = _load(doc_id)
    row, data = documents.read_file(db_session(), doc, number)
    return send_file(**file_response_args(doc, row, data))
