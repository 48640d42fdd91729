"""partbench's registries: methods, suites, dataset readers, metric conventions and task kinds (`partbench.plugins`).

Built-in entries are registered by catalogue modules next to the code they name (`partbench/adapters/__init__.py`,
`partbench/methods/partconcepts/__init__.py`, `partbench/suites/catalog.py`, `partbench/data/__init__.py`,
`partbench/metrics/conventions.py`, `partbench/tasks/__init__.py`); third-party ones through the entry-point groups
`partbench.methods`, `partbench.suites`, `partbench.readers`, `partbench.conventions`, `partbench.task_kinds`, or
modules named in `$PARTBENCH_PLUGINS`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from partbench.api.method import MethodInfo, Param
from partbench.errors import PartbenchError, UnknownNameError
from partbench.plugins import Registry

if TYPE_CHECKING:
    from partbench.tasks.base import TaskKind

__all__ = ["MethodInfo", "Param", "all_methods", "get_method", "register_method", "METHODS", "READERS",
           "CONVENTIONS", "SUITES", "TASK_KINDS", "register_reader", "register_convention", "register_suite",
           "register_task_kind"]

# Methods are keyed by (task kind, name): a name such as `oracle` may serve several task kinds with other factories.
METHODS: Registry[MethodInfo] = Registry(
    "method", catalogues=("partbench.adapters", "partbench.methods.partconcepts"),
    entry_point_group="partbench.methods", label=lambda key: key[1])
READERS: Registry[str] = Registry("reader", catalogues=("partbench.data",), entry_point_group="partbench.readers")
CONVENTIONS: Registry[str] = Registry("metric convention", catalogues=("partbench.metrics.conventions",),
                                      entry_point_group="partbench.conventions")
SUITES: Registry[Path] = Registry("suite", catalogues=("partbench.suites.catalog",),
                                  entry_point_group="partbench.suites")
TASK_KINDS: Registry[TaskKind] = Registry("task kind", catalogues=("partbench.tasks",),
                                          entry_point_group="partbench.task_kinds")


def register_method(info: MethodInfo) -> MethodInfo:
    """Register `info` under each task kind it declares."""
    if not info.kinds:
        raise PartbenchError(f"Method {info.name!r} declares no task kind.")
    for kind in info.kinds:
        METHODS.register((kind, info.name), info)
    return info


def get_method(name: str, kind: str | None = None, where: str | None = None) -> MethodInfo:
    """The method `name` for task kind `kind`; without a kind, the one entry of that name (any kind). `where` names
    what the kind was asked for in messages (e.g. a suite). `<name>@key=value` is that method's variant with the
    argument fixed (`MethodInfo.variant_params`), e.g. one layer of seg4diff's layer sweep."""
    names = sorted({n for _, n in METHODS.keys()})
    base, at, variant = name.partition("@")
    if at and not any(n == name for _, n in METHODS.keys()):
        return get_method(base, kind, where).variant(variant)
    if kind is not None:
        found = METHODS.find((kind, name))
        if found is not None:
            return found
        for served in _method_kinds(kind):  # a task kind may run another kind's methods, adapting them itself
            found = METHODS.find((served, name))
            if found is not None:
                return found
        others = [k for k, n in METHODS.keys() if n == name]
        if others:
            raise PartbenchError(f"Method {name!r} ({'/'.join(sorted(others))}) "
                                 f"cannot run on {where or kind + ' suites'}.")
        raise UnknownNameError("method", name, names)
    infos = {info.factory: info for (_, n), info in METHODS.items() if n == name}
    if not infos:
        raise UnknownNameError("method", name, names)
    if len(infos) > 1:
        raise PartbenchError(f"Method {name!r} exists for several task kinds; name the suite to choose one.")
    return next(iter(infos.values()))


def _method_kinds(kind: str) -> tuple[str, ...]:
    """The other method kinds task kind `kind` also runs (`TaskKind.method_kinds`), in its order of preference."""
    task_kind = TASK_KINDS.find(kind)
    return tuple(getattr(task_kind, "method_kinds", ())) if task_kind is not None else ()


def all_methods() -> list[MethodInfo]:
    """Every registered method once, by name (a name registered for several kinds appears once per factory)."""
    seen: dict[tuple[str, str], MethodInfo] = {}
    for (_, name), info in METHODS.items():
        seen.setdefault((name, info.factory), info)
    return [seen[k] for k in sorted(seen)]


def register_reader(name: str, factory: str) -> None:
    """A dataset reader, `"module:Class"` called as `Class(suite, data_root, **suite.reader_args)`."""
    READERS.register(name, factory)


def register_convention(name: str, function: str) -> None:
    """An mIoU averaging rule, `"module:function"` (see `partbench.metrics.conventions`)."""
    CONVENTIONS.register(name, function)


def register_suite(path: str | Path, name: str | None = None) -> None:
    """A suite YAML file, under `name` (default: the file name without `.yaml`); read when the suite is used."""
    path = Path(path).resolve()
    SUITES.register(name or path.stem, path)


def register_task_kind(kind: TaskKind) -> None:
    """A task kind: the suite `task` values it serves, its sample loading, prediction store and evaluator."""
    TASK_KINDS.register(kind.name, kind)
