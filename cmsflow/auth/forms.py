from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, EqualTo, Length


class LoginForm(FlaskForm):
    username = StringField(_l("用户名"), validators=[DataRequired(), Length(max=64)])
    password = PasswordField(_l("密码"), validators=[DataRequired()])
    remember = BooleanField(_l("保持登录"))


class ChangePasswordForm(FlaskForm):
    current = PasswordField(_l("当前密码"), validators=[DataRequired()])
    new = PasswordField(_l("新密码"), validators=[DataRequired(), Length(max=128)],
                        description=_l("至少 10 位，混合字母、数字或符号，不能包含用户名，不能是常见密码"))
    confirm = PasswordField(_l("再次输入新密码"),
                            validators=[DataRequired(), EqualTo("new", message=_l("两次输入的新密码不一致"))])


class NewUserForm(FlaskForm):
    """The administrator's "新建用户" form; role and department choices are set by the view. The password policy
    is the service's (:func:`cmsflow.auth.service.check_password_policy`); the password is never echoed back."""

    username = StringField(_l("用户名"), validators=[DataRequired(), Length(max=64)])
    full_name = StringField(_l("姓名"), validators=[Length(max=120)])
    role = SelectField(_l("角色"), validators=[DataRequired()])
    department = SelectField(_l("部门"), validate_choice=False,
                             description=_l("部门负责人和部门人员必须指定部门"))
    password = PasswordField(_l("初始密码"), validators=[Length(max=128)],
                             description=_l("至少 10 位，混合字母、数字或符号，不能包含用户名，不能是常见密码；"
                                            "用户首次登录时须修改"))
    generate = BooleanField(_l("生成临时密码（只显示一次）"))


class ResetPasswordForm(FlaskForm):
    """The administrator's password reset: a temporary password the user must change at the next sign-in."""

    password = PasswordField(_l("临时密码"), validators=[Length(max=128)],
                             description=_l("至少 10 位，混合字母、数字或符号，不能包含用户名，不能是常见密码"))
    generate = BooleanField(_l("生成临时密码（只显示一次）"))


class DepartmentForm(FlaskForm):
    code = StringField(_l("部门编码"), validators=[DataRequired()],  # the rule and its message: the service's
                       description=_l("2–32 位大写字母、数字、下划线或连字符，创建后不可修改"))
    name = StringField(_l("部门名称"), validators=[DataRequired()])
