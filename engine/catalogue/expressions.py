"""The restricted evaluator for a diagram's expressions, with a cost limit, and the script engine using it.

SpiffWorkflow's default environment runs conditions through plain eval/exec, so an uploaded
diagram could run anything on the server. Here every expression of a diagram (gateway
conditions, timer expressions, any other formal expression) is held to a small language, the
same at `bpmn check` and before each evaluation:

- comparisons (`==`, `!=`, `<`, `in`, `is`, ...), `and`, `or`, `not`, `a if c else b`;
- literals of bounded size: strings up to MAX_STRING_LITERAL characters, numbers up to
  MAX_NUMBER_LITERAL, lists, tuples and sets of up to MAX_COLLECTION_ITEMS literals;
- `+`, `-`, `*`, `/`, `//`, `%` on numbers, but no power, no shifts or bit operations, no
  repetition (`*` with a string or a list) and no `%` formatting of a string;
- calls of the functions in SAFE_FUNCTIONS only, which cannot make anything bigger than their
  argument, positionally (round's digits a literal from 0 to MAX_ROUND_DIGITS);
- names: at `bpmn check`, only the names the procedure declares (procedure_model.declared_names:
  `outcome`, `dossier_code`, `channel` and the data keys declared with `<mc:data name="..."/>`);
- no attribute access, no subscripts, no comprehensions, no f-strings, no lambdas, no dicts.

The evaluation itself (simpleeval, over the dossier's data only) has a budget: at most
MAX_OPERATIONS evaluated nodes and TIME_BUDGET_SECONDS of wall clock, strings and lists built
up to MAX_RESULT_LENGTH, integers up to MAX_INT_BITS bits. Scripts and service calls are
refused outright. A refused or failed expression raises UnsafeExpression, whose `explanation`
says why in Vietnamese.
"""

from __future__ import annotations

import ast
import functools
import operator
import time
from collections.abc import Callable, Collection, Mapping
from types import MappingProxyType
from typing import Any

from simpleeval import EvalWithCompoundTypes, InvalidExpression, NameNotDefined
from SpiffWorkflow.bpmn.script_engine import PythonScriptEngine
from SpiffWorkflow.bpmn.script_engine.python_environment import BasePythonScriptEngineEnvironment

MAX_EXPRESSION_LENGTH = 1000
MAX_NODES = 200
MAX_STRING_LITERAL = 200
MAX_NUMBER_LITERAL = 10**15
MAX_COLLECTION_ITEMS = 50
MAX_ROUND_DIGITS = 10
# The run-time budget of one evaluation.
MAX_OPERATIONS = 2000
TIME_BUDGET_SECONDS = 0.05
MAX_RESULT_LENGTH = 10_000
MAX_INT_BITS = 4096


def _round(number: Any, digits: int = 0) -> Any:
    # Negative digits would make int rounding compute 10 ** -digits.
    if not isinstance(digits, int) or not 0 <= digits <= MAX_ROUND_DIGITS:
        raise ValueError(f"round() digits must be 0..{MAX_ROUND_DIGITS}")
    return round(number, digits)


# The only functions an expression may call: none of them returns more than it is given.
SAFE_FUNCTIONS: Mapping[str, Callable[..., Any]] = MappingProxyType(
    {
        "len": len,
        "int": int,
        "float": float,
        "str": str,
        "abs": abs,
        "min": min,
        "max": max,
        "round": _round,
    }
)

_BINARY = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
}
_BITWISE = {
    ast.Pow: "**",
    ast.LShift: "<<",
    ast.RShift: ">>",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
    ast.MatMult: "@",
}
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
# Nodes the walk accepts as they are (their children are checked on their own).
_PLAIN = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.IfExp,
    ast.Load,
    *_BINARY,
)


class UnsafeExpression(ValueError):
    """The expression is not allowed or cannot be evaluated within its budget.

    The message is in English (logs, SpiffWorkflow); `explanation` says the same in Vietnamese
    for officers; `expression` is the text concerned.
    """

    def __init__(self, message: str, explanation: str, expression: str = "") -> None:
        super().__init__(message)
        self.explanation = explanation
        self.expression = expression


def _refuse(message: str, explanation: str) -> UnsafeExpression:
    return UnsafeExpression(message, explanation)


