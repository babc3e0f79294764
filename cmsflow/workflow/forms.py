from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, RadioField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from cmsflow.workflow.taskschemas import COMMENT_MAX


class ApprovalForm(FlaskForm):
    decision = RadioField(_l("结论"), choices=[("approve", _l("同意")), ("reject", _l("退回修改"))],
                          validators=[InputRequired()])
    comment = TextAreaField(_l("意见"), validators=[Optional(), Length(max=COMMENT_MAX)])
    password = PasswordField(_l("电子签名：请再次输入您的密码"), validators=[Optional()])


class SimpleTaskForm(FlaskForm):
    comment = TextAreaField(_l("说明"), validators=[Optional(), Length(max=COMMENT_MAX)])
