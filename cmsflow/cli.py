"""``flask --app wsgi cmsflow …``: init, seed-demo, create-department, create-user, update-user, set-password,
unlock-user, reindex, verify-history, seal-history, verify-files, backup, restore, worker."""
from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import with_appcontext
from sqlmodel import func, select

from cmsflow.core.db import session_scope
from cmsflow.core.errors import CmsflowError, Conflict


def _fail(message: str) -> None:
    click.echo(f"错误: {message}", err=True)
    sys.exit(2)


@click.group("cmsflow")
def cli() -> None:
    """cmsflow administration."""


def migrate_to_head(url: str | None = None) -> None:
    """Run Alembic migrations to head for the app's DATABASE_URL."""
    from alembic import command
    from alembic.config import Config

    root = Path(__file__).resolve().parent.parent
    cfg = Config(str(root / "alembic.ini"))
    cfg.set_main_option("script_location", str(root / "migrations"))
    cfg.attributes["database_url"] = url or current_app.config["DATABASE_URL"]
    command.upgrade(cfg, "head")


@cli.command("init")
@with_appcontext
def init_cmd() -> None:
    """Migrate the database to the latest schema."""
    migrate_to_head()
    click.echo("数据库已迁移到最新版本")


@cli.command("seed-demo")
@click.option("--if-empty", is_flag=True, help="Only seed when there are no users yet.")
@with_appcontext
def seed_demo_cmd(if_empty: bool) -> None:
    """Create the demo cement company: departments, users, documents."""
    from cmsflow.auth.models import User
    from cmsflow.demo.seed import seed_demo

    with session_scope() as session:
        if session.exec(select(func.count()).select_from(User)).one():
            if if_empty:
                click.echo("数据库已有数据，跳过演示数据")
                return
            _fail("数据库不为空；演示数据只能写入空数据库")
        seed_demo(session)
    click.echo("演示组织已创建")


@cli.command("demo-logins")
@with_appcontext
def demo_logins_cmd() -> None:
    """Print the demo users and their password."""
    from cmsflow.demo.seed import DEMO_PASSWORD, DEMO_USERS

    click.echo("\n演示账号 (demo logins) — 密码 / password: " + DEMO_PASSWORD)
    for username, name, role, dept in DEMO_USERS:
        click.echo(f"  {username:<16} {name:<6} {role:<28} {dept or ''}")
    click.echo("打开 http://127.0.0.1:5000\n")


@cli.command("create-department")
@click.argument("code")
@click.argument("name")
@with_appcontext
def create_department_cmd(code: str, name: str) -> None:
    """Create a department with CODE and NAME."""
    from cmsflow.auth.service import create_department

    try:
        with session_scope() as session:
            create_department(session, code, name)
    except CmsflowError as exc:
        _fail(exc.message)
    click.echo(f"部门 {code.upper()} 已创建")


@cli.command("create-user")
@click.argument("username")
@click.option("--password", required=True)
@click.option("--role", required=True)
@click.option("--department", default=None, help="Department code")
@click.option("--name", "full_name", default="", help="Full name")
@with_appcontext
def create_user_cmd(username: str, password: str, role: str, department: str | None, full_name: str) -> None:
    """Create a user with a role (and department for heads and staff)."""
    from cmsflow.auth.service import create_user

    try:
        with session_scope() as session:
            create_user(session, username, password, role, department, full_name)
    except CmsflowError as exc:
        _fail(exc.message)
    click.echo(f"用户 {username} 已创建")


@cli.command("reindex")
@click.option("--if-needed", is_flag=True, help="Only when the index is missing or damaged (every entry is read).")
@with_appcontext
def reindex_cmd(if_needed: bool) -> None:
    """Rebuild the search index from the database."""
    from cmsflow.search.service import backend, reindex

    if if_needed:
        problem = backend().check(deep=True)
        if problem is None:
            click.echo("搜索索引完好")
            return
        current_app.logger.warning("search index %s: rebuilding it from the database", problem)
        click.echo(f"搜索索引缺失或损坏（{problem}），从数据库重建")
    with session_scope() as session:
        n = reindex(session)
    click.echo(f"搜索索引已重建：{n} 条")


@cli.command("verify-history")
@with_appcontext
def verify_history_cmd() -> None:
    """Verify the activity log: hash chain, electronic signatures against their history entries, and the table
    against the HMAC-signed checkpoint (truncation). Exit code 2 on any finding; a missing checkpoint is a warning."""
    from cmsflow.history.audit import verify_history

    with session_scope() as session:
        report = verify_history(session)
    findings = []
    if report.broken_at is not None:
        findings.append(f"审计日志哈希链在第 {report.broken_at} 条处断裂")
    findings += [p.message for p in report.signature_problems]
    if report.checkpoint_problems:
        findings.append("审计日志被截断或改写（history truncated/rewritten）：" + "；".join(report.checkpoint_problems))
    if report.checkpoint is None and not report.checkpoint_problems:
        click.echo("警告: 尚无审计日志检查点，无法发现末尾条目被删除；请运行 cmsflow seal-history 或 worker", err=True)
    if findings:
        for line in findings[:-1]:
            click.echo(f"错误: {line}", err=True)
        _fail(findings[-1])
    legacy = f"（其中 {report.legacy_signatures} 个为绑定前的旧签名）" if report.legacy_signatures else ""
    sealed = f"，与检查点（第 {report.checkpoint.last_id} 条）一致" if report.checkpoint else ""
    click.echo(f"审计日志哈希链完整：{report.entries} 条，电子签名与日志一致{legacy}{sealed}")


