"""Training: Dice on decoded PartConcept masks + lambda * flow-matching loss, with accelerate (device, mixed
precision, gradient accumulation, several processes), periodic atomic checkpoints, and resume from the last one.

Data: a suite's train split, one entry per (image, object class with parts) and, with mirroring, its mirror image
with left/right swapped; prompts `a photo of a {object} with [part], ... and [part]` over all of the object's parts
(in a random order each step, so a concept is identified by its phrase, not its position). By default only *seen*
objects train (the OV-PARTS zero-shot protocol); `train_objects=all` uses every object. Optional caption
augmentation: a JSONL of `{"sample_id": ..., "caption": "... [part] ..."}` lines whose marked phrases are parts of
that sample's object; with probability `caption_prob` a caption replaces the default prompt.

Streaming (`stream.py`, `plans.py`): what each step trains on is drawn in the main process; DataLoader workers read
and crop it; targets are uint8 label maps expanded on the device; the frozen VAE's latents are computed once into a
file (`latent_cache=disk`) or per batch (`none`). Host memory does not grow with the dataset.

Scale: `gradient_checkpointing` recomputes mmDiT blocks and decoder stages in backward (the attention capture runs
inside the recomputed blocks); `mixed_precision=bf16` trains fp32 master copies of the trained parameters under bf16
autocast; under `accelerate launch` / `torchrun` each process takes its slice of every global batch, the model is
called through its DistributedDataParallel wrapper (gradients synchronised), and every loss is normalised over the
global batch, so N processes with batch B make the updates one process makes with batch N x B.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from partbench.errors import PartbenchError
from partbench.methods.partconcepts import checkpoint as ckpt
from partbench.methods.partconcepts.losses import (
    dice_loss,
    flow_loss,
    masked_bce,
    mirrored_pairs,
    pair_cross_entropy,
    part_cross_entropy,
)
from partbench.methods.partconcepts.plans import load_captions
from partbench.methods.partconcepts.presets import PartConceptsConfig
from partbench.methods.partconcepts.train_control import StopRequest, prompt_hint

# Per-preset training recipes. klein: the paper's (batch 16 = 4 x 4 accumulation, the LoRA learning rate, Dice +
# lambda * flow only). tiny: what trains a random base model on the demo suite within 10 minutes on 2 CPU cores
# (docs/partconcepts.md, "The tiny preset"): small batches and more steps, a higher learning rate, lower noise, and
# three auxiliary losses the paper does not use (pixel BCE, per-pixel cross-entropy over the prompt's parts, and a
# left-vs-right cross-entropy per mirrored pair).
PRESET_TRAINING: dict[str, dict[str, Any]] = {
    "tiny": {"steps": 2500, "batch_size": 4, "lr": 2e-3, "lr_schedule": "cosine", "bce_weight": 1.0,
             "ce_weight": 1.0, "pair_weight": 1.0, "noise_range": (0.1, 0.5)},
    # klein at the paper's batch 16 on one 80 GB GPU: micro-batch 4 x 4 accumulation with checkpointing and bf16
    # autocast over fp32 master weights (the memory plan in docs/partconcepts.md).
    "klein": {"steps": 2000, "batch_size": 4, "grad_accum": 4, "lr": 1e-4, "num_workers": 8, "latent_cache": "none",
              "gradient_checkpointing": True, "mixed_precision": "bf16"},
}
LATENT_CACHES = ("disk", "none")
MIXED_PRECISION = ("no", "fp16", "bf16")
# Options a resumed training may change: how long and where it runs, not what it learns. Any other recorded option
# that differs from the checkpoint's is refused, so that the record describes the weights.
RESUMABLE_WITH_OTHER = ("steps", "output", "data_root", "save_every", "time_limit_s", "num_workers", "device",
                        "latent_cache", "gradient_checkpointing", "allow_incomplete_data")


@dataclass
class TrainOptions:
    suite: str
    data_root: Path
    output: Path
    model: PartConceptsConfig
    steps: int = 1000
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 5e-4
    warmup: int = 50
    lr_schedule: str = "constant"  # after the linear warm-up: "constant", or "cosine" decay to 0 at `steps`
    weight_decay: float = 0.0
    bce_weight: float = 0.0  # auxiliary pixel BCE (not in the paper; the tiny preset uses 1.0 to learn in minutes)
    ce_weight: float = 0.0  # auxiliary per-pixel cross-entropy over the prompt's parts (not in the paper)
    pair_weight: float = 0.0  # auxiliary left-vs-right cross-entropy per mirrored pair (not in the paper)
    noise_range: tuple[float, float] = (0.2, 0.8)  # sigma ~ U(range) per sample
    max_parts: int | None = None  # prompt at most this many of the object's parts per step (None: all of them)
    train_split: str = "train"
    train_objects: str = "seen"
    mirror: bool = True
    captions: Path | None = None
    caption_prob: float = 0.5
    save_every: int = 200
    mixed_precision: str = "no"
    device: str | None = None  # None: accelerate picks (GPU if present)
    seed: int = 0
    time_limit_s: float | None = None  # stop early (and save) after this many seconds of training
    limit_samples: int | None = None  # for quick checks
    num_workers: int = 2  # DataLoader processes reading and cropping samples (0: in the training process)
    # "disk": the frozen VAE encodes every entry once, into OUTPUT/.latent-cache-<rank>.bin (removed at the end);
    # "none": each batch is encoded when it is used (no pass over the data first, no disk; the klein default).
    latent_cache: str = "disk"
    allow_incomplete_data: bool = False  # train on a split with missing files (the checkpoint records its problems)
    gradient_checkpointing: bool = False  # recompute mmDiT blocks and decoder stages in backward
    task: str = "segmentation"  # what the checkpoint is for (recorded; the CLI picks lambda from it)

    def __post_init__(self):
        if self.lr_schedule not in ("constant", "cosine"):
            raise PartbenchError(f"PartConcepts: lr_schedule must be 'constant' or 'cosine', got {self.lr_schedule!r}.")
        if self.latent_cache not in LATENT_CACHES:
            raise PartbenchError(f"PartConcepts: latent_cache must be one of {LATENT_CACHES}, got "
                                 f"{self.latent_cache!r}.")
        if self.mixed_precision not in MIXED_PRECISION:
            raise PartbenchError(f"PartConcepts: --mixed-precision must be one of {', '.join(MIXED_PRECISION)}, got "
                                 f"{self.mixed_precision!r}.")
        if self.num_workers < 0:
            raise PartbenchError(f"PartConcepts: num_workers must be >= 0, got {self.num_workers}.")
        self._check_numbers()

    def _check_numbers(self) -> None:
        """Refuse numbers no training can use (0 steps would write an untrained checkpoint), naming the option."""
        def bad(option: str, value: Any, rule: str) -> PartbenchError:
            return PartbenchError(f"PartConcepts: {option} must be {rule}, got {value}.")

        for option, value in (("--steps", self.steps), ("--batch-size", self.batch_size),
                              ("--grad-accum", self.grad_accum),
                              ("--max-parts", self.max_parts), ("limit_samples", self.limit_samples)):
            if value is not None and value < 1:
                raise bad(option, value, "a positive integer")
        if not self.lr > 0 or self.lr == float("inf"):  # also NaN
            raise bad("--lr", self.lr, "a positive number")
        if self.time_limit_s is not None and not self.time_limit_s > 0:
            raise bad("--time-limit", self.time_limit_s, "a positive number of seconds")
        for option, value in (("--save-every", self.save_every), ("warmup", self.warmup),
                              ("weight_decay", self.weight_decay),
                              ("--bce-weight", self.bce_weight), ("--ce-weight", self.ce_weight),
                              ("--pair-weight", self.pair_weight)):
            if not value >= 0:
                raise bad(option, value, ">= 0")
        if not 0.0 <= self.caption_prob <= 1.0:
            raise bad("caption_prob", self.caption_prob, "in [0, 1]")
        lo, hi = self.noise_range
        if not 0.0 <= lo <= hi <= 1.0:
            raise bad("--noise-range", f"{lo} {hi}", "LO HI with 0 <= LO <= HI <= 1")

    @classmethod
    def for_preset(cls, suite: str, data_root: Path, output: Path, model: PartConceptsConfig,
                   **overrides: Any) -> TrainOptions:
        """The training recipe of `model.preset` (PRESET_TRAINING), with `overrides` (None: keep the default)."""
        defaults = PRESET_TRAINING.get(model.preset, {})
        return cls(suite=suite, data_root=data_root, output=output, model=model,
                   **(defaults | {k: v for k, v in overrides.items() if v is not None}))

    def record(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("model")
        return {k: (str(v) if isinstance(v, Path) else v) for k, v in d.items()}

    def resume_conflicts(self, saved: dict[str, Any]) -> list[str]:
        """The recorded training options of checkpoint config `saved` that these options would change, as
        "name: saved (asked asked)"; options a checkpoint of an older version did not record are not compared."""
        asked = json.loads(json.dumps(self.record()))  # as config.json holds it (tuples as lists)
        was = saved.get("training", {})
        return [f"{k}: {was[k]!r} (asked {asked[k]!r})" for k in asked
                if k in was and k not in RESUMABLE_WITH_OTHER and was[k] != asked[k]]


@dataclass
class TrainResult:
    checkpoint: Path
    step: int
    seconds: float
    losses: list[dict[str, float]] = field(default_factory=list)
    already_done: bool = False  # the checkpoint had reached `steps` before: nothing was trained
    is_main: bool = True  # the process that reports (one of a distributed training's)
    resumed_at: int = 0  # the step this call started from (a resumed training's checkpoint)


def check_trainable_suite(name: str):
    """The suite `name`, refused unless its task kind is segmentation (PartConcepts learns part masks)."""
    from partbench.suites import load_suite
    from partbench.tasks.base import task_kind_for

    suite = load_suite(name)
    kind = task_kind_for(suite)
    if kind.name != "segmentation":
        raise PartbenchError(
            f"PartConcepts trains on segmentation suites (task {' or '.join(kind_tasks('segmentation'))}); suite "
            f"{suite.name!r} is a {kind.name} suite (task {suite.task!r}), which has no part masks to learn from. "
            f"Pick a segmentation suite, e.g. demo or pascal-part (`partbench suites` lists every suite and its "
            f"task).")
    return suite


def kind_tasks(kind_name: str) -> tuple[str, ...]:
    from partbench.registry import TASK_KINDS

    return next((k.suite_tasks for n, k in TASK_KINDS.items() if n == kind_name), (kind_name,))


def _training_refs(opts: TrainOptions):
    """(suite, reader, references of the samples that may train, the split's completeness)."""
    from partbench.data.completeness import check_completeness

    suite = check_trainable_suite(opts.suite)
    reader = suite.make_reader(opts.data_root)
    reader.check(opts.train_split)
    data = check_completeness(suite, reader, opts.train_split)
    if not data.complete and not opts.allow_incomplete_data:
        raise PartbenchError(data.fit_refusal(suite.name, "PartConcepts", "--allow-incomplete-data",
                                              "the checkpoint's config"))
    refs = reader.index(opts.train_split).refs
    if opts.train_objects not in ("seen", "all"):
        raise PartbenchError(f"train_objects must be 'seen' or 'all', got {opts.train_objects!r}.")
    if opts.train_objects == "seen":
        refs = [r for r in refs if r.object_class not in suite.unseen_objects]
    return suite, reader, (refs[: opts.limit_samples] if opts.limit_samples else refs), data


class _GlobalCount:
    """Loss normaliser over the global batch: every process's count summed (a collective: all processes call it in
    the same order), divided by the number of processes because DistributedDataParallel averages gradients."""

    def __init__(self, accelerator):
        self.accelerator = accelerator

    def __call__(self, count: torch.Tensor) -> torch.Tensor:
        total = self.accelerator.reduce(count.detach().float().reshape(1), reduction="sum")[0]
        return total.clamp_min(1) / self.accelerator.num_processes


def objective(res, tgt: torch.Tensor, valid: torch.Tensor, noise: torch.Tensor, x0: torch.Tensor,
              opts: TrainOptions, norm=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, dice, flow): Dice + lambda * flow, plus the auxiliary terms a recipe turns on."""
    logits = res.mask_logits.float()
    l_dice = dice_loss(logits, tgt, valid, res.concept_mask, norm=norm)
    l_flow = flow_loss(res.velocity, noise, x0)
    loss = l_dice + opts.model.flow_weight * l_flow
    if opts.bce_weight:
        loss = loss + opts.bce_weight * masked_bce(logits, tgt, valid, res.concept_mask, norm=norm)
    if opts.ce_weight:
        loss = loss + opts.ce_weight * part_cross_entropy(logits, tgt, valid, res.concept_mask, norm=norm)
    if opts.pair_weight:
        loss = loss + opts.pair_weight * pair_cross_entropy(logits, tgt, valid, mirrored_pairs(res.phrases),
                                                            norm=norm)
    return loss, l_dice, l_flow


def train(opts: TrainOptions, model=None) -> TrainResult:
    from accelerate import Accelerator
    from accelerate.utils import set_seed

    from partbench.console import progress_bar
    from partbench.methods.partconcepts.data import expand_targets
    from partbench.methods.partconcepts.model import PartConceptsModel
    from partbench.methods.partconcepts.plans import PlanBatches
    from partbench.methods.partconcepts.stream import CropDataset, LatentCache, batch_loader, build_index

    # The cores this process may use (taskset, cgroup CPU sets), not all the machine has; Linux only, else all.
    usable = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    torch.set_num_threads(max(1, len(usable)))
    workers = min(opts.num_workers, len(usable))  # more reader processes than cores only compete with training
    from accelerate.state import AcceleratorState

    # accelerate keeps one process-wide state and refuses another mixed precision than the first Accelerator's: a
    # second training in the same process (tests, notebooks) with other settings needs it cleared. The process group
    # state (PartialState) is kept.
    if AcceleratorState._shared_state.get("_mixed_precision", opts.mixed_precision) != opts.mixed_precision:
        AcceleratorState._reset_state()
    accelerator = Accelerator(mixed_precision=opts.mixed_precision, gradient_accumulation_steps=opts.grad_accum,
                              cpu=opts.device == "cpu")
    world, rank, device = accelerator.num_processes, accelerator.process_index, accelerator.device
    set_seed(opts.seed)
    out = Path(opts.output)
    ckpt.recover(out)
    resume = out / ckpt.SUBDIR / ckpt.TRAINING_STATE
    if resume.is_file():
        saved = ckpt.read_config(out)
        if saved.get("model") != opts.model.to_dict():
            raise PartbenchError(f"PartConcepts: {out} holds a checkpoint of another model (preset, base model or "
                                 f"model options differ); use another --output or delete it.")
        conflicts = opts.resume_conflicts(saved)
        if conflicts:
            raise PartbenchError(f"PartConcepts: {out} holds a checkpoint trained with other settings ("
                                 f"{'; '.join(conflicts)}). Resume with its settings, or use another --output.")
        if saved.get("final") and saved.get("step", 0) >= opts.steps:
            # Already trained: rewriting the checkpoint would change its fingerprint and void cached predictions.
            return TrainResult(out / ckpt.SUBDIR, saved["step"], saved.get("seconds", 0.0), [], already_done=True,
                               is_main=accelerator.is_main_process)
    suite, reader, refs, data = _training_refs(opts)  # before building the model: bad data fails fast
    index = build_index(suite, reader, refs, opts.mirror, workers, opts.seed)
    if not len(index):
        raise PartbenchError(f"PartConcepts: no labelled training samples in {suite.name}/{opts.train_split}.")
    captions = load_captions(opts.captions)
    model = model or PartConceptsModel(opts.model)
    model.to(device)
    if opts.mixed_precision == "bf16":
        model.upcast_trainable()
    if opts.gradient_checkpointing:
        model.enable_gradient_checkpointing()
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=opts.lr, weight_decay=opts.weight_decay)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: lr_factor(s, opts))
    step, history, elapsed_before = 0, [], 0.0
    if resume.is_file():
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(out / ckpt.SUBDIR / ckpt.WEIGHTS)), strict=False)
        state = torch.load(resume, map_location="cpu", weights_only=False)
        optimizer.load_state_dict(state["optimizer"])
        schedule.load_state_dict(state["schedule"])
        step, history, elapsed_before = state["step"], state["history"], state["seconds"]
        torch.random.set_rng_state(state["torch_rng"])
    started_at = step
    model, optimizer = accelerator.prepare(model, optimizer)
    core = accelerator.unwrap_model(model)

    cfg = opts.model
    dataset = CropDataset(index, reader, suite, cfg.resolution, cfg.crop_margin, cfg.crop)
    cache = LatentCache(out / f".latent-cache-{rank}.bin" if opts.latent_cache == "disk" else None)
    plans = PlanBatches(index, opts.seed, step, opts.steps, opts.grad_accum, opts.batch_size, captions,
                        opts.caption_prob, opts.max_parts, world, rank)
    norm = _GlobalCount(accelerator) if world > 1 else None
    lo, hi = opts.noise_range
    record = {"training": opts.record() | {"n_crops": len(index), "processes": world, "data": data.summary()},
              "deviations": deviations(opts),
              "base": core.components.description}

    def save(final: bool = False):
        accelerator.wait_for_everyone()
        if accelerator.is_main_process:
            seconds = elapsed_before + time.monotonic() - t0
            ckpt.save_checkpoint(out, core, record | {"step": step, "seconds": round(seconds, 1), "final": final,
                                                     "last_loss": history[-1] if history else None},
                                 {"optimizer": optimizer.state_dict(), "schedule": schedule.state_dict(),
                                  "step": step, "history": history, "seconds": seconds,
                                  "torch_rng": torch.random.get_rng_state()})

    batches = None
    try:
        # A resumed model has its latent statistics in its buffers.
        raw = cache.build(core, dataset, device, workers, opts.seed,
                          calibrate=cfg.latent_stats == "calibrate" and not resume.is_file())
        if raw is not None:
            core.set_latent_statistics(raw)
        del raw
        batches = iter(batch_loader(dataset, plans, workers, opts.seed, pin=device.type == "cuda"))
        t0 = time.monotonic()
        model.train()
        with progress_bar(disable=not accelerator.is_main_process) as bar, StopRequest(enabled=world == 1) as stop:
            task = bar.add_task("partconcepts: training", total=opts.steps, completed=step, note="")
            while step < opts.steps:
                if opts.time_limit_s and elapsed_before + time.monotonic() - t0 > opts.time_limit_s:
                    break
                for _ in range(opts.grad_accum):
                    if stop.asked:  # the weights are those of the last finished step (no optimizer step is half done)
                        save()
                        bar.console.print(f"partconcepts: stopped after step {step} of {opts.steps}, which is saved")
                        raise KeyboardInterrupt
                    with accelerator.accumulate(model):
                        batch = next(batches)
                        b = len(batch.entries)
                        x0 = (core.normalise_latents(cache.read(batch.entries).to(device)) if cache.path
                              else core.encode_images(batch.images.to(device)))
                        tgt = expand_targets(batch.labels.to(device), batch.select.to(device))
                        valid, images = batch.valid.to(device), batch.images.to(device)
                        # Drawn for the global batch and sliced, so every process count sees the same draws.
                        sigma = torch.empty(b * world).uniform_(lo, hi)[rank * b:(rank + 1) * b].to(device)
                        noise = torch.randn((b * world, *x0.shape[1:]), dtype=x0.dtype,
                                            device=x0.device)[rank * b:(rank + 1) * b]
                        with accelerator.autocast(), prompt_hint(opts.max_parts):
                            res = model(x0, images, batch.prompts, sigma, noise)
                            loss, l_dice, l_flow = objective(res, tgt, valid, noise, x0, opts, norm)
                        accelerator.backward(loss)
                        core.release_capture()  # hooks kept for a checkpointed backward
                        if accelerator.sync_gradients:
                            accelerator.clip_grad_norm_(params, 1.0)
                        optimizer.step()
                        optimizer.zero_grad()
                schedule.step()
                step += 1
                shown = torch.stack([loss.detach(), l_dice.detach(), l_flow.detach()]).float()
                if world > 1:  # each process holds its share of the global loss
                    shown = accelerator.reduce(shown, reduction="sum") / world
                history.append({"step": step, "loss": round(shown[0].item(), 5), "dice": round(shown[1].item(), 5),
                                "flow": round(shown[2].item(), 5)})
                bar.update(task, completed=step, note=f"dice {history[-1]['dice']:.3f} flow {history[-1]['flow']:.3f}")
                if opts.save_every and step % opts.save_every == 0 and step < opts.steps:
                    save()
        save(final=True)
    finally:
        del batches  # stops the DataLoader workers
        cache.close()  # and removes the latent file
    return TrainResult(out / ckpt.SUBDIR, step, elapsed_before + time.monotonic() - t0, history,
                       is_main=accelerator.is_main_process, resumed_at=started_at)


def lr_factor(step: int, opts: TrainOptions) -> float:
    """Learning-rate multiplier at `step`: linear warm-up over `warmup` steps, then constant or cosine to 0."""
    warm = max(opts.warmup, 1)
    if step < warm:
        return (step + 1) / warm
    if opts.lr_schedule == "cosine":
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(opts.steps - warm, 1))))
    return 1.0


def deviations(opts: TrainOptions) -> list[str]:
    """Where this model and training recipe depart from the paper's (recorded in the checkpoint and the run config)."""
    config = opts.model
    out = []
    if config.preset == "tiny":
        out.append("tiny preset: randomly initialised FLUX.2-Klein-shaped model (no pretrained prior)")
    if config.trainable == "full":
        out.append("trainable=full: text encoder and mmDiT are trained in full, not only LoRAs (a random base has "
                   "no prior for LoRAs to adapt)")
    if config.concept_lora_rank != 128:
        out.append(f"PartConcept LoRA rank {config.concept_lora_rank} (paper: 128)")
    if config.latent_stats == "calibrate":
        out.append("latent normalisation measured on the training crops (a random VAE has no statistics)")
    if config.crop == "object":
        out.append("inputs cropped to the oracle object's box (paper: whole image)")
    if opts.bce_weight:
        out.append(f"auxiliary pixel BCE, weight {opts.bce_weight} (paper: Dice + lambda * flow only)")
    if opts.ce_weight:
        out.append(f"auxiliary per-pixel cross-entropy over the prompt's parts, weight {opts.ce_weight} "
                   f"(paper: Dice + lambda * flow only)")
    if opts.pair_weight:
        out.append(f"auxiliary left-vs-right cross-entropy per mirrored pair, weight {opts.pair_weight} "
                   f"(paper: Dice + lambda * flow only)")
    return out
