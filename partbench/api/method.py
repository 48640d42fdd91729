"""The method contract: what a registered method declares (`MethodInfo`), the hooks its factory may provide
(`MethodHooks`), and typed argument declarations (`Param`) that refuse bad `--method-arg` values for every method.

A method is a factory (usually a class) named by a lazy `"module:attr"` string and called as
`factory(suite=..., data_root=..., args=..., seed=...)`. The object it returns implements the task kind's interface
(`predict(samples, vocabulary)` for segmentation, `generate(prompts, seeds)` for generation) and `fingerprint()`.
Every other hook is optional and has a default; `docs/adding-a-method.md` walks through writing one.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Protocol

from partbench.errors import PartbenchError
from partbench.plugins import resolve


class MethodHooks(Protocol):
    """Optional class-level hooks of a method factory; the run loop uses a default for each one that is absent.

    - `needs_images: bool = True` — whether `predict` reads `sample.image` (the loader threads then decode images
      ahead of inference; methods that work from masks alone say False and save the decoding).
    - `fingerprint_for(*, suite, data_root, args, seed) -> str` — the weights' fingerprint without loading a model,
      so that a finished run loads nothing. Default: build the method and call `fingerprint()`.
    - `describe_for(*, suite, data_root, args, seed) -> dict` — what config.json records about the method (model
      id, revision, dtype...). Must not load a model. Default: `{}`.
    - `meaningful_for(args) -> bool` — False for smoke settings (e.g. `preset=tiny`) whose numbers are not results.
    - `check_inputs(*, prompts, images_per_prompt, suite, data_root, args, seed) -> dict` — generation methods that
      import images made elsewhere check them all before the run; returns {"summary": ..., "warnings": [...]}.
    - `close()` on the built method — release workers, temporary folders, GPU memory. The loop calls it when the
      run ends, however it ends (the method is used as a context manager).
    - `sweep_for(*, suite, data_root, args, seed) -> Sweep | None` — when `args` ask for several variants at once
      (seg4diff's `layers=all`): `partbench run` then writes one run per variant (`<method>@<variant>`), each through
      the normal loop, inside the sweep's context (which may share work between them, e.g. one forward).
    """

    needs_images: ClassVar[bool]


@dataclass(frozen=True)
class Param:
    """One `--method-arg`: its type, allowed values or range, and default (None: not set unless given).

    Values arrive as text and stay text in the run's identity (so run folders and cache keys do not depend on how a
    value is spelt in Python); the declaration only refuses what the method could not use, before anything runs.
    """

    name: str
    type: type = str  # str | int | float | bool | Path
    default: Any = None
    choices: tuple[str, ...] = ()
    min: float | None = None
    max: float | None = None
    help: str = ""

    def check(self, method: str, text: str, owner: str | None = None) -> Any:
        """The value `text` converts to, or an error naming the method (or `owner`, e.g. a suite whose task kind
        takes the argument), the argument and what it accepts."""
        where = f"{owner or f'Method {method!r}'}: --method-arg {self.name}"
        if self.choices and text not in self.choices:
            raise PartbenchError(f"{where} must be one of {', '.join(self.choices)}, got {text!r}.")
        if self.type is bool:
            if text.lower() not in ("1", "0", "true", "false", "yes", "no"):
                raise PartbenchError(f"{where} must be true or false, got {text!r}.")
            return text.lower() in ("1", "true", "yes")
        if self.type in (int, float):
            try:
                value = self.type(text)
            except ValueError:
                kind = "an integer" if self.type is int else "a number"
                raise PartbenchError(f"{where} must be {kind}, got {text!r}.") from None
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                verb = "lie" if self.bounds.startswith("in ") else "be"
                raise PartbenchError(f"{where} must {verb} {self.bounds}, got {text!r}.")
            return value
        return Path(text).expanduser() if self.type is Path else text

    @property
    def bounds(self) -> str:
        """The allowed range in words: "in [1, 256]", "at least 1", "at most 1.0", or "" when there is none."""
        if self.min is not None and self.max is not None:
            return f"in [{self.min}, {self.max}]"
        if self.min is not None:
            return f"at least {self.min}"
        return "" if self.max is None else f"at most {self.max}"


def check_method_args(method: str, params: tuple[Param, ...], args: dict[str, str], *,
                      owner: str | None = None, elsewhere: tuple[str, ...] = ()) -> dict[str, Any]:
    """Every given argument converted and checked against `params`; unknown names get close matches, among
    `elsewhere` too (the names the suite's task kind takes itself, which never reach the method). `owner` replaces
    "Method NAME" in the messages."""
    declared = {p.name: p for p in params}
    label = owner or f"Method {method!r}"
    out = {}
    for name, text in args.items():
        if name not in declared:
            close = difflib.get_close_matches(name, [*declared, *elsewhere], n=3, cutoff=0.5)
            hint = f" Did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            also = f" The suite's own: {', '.join(elsewhere)}." if elsewhere else ""
            if not declared:
                raise PartbenchError(f"{label} takes no --method-arg{' of its own' if elsewhere else ''}; got "
                                     f"{', '.join(args)}.{hint}{also}")
            raise PartbenchError(f"{label}: unknown --method-arg {name!r}.{hint} "
                                 f"Known: {', '.join(sorted(declared))}.{also}")
        out[name] = declared[name].check(method, text, owner)
    return out


def method_options(method: str, params: tuple[Param, ...], args: dict[str, str]) -> dict[str, Any]:
    """Every declared argument converted: the given ones checked (`check_method_args`), the others at their declared
    default (None where there is none)."""
    given = check_method_args(method, params, args)
    return {p.name: None if p.default is None else p.check(method, str(p.default)) for p in params} | given


@dataclass(frozen=True)
class Sweep:
    """Several runs asked for by one request (a factory's `sweep_for` hook): one run per variant, named
    `<method>@<variant>` (a variant is `key=value` over the method's `variant_params`) and run with `args`, all inside
    `context()` when given (the method may share work between the runs there, e.g. one forward for every layer)."""

    variants: tuple[str, ...]
    args: dict[str, str]
    context: Callable[[], AbstractContextManager[Any]] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class MethodInfo:
    """What `partbench methods` shows and `partbench run` builds.

    `kinds` are the task kinds the factory serves ("segmentation", "generation", or a plugin's kind); a name may be
    registered once per kind with different factories. `params` declares the method's arguments; None means the
    method checks its own (plugins written before declarations existed). `variant_params` are the arguments a name
    `<name>@key=value` may fix (`variant()`; the registry resolves such names).
    """

    name: str
    factory: str  # "module:callable"; called as factory(suite=..., data_root=..., args=..., seed=...)
    kinds: tuple[str, ...] = ("segmentation",)
    summary: str = ""
    gpu: str = "no"  # "no" | "optional" | "required"
    extras: tuple[str, ...] = ()  # importable modules the method needs (checked without importing them)
    weights: str = ""  # human description of the weights it needs, if any
    status: str | None = None  # optional "module:callable" -> list of missing items, for weights checks
    meaningful: bool = True  # False for pipeline checks (oracle) whose numbers are not results
    # Given the ground truth as input (part editing: the part mask, e.g. inpainting it): such a method solves an
    # easier task, so tables keep its runs in a block of their own.
    uses_gt_mask: bool = False
    # The upstream codebase whose evaluator produced the method's published numbers, as a `--gt-resize` preset name
    # (partbench.data.gt_resize.TEST_SIZES): `--gt-resize published` then scores the ground truth as that evaluator
    # does. None where the published numbers involve no round trip or its test size is not known.
    published_gt_resize: str | None = None
    params: tuple[Param, ...] | None = None
    # Arguments that may be fixed in the method's name, `<name>@key=value` (e.g. `seg4diff@layer=9`): that method is
    # this one with the argument set, and its runs get their own folders, labelled with the value in tables.
    variant_params: tuple[str, ...] = ()
    fixed_args: tuple[tuple[str, str], ...] = ()  # set on such a variant (`variant()`), never at registration

    def variant(self, text: str) -> MethodInfo:
        """This method with the arguments `text` (`key=value[,key=value]`) fixed, named `<name>@<text>`."""
        where = f"Method {self.name}@{text}"
        if not self.variant_params:
            raise PartbenchError(f"{where}: {self.name!r} has no variants (`<method>@key=value`).")
        fixed = []
        for item in text.split(","):
            key, sep, value = item.partition("=")
            if not sep or not value or key not in self.variant_params:
                raise PartbenchError(f"{where}: a variant is key=value with key one of "
                                     f"{', '.join(self.variant_params)}; got {item!r}.")
            declared = {p.name: p for p in self.params or ()}
            if key in declared and str(declared[key].check(self.name, value)) != value:
                raise PartbenchError(f"{where}: write {key}={declared[key].check(self.name, value)}, not {item!r}.")
            fixed.append((key, value))
        return replace(self, name=f"{self.name}@{text}", fixed_args=tuple(fixed))

    def _args(self, args: dict[str, str]) -> dict[str, str]:
        """`args` with this variant's fixed arguments, which they may not set otherwise."""
        if not self.fixed_args:
            return args
        clash = sorted(k for k, _ in self.fixed_args if k in args)
        if clash:
            raise PartbenchError(f"Method {self.name!r} fixes {', '.join(clash)}; do not pass it with --method-arg.")
        return dict(args) | dict(self.fixed_args)

    def _kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return kwargs | {"args": self._args(kwargs["args"])} if "args" in kwargs else kwargs

    def missing_modules(self) -> list[str]:
        return [f"python module {m!r} (pip install {m})" for m in self.extras if importlib.util.find_spec(m) is None]

    def missing(self) -> list[str]:
        """What prevents running here: absent Python modules, a required GPU, weights the status hook reports."""
        out = self.missing_modules()
        if self.gpu == "required" and not _cuda_visible():
            out.append("a CUDA GPU")
        if self.status and not out:  # the status hook may import what the missing modules provide
            try:
                out.extend(resolve(self.status)())
            except (ImportError, AttributeError) as e:  # a broken plugin must not break the listing
                out.append(f"a working status check {self.status} ({e})")
        return out

    # -- the hooks, each with its default ---------------------------------------------------------------------------
    def factory_object(self) -> Any:
        return resolve(self.factory)

    def check_args(self, args: dict[str, str], elsewhere: tuple[str, ...] = ()) -> None:
        """Refuse arguments the method does not declare (`elsewhere`: names the suite's task kind takes itself,
        offered as close matches)."""
        args = self._args(args)
        if self.params is not None:
            check_method_args(self.name, self.params, args, elsewhere=elsewhere)

    def describe(self, **kwargs: Any) -> dict[str, Any]:
        """What the run's config records about the method: the factory's `describe_for`, else nothing."""
        factory = self.factory_object()
        return dict(factory.describe_for(**self._kwargs(kwargs))) if hasattr(factory, "describe_for") else {}

    def is_meaningful(self, args: dict[str, str]) -> bool:
        factory = self.factory_object()
        args = self._args(args)
        return self.meaningful and (factory.meaningful_for(args) if hasattr(factory, "meaningful_for") else True)

    def sweep(self, **kwargs: Any) -> Sweep | None:
        """The runs `kwargs["args"]` ask for when they ask for several (the factory's `sweep_for`), else None."""
        if self.missing_modules():  # the run itself then says what is missing
            return None
        factory = self.factory_object()
        return factory.sweep_for(**self._kwargs(kwargs)) if hasattr(factory, "sweep_for") else None

    def needs_images(self) -> bool:
        return bool(getattr(self.factory_object(), "needs_images", True))

    def check_inputs(self, **kwargs: Any) -> dict[str, Any]:
        factory = self.factory_object()
        return dict(factory.check_inputs(**self._kwargs(kwargs)) or {}) if hasattr(factory, "check_inputs") else {}

    def fingerprint(self, **kwargs: Any) -> tuple[Any, str]:
        """(method or None, fingerprint): `fingerprint_for` when the factory has it (no model loaded), else the
        built method's own `fingerprint()`."""
        factory = self.factory_object()
        if hasattr(factory, "fingerprint_for"):
            return None, factory.fingerprint_for(**self._kwargs(kwargs))
        method = self.build(**kwargs)
        return method, method.fingerprint()

    def build(self, **kwargs: Any) -> Any:
        # Only missing Python modules block a build. Weights a status hook reports are the *default* ones, and a run
        # may name others (weights=PATH, preset=tiny); the factory raises WeightsNotFoundError for what it lacks.
        missing = self.missing_modules()
        if missing:
            raise PartbenchError(f"Method {self.name!r} cannot run here; missing: {'; '.join(missing)}.")
        return self.factory_object()(**self._kwargs(kwargs))


def close_method(method: Any) -> None:
    """Release what a built method holds: its `close()` if it has one (the loop calls this however a run ends)."""
    close = getattr(method, "close", None)
    if callable(close):
        close()


def _cuda_visible() -> bool:
    # Decided without importing torch: a driver node or an explicit device list is enough for a listing.
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) in ("", "-1"):
        return False
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/proc/driver/nvidia/version")