@cli.command("seal-history")
@click.option("--reset", is_flag=True,
              help="Replace an invalid or contradicted checkpoint (after a key change or a documented maintenance "
                   "step): the whole chain must verify; the reset is recorded in the history.")
@with_appcontext
def seal_history_cmd(reset: bool) -> None:
    """Advance the HMAC-signed checkpoint of the activity log to its newest entry (the worker does so each pass);
    refused (exit code 2, nothing written) when the table contradicts the previous checkpoint or does not chain.
    ``--reset`` writes a new one after verifying the whole chain and records ``history_checkpoint_reset``."""
    from cmsflow.history import checkpoint
    from cmsflow.history.service import record, verify_chain

    try:
        if reset:
            with session_scope() as session:
                ok, broken = verify_chain(session)
            if not ok:
                _fail(f"审计日志哈希链在第 {broken} 条处断裂；检查点未重置")
            with session_scope() as session:
                try:
                    previous = checkpoint.read()
                    findings = checkpoint.compare(session, previous) if previous else ["尚无检查点"]
                except checkpoint.CheckpointError as exc:
                    previous, findings = None, [exc.message]
                record(session, None, "history_checkpoint_reset", "history", 0, via="cli",
                       previous=previous.fields() if previous else None, findings=findings)
            with session_scope() as session:
                cp = checkpoint.reset(session)
        else:
            with session_scope() as session:
                cp, added = checkpoint.advance(session)
    except CmsflowError as exc:
        _fail(exc.message)
    done = "已重置（已记入审计日志）" if reset else f"已更新（新增 {added} 条）"
    click.echo(f"审计日志检查点{done}：第 {cp.last_id} 条，共 {cp.count} 条")


@cli.command("verify-files")
@with_appcontext
def verify_files_cmd() -> None:
    """Re-hash every stored file against its SHA-256; exit code 1 when any is missing or altered."""
    from cmsflow.core.runtime import file_store
    from cmsflow.core.storage import references, verify_files

    with session_scope() as session:
        result = verify_files(session, file_store())
        problems = [("缺失", sha) for sha in result.missing] + [("被改动", sha) for sha in result.altered]
        for label, sha in problems:
            used = "、".join(references(session, sha)) or "无记录引用"
            click.echo(f"{label}: {sha}（{used}）", err=True)
    click.echo(f"已校验 {result.checked} 个文件：缺失 {len(result.missing)} 个，被改动 {len(result.altered)} 个；"
               f"未登记的磁盘文件 {len(result.unregistered)} 个")
    if not result.ok:
        sys.exit(1)


@cli.command("backup")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@with_appcontext
def backup_cmd(path: Path) -> None:
    """Write one archive (.tar.gz) of the database rows, the stored files and a manifest with SHA-256 hashes."""
    from cmsflow.core.backup import write_backup

    try:
        summary = write_backup(path)
    except CmsflowError as exc:
        _fail(exc.message)
    click.echo(f"备份已写入 {summary.path}（{summary.archive_bytes / 1048576:.1f} MB，数据库版本 {summary.revision}）："
               f"{len(summary.rows)} 张表 {sum(summary.rows.values())} 行，{summary.files} 个文件"
               f"（{summary.file_bytes / 1048576:.1f} MB），用时 {summary.seconds:.1f} 秒")


@cli.command("restore")
@click.argument("path", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--source-key", default=None,
              help="HMAC key (HISTORY_HMAC_KEY, else SECRET_KEY) of the instance that wrote the backup, "
                   "when it differs from this instance's.")
@with_appcontext
def restore_cmd(path: Path, source_key: str | None) -> None:
    """Restore an archive written by ``backup`` into this empty instance; checks the manifest's HMAC, verifies
    history, signatures and files, reindexes and writes a new history checkpoint."""
    from cmsflow.core.backup import restore_backup

    try:
        summary = restore_backup(path, key=source_key.encode() if source_key else None)
    except CmsflowError as exc:
        _fail(exc.message)
    if summary.migrated:
        click.echo("空数据库已迁移到最新版本")
    for table, rows in summary.rows.items():
        if rows:
            click.echo(f"  {table:<28} {rows:>8} 行")
    click.echo(f"已恢复 {len(summary.rows)} 张表 {sum(summary.rows.values())} 行、{summary.files} 个文件"
               f"（备份于 {summary.created_at}，来自 {summary.source_dialect}）；审计日志哈希链完整，文件校验通过；"
               f"搜索索引已重建 {summary.indexed} 条；用时 {summary.seconds:.1f} 秒")


def _user(session, username: str):
    from cmsflow.auth.service import user_by_name

    try:
        return user_by_name(session, username)
    except CmsflowError as exc:
        _fail(exc.message)


