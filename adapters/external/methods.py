"""PartCATSeg and LangHOPS as partbench methods: import their saved predictions, or run them in the user's own
environment through the shipped worker (`worker.py`).

Two modes, chosen by the method arguments:
- import:  `predictions=PATH`: a per-sample PNG directory (`<sample id>.png`, or `<image id>.png`) or detectron2's
           `sem_seg_predictions.json` (read by `partbench.tasks.imported_maps`, the code `partbench score` uses).
- runner:  `repo=PATH python=PATH checkpoint=PATH [config=PATH] [opts="KEY VALUE ..."] [driver=...] [script=PATH]
           [vocabulary=exact|substring]`: the worker runs with the external interpreter inside the checkout, writes
           one PNG per sample into `workdir` (default: a folder under the system temp dir, removed at exit unless
           `keep_workdir=1`), and the adapter reads them back. Both methods have a built-in driver that mirrors
           their codebase's own evaluation path (`worker.py`, docs/external-methods.md); `driver=MODULE:FUNCTION`
           replaces it.

Both codebases' published inference reads the ground-truth object class (oracle object); results say so in
`method_config.inference_setting`. `vocabulary=substring` reproduces PartCATSeg's leaky rule (see `vocabulary.py`).
"""

from __future__ import annotations

import hashlib
import shlex
import shutil
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from partbench.adapters.params import EXTERNAL
from partbench.api.method import method_options
from partbench.api.types import Vocabulary
from partbench.data.types import Sample
from partbench.errors import PartbenchError
from partbench.suites import Suite

from .vocabulary import allowed_ids

ADAPTER_VERSION = "2"  # 2: PartCATSeg on PartImageNet sees the image at its own size, as upstream
INFERENCE_SETTING = "oracle-object: the model is given the ground-truth object class of each sample"
D2_JSON = "sem_seg_predictions.json"


class MergedSamplesWarning(UserWarning):
    """detectron2's sem_seg_predictions.json cannot tell two samples of one image apart."""


@dataclass(frozen=True)
class ExternalOptions:
    predictions: str | None = None
    repo: str | None = None
    python: str | None = None
    checkpoint: str | None = None
    config: str | None = None
    driver: str | None = None
    script: str | None = None
    device: str | None = None
    opts: str | None = None
    vocabulary: str | None = None
    workdir: str | None = None
    keep_workdir: str = "0"

    @classmethod
    def from_args(cls, method: str, args: dict[str, str]) -> ExternalOptions:
        values = method_options(method, EXTERNAL, args)
        values["keep_workdir"] = "1" if values["keep_workdir"] else "0"
        opts = cls(**values)
        runner_keys = [k for k in ("repo", "python", "checkpoint", "config", "driver", "script", "device", "opts",
                                   "vocabulary", "workdir") if getattr(opts, k)]
        if opts.predictions and runner_keys:
            raise PartbenchError(f"Method {method!r}: predictions= imports saved predictions; it cannot be combined "
                                 f"with {', '.join(runner_keys)} (runner mode). Pass one or the other.")
        if not opts.predictions:
            missing = [k for k in ("repo", "python") if not getattr(opts, k)]
            if missing:
                raise PartbenchError(
                    f"Method {method!r} needs either --method-arg predictions=PATH (saved predictions: a PNG directory "
                    f"or sem_seg_predictions.json) or --method-arg repo=CHECKOUT python=INTERPRETER "
                    f"checkpoint=WEIGHTS (run it in its own environment); missing {', '.join(missing)}.")
        if len(opts.config_opts) % 2:
            raise PartbenchError(f"Method {method!r}: opts= takes detectron2 config overrides as KEY VALUE pairs "
                                 f"(e.g. opts=\"MODEL.DEVICE cpu INPUT.MIN_SIZE_TEST 512\"), got {opts.opts!r}.")
        return opts

    @property
    def config_opts(self) -> list[str]:
        return shlex.split(self.opts) if self.opts else []

    @property
    def mode(self) -> str:
        return "import" if self.predictions else "runner"


def _existing(path: str | None, what: str, arg: str) -> Path:
    p = Path(path or "").expanduser()
    if not path or not p.exists():
        raise PartbenchError(f"{what}: {p} does not exist; pass it with --method-arg {arg}=PATH.")
    return p.absolute()  # not resolve(): a venv's bin/python is a symlink whose target would lose the venv


