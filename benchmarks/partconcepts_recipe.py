"""The tiny PartConcepts recipe on the demo suite: train a variant from scratch, score it, and print the training
time next to the metrics (seen/unseen mIoU, h-IoU, left/right confusion on val and on training images) and those
of the weight-free baselines.

    python benchmarks/partconcepts_recipe.py [--variant default] [--seed 0] [--data-root DIR] [--work DIR]
    python benchmarks/partconcepts_recipe.py --variant all          # the ablation in docs/partconcepts.md (~3 h)

Each variant is the default tiny recipe (`PRESET_TRAINING["tiny"]`, `PartConceptsConfig.for_preset("tiny")`) with
the listed settings changed (see VARIANTS), so the table shows what each choice buys. Training runs
in this process with the same `train()` that `partbench train partconcepts` calls; scoring goes through
`partbench run` (zero-shot protocol: training sees the seen objects only). Run it on an idle machine: the training
seconds are wall-clock.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

# name -> (model config overrides, training overrides, tiny base-model overrides), relative to today's defaults.
# The variants retrace how the recipe was found (docs/partconcepts.md, "How the tiny recipe was chosen"), from the
# recipe of 2026-11-21 ("previous") one change at a time. Variants from before a change pin what it changed (the VAE's
# 4 latent channels and 1000 steps before 2026-12-02; 2000 steps and no pair cross-entropy before 2026-12-06), so they
# still train what they trained then. (They reproduce their table rows to float rounding only: the decoder's memory
# layout changed on 2026-12-06, which reorders float sums.)
_OLD_ROPE = {"axes_dims_rope": (4, 4, 4, 4), "rope_theta": 2000}
_LATENT_4 = {"latent_channels": 4}  # the tiny VAE before 2026-12-02
_NO_PAIR = {"pair_weight": 0.0}  # no left-vs-right cross-entropy per mirrored pair (before 2026-12-06)
_OLD_TRAIN = {"steps": 600, "batch_size": 8, "lr": 1e-3, "ce_weight": 0.0, "noise_range": (0.2, 0.8),
              "lr_schedule": "constant"} | _NO_PAIR
_STEPS_1000 = {"steps": 1000} | _NO_PAIR
_STEPS_2000 = {"steps": 2000} | _NO_PAIR
_CONSTANT = {"lr_schedule": "constant"} | _STEPS_1000
VARIANTS: dict[str, tuple[dict, dict, dict]] = {
    "previous": ({"noise": 0.5, "latent_stats": "vae"}, _OLD_TRAIN, _OLD_ROPE | _LATENT_4),
    "+calibrated-latents": ({"noise": 0.5}, _OLD_TRAIN, _OLD_ROPE | _LATENT_4),
    "+rope": ({"noise": 0.5}, _OLD_TRAIN, _LATENT_4),
    "+rope+sigma-0.3": ({}, _OLD_TRAIN | {"noise_range": (0.1, 0.5)}, _LATENT_4),
    "+rope+ce": ({"noise": 0.5}, _OLD_TRAIN | {"ce_weight": 1.0}, _LATENT_4),
    "+rope+batch-4x1000": ({"noise": 0.5}, _OLD_TRAIN | {"batch_size": 4, "steps": 1000, "lr": 2e-3}, _LATENT_4),
    "constant-lr": ({}, _CONSTANT, _LATENT_4),
    "constant-lr+ce-3": ({}, _CONSTANT | {"ce_weight": 3.0}, _LATENT_4),
    "constant-lr+sigma-0.15": ({"noise": 0.15}, _CONSTANT | {"noise_range": (0.0, 0.3)}, _LATENT_4),
    "constant-lr+no-double.0-maps": ({"capture_layers": "last:3"}, _CONSTANT, _LATENT_4),
    "constant-lr+6-parts-x1300": ({}, _CONSTANT | {"max_parts": 6, "steps": 1300}, _LATENT_4),
    "default-2026-12-01": ({}, _STEPS_1000, _LATENT_4),
    # Probes of the left/right gap: more depth, more width, more steps.
    "deeper-3+3": ({}, _STEPS_1000, {"num_layers": 3, "num_single_layers": 3} | _LATENT_4),
    "wider-8-heads": ({}, _STEPS_1000, {"num_attention_heads": 8} | _LATENT_4),
    "constant-lr-x2500": ({}, _CONSTANT | {"steps": 2500}, _LATENT_4),
    # 2026-12-02: the random VAE's latent width (benchmarks/facing_probe.py), then the training length.
    "latent-12-x1000": ({}, _STEPS_1000, {}),
    "latent-32-x1000": ({}, _STEPS_1000, {"latent_channels": 32}),
    "latent-4-x2000": ({}, _STEPS_2000, _LATENT_4),
    "default-2026-12-02": ({}, _STEPS_2000, {}),
    # 2026-12-06: the channels-last decoder leaves time for 2500 steps; an equal-weight left-vs-right cross-entropy
    # per mirrored pair (benchmarks/lr_breakdown.py: the side of small or distant-cue pairs was at chance).
    "x2500": ({}, _NO_PAIR, {}),
    "default": ({}, {}, {}),
    "pair-ce-3": ({}, {"pair_weight": 3.0}, {}),
}
BASELINES = ("spatial-prior", "random")
TRAIN_CHECK = 120


def _metrics(run_dir: Path) -> dict:
    m = json.loads((run_dir / "results.json").read_text())["metrics"]
    pick = lambda k: None if m.get(k) is None else round(m[k], 2)  # noqa: E731
    return {k: pick(k) for k in ("seen_miou", "unseen_miou", "h_iou", "lr_confusion")}


def _partbench(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "partbench", *args], check=True, stdout=subprocess.DEVNULL)


def train_variant(name: str, data_root: Path, work: Path, steps: int | None = None, seed: int = 0) -> dict:
    """Run in a child process (`--child`), so a variant's tiny-base overrides cannot leak into another's."""
    from dataclasses import replace

    import partbench.tiny_models.flux2_tiny as tiny_module
    from partbench.methods.partconcepts.presets import PartConceptsConfig
    from partbench.methods.partconcepts.train import TrainOptions, train

    model_over, train_over, base_over = VARIANTS[name]
    if base_over:
        build = tiny_module.tiny_flux2_components
        tiny_module.tiny_flux2_components = lambda base_seed=0, config=None: build(
            base_seed, replace(config or tiny_module.TinyFlux2Config(), **base_over))
    config = PartConceptsConfig.for_preset("tiny", **model_over)
    out = work / (name if seed == 0 else f"{name}-seed{seed}")
    t0 = time.monotonic()
    result = train(TrainOptions.for_preset("demo", data_root, out, config, save_every=0,
                                           **(train_over | {"seed": seed} | ({"steps": steps} if steps else {}))))
    seconds = time.monotonic() - t0
    # Score in this process too: a tiny-base override must hold at inference as at training.
    from partbench.run import RunRequest, run

    outcome = run(RunRequest(method="partconcepts", suite="demo", data_root=data_root, output_root=work / "runs",
                             method_args={"checkpoint": str(out)}))
    # The same on training images (first TRAIN_CHECK samples): tells under-fitting from over-fitting.
    on_train = run(RunRequest(method="partconcepts", suite="demo", data_root=data_root,
                              output_root=work / "runs-train", split="train", limit=TRAIN_CHECK,
                              method_args={"checkpoint": str(out)}, bootstrap=0))
    label = name if seed == 0 else f"{name} (seed {seed})"
    return {"variant": label, "steps": result.step, "train_s": round(seconds), **_metrics(outcome.run_dir),
            "lr_confusion_train": _metrics(on_train.run_dir)["lr_confusion"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--variant", default="default", choices=[*VARIANTS, "all"])
    parser.add_argument("--data-root", type=Path, default=Path("data"))
    parser.add_argument("--work", type=Path, default=Path("runs/benchmark-partconcepts-recipe"))
    parser.add_argument("--steps", type=int, help="override every variant's steps (a quick check of the script)")
    parser.add_argument("--seed", type=int, default=0,
                        help="training seed (the tiny model's result varies a lot between seeds: compare several)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(train_variant(args.variant, args.data_root, args.work, args.steps, args.seed)))
        return

    _partbench("data", "generate", "demo", "--data-root", str(args.data_root))
    rows = []
    for method in BASELINES:
        _partbench("run", "--method", method, "--suite", "demo", "--data-root", str(args.data_root),
                   "--output", str(args.work / "runs"))
        rows.append({"variant": method, "steps": None, "train_s": None,
                     **_metrics(args.work / "runs" / "demo" / method)})
    for name in (list(VARIANTS) if args.variant == "all" else [args.variant]):
        child = subprocess.run([sys.executable, __file__, "--child", "--variant", name, "--data-root",
                                str(args.data_root), "--work", str(args.work), "--seed", str(args.seed),
                                *(["--steps", str(args.steps)] if args.steps else [])], check=True, capture_output=True,
                               text=True)
        rows.append(json.loads(child.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    print("| run | steps | train s | seen mIoU | unseen mIoU | h-IoU | L/R conf. ↓ | "
          f"L/R conf. on {TRAIN_CHECK} train samples |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        cells = [r["variant"], r["steps"], r["train_s"], r["seen_miou"], r["unseen_miou"], r["h_iou"],
                 r["lr_confusion"], r.get("lr_confusion_train")]
        print("| " + " | ".join("—" if c is None else str(c) for c in cells) + " |")


if __name__ == "__main__":
    main()
