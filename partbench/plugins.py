"""One registry type for every extension point: methods, readers, metric conventions, task kinds.

Entries are cheap to register: a factory is a `"module:attr"` string imported only when it is used, so listing
every method or reader imports nothing heavy. Each registry fills itself on first use from

1. its built-in catalogue modules (which sit next to the code they name and register at import),
2. the entry-point group `partbench.<kind>s` of installed packages (`partbench.methods`, `partbench.readers`, ...),
3. the modules named in `$PARTBENCH_PLUGINS` (comma-separated), shared by all registries.

Unknown names are refused with close matches offered.
"""

from __future__ import annotations

import functools
import importlib
import os
from collections.abc import Callable, Hashable, Iterator
from typing import Any, Generic, TypeVar

from partbench.errors import PartbenchError, UnknownNameError

T = TypeVar("T")


def resolve(target: str) -> Any:
    """The object a `"module:attr"` string names, imported now."""
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise PartbenchError(f"{target!r} is not a 'module:attr' reference.")
    return getattr(importlib.import_module(module), attr)


class Registry(Generic[T]):
    """Named entries of one kind, filled lazily from catalogues, entry points and `$PARTBENCH_PLUGINS`.

    Keys are usually names; a registry may key by tuples (methods are keyed by (task kind, name), so that `oracle`
    can exist for several task kinds). `label` names a key in messages.
    """

    def __init__(self, kind: str, catalogues: tuple[str, ...] = (), entry_point_group: str | None = None,
                 label: Callable[[Hashable], str] = str):
        self.kind = kind
        self._catalogues = catalogues
        self._group = entry_point_group or f"partbench.{kind.replace(' ', '_')}s"
        self._entries: dict[Hashable, T] = {}
        self._label = label
        self._loaded = False

    def register(self, key: Hashable, entry: T) -> T:
        """Add `entry` under `key`; registering the same entry twice is harmless, a different one is an error."""
        old = self._entries.get(key)
        if old is not None and old != entry:
            raise PartbenchError(f"{self.kind} {self._label(key)!r} is registered twice ({old!r} and {entry!r}).")
        self._entries[key] = entry
        return entry

    def get(self, key: Hashable, known: list[str] | None = None) -> T:
        self.load()
        if key not in self._entries:
            names = known if known is not None else [self._label(k) for k in self._entries]
            raise UnknownNameError(self.kind, self._label(key), names)
        return self._entries[key]

    def find(self, key: Hashable) -> T | None:
        self.load()
        return self._entries.get(key)

    def items(self) -> Iterator[tuple[Hashable, T]]:
        self.load()
        return iter(list(self._entries.items()))  # registration order: built-ins first, as their catalogues list them

    def keys(self) -> list[Hashable]:
        self.load()
        return list(self._entries)

    def __contains__(self, key: Hashable) -> bool:
        self.load()
        return key in self._entries

    def load(self) -> None:
        if self._loaded:
            return
        self._loaded = True
        for module in self._catalogues:
            importlib.import_module(module)
        for ep in _installed_entry_points().select(group=self._group):
            ep.load()
        load_env_plugins()


@functools.cache
def _installed_entry_points() -> Any:
    """Every installed package's entry points, read once: each read scans all installed distributions' metadata
    (~10 ms in a virtual environment with torch), and every registry asks."""
    from importlib.metadata import entry_points

    return entry_points()


_env_plugins_loaded = False


def load_env_plugins() -> None:
    """Import the modules `$PARTBENCH_PLUGINS` names (once); they register whatever they provide."""
    global _env_plugins_loaded
    if _env_plugins_loaded:
        return
    _env_plugins_loaded = True
    for module in filter(None, (m.strip() for m in os.environ.get("PARTBENCH_PLUGINS", "").split(","))):
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise PartbenchError(f"$PARTBENCH_PLUGINS names {module!r}, which cannot be imported ({e}).") from None