def _is_sequence_literal(node: ast.expr) -> bool:
    return (isinstance(node, ast.Constant) and isinstance(node.value, str | bytes)) or isinstance(
        node, ast.List | ast.Tuple | ast.Set
    )


def _check_literal(node: ast.Constant) -> None:
    value = node.value
    if isinstance(value, bytes):
        raise _refuse("bytes literals are not allowed", "không được dùng hằng kiểu bytes")
    if isinstance(value, str) and len(value) > MAX_STRING_LITERAL:
        raise _refuse(
            f"string literal longer than {MAX_STRING_LITERAL} characters",
            f"chuỗi hằng dài quá {MAX_STRING_LITERAL} ký tự",
        )
    # A float literal may be inf (1e999) or nan; a complex one is never a quantity of a procedure.
    if isinstance(value, complex) or (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and not abs(value) <= MAX_NUMBER_LITERAL
    ):
        raise _refuse(
            f"number literal above {MAX_NUMBER_LITERAL}",
            f"số hằng vượt giới hạn {MAX_NUMBER_LITERAL:,}".replace(",", "."),
        )


def _check_call(node: ast.Call) -> None:
    func = node.func
    if not (isinstance(func, ast.Name) and func.id in SAFE_FUNCTIONS):
        shown = ast.unparse(func)
        raise _refuse(
            f"call to '{shown}' is not allowed",
            f"không được gọi '{shown}'; chỉ được gọi {', '.join(SAFE_FUNCTIONS)}",
        )
    if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
        raise _refuse(
            f"call to '{func.id}' with named or unpacked arguments is not allowed",
            f"khi gọi '{func.id}' chỉ được truyền tham số theo vị trí",
        )
    if func.id == "round" and len(node.args) > 1:
        digits = node.args[1]
        if not (
            len(node.args) == 2
            and isinstance(digits, ast.Constant)
            and type(digits.value) is int
            and 0 <= digits.value <= MAX_ROUND_DIGITS
        ):
            raise _refuse(
                f"round() takes a literal number of digits from 0 to {MAX_ROUND_DIGITS}",
                f"số chữ số của round phải là một số nguyên từ 0 đến {MAX_ROUND_DIGITS}",
            )


def _check_node(node: ast.AST, names: Collection[str] | None, calls: set[int]) -> None:
    """Refuse one node that is outside the language; its children are visited by the caller."""
    if isinstance(node, _PLAIN):
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINARY:
            shown = _BITWISE.get(type(node.op), type(node.op).__name__)
            what = "phép lũy thừa" if isinstance(node.op, ast.Pow) else "phép toán bit"
            raise _refuse(f"operator '{shown}' is not allowed", f"không được dùng {what} '{shown}'")
        if isinstance(node.op, ast.Mult) and (
            _is_sequence_literal(node.left) or _is_sequence_literal(node.right)
        ):
            raise _refuse(
                "repetition of a string or a list is not allowed",
                "không được nhân chuỗi hoặc danh sách (phép lặp '*')",
            )
        if isinstance(node.op, ast.Mod) and _is_sequence_literal(node.left):
            raise _refuse("string formatting with '%' is not allowed", "không được định dạng chuỗi bằng '%'")
        return
    if isinstance(node, ast.Invert):
        raise _refuse("operator '~' is not allowed", "không được dùng phép toán bit '~'")
    if isinstance(node, ast.Constant):
        _check_literal(node)
    elif isinstance(node, ast.List | ast.Tuple | ast.Set):
        if len(node.elts) > MAX_COLLECTION_ITEMS:
            raise _refuse(
                f"more than {MAX_COLLECTION_ITEMS} items in a literal",
                f"danh sách hằng có quá {MAX_COLLECTION_ITEMS} phần tử",
            )
        if any(isinstance(e, ast.Starred) for e in node.elts):
            raise _refuse("unpacking is not allowed", "không được dùng phép giải nén '*'")
    elif isinstance(node, ast.Call):
        _check_call(node)
        calls.add(id(node.func))
    elif isinstance(node, ast.Attribute):
        raise _refuse(
            f"access to '{node.attr}' is not allowed", f"không được truy cập thuộc tính '.{node.attr}'"
        )
    elif isinstance(node, ast.Name):
        if node.id.startswith("__"):
            raise _refuse(f"name '{node.id}' is not allowed", f"không được dùng tên '{node.id}'")
        if names is not None and id(node) not in calls and node.id not in names:
            raise _refuse(
                f"name '{node.id}' is not declared",
                f"tên '{node.id}' chưa được khai báo: chỉ được dùng {', '.join(sorted(names))} "
                'và dữ liệu khai báo bằng <mc:data name="..."/>',
            )
    elif isinstance(node, ast.Subscript | ast.Slice):
        raise _refuse("subscripts are not allowed", "không được lấy phần tử bằng [...]")
    elif isinstance(node, _COMPREHENSIONS):
        raise _refuse(
            "comprehensions are not allowed", "không được dùng biểu thức sinh danh sách (comprehension)"
        )
    elif isinstance(node, ast.JoinedStr | ast.FormattedValue):
        raise _refuse("f-strings are not allowed", "không được dùng chuỗi định dạng f-string")
    elif not isinstance(node, ast.comprehension):
        raise _refuse(
            "this construct is not allowed in a condition",
            f"không được dùng cấu trúc này trong biểu thức ({type(node).__name__})",
        )


