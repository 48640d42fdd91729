"""Part-instructed generation (suite task `generation`): prompts × k images, each stored as
`predictions/<prompt id>/<k>.png`, CLIP-scored (`partbench.tasks.clip_evaluator`).

Image `k` of a prompt is generated with `seed = image_seed(global seed, prompt id, k)`, independent of batch size,
order and resumption, so a killed run resumes with identical images and a finished run generates nothing.

Run options that are not the method's own arguments arrive through `--method-arg` and are split off here:
`images_per_prompt` (changes the run: part of its identity) and `clip_model`, `clip_pretrained`, `clip_device`,
`clip_batch_size`, `clip_dtype` (change the scoring only: not part of the identity).
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from partbench.api.types import PromptItem
from partbench.errors import PartbenchError
from partbench.tasks.base import TaskKind, Work, first_items
from partbench.tasks.kind_args import GENERATION_ARGS

if TYPE_CHECKING:
    from PIL.Image import Image

    from partbench.metrics.clip_score import ClipSpec
    from partbench.store.run_dir import RunDir
    from partbench.suites import Suite
    from partbench.tasks.clip_evaluator import ClipEvaluator

SEED_SCHEDULE = "sha256('{seed}/{prompt_id}/{k}')[:4] as big-endian uint32, & 0x7fffffff"
CLIP_OPTIONS = {"clip_model": "model", "clip_pretrained": "pretrained", "clip_device": "device",
                "clip_batch_size": "batch_size", "clip_dtype": "dtype"}
RUN_OPTIONS = ("images_per_prompt",)


def image_seed(global_seed: int, prompt_id: str, k: int) -> int:
    """The seed of image `k` of a prompt: a hash, so that seeds of different prompts and runs never collide in a
    pattern, and it fits every generator's seed range (31 bits)."""
    digest = hashlib.sha256(f"{global_seed}/{prompt_id}/{k}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


@dataclass
class GenerationOptions:
    """`--method-arg` split into the method's own arguments, run options and scorer options."""

    method_args: dict[str, str]
    identity_args: dict[str, str]
    images_per_prompt: int
    clip: ClipSpec

    @classmethod
    def parse(cls, suite: Suite, args: dict[str, str]) -> GenerationOptions:
        from partbench.metrics.clip_score import ClipSpec

        defaults = suite_generation_defaults(suite)
        method_args = {k: v for k, v in args.items() if k not in CLIP_OPTIONS and k not in RUN_OPTIONS}
        identity_args = {k: v for k, v in args.items() if k not in CLIP_OPTIONS}
        k_text = args.get("images_per_prompt", defaults.get("images_per_prompt", 1))
        try:
            k = int(k_text)
        except (TypeError, ValueError):
            k = 0
        if k < 1:
            raise PartbenchError(f"images_per_prompt must be a positive integer, got {k_text!r}.")
        clip_kwargs: dict[str, Any] = {"model": str(defaults.get("clip_model", "ViT-L-14")),
                                       "pretrained": str(defaults.get("clip_pretrained", "openai"))}
        for key, field_name in CLIP_OPTIONS.items():
            if key in args:
                clip_kwargs[field_name] = args[key]
        try:
            clip_kwargs["batch_size"] = int(clip_kwargs.get("batch_size", 16))
        except ValueError:
            raise PartbenchError(f"clip_batch_size must be an integer, got {args['clip_batch_size']!r}.") from None
        return cls(method_args, identity_args, k, ClipSpec(**clip_kwargs))


SUITE_KEYS = ("images_per_prompt", "clip_model", "clip_pretrained")


def suite_generation_defaults(suite: Suite) -> dict[str, Any]:
    """The generation keys of a suite's YAML (images_per_prompt, clip_model, clip_pretrained)."""
    from partbench.yaml_io import safe_load

    if suite.source_file is None:
        return {}
    raw = safe_load(Path(suite.source_file).read_text(encoding="utf-8")) or {}
    return {k: raw[k] for k in SUITE_KEYS if k in raw}


@dataclass(frozen=True)
class ImageJob:
    """One image to make: prompt, index k, and its seed. Its `id` names its file and its cache entry."""

    prompt: PromptItem
    k: int
    seed: int

    @property
    def id(self) -> str:
        return f"{self.prompt.id}/{self.k}"


def encode_image_png(image: Image, key: str) -> bytes:
    from PIL import PngImagePlugin

    from partbench.store.run_dir import KEY_CHUNK

    info = PngImagePlugin.PngInfo()
    info.add_text(KEY_CHUNK, key)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


class GenerationTask(TaskKind):
    name = "generation"
    suite_tasks = ("generation",)
    arg_params = GENERATION_ARGS
    suite_keys = SUITE_KEYS

    def work(self, suite: Suite, data_root: Path, split: str, limit: int | None, args: dict[str, str],
             seed: int, convention: str | None) -> Work:
        from partbench.data.prompts import load_prompts

        prompts, limited = first_items(load_prompts(suite), limit)
        options = GenerationOptions.parse(suite, args)
        jobs = [ImageJob(p, k, image_seed(seed, p.id, k)) for p in prompts for k in range(options.images_per_prompt)]
        clip_fingerprint = options.clip.fingerprint()
        return Work(
            items=jobs, load=lambda job: job, method_args=options.method_args, identity_args=options.identity_args,
            evaluator_config={"clip": asdict(options.clip), "clip_fingerprint": clip_fingerprint},
            config={"images_per_prompt": options.images_per_prompt, "seed_schedule": SEED_SCHEDULE,
                    "clip": options.clip.describe() | {"fingerprint": clip_fingerprint}},
            input_check={"prompts": prompts, "images_per_prompt": options.images_per_prompt}, limited=limited,
            meaningful=options.clip.backend != "tiny",
        )

    def cache_id(self, job: ImageJob) -> str:
        return f"{job.id}#seed={job.seed}"

    def call(self, method: Any, jobs: list[ImageJob], suite: Suite, method_name: str) -> list[Any]:
        from PIL.Image import Image as PILImage

        images = list(method.generate([j.prompt for j in jobs], [j.seed for j in jobs]))
        if len(images) != len(jobs):
            raise PartbenchError(
                f"Method {method_name!r} returned {len(images)} images for {len(jobs)} (prompt, seed) pairs.")
        for job, image in zip(jobs, images):
            if not isinstance(image, PILImage):
                raise PartbenchError(
                    f"Method {method_name!r} returned {type(image).__name__} for {job.id}; expected a PIL image.")
        return images

    def finalize(self, output: Image, job: ImageJob, suite: Suite, where: str) -> Image:
        return output if output.mode in ("RGB", "RGBA", "L") else output.convert("RGB")

    def prediction_path(self, run_dir: RunDir, job: ImageJob) -> Path:
        return run_dir.predictions / job.prompt.id / f"{job.k}.png"

    def encode(self, image: Image, suite: Suite, key: str) -> bytes:
        return encode_image_png(image, key)

    def decode(self, path: Path, suite: Suite) -> Image:
        from PIL import Image

        with Image.open(path) as im:
            return im.convert("RGB")

    def evaluator(self, suite: Suite, config: dict[str, Any], run_dir: RunDir | None, force: bool) -> ClipEvaluator:
        from partbench.metrics.clip_score import ClipSpec
        from partbench.tasks.clip_evaluator import ClipEvaluator

        previous = None if force or run_dir is None else run_dir.samples_path
        return ClipEvaluator(ClipSpec(**config["clip"]), config["clip_fingerprint"], previous)