def _git_head(repo: Path) -> str | None:
    """The checkout's commit, read from .git without running git (the checkout may be a plain folder)."""
    head = repo / ".git" / "HEAD"
    try:
        ref = head.read_text().strip()
        if ref.startswith("ref: "):
            return (repo / ".git" / ref[5:]).read_text().strip()
        return ref
    except OSError:
        return None


class ExternalMethod:
    """Shared by PartCATSeg and LangHOPS; subclasses set the name and their runner defaults."""

    name: ClassVar[str] = ""
    default_driver: ClassVar[str | None] = None
    default_vocabulary: ClassVar[str] = "exact"
    config_hint: ClassVar[str] = "config=PATH (relative to the checkout)"
    needs_images = False  # the worker reads images itself; partbench need not decode them

    @classmethod
    def default_config(cls, suite: Suite) -> str | None:
        """The codebase's own config for this suite, used when config= is not given (None: the driver decides)."""
        return None

    @classmethod
    def _driver(cls, options: ExternalOptions) -> str | None:
        return options.driver or (None if options.script else cls.default_driver)

    @classmethod
    def _config(cls, options: ExternalOptions, suite: Suite) -> str | None:
        if options.config or cls._driver(options) != cls.default_driver or not cls.default_driver:
            return options.config
        return cls.default_config(suite)

    def __init__(self, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0):
        self.options = ExternalOptions.from_args(self.name, args)
        self.suite = suite
        self._fingerprint = self.fingerprint_for(suite=suite, data_root=data_root, args=args, seed=seed)
        self._worker = None
        self._workdir: Path | None = None
        self._temporary_workdir = False
        if self.options.mode == "import":
            from partbench.tasks.imported_maps import open_predictions

            self.source = open_predictions(Path(self.options.predictions).expanduser(), suite.num_classes,
                                           suite.ignore_label)
            if Path(self.options.predictions).suffix == ".json":
                self._warn_merged(suite, data_root)

    # -- identity --------------------------------------------------------------------------------------------------
    @classmethod
    def _settings(cls, options: ExternalOptions, suite: Suite) -> dict[str, Any]:
        if options.mode == "import":
            return {"mode": "import", "predictions": str(_existing(options.predictions, cls.name, "predictions"))}
        script = Path(options.script).expanduser().absolute() if options.script else None
        return {"mode": "runner", "driver": cls._driver(options),
                "vocabulary": options.vocabulary or cls.default_vocabulary,
                "script": str(script) if script else "shipped worker.py",
                "config": cls._config(options, suite), "config_opts": options.config_opts, "device": options.device}

    @classmethod
    def fingerprint_for(cls, *, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0) -> str:
        from partbench.weights import file_sha256, weights_fingerprint

        options = ExternalOptions.from_args(cls.name, args)
        parts = [cls.name, ADAPTER_VERSION, str(cls._settings(options, suite))]
        if options.mode == "import":
            parts.append(weights_fingerprint(_existing(options.predictions, cls.name, "predictions")))
        else:
            repo = _existing(options.repo, f"{cls.name} checkout", "repo")
            parts.append(str(_git_head(repo)))
            if options.checkpoint:
                parts.append(weights_fingerprint(_existing(options.checkpoint, f"{cls.name} checkpoint", "checkpoint")))
            config = cls._config(options, suite)
            if config and (repo / config).is_file():  # the config's content, not only its name
                parts.append(file_sha256(repo / config))
            from .process import WORKER_SCRIPT

            script = Path(options.script).expanduser() if options.script else WORKER_SCRIPT
            parts.append(file_sha256(_existing(str(script), f"{cls.name} worker script", "script")))
        return f"{cls.name}-{hashlib.sha256('|'.join(parts).encode()).hexdigest()[:16]}"

    @classmethod
    def describe_for(cls, *, suite: Suite, data_root: Path, args: dict[str, str], seed: int = 0) -> dict[str, Any]:
        options = ExternalOptions.from_args(cls.name, args)
        out = {"adapter_version": ADAPTER_VERSION, "inference_setting": INFERENCE_SETTING,
               "options": {k: v for k, v in asdict(options).items() if v is not None}} | cls._settings(options, suite)
        if options.mode == "runner":
            repo = _existing(options.repo, f"{cls.name} checkout", "repo")
            out |= {"repo": str(repo), "repo_commit": _git_head(repo), "python": options.python,
                    "checkpoint": options.checkpoint}
            if out["vocabulary"] == "substring":
                out["vocabulary_note"] = (
                    "substring rule: classes whose name contains the object name are admitted "
                    "(PartCATSeg's published rule; leaks other objects' parts on ADE20K-Part-234)")
        return out

    def fingerprint(self) -> str:
        return self._fingerprint

    # -- import mode -----------------------------------------------------------------------------------------------
    def _warn_merged(self, suite: Suite, data_root: Path) -> None:
        shared = None
        try:
            refs = suite.make_reader(data_root).index(suite.default_split).refs
            per_image: dict[str, int] = {}
            for r in refs:
                per_image[r.image_id] = per_image.get(r.image_id, 0) + 1
            shared = sum(1 for n in per_image.values() if n > 1)
        except PartbenchError:
            pass
        if shared == 0:
            return
        count = f"{shared} images of {suite.name}/{suite.default_split} have" if shared else "Images with"
        warnings.warn(
            f"{self.options.predictions}: detectron2's {D2_JSON} keys predictions by image file name only. {count} "
            f"several samples (objects); their predictions are merged into one image-level map and each sample is "
            f"scored inside its own object mask. That is exact when objects do not overlap; an image where two "
            f"samples predict different parts at one pixel is refused. Export one PNG per sample to avoid this.",
            MergedSamplesWarning, stacklevel=3)

    def _imported(self, samples: Sequence[Sample]) -> list[np.ndarray]:
        missing = self.source.missing([s.ref for s in samples])
        if missing:
            shown = ", ".join(r.id for r in missing[:5])
            raise PartbenchError(f"{self.options.predictions}: no prediction for {len(missing)} sample(s) ({shown}).")
        return [np.asarray(self.source.load(s.ref), dtype=np.int64) for s in samples]

    # -- runner mode -----------------------------------------------------------------------------------------------
    def _start_worker(self):
        from partbench.console import err_console

        from .process import WORKER_SCRIPT, ExternalWorker, WorkerCommand
        from .worker import LAYOUTS, WORKER_PROTOCOL, layout_problem

        o = self.options
        driver = self._driver(o)
        repo = _existing(o.repo, f"{self.name} checkout", "repo")
        config = self._config(o, self.suite)
        if driver in LAYOUTS and not o.script:  # a built-in driver: say early what the checkout lacks
            problem = layout_problem(driver, str(repo))
            if problem:
                raise PartbenchError(f"Method {self.name!r}: {problem}")
            if not o.checkpoint:
                raise PartbenchError(f"Method {self.name!r}: the built-in {driver} driver needs "
                                     f"--method-arg checkpoint=WEIGHTS (the .pth file to evaluate).")
            if not config and driver == self.default_driver and self.config_hint:
                raise PartbenchError(f"Method {self.name!r}: no default {self.name} config for suite "
                                     f"{self.suite.name!r}; pass --method-arg {self.config_hint}.")
        if config and not o.script and not (repo / config).is_file():
            raise PartbenchError(f"Method {self.name!r}: config {config} not found in the checkout {repo}; pass "
                                 f"--method-arg config=PATH (relative to the checkout, or absolute).")
        command = WorkerCommand(
            python=_existing(o.python, f"{self.name} interpreter", "python"), repo=repo,
            script=_existing(o.script, f"{self.name} worker script", "script") if o.script else WORKER_SCRIPT,
            driver=driver or "", checkpoint=str(_existing(o.checkpoint, f"{self.name} checkpoint", "checkpoint"))
            if o.checkpoint else "", config=config or "", device=o.device or "", opts=o.config_opts,
        )
        if o.workdir:
            self._workdir = Path(o.workdir).expanduser()
            self._workdir.mkdir(parents=True, exist_ok=True)
        else:
            self._workdir = Path(tempfile.mkdtemp(prefix=f"partbench-{self.name}-"))
            self._temporary_workdir = o.keep_workdir != "1"
        err_console.print(f"{self.name}: starting {command.python} {command.script.name} in {command.repo} "
                          f"(loads the model once)", style="dim")
        self._worker = ExternalWorker(command, what=f"{self.name} worker", expected_protocol=WORKER_PROTOCOL)
        model_classes = self._worker.classes
        if model_classes is not None and list(model_classes) != list(self.suite.classes):
            self.close()
            first = next((i for i, (a, b) in enumerate(zip(self.suite.classes, model_classes)) if a != b),
                         min(len(model_classes), len(self.suite.classes)))
            raise PartbenchError(
                f"Method {self.name!r}: the model's {len(model_classes)} test classes (config {config}) are not the "
                f"suite {self.suite.name!r}'s {len(self.suite.classes)} classes; the first difference is at #{first} "
                f"(suite: {self.suite.classes[first] if first < len(self.suite.classes) else '-'!r}, model: "
                f"{model_classes[first] if first < len(model_classes) else '-'!r}). Pass the config of this suite.")

    def _run(self, samples: Sequence[Sample], vocabulary: Vocabulary) -> list[np.ndarray]:
        from partbench.data.images import read_label_png
        from partbench.tasks.imported_maps import Detectron2Json

        if self._worker is None:
            self._start_worker()
        rule = self.options.vocabulary or self.default_vocabulary
        classes = list(vocabulary.classes)
        request = {
            "out_dir": str(self._workdir), "ignore_label": vocabulary.ignore_label, "classes": classes,
            "samples": [{"id": s.id, "image_path": str(s.ref.image_path), "object_class": s.object_class,
                         "allowed": allowed_ids(classes, s.object_class, rule) if s.object_class is not None
                         else list(range(len(classes))), "height": s.size[0], "width": s.size[1]}
                        for s in samples],
        }
        done = set(self._worker.predict(request))
        outputs = []
        json_source = None
        for s in samples:
            png = self._workdir / f"{s.id}.png"
            if s.id in done and png.is_file():
                outputs.append(read_label_png(png).astype(np.int64))
                continue
            d2 = self._workdir / D2_JSON
            if not d2.is_file():
                raise PartbenchError(f"{self.name} worker reported no prediction for sample {s.id} (expected {png}).")
            if json_source is None:
                warnings.warn(f"{d2}: the worker wrote detectron2's {D2_JSON}, which merges the samples of one image; "
                              f"see the import-mode note.", MergedSamplesWarning, stacklevel=3)
                json_source = Detectron2Json(d2, len(classes), vocabulary.ignore_label)
            outputs.append(np.asarray(json_source.load(s.ref), dtype=np.int64))
        return outputs

    # -- the method ------------------------------------------------------------------------------------------------
    def predict(self, samples: Sequence[Sample], vocabulary: Vocabulary) -> list[np.ndarray]:
        if self.options.mode == "import":
            return self._imported(samples)
        return self._run(samples, vocabulary)

    def close(self) -> None:
        """Stop the worker and delete the temporary work folder; the run loop calls this however a run ends."""
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        if self._temporary_workdir and self._workdir is not None:
            shutil.rmtree(self._workdir, ignore_errors=True)
            self._temporary_workdir = False

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# The zero-shot configs of kaist-cvml/part-catseg (configs/zero_shot/), one per dataset it was evaluated on.
PARTCATSEG_CONFIGS = {
    "pascal-part-116": "configs/zero_shot/partcatseg_voc.yaml",
    "ade20k-part-234": "configs/zero_shot/partcatseg_ade.yaml",
    "partimagenet": "configs/zero_shot/partcatseg_partimagenet.yaml",
    "partimagenet-ood": "configs/zero_shot/partcatseg_partimagenet_ood.yaml",
}


