"""Option values of the plain types (str, int, float, bool, Path and lists of them) converted without pydantic.

typer coerces every option through a pydantic TypeAdapter: importing pydantic and building one adapter per option
costs ~0.15 s on every command, a sixth of scoring a 300-image split. For the plain types the conversion is Python's
own; any value it does not take verbatim (`"1_000"`, `" 5"`, an option with bounds or a parser, a non-plain type)
goes to typer's own coercion, so what typer accepts and every error message stay exactly typer's
(`tests/cli/test_coercion.py` checks this option by option over the whole CLI).

This reaches into typer's parameter class (`_runtime_param`, the lazily built coercion). Where a typer release
renames it, `install` changes nothing and typer coerces as usual.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, get_args, get_origin

INT = re.compile(r"[+-]?[0-9]+")
FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
PLAIN = (str, int, float, bool, Path)


class Refused(Exception):
    """A value the plain conversion leaves to typer."""


def _convert(annotation: type, value: Any) -> Any:
    if type(value) is annotation:  # a default, or a bool flag's value
        return value
    if annotation is float and type(value) is int:
        return float(value)
    if isinstance(value, str):
        if annotation is str:
            return value
        if annotation is int and INT.fullmatch(value):
            return int(value)
        if annotation is float and FLOAT.fullmatch(value):
            return float(value)
        if annotation is Path and value:
            return Path(value)
    raise Refused


def _plain(descriptor: Any) -> tuple[type, bool] | None:
    """(item type, is a list) when every value of the option can take the plain conversion; None otherwise."""
    info = descriptor.parameter_info
    if descriptor.file_annotation is not None or info.parser is not None or info.min is not None \
            or info.max is not None:
        return None
    annotation, many = descriptor.annotation, False
    if get_origin(annotation) is list:
        (annotation,), many = get_args(annotation), True
    if annotation not in PLAIN:
        return None
    return annotation, many


try:
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_path
    from typer.core import _TyperParameter
except ImportError:  # a typer without these: `install` leaves coercion to typer
    RuntimeParam = None


if RuntimeParam is not None:
    class PlainRuntimeParam(RuntimeParam):
        """Python's conversion for a plain option; typer's for whatever it refuses."""

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            item, many = _plain(param.type_descriptor)
            try:
                out = [_convert(item, v) for v in (value if isinstance(value, (list, tuple)) else [value])] \
                    if many else _convert(item, value)
            except Refused:
                return build_runtime_param(param.type_descriptor)._coerce_value(value, param=param, ctx=ctx)
            if item is Path:  # typer's own checks (existence, readability, ...) on the Path it would have made
                def check(path: Path) -> Any:
                    return coerce_cli_path(path, self.parameter_info, path_type=Path, param=param, ctx=ctx)

                out = [check(p) for p in out] if many else check(out)
            return out


def install(command: Any, ctx: Any) -> None:
    """Give `command`'s plain options (its `--help` too) the plain conversion; a no-op for anything typer does not
    build this way."""
    if RuntimeParam is None:
        return
    for param in command.get_params(ctx):
        if not isinstance(param, _TyperParameter) or getattr(param, "_runtime_param", False) is not None:
            continue
        descriptor = param.type_descriptor
        if _plain(descriptor) is not None:
            param._runtime_param = PlainRuntimeParam(parameter_info=descriptor.parameter_info,
                                                     annotation=descriptor.annotation)
