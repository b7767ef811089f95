"""Jinja2's sandbox with bounded resources, for every template a user writes.

Jinja2's :class:`~jinja2.sandbox.SandboxedEnvironment` stops a template from reaching
Python internals but not from asking for gigabytes: ``{{ 'x' * 300000000 }}`` or
``{{ 'x'|center(10**9) }}`` would build the string. :class:`BoundedSandbox` refuses any
``*``, ``**`` or ``+`` whose result would exceed :data:`MAX_VALUE` characters or items,
and any call given a number beyond that (``center``, ``ljust``, ``indent``, ``wordwrap``,
``range``...), with :class:`~jinja2.exceptions.SecurityError`; the constant folding that
would otherwise compute ``'x' * 300000000`` while compiling is off for those operators.
:func:`render_bounded` stops collecting output past a limit.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sized
from itertools import islice
from typing import Any

from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

MAX_VALUE = 100_000
"""The largest string or sequence a template expression may build, and the largest
number it may pass to a call."""


# A width of six digits or more in a format string ("%1000000s", "{:>1000000}").
_WIDE_FORMAT = re.compile(r"\d{6,}")


class BoundedSandbox(SandboxedEnvironment):
    """A sandbox whose expressions cannot build huge values (see the module docstring)."""

    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("center", "indent", "format", "wordwrap"):
            if name in self.filters:
                self.filters[name] = _checked(self.filters[name])

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "%" and isinstance(left, str):
            _check_format(left)
        elif operator == "**":
            if _number(left) and _number(right) and abs(right) > 64:
                raise SecurityError("a power this large is refused in a template")
        elif operator == "*":
            for seq, times in ((left, right), (right, left)):
                if (
                    isinstance(seq, Sized)
                    and _number(times)
                    and len(seq) * max(int(times), 0) > MAX_VALUE
                ):
                    raise SecurityError(
                        f"a repeated value over {MAX_VALUE} items is refused in a template"
                    )
        elif (
            operator == "+"
            and isinstance(left, Sized)
            and isinstance(right, Sized)
            and len(left) + len(right) > MAX_VALUE
        ):
            raise SecurityError(f"a value over {MAX_VALUE} items is refused in a template")
        return super().call_binop(context, operator, left, right)

    def getattr(self, obj: Any, attribute: str) -> Any:
        if isinstance(obj, str) and attribute in ("format", "format_map"):
            _check_format(obj)
        return super().getattr(obj, attribute)

    def call(self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _check_args(args, kwargs)
        return super().call(__context, __obj, *args, **kwargs)

    def call_filter(
        self,
        name: Any,
        value: Any,
        args: Any = None,
        kwargs: Any = None,
        context: Any = None,
        eval_ctx: Any = None,
    ) -> Any:
        for arg in (*(args or ()), *((kwargs or {}).values())):
            if _number(arg) and abs(arg) > MAX_VALUE:
                raise SecurityError(f"a number over {MAX_VALUE} is refused as an argument")
        return super().call_filter(name, value, args, kwargs, context, eval_ctx)


def _check_args(args: Iterable[Any], kwargs: dict[str, Any]) -> None:
    for value in (*args, *kwargs.values()):
        if _number(value) and abs(value) > MAX_VALUE:
            raise SecurityError(f"a number over {MAX_VALUE} is refused as an argument")
        if isinstance(value, str):
            _check_format(value)


def _check_format(text: str) -> None:
    if ("%" in text or "{" in text) and _WIDE_FORMAT.search(text):
        raise SecurityError("a format width this large is refused in a template")


def _checked(func: Callable[..., Any]) -> Callable[..., Any]:
    def bounded(*args: Any, **kwargs: Any) -> Any:
        _check_args(args[1:], kwargs)
        if args and isinstance(args[0], str) and func.__name__ == "do_format":
            _check_format(args[0])
        return func(*args, **kwargs)

    for attr in ("jinja_pass_arg",):
        if hasattr(func, attr):
            setattr(bounded, attr, getattr(func, attr))
    bounded.__name__ = func.__name__
    return bounded


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


_BATCH = 32
"""Chunks taken at a time by :func:`join_bounded` before it checks the length: a finding's
text is a few chunks, so it is joined at C speed; a runaway loop is stopped within a
batch of its limit (each chunk is itself bounded by the sandbox)."""


def join_bounded(chunks: Iterable[str], limit: int) -> str:
    """Concatenate rendered chunks, stopping past ``limit`` characters (cut with ``…``)."""
    it = iter(chunks)
    out: list[str] = []
    size = 0
    while True:
        batch = list(islice(it, _BATCH))
        out += batch
        size += sum(map(len, batch))
        if size > limit:
            return "".join(out)[: limit - 1] + "…"
        if len(batch) < _BATCH:
            return "".join(out)
