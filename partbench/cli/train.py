"""`partbench train`: training commands for our own methods (PartConcepts)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from partbench.cli.group import PartbenchGroup
from partbench.cli.options import DataRoot

train_app = typer.Typer(cls=PartbenchGroup, no_args_is_help=True,
                        help="Train our own methods; checkpoints feed `partbench run --checkpoint`.")


@train_app.command("partconcepts")
def train_partconcepts(
    suite: Annotated[str, typer.Option("--suite", "-s", help="Suite whose train split to learn from.")],
    output: Annotated[Path, typer.Option("--output", "-o", help="Training directory; the checkpoint is written to "
                                         "OUTPUT/checkpoint (pass OUTPUT to `partbench run --checkpoint`).")],
    preset: Annotated[str, typer.Option(help="tiny (random tiny FLUX.2 Klein, CPU) or klein (real weights).")] = "tiny",
    base_model: Annotated[Optional[str], typer.Option(
        help="klein: 9B (default, the paper's), 4B, base-9B or base-4B (FLUX.2-klein-*), or a local path or cached "
             "HF repo id.")] = None,
    task: Annotated[str, typer.Option(
        help="segmentation or generation: the task the checkpoint is for; sets the default --flow-weight "
             "(paper: 0.25 for generation, no value given for segmentation).")] = "segmentation",
    data_root: DataRoot = None,
    steps: Annotated[Optional[int], typer.Option(help="Optimizer steps (tiny default 2500, klein 2000).")] = None,
    batch_size: Annotated[Optional[int], typer.Option(help="Samples per micro-batch (tiny 4, klein 4).")] = None,
    grad_accum: Annotated[Optional[int], typer.Option(
        help="Gradient accumulation (klein default 4: 4 x 4 is the paper's batch 16).")] = None,
    lr: Annotated[Optional[float], typer.Option(help="AdamW learning rate (tiny 2e-3, klein 1e-4).")] = None,
    flow_weight: Annotated[Optional[float], typer.Option(
        help="lambda in dice + lambda*flow (tiny 0.1, else per --task: 0.25).")] = None,
    bce_weight: Annotated[Optional[float], typer.Option(
        help="Auxiliary pixel-BCE weight, not in the paper (tiny default 1.0, else 0).")] = None,
    ce_weight: Annotated[Optional[float], typer.Option(
        help="Auxiliary per-pixel cross-entropy over the prompt's parts, not in the paper (tiny 1.0, else 0).")] = None,
    pair_weight: Annotated[Optional[float], typer.Option(
        help="Auxiliary left-vs-right cross-entropy per mirrored pair, not in the paper (tiny 1.0, else 0).")] = None,
    noise_range: Annotated[Optional[tuple[float, float]], typer.Option(
        help="Training sigma ~ U(LO, HI) (tiny 0.1 0.5, else 0.2 0.8).")] = None,
    max_parts: Annotated[Optional[int], typer.Option(
        help="Prompt at most this many of the object's parts per step (mirrored pairs together); default all.")] = None,
    lr_schedule: Annotated[Optional[str], typer.Option(
        help="constant or cosine (decay to 0 at --steps) after the warm-up.")] = None,
    trainable: Annotated[Optional[str], typer.Option(help="lora (paper) or full (tiny default).")] = None,
    concept_lora_rank: Annotated[Optional[int], typer.Option(help="PartConcept-encoder LoRA rank (paper 128).")] = None,
    resolution: Annotated[Optional[int], typer.Option(help="Square model input in pixels (tiny 64, else 512).")] = None,
    crop: Annotated[Optional[str], typer.Option(help="object (crop the oracle object's box) or none.")] = None,
    noise: Annotated[Optional[float], typer.Option(
        help="Sigma used at segmentation inference (tiny 0.3, else 0.5).")] = None,
    train_objects: Annotated[str, typer.Option(help="seen (zero-shot protocol) or all.")] = "seen",
    captions: Annotated[Optional[Path], typer.Option(help="JSONL of {sample_id, caption} part-level captions.")] = None,
    save_every: Annotated[int, typer.Option(
        help="Checkpoint every N steps (resume restarts from the last; 0: only at the end).")] = 100,
    mixed_precision: Annotated[Optional[str], typer.Option(
        help="no | fp16 | bf16 (accelerate). bf16: autocast with fp32 master weights of the trained parameters "
             "(klein default).")] = None,
    gradient_checkpointing: Annotated[Optional[bool], typer.Option(
        "--gradient-checkpointing/--no-gradient-checkpointing",
        help="Recompute mmDiT blocks and decoder stages in backward (klein default: on).")] = None,
    num_workers: Annotated[Optional[int], typer.Option(
        help="DataLoader processes reading and cropping samples (tiny 2, klein 8).")] = None,
    latent_cache: Annotated[Optional[str], typer.Option(
        help="disk (encode every crop once, before training; tiny default) or none (encode per batch; klein).")] = None,
    device: Annotated[Optional[str], typer.Option(help="cpu to force CPU; default: accelerate's choice.")] = None,
    time_limit: Annotated[Optional[float], typer.Option(help="Stop and save after this many seconds.")] = None,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 0,
    allow_incomplete_data: Annotated[bool, typer.Option(
        "--allow-incomplete-data", help="Train on a train split with missing files (refused by default); the "
                                        "checkpoint's config records what is missing.")] = False,
) -> None:
    """Train PartConcepts on SUITE's train split (resumes from OUTPUT/checkpoint when it exists)."""
    from partbench.data.root import resolve_data_root
    from partbench.errors import PartbenchError
    from partbench.methods.partconcepts.presets import TASK_FLOW_WEIGHT, PartConceptsConfig, check_base_model_name
    from partbench.methods.partconcepts.train import TrainOptions, check_trainable_suite, train

    check_trainable_suite(suite)  # before anything is written: a part-editing suite has no masks to learn
    if task not in TASK_FLOW_WEIGHT:
        raise PartbenchError(f"--task must be one of {', '.join(TASK_FLOW_WEIGHT)}, got {task!r}.")
    tiny = preset == "tiny"
    if base_model is not None:
        check_base_model_name(base_model)
    if flow_weight is None and not tiny:
        flow_weight = TASK_FLOW_WEIGHT[task]
    config = PartConceptsConfig.for_preset(
        preset, base_model=base_model, flow_weight=flow_weight, trainable=trainable,
        concept_lora_rank=concept_lora_rank, resolution=resolution, crop=crop, noise=noise,
        dtype=None if tiny else "bfloat16")
    opts = TrainOptions.for_preset(
        suite, resolve_data_root(data_root), output, config, steps=steps, batch_size=batch_size,
        grad_accum=grad_accum, lr=lr, bce_weight=bce_weight, ce_weight=ce_weight, pair_weight=pair_weight,
        noise_range=noise_range, max_parts=max_parts, lr_schedule=lr_schedule, train_objects=train_objects,
        captions=captions, save_every=save_every, mixed_precision=mixed_precision,
        gradient_checkpointing=gradient_checkpointing, num_workers=num_workers, latent_cache=latent_cache,
        device=device, time_limit_s=time_limit, seed=seed, task=task, allow_incomplete_data=allow_incomplete_data)
    from partbench.console import err_console
    from partbench.data.generated import ensure_generated

    # A generated suite (demo) is made on first use, as `partbench run` does.
    ensure_generated(suite, opts.data_root, explicit_root=data_root is not None,
                     note=lambda msg: err_console.print(msg, highlight=False, soft_wrap=True))
    result = train(opts)
    if not result.is_main:  # one report per training, not one per process
        return

    if result.already_done:
        err_console.print(f"already trained: {result.step} steps, nothing to do (a larger --steps trains further); "
                          f"checkpoint: {result.checkpoint}")
        return
    last = result.losses[-1] if result.losses else {}
    resumed = f", resumed at step {result.resumed_at}" if result.resumed_at else ""
    err_console.print(f"trained {result.step} steps in {result.seconds:.0f} s{resumed} "
                      f"(last dice {last.get('dice', float('nan')):.3f}); checkpoint: {result.checkpoint}")
