"""RestrictedPython environment for BPMN conditions and scripts: no imports, no unsafe builtins."""
from __future__ import annotations

import json
from contextvars import ContextVar
from functools import lru_cache
from types import ModuleType
from typing import Any

from RestrictedPython import compile_restricted_eval, compile_restricted_exec, safe_globals
from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
from RestrictedPython.Guards import full_write_guard, guarded_iter_unpack_sequence, safer_getattr
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

from cmsflow.workflow import services

# The step being executed (set by the runtime) so service functions reach the session and instance.
current_step: ContextVar[Any] = ContextVar("cmsflow_current_step", default=None)

_SAFE_EXTRAS = {"len": len, "min": min, "max": max, "sum": sum, "any": any, "all": all,
                "sorted": sorted, "round": round, "abs": abs}


class ScriptError(Exception):
    """A BPMN expression or script was refused by RestrictedPython or failed."""


@lru_cache(maxsize=512)
def _compile_eval(expression: str):
    result = compile_restricted_eval(expression.strip())
    if result.errors:
        raise ScriptError(f"表达式被拒绝 {expression!r}: {'; '.join(result.errors)}")
    return result.code


@lru_cache(maxsize=256)
def _compile_exec(script: str):
    result = compile_restricted_exec(script)
    if result.errors:
        raise ScriptError(f"脚本被拒绝: {'; '.join(result.errors)}")
    return result.code


def _globals() -> dict:
    g = dict(safe_globals)
    g["__builtins__"] = {**safe_globals["__builtins__"], **_SAFE_EXTRAS}
    g.update({"_getattr_": safer_getattr, "_getitem_": default_guarded_getitem,
              "_getiter_": default_guarded_getiter, "_iter_unpack_sequence_": guarded_iter_unpack_sequence,
              "_write_": full_write_guard})
    return g


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """Evaluates gateway conditions and timer expressions; service tasks call registered functions only."""

    def __init__(self):
        super().__init__({})

    def evaluate(self, expression, context, external_context=None):
        scope = _globals()
        scope.update(external_context or {})
        scope.update(context)
        return eval(_compile_eval(expression), scope)  # noqa: S307 - compiled by RestrictedPython

    def execute(self, script, context, external_context=None):
        scope = _globals()
        scope.update(external_context or {})
        local: dict = dict(context)
        exec(_compile_exec(script), scope, local)  # noqa: S102 - compiled by RestrictedPython
        context.update({k: v for k, v in local.items()
                        if not callable(v) and not isinstance(v, ModuleType) and not k.startswith("_")})
        return True

    def call_service(self, context, operation_name=None, operation_params=None, **_kw):
        params = {name: p["value"] for name, p in (operation_params or {}).items()}
        result = services.call(operation_name, current_step.get(), context, **params)
        return json.dumps(result)
