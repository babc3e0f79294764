"""The whitelist of Python functions a BPMN service task may call (``spiffworkflow:serviceTaskOperator``)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

_REGISTRY: dict[str, Callable[..., Any]] = {}


def register(name: str) -> Callable:
    """Decorator: make ``fn(step, data, **params)`` callable from BPMN as operator ``name``.

    ``step`` is the running StepContext (session, instance, actor); ``data`` the task data (read-only
    by convention); the return value must be JSON-serialisable and lands in the result variable.
    """
    def wrap(fn: Callable) -> Callable:
        _REGISTRY[name] = fn
        return fn
    return wrap


def call(name: str, step, data: dict, **params) -> Any:
    """Call a registered service; raises LookupError for an operator that is not whitelisted."""
    if name not in _REGISTRY:
        raise LookupError(f"服务任务 {name} 未注册（不在白名单中）")
    return _REGISTRY[name](step, data, **params)


def registered() -> set[str]:
    return set(_REGISTRY)
