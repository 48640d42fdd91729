"""The generation run loop: prompts × k images (cached, resumable), CLIP score, the run directory (DESIGN §4).

```
runs/<suite>/<method>[@<args-hash>]/
  config.json                 method, args, suite + version, seed, images per prompt, seed schedule, CLIP scorer
  predictions/<prompt id>/<k>.png   generated images, each carrying its cache key in a PNG text chunk
  samples.jsonl               one row per image: prompt id, k, seed, raw CLIP cosine, score, cache keys
  results.json                clip_score (percent scale) with a bootstrap interval over prompts, variants, provenance
```
Image `k` of a prompt is generated with `seed = image_seed(global seed, prompt id, k)`, independent of batch size,
order and resumption, so a killed run resumes with identical images and a finished run generates nothing. Scores
are cached too (samples.jsonl rows carry the image's cache key and the scorer's fingerprint), so re-running a
finished run loads no model at all; changing the CLIP model rescoring only.

Run options that are not the method's own arguments arrive through `--method-arg` and are split off here:
`images_per_prompt` (changes the run: part of its identity) and `clip_model`, `clip_pretrained`, `clip_device`,
`clip_batch_size` (change the scoring only: not part of the identity).
"""

from __future__ import annotations

import hashlib
import importlib
import io
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from partbench.errors import PartbenchError
from partbench.methods_api import PromptItem
from partbench.store import KEY_CHUNK, RESULTS_SCHEMA, RunDir, cache_key

if TYPE_CHECKING:
    from PIL.Image import Image

    from partbench.metrics.clip_score import ClipSpec
    from partbench.registry import MethodInfo
    from partbench.runner import RunOutcome, RunRequest
    from partbench.suites import Suite

SEED_SCHEDULE = "sha256('{seed}/{prompt_id}/{k}')[:4] as big-endian uint32, & 0x7fffffff"
CLIP_OPTIONS = {"clip_model": "model", "clip_pretrained": "pretrained", "clip_device": "device",
                "clip_batch_size": "batch_size"}
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


def suite_generation_defaults(suite: Suite) -> dict[str, Any]:
    """The generation keys of a suite's YAML (images_per_prompt, clip_model, clip_pretrained)."""
    import yaml

    if suite.source_file is None:
        return {}
    raw = yaml.safe_load(Path(suite.source_file).read_text(encoding="utf-8")) or {}
    return {k: raw[k] for k in ("images_per_prompt", "clip_model", "clip_pretrained") if k in raw}


@dataclass(frozen=True)
class ImageJob:
    prompt: PromptItem
    k: int
    seed: int
    key: str

    @property
    def name(self) -> str:
        return f"{self.prompt.id}/{self.k}"


@dataclass
class PromptScores:
    """Per-prompt sums for the mean over images and the bootstrap over prompts (images nested in prompts)."""

    totals: dict[str, list[float]] = field(default_factory=dict)  # prompt id -> [sum of scores, n images]

    def add(self, prompt_id: str, score: float) -> None:
        entry = self.totals.setdefault(prompt_id, [0.0, 0.0])
        entry[0] += score
        entry[1] += 1


def encode_image_png(image: Image, key: str) -> bytes:
    from PIL import PngImagePlugin

    info = PngImagePlugin.PngInfo()
    info.add_text(KEY_CHUNK, key)
    buf = io.BytesIO()
    image.save(buf, format="PNG", pnginfo=info)
    return buf.getvalue()


def _image_path(run_dir: RunDir, job: ImageJob) -> Path:
    return run_dir.predictions / job.prompt.id / f"{job.k}.png"


def _cached(path: Path, key: str) -> bool:
    from partbench.store import read_cache_key

    return path.is_file() and read_cache_key(path) == key