class PartCATSeg(ExternalMethod):
    """PartCATSeg (Choi et al., CVPR 2025; kaist-cvml/part-catseg). The built-in `partcatseg` driver uses the
    checkout's configs/zero_shot/partcatseg_<dataset>.yaml for the suite's dataset unless config= is given."""

    name = "partcatseg"
    default_driver = "partcatseg"
    config_hint = "config=configs/zero_shot/partcatseg_<dataset>.yaml (the config the checkpoint was trained with)"

    @classmethod
    def default_config(cls, suite: Suite) -> str | None:
        return PARTCATSEG_CONFIGS.get(suite.name)


class LangHOPS(ExternalMethod):
    """LangHOPS (Miao et al., NeurIPS 2025). Import mode reads its `inference/sem_seg_predictions.json`; the built-in
    `langhops` driver runs PartGLEE.forward's oracle-object semantic branch with scripts/inference.sh's model
    settings (config defaults to that script's Joint-Training-Swin-L_LLM.yaml)."""

    name = "langhops"
    default_driver = "langhops"
    config_hint = ""  # the driver defaults to scripts/inference.sh's config

    @classmethod
    def default_config(cls, suite: Suite) -> str | None:
        from .worker import LANGHOPS_DEFAULT_CONFIG

        return LANGHOPS_DEFAULT_CONFIG


def _status(method: str) -> list[str]:
    return [f"saved {method} predictions (--method-arg predictions=PATH) or a {method} checkout and environment "
            f"(--method-arg repo=PATH python=PATH checkpoint=PATH)"]


def partcatseg_status() -> list[str]:
    return _status("partcatseg")


def langhops_status() -> list[str]:
    return _status("langhops")