@functools.lru_cache(maxsize=1024)
def _parsed(expression: str) -> ast.expr:
    """The checked tree of an expression, names not checked (cached: diagrams repeat their conditions)."""
    return _checked_tree(expression, None)


def _checked_tree(expression: str, names: Collection[str] | None) -> ast.expr:
    text = expression.strip() if expression else ""
    if not text:
        raise UnsafeExpression("empty condition", "biểu thức để trống", expression)
    if len(text) > MAX_EXPRESSION_LENGTH:
        raise UnsafeExpression(
            f"expression longer than {MAX_EXPRESSION_LENGTH} characters",
            f"biểu thức dài quá {MAX_EXPRESSION_LENGTH} ký tự",
            expression,
        )
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise UnsafeExpression(
            f"not a valid expression: {exc.msg}",
            f"biểu thức sai cú pháp ở ký tự thứ {exc.offset or 1}; biểu thức có dạng như outcome == 'duyet'",
            expression,
        ) from exc
    except (ValueError, RecursionError, MemoryError) as exc:  # NUL bytes, absurd nesting
        raise UnsafeExpression(
            f"not a valid expression: {type(exc).__name__}", "biểu thức không hợp lệ", expression
        ) from exc
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise UnsafeExpression(
            f"expression with more than {MAX_NODES} parts",
            f"biểu thức có quá nhiều thành phần (tối đa {MAX_NODES})",
            expression,
        )
    calls: set[int] = set()
    for node in nodes:
        try:
            _check_node(node, names, calls)
        except UnsafeExpression as exc:
            exc.expression = expression
            raise
    return tree.body


def check_expression(expression: str, names: Collection[str] | None = None) -> None:
    """Raise UnsafeExpression when the text is outside the expression language.

    With `names`, every name must be one of them (what the procedure declares); without, names
    are left to the evaluation, which refuses a name missing from the data.
    """
    if names is None:
        _parsed(expression)
    else:
        _checked_tree(expression, frozenset(names))


# ---------------------------------------------------------------------------
# evaluation with a budget


class _Exhausted(Exception):
    """An evaluation went over its budget; the message says which, in Vietnamese."""


def _sized(value: Any) -> bool:
    return isinstance(value, str | bytes | list | tuple | set | frozenset | dict)


def _add(a: Any, b: Any) -> Any:
    if _sized(a) and _sized(b) and len(a) + len(b) > MAX_RESULT_LENGTH:
        raise _Exhausted(f"kết quả dài quá {MAX_RESULT_LENGTH} phần tử")
    return operator.add(a, b)


def _mult(a: Any, b: Any) -> Any:
    if _sized(a) or _sized(b):
        raise _Exhausted("không được nhân chuỗi hoặc danh sách")
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS:
        raise _Exhausted(f"số vượt quá {MAX_INT_BITS} bit")
    return operator.mul(a, b)


def _mod(a: Any, b: Any) -> Any:
    if _sized(a):
        raise _Exhausted("không được định dạng chuỗi bằng '%'")
    return operator.mod(a, b)


def _contains(container: Any, item: Any) -> bool:
    return operator.contains(container, item)