@cli.command("update-user")
@click.argument("username")
@click.option("--role", default=None, help="New role")
@click.option("--department", default=None, help="Department code ('' for none)")
@click.option("--active/--inactive", default=None, help="Enable or disable the account")
@with_appcontext
def update_user_cmd(username: str, role: str | None, department: str | None, active: bool | None) -> None:
    """Change a user's role, department or active flag (recorded in the history with before/after)."""
    from cmsflow.auth.service import update_user

    try:
        with session_scope() as session:
            changes = update_user(session, None, _user(session, username), role=role, department_code=department,
                                  active=active, via="cli")
    except CmsflowError as exc:
        _fail(exc.message)
    click.echo(f"用户 {username} 已更新：" + "；".join(f"{k} {v[0]} → {v[1]}" for k, v in changes.items())
               if changes else f"用户 {username} 没有变更")


@cli.command("set-password")
@click.argument("username")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option("--temporary", is_flag=True, help="The user must change it at the next sign-in.")
@with_appcontext
def set_password_cmd(username: str, password: str, temporary: bool) -> None:
    """Set a user's password (policy checked; recorded; the account is unlocked). ``--temporary``: the user must
    change it at the next sign-in, as after a reset on /admin/users."""
    from cmsflow.auth.service import reset_password

    try:
        with session_scope() as session:
            reset_password(session, None, _user(session, username), password, via="cli", temporary=temporary)
    except CmsflowError as exc:
        _fail(exc.message)
    click.echo(f"用户 {username} 的密码已重置" + ("（临时密码：下次登录时须修改）" if temporary else ""))


@cli.command("unlock-user")
@click.argument("username")
@with_appcontext
def unlock_user_cmd(username: str) -> None:
    """Unlock an account locked after too many failed sign-ins (recorded in the history)."""
    from cmsflow.auth.service import unlock

    with session_scope() as session:
        done = unlock(session, None, _user(session, username), via="cli")
    click.echo(f"账户 {username} 已解锁" if done else f"账户 {username} 未被锁定")


def _fire_due_timers(limit: int = 500) -> int:
    """Step due instances one transaction each; a failing one is postponed, the others go on.

    Killed mid-batch, nothing is lost or done twice: an instance's timers, the reminders they send and its new
    state are committed together or not at all, and the claim is a row lock of that transaction (released when
    the process dies), not a flag left behind. A step that another worker saved first (Conflict) is not an error.
    """
    from cmsflow.workflow.service import claim_due_instance, fire_timers_of, postpone_timer

    fired = attempts = 0
    while fired < limit and attempts < 2 * limit:
        attempts += 1
        claimed = None
        try:
            with session_scope() as session:
                inst = claim_due_instance(session)
                if inst is None:
                    break
                claimed = inst.id
                fire_timers_of(session, inst)
            fired += 1
        except Conflict:
            current_app.logger.info("timer step of instance %s was done by another worker", claimed)
        except Exception as exc:
            current_app.logger.exception("timer step of instance %s failed", claimed)
            if claimed is None:
                raise
            with session_scope() as session:
                postpone_timer(session, claimed, str(exc))
    return fired


def worker_pass() -> dict:
    """One pass: fire due BPMN timers, remind overdue tasks, calibrations and review actions, apply pending
    search updates, advance the history checkpoint."""
    from cmsflow.registers.integration import remind_calibrations
    from cmsflow.reviews.service import remind_overdue_actions
    from cmsflow.search.service import ensure_index, process_outbox
    from cmsflow.workflow.reminders import remind_overdue

    timers = _fire_due_timers()
    with session_scope() as session:
        overdue = remind_overdue(session)
    with session_scope() as session:
        calibrations = remind_calibrations(session)
    with session_scope() as session:
        review_actions = remind_overdue_actions(session)
    with session_scope() as session:
        search_index = ensure_index(session)  # a deleted or damaged index is rebuilt from the database
    with session_scope() as session:
        indexed = process_outbox(session)
    return {"timers": timers, "overdue": overdue, "calibrations": calibrations, "review_actions": review_actions,
            "search_index": search_index, "indexed": indexed, "history_sealed": _seal_history()}


def _seal_history() -> int | str:
    """Advance the history checkpoint (entries sealed), or "refused" when the table contradicts it (logged as an
    error; the old checkpoint stays, so ``verify-history`` keeps reporting it)."""
    from cmsflow.history import checkpoint

    try:
        with session_scope() as session:
            return checkpoint.advance(session)[1]
    except checkpoint.CheckpointError as exc:
        current_app.logger.error("history checkpoint not advanced: %s", exc.message)
        return "refused"


@cli.command("worker")
@click.option("--once", is_flag=True, help="Run one pass and exit.")
@click.option("--interval", default=30, show_default=True, help="Seconds between passes.")
@with_appcontext
def worker_cmd(once: bool, interval: int) -> None:
    """Wake due BPMN timers and send due reminders."""
    while True:
        result = worker_pass()
        click.echo(" ".join(f"{k}={v}" for k, v in result.items()))
        if once:
            return
        time.sleep(interval)