def _previous_scores(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """Rows of an earlier samples.jsonl by (image key, scorer fingerprint): reused instead of rescoring."""
    out: dict[tuple[str, str], dict[str, Any]] = {}
    if not path.is_file():
        return out
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            row = json.loads(line)
            out[(row["key"], row["clip_fingerprint"])] = row
        except (json.JSONDecodeError, KeyError, TypeError):
            continue  # a damaged row is simply rescored
    return out


def _batches(items: Sequence[ImageJob], size: int) -> Iterator[list[ImageJob]]:
    for start in range(0, len(items), max(1, size)):
        yield list(items[start:start + max(1, size)])


def _factory(info: MethodInfo):
    module, attr = info.factory.split(":")
    return getattr(importlib.import_module(module), attr)


def _check_images(images: Any, jobs: list[ImageJob], method: str) -> list[Image]:
    from PIL.Image import Image as PILImage

    images = list(images)
    if len(images) != len(jobs):
        raise PartbenchError(f"Method {method!r} returned {len(images)} images for {len(jobs)} (prompt, seed) pairs.")
    for job, im in zip(jobs, images):
        if not isinstance(im, PILImage):
            raise PartbenchError(f"Method {method!r} returned {type(im).__name__} for {job.name}; expected a PIL image.")
    return [im if im.mode in ("RGB", "RGBA", "L") else im.convert("RGB") for im in images]


def run_generation(req: RunRequest, suite: Suite, info: MethodInfo) -> RunOutcome:
    """Generate (or reuse) k images per prompt, CLIP-score them, and write the run directory."""
    from partbench.cli.console import err_console
    from partbench.data.prompts import load_prompts
    from partbench.paths import AtomicLineWriter, CollectingWriter, atomic_write_bytes
    from partbench.progress import progress_bar
    from partbench.runner import RunOutcome

    if req.limit is not None and req.limit < 1:
        raise PartbenchError(f"--limit must be at least 1, got {req.limit}.")
    split = suite.check_split(req.split)
    prompts = load_prompts(suite)[: req.limit] if req.limit else load_prompts(suite)
    options = GenerationOptions.parse(suite, dict(req.method_args or {}))
    identity = {"method": req.method, "method_args": options.identity_args, "suite": suite.name,
                "suite_version": suite.version, "split": split, "seed": req.seed}
    run_dir = RunDir.open(req.output_root, identity, force=req.force)

    build_kwargs = {"suite": suite, "data_root": req.data_root, "args": options.method_args, "seed": req.seed}
    method, fingerprint = info.fingerprint(**build_kwargs)
    method_config = info.describe(**build_kwargs)
    meaningful = info.is_meaningful(options.method_args)
    jobs = [ImageJob(p, k, s, cache_key(identity, fingerprint, f"{p.id}/{k}#seed={s}"))
            for p in prompts for k in range(options.images_per_prompt)
            for s in [image_seed(req.seed, p.id, k)]]

    # Methods that import images made elsewhere check them all up front: one report of every missing/extra file.
    input_report: dict[str, Any] = {}
    factory = _factory(info)
    if hasattr(factory, "check_inputs"):
        input_report = factory.check_inputs(prompts=prompts, images_per_prompt=options.images_per_prompt,
                                            **build_kwargs) or {}
        for line in input_report.get("warnings", []):
            err_console.print(f"warning: {line}", style="yellow", highlight=False, soft_wrap=True)

    clip_fingerprint = options.clip.fingerprint()
    run_config = {"images_per_prompt": options.images_per_prompt, "seed_schedule": SEED_SCHEDULE,
                  "clip": options.clip.describe() | {"fingerprint": clip_fingerprint}}
    # Under torchrun each process generates jobs rank::world_size; rank 0 writes config, samples and results.
    from partbench.parallel import ProcessGroup, Shard, my_positions

    group = ProcessGroup.from_env()
    if group.is_main:
        run_dir.write_config({"fingerprint": fingerprint, "method_config": method_config} | run_config)
        for tmp in run_dir.predictions.glob("*/.*.tmp"):  # leftovers of a killed write, before anyone writes
            tmp.unlink(missing_ok=True)
    group.barrier()
    shard = Shard.parse(req.shard)
    split_work = group.distributed or shard.count > 1  # rows then go to rank 0 / the shard file, not samples.jsonl
    positions = my_positions(len(jobs), shard, group, req.batch_size)
    order = {jobs[i].name: i for i in positions}

    previous = {} if req.force else _previous_scores(run_dir.samples_path)
    scorer = None
    sums = PromptScores()
    cosines: list[float] = []
    n_truncated = generated = reused = 0
    gathered_rows: list[dict[str, Any]] = []
    with progress_bar(disable=not group.is_main) as bar, \
            (CollectingWriter(gathered_rows) if split_work else AtomicLineWriter(run_dir.samples_path)) as rows:
        task = bar.add_task(f"{req.method} on {suite.name}", total=len(positions), note="")
        for batch in _batches([jobs[i] for i in positions], req.batch_size):
            todo = [j for j in batch if req.force or not _cached(_image_path(run_dir, j), j.key)]
            fresh: dict[str, Image] = {}
            if todo:
                method = method or info.build(**build_kwargs)
                images = _check_images(method.generate([j.prompt for j in todo], [j.seed for j in todo]), todo,
                                       req.method)
                for job, image in zip(todo, images):
                    atomic_write_bytes(_image_path(run_dir, job), encode_image_png(image, job.key))
                    fresh[job.name] = image
            generated += len(fresh)
            reused += len(batch) - len(fresh)

            unscored = [j for j in batch if j.name in fresh or (j.key, clip_fingerprint) not in previous]
            new_rows: dict[str, dict[str, Any]] = {}
            if unscored:
                if scorer is None:
                    from partbench.metrics.clip_score import ClipScorer

                    bar.update(task, note="loading CLIP")
                    scorer = ClipScorer(options.clip)
                images = [fresh.get(j.name) or _load_rgb(_image_path(run_dir, j)) for j in unscored]
                texts = [j.prompt.prompt for j in unscored]
                for job, cos, cut in zip(unscored, scorer.cosines(images, texts), scorer.truncated(texts)):
                    new_rows[job.name] = {"cos": float(cos), "truncated": bool(cut)}
            for job in batch:
                row = new_rows.get(job.name) or previous[(job.key, clip_fingerprint)]
                row = _sample_row(job, row["cos"], row["truncated"], clip_fingerprint)
                rows.write(row | {"index": order[job.name]} if split_work else row)
                sums.add(job.prompt.id, row["clip_score"])
                cosines.append(row["cos"])
                n_truncated += row["truncated"]
            bar.update(task, advance=len(batch), note=f"reused {reused}")

    extra = {"limit": req.limit, "seed": req.seed, "fingerprint": fingerprint, "method_config": method_config,
             "inputs": input_report.get("summary")} | run_config
    if split_work:
        gathered = group.gather({"rows": gathered_rows, "generated": generated, "reused": reused})
        group.close()
        if not group.is_main:
            return RunOutcome(run_dir=run_dir.path, results=None, predicted=generated, cached=reused)
        generated, reused = (sum(g[k] for g in gathered) for k in ("generated", "reused"))
        indexed = sorted((r for g in gathered for r in g["rows"]), key=lambda r: r["index"])
        if shard.count > 1:
            from partbench.runner import write_shard

            header = {"task": suite.task, "suite": suite.name, "split": split, "method": req.method,
                      "method_args": options.identity_args, "run_name": run_dir.path.name, "meaningful": meaningful,
                      "convention": "clip-100max0", "skipped": {}, "n_refs": len(jobs),
                      "clip": asdict(options.clip), "clip_fingerprint": clip_fingerprint, "extra": extra}
            write_shard(run_dir, shard, header, indexed, empty=0)
            return RunOutcome(run_dir=run_dir.path, results=None, predicted=generated, cached=reused,
                              note=f"shard {shard.index}/{shard.count} done; combine with "
                                   f"`partbench merge {run_dir.path}`")
        sums, cosines, n_truncated = write_rows(run_dir.samples_path, indexed)

    results = generation_results(
        suite=suite, split=split, method=req.method, method_args=options.identity_args, run_name=run_dir.path.name,
        sums=sums, cosines=cosines, clip=options.clip, clip_fingerprint=clip_fingerprint, meaningful=meaningful,
        n_replicates=req.bootstrap, extra=extra | {"n_truncated_prompts": n_truncated},
    )
    run_dir.write_results(results)
    return RunOutcome(run_dir=run_dir.path, results=results, predicted=generated, cached=reused)


def write_rows(samples_path: Path, indexed_rows: Iterable[dict[str, Any]]) -> tuple[PromptScores, list[float], int]:
    """Write rows (in job order, carrying their job `index`) to samples.jsonl without the index, and aggregate them:
    exactly what one process would have written and computed."""
    from partbench.paths import AtomicLineWriter

    sums, cosines, n_truncated = PromptScores(), [], 0
    with AtomicLineWriter(samples_path) as out:
        for indexed in indexed_rows:
            row = {k: v for k, v in indexed.items() if k != "index"}
            out.write(row)
            sums.add(row["prompt_id"], row["clip_score"])
            cosines.append(row["cos"])
            n_truncated += row["truncated"]
    return sums, cosines, n_truncated


def merge_generation(run_dir: RunDir, suite: Suite, header: dict[str, Any], indexed_rows: Iterable[dict[str, Any]],
                     n_replicates: int) -> dict[str, Any]:
    """results.json of a generation run from its shards' rows (see `partbench.merge`)."""
    from partbench.metrics.clip_score import ClipSpec

    sums, cosines, n_truncated = write_rows(run_dir.samples_path, indexed_rows)
    results = generation_results(
        suite=suite, split=header["split"], method=header["method"], method_args=header["method_args"],
        run_name=header["run_name"], sums=sums, cosines=cosines, clip=ClipSpec(**header["clip"]),
        clip_fingerprint=header["clip_fingerprint"], meaningful=header["meaningful"], n_replicates=n_replicates,
        extra=header["extra"] | {"n_truncated_prompts": n_truncated},
    )
    run_dir.write_results(results)
    return results


def _load_rgb(path: Path) -> Image:
    from PIL import Image

    with Image.open(path) as im:
        return im.convert("RGB")


def _sample_row(job: ImageJob, cos: float, truncated: bool, clip_fingerprint: str) -> dict[str, Any]:
    from partbench.metrics.clip_score import per_image_score

    return {"prompt_id": job.prompt.id, "k": job.k, "seed": job.seed, "file": f"predictions/{job.name}.png",
            "prompt": job.prompt.prompt, "part": job.prompt.part, "object": job.prompt.object_class,
            "cos": cos, "clip_score": float(per_image_score(cos)), "truncated": truncated, "key": job.key,
            "clip_fingerprint": clip_fingerprint}


def clip_interval(sums: PromptScores, n_replicates: int, seed: int = 0) -> tuple[float, float] | None:
    """95 % bootstrap interval of the mean score over images, resampling prompts (their images go with them)."""
    import numpy as np
    import scipy.sparse as sp

    from partbench.metrics.statistics import bootstrap_intervals

    if n_replicates <= 0 or not sums.totals:
        return None
    per_prompt = sp.csr_matrix(np.array(list(sums.totals.values()), dtype=np.float64))
    ci = bootstrap_intervals(per_prompt, lambda s: {"clip_score": s[:, 0] / s[:, 1]}, n_replicates, seed)
    return ci.get("clip_score")


def generation_results(*, suite: Suite, split: str, method: str, method_args: dict[str, str], run_name: str,
                       sums: PromptScores, cosines: list[float], clip: ClipSpec, clip_fingerprint: str,
                       meaningful: bool, n_replicates: int, extra: dict[str, Any]) -> dict[str, Any]:
    """results.json for a generation suite (DESIGN §4): `clip_score` in metrics, its interval, the variants."""
    from partbench.metrics.clip_score import CONVENTION, VARIANTS, clip_variant
    from partbench.provenance import provenance

    n_images = int(sum(n for _, n in sums.totals.values()))
    score = sum(t for t, _ in sums.totals.values()) / n_images if n_images else None
    ci = clip_interval(sums, n_replicates)
    doc: dict[str, Any] = {
        "schema_version": RESULTS_SCHEMA, "suite": suite.name, "suite_version": suite.version, "split": split,
        "task": suite.task, "method": method, "method_args": method_args, "run_name": run_name,
        "convention": "clip-100max0", "n_samples": len(sums.totals), "n_images": n_images,
        "metrics": {"clip_score": score},
        "ci95": {"clip_score": list(ci)} if ci else {},
        "higher_is_better": {"clip_score": True},
        "meaningful": meaningful,
        "clip_score": {"rule": CONVENTION, "scale": 100, "model": clip.model, "pretrained": clip.pretrained,
                       "backend": clip.backend, "fingerprint": clip_fingerprint,
                       "interval": "percentile bootstrap over prompts (images nested in prompts), "
                                   f"{n_replicates} replicates"},
        # Other published aggregates of the same cosines; comparable to their sources only with their models.
        "clip_variants": {name: clip_variant(name, cosines) for name in VARIANTS} if cosines else {},
    }
    doc |= extra
    doc["provenance"] = provenance()
    return doc
