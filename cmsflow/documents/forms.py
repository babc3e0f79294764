"""Document forms; template fields become form fields at run time from doc_templates/catalog.yaml."""
from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import HiddenField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from cmsflow.documents.templating import TemplateInfo


class DocumentForm(FlaskForm):
    title = StringField(_l("文件名称"), validators=[DataRequired(), Length(max=200)])
    department = SelectField(_l("编制部门"), validators=[DataRequired()])
    clauses = StringField(_l("依据条款"), validators=[Optional()],
                          description=_l("以逗号分隔，如 TCECAG:8.2, DB44T1944:7.5"))


class UploadForm(FlaskForm):
    file = FileField(_l("Word 文件（.docx）"))
    change_summary = TextAreaField(_l("修订说明"), validators=[Optional(), Length(max=2000)])
    lock_version = HiddenField()


class ReviseForm(FlaskForm):
    change_summary = TextAreaField(_l("修订说明"), validators=[DataRequired(), Length(max=2000)])


class WithdrawForm(FlaskForm):
    reason = TextAreaField(_l("作废原因"), validators=[DataRequired(), Length(max=2000)])
    password = PasswordField(_l("电子签名：请输入您的密码"), validators=[DataRequired()])


def fields_form(info: TemplateInfo, base=FlaskForm):
    """A form class with one field per template field (``lines`` become a textarea, one item a line)."""
    class TemplateFieldsForm(base):
        lock_version = HiddenField()

    for f in info.fields:
        validators = [DataRequired()] if f.required else [Optional()]
        desc = _l("每行一项") if f.type == "lines" else ""
        setattr(TemplateFieldsForm, f"f_{f.name}",
                TextAreaField(f.label, validators=validators, description=desc))
    return TemplateFieldsForm


def field_values(form, info: TemplateInfo) -> dict:
    return {f.name: getattr(form, f"f_{f.name}").data or "" for f in info.fields}


def split_clauses(raw: str | None) -> list[str]:
    return [c.strip() for c in (raw or "").replace("，", ",").replace("；", ",").split(",") if c.strip()]
