"""The restricted evaluator for gateway conditions, and the SpiffWorkflow script engine using it.

SpiffWorkflow's default environment runs conditions through plain eval/exec, so an uploaded
diagram could run anything on the server. Here conditions are evaluated by simpleeval over
the dossier's data only: no attribute access to dunders, no imports, only whitelisted
functions, and scripts are refused outright.
"""

from __future__ import annotations

import ast
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

# The only functions a condition may call.
SAFE_FUNCTIONS: dict[str, Any] = {
    "len": len,
    "int": int,
    "float": float,
    "str": str,
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
}


class UnsafeExpression(ValueError):
    """The expression is not allowed or cannot be evaluated safely."""


def _evaluator(names: dict[str, Any]) -> EvalWithCompoundTypes:
    return EvalWithCompoundTypes(names=dict(names), functions=SAFE_FUNCTIONS)


def check_expression(expression: str) -> None:
    """Raise UnsafeExpression when the text is not an expression the evaluator accepts."""
    if not expression or not expression.strip():
        raise UnsafeExpression("empty condition")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise UnsafeExpression(f"not a valid expression: {exc.msg}") from exc
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            raise UnsafeExpression(f"access to '{node.attr}' is not allowed")
        if isinstance(node, ast.Name) and node.id.startswith("__"):
            raise UnsafeExpression(f"name '{node.id}' is not allowed")
        if isinstance(node, ast.Call):
            func = node.func
            if not (isinstance(func, ast.Name) and func.id in SAFE_FUNCTIONS):
                shown = ast.unparse(func)
                raise UnsafeExpression(f"call to '{shown}' is not allowed")
        if isinstance(node, ast.Lambda | ast.NamedExpr | ast.Await | ast.Yield | ast.YieldFrom):
            raise UnsafeExpression("this construct is not allowed in a condition")


def evaluate(expression: str, data: dict[str, Any]) -> Any:
    """Evaluate a condition over the dossier's data; unknown names and unsafe constructs are refused."""
    check_expression(expression)
    try:
        return _evaluator(data).eval(expression.strip())
    except InvalidExpression as exc:
        raise UnsafeExpression(str(exc)) from exc
    except (TypeError, ValueError, ZeroDivisionError, KeyError, IndexError) as exc:
        raise UnsafeExpression(f"{type(exc).__name__}: {exc}") from exc


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """A script environment that evaluates expressions safely and never executes scripts."""

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        names = dict(context)
        names.update(external_context or {})
        return evaluate(expression, names)

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        raise UnsafeExpression("scripts are disabled")

    def call_service(self, context: dict, **kwargs: Any) -> Any:
        raise UnsafeExpression("service tasks are disabled")


class RestrictedScriptEngine(PythonScriptEngine):
    """SpiffWorkflow script engine backed by RestrictedEnvironment."""

    def __init__(self) -> None:
        super().__init__(environment=RestrictedEnvironment())

    def validate(self, expression: str) -> None:
        check_expression(expression)


SCRIPT_ENGINE = RestrictedScriptEngine()