# Only the operators the language allows; simpleeval refuses any other as not defined.
OPERATORS: dict[type, Callable[..., Any]] = {
    ast.Add: _add,
    ast.Sub: operator.sub,
    ast.Mult: _mult,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: _mod,
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Gt: operator.gt,
    ast.Lt: operator.lt,
    ast.GtE: operator.ge,
    ast.LtE: operator.le,
    ast.Not: operator.not_,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
    ast.In: lambda x, y: _contains(y, x),
    ast.NotIn: lambda x, y: not _contains(y, x),
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
# simpleeval handlers the language has no use for: removed so even a tree that escaped the
# check cannot reach them.
_REMOVED_NODES = (
    ast.Attribute,
    ast.Subscript,
    ast.Slice,
    ast.JoinedStr,
    ast.FormattedValue,
    ast.Dict,
    *_COMPREHENSIONS,
)


class _BudgetedEval(EvalWithCompoundTypes):
    """simpleeval with fewer node types, bounded operators, and a node count and deadline."""

    def __init__(self, names: dict[str, Any]) -> None:
        super().__init__(operators=dict(OPERATORS), functions=dict(SAFE_FUNCTIONS), names=names)
        # EvalWithCompoundTypes adds list, tuple, dict and set to the functions it is given.
        self.functions = dict(SAFE_FUNCTIONS)
        for node_type in _REMOVED_NODES:
            self.nodes.pop(node_type, None)
        self._operations = 0
        self._deadline = time.perf_counter() + TIME_BUDGET_SECONDS

    def _eval(self, node: ast.AST) -> Any:
        self._operations += 1
        if self._operations > MAX_OPERATIONS:
            raise _Exhausted(f"quá {MAX_OPERATIONS} phép tính")
        if time.perf_counter() > self._deadline:
            raise _Exhausted(f"quá {TIME_BUDGET_SECONDS * 1000:g} ms")
        result = super()._eval(node)
        if _sized(result) and len(result) > MAX_RESULT_LENGTH:
            raise _Exhausted(f"kết quả dài quá {MAX_RESULT_LENGTH} phần tử")
        if isinstance(result, int) and result.bit_length() > MAX_INT_BITS:
            raise _Exhausted(f"số vượt quá {MAX_INT_BITS} bit")
        return result


def evaluate(expression: str, data: dict[str, Any]) -> Any:
    """Evaluate an expression over the dossier's data, within the language and the budget."""
    tree = _parsed(expression)
    try:
        return _BudgetedEval(dict(data)).eval(expression, previously_parsed=tree)
    except _Exhausted as exc:
        raise UnsafeExpression(
            f"over the evaluation budget ({exc})",
            f"vượt giới hạn tính toán của một biểu thức: {exc}",
            expression,
        ) from exc
    except NameNotDefined as exc:
        name = getattr(exc, "name", "")
        raise UnsafeExpression(str(exc), f"hồ sơ không có dữ liệu '{name}'", expression) from exc
    except InvalidExpression as exc:
        raise UnsafeExpression(str(exc), f"biểu thức không tính được: {exc}", expression) from exc
    except (ArithmeticError, TypeError, ValueError, KeyError, IndexError, RecursionError) as exc:
        raise UnsafeExpression(
            f"{type(exc).__name__}: {exc}",
            f"biểu thức không tính được ({type(exc).__name__}: {exc})",
            expression,
        ) from exc


class RestrictedEnvironment(BasePythonScriptEngineEnvironment):
    """A script environment that evaluates expressions safely and never executes scripts."""

    def evaluate(self, expression: str, context: dict, external_context: dict | None = None) -> Any:
        names = dict(context)
        names.update(external_context or {})
        return evaluate(expression, names)

    def execute(self, script: str, context: dict, external_context: dict | None = None) -> bool:
        raise UnsafeExpression("scripts are disabled", "sơ đồ không được chạy mã script", script)

    def call_service(self, context: dict, **kwargs: Any) -> Any:
        raise UnsafeExpression("service tasks are disabled", "sơ đồ không được gọi dịch vụ bên ngoài")


class RestrictedScriptEngine(PythonScriptEngine):
    """SpiffWorkflow script engine backed by RestrictedEnvironment."""

    def __init__(self) -> None:
        super().__init__(environment=RestrictedEnvironment())

    def validate(self, expression: str) -> None:
        check_expression(expression)


SCRIPT_ENGINE = RestrictedScriptEngine()
