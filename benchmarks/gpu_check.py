"""PartConcepts on a real-shape FLUX.2 Klein on one CUDA GPU, in bfloat16: training step time and peak memory,
segmentation throughput and generation time, printed as one markdown table.

    python benchmarks/gpu_check.py                       # Klein-4B and Klein-9B, 512 px, training micro-batch 1
    python benchmarks/gpu_check.py --size 9B --batch 4   # the paper's base model at the klein recipe's micro-batch
    python benchmarks/gpu_check.py --cpu-smoke           # the same code on CPU, 1+1 blocks at 32 px: does it run?

(`--cpu-smoke` took 10.5 min and 4.5 GB peak RSS under `/usr/bin/time -v` on the 2-core build machine, 2026-12-06:
bf16 matmuls are slow on CPU.)

The model is built from the published configs (tests/helpers/published_configs.py: transformer, Qwen3 text encoder
with the stacked hidden states 9, 18, 27, 32-channel VAE) at full depth with random weights, straight on the GPU
(nothing is downloaded). If full depth does not fit, the Qwen3 encoder is cut to 31 layers (the deepest the
PartConcept layers 28-30 need) and then the transformer's blocks are halved until it fits; the table says which depth
ran. Random weights cost the same time and memory as trained ones.

What runs is PartConcepts' own code (`PartConceptsModel`, `generate_images`): a training step is `segment` (text
encoder + mmDiT forward with attention capture + mask decoder) with Dice + 0.25 * flow loss, backward and an AdamW
step on the LoRAs and the decoder, on prompts naming `--parts` parts: first as built (bf16 weights, no
checkpointing, micro-batch `--batch`), then as `partbench train partconcepts` runs the `klein` recipe
(`methods/partconcepts/train.py` PRESET_TRAINING: fp32 master copies of the trained parameters under bf16 autocast,
gradient checkpointing of the mmDiT blocks and decoder stages, micro-batch `--train-batch`, 4); segmentation is VAE
encoding + `segment` without gradients; generation is the 4-step Klein sampler with PartConcept tokens. Text is padded
to Klein's 512 tokens, as in training. Times are medians over `--repeat` runs after one warm-up; peak memory is
`torch.cuda.max_memory_allocated` over each configuration's timed training steps.

First it checks `partbench.attention_columns.fused_attention` on the card (output bit-identical to SDPA's, log-sum-exp
equal to the explicit one, for each SDPA backend in bf16 and fp32): the capture's CUDA branches run nowhere else.

Refuses to run without CUDA (exit status 2). Estimated 1-3 minutes on an H100 (not yet measured: no GPU so far).
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PARTS = ["head", "torso", "left upper arm", "right upper arm", "left lower arm", "right lower arm", "left hand",
         "right hand", "left leg", "right leg", "left foot", "right foot", "neck", "hair", "mouth", "nose"]


def _timed(fn, repeat: int) -> float:
    import torch

    sync = torch.cuda.synchronize if torch.cuda.is_available() else (lambda: None)
    fn()  # warm-up (kernel selection, allocator)
    times = []
    for _ in range(repeat):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _peak_gib(device: str) -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2 ** 30 if device.startswith("cuda") else None


def _reset_peak(device: str) -> None:
    import torch

    if device.startswith("cuda"):
        torch.cuda.reset_peak_memory_stats()


def _depths(size: str):
    """(double blocks, single blocks, text layers) to try: published depth first, then cut."""
    from helpers import published_configs as pc

    t_cfg, q_cfg = pc.klein_configs(size)
    double, single = t_cfg["num_layers"], t_cfg["num_single_layers"]
    yield double, single, q_cfg["num_hidden_layers"]
    text = max(pc.KLEIN_TEXT_LAYERS) + len(pc.KLEIN_TEXT_LAYERS) + 1  # 31: hidden state 30 is not the last one
    while True:
        yield double, single, text
        if double == 1 and single == 1:
            return
        double, single = max(1, double // 2), max(1, single // 2)


def measure(size: str, depth: tuple[int, int, int], args, device: str = "cuda") -> dict:
    import torch
    from helpers import published_configs as pc

    from partbench.methods.partconcepts.generate import generate_images
    from partbench.methods.partconcepts.losses import dice_loss, flow_loss
    from partbench.methods.partconcepts.model import PartConceptsModel
    from partbench.methods.partconcepts.presets import PartConceptsConfig
    from partbench.methods.partconcepts.prompts import part_prompt

    double, single, text = depth
    # The smoke run keeps klein_components' CPU cut: the stacked hidden states remapped to (1, 2, 3).
    base = {} if args.cpu_smoke else {"base_layers": pc.KLEIN_TEXT_LAYERS}
    components = pc.klein_components(size, double_blocks=double, single_blocks=single, text_layers=text,
                                     max_sequence_length=args.text_tokens, device=device, **base)
    config = PartConceptsConfig.for_preset("klein", base_model=f"real-shape Klein-{size}", dtype="bfloat16",
                                           resolution=args.resolution)
    model = PartConceptsModel(config, components=components).to(device)
    trainable = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(trainable, lr=1e-4)
    gen = torch.Generator(device).manual_seed(0)
    R, C = args.resolution, min(args.parts, len(PARTS))
    prompt = part_prompt("person", PARTS[:C])

    def batch(n: int):
        images = torch.rand(n, 3, R, R, device=device, generator=gen) * 2 - 1
        targets = (torch.rand(n, C, R, R, device=device, generator=gen) > 0.8).float()
        return images, targets

    def train_step(n: int, inputs, optimizer, autocast: bool):
        images, targets, valid, latents = inputs
        sigma = torch.rand(n, device=device, generator=gen) * 0.6 + 0.2
        noise = torch.randn(latents.shape, device=device, generator=gen, dtype=latents.dtype)
        with torch.autocast(device.split(":")[0], dtype=torch.bfloat16, enabled=autocast):
            res = model.segment(latents, images, [prompt] * n, sigma, noise)
            loss = (dice_loss(res.mask_logits.float(), targets, valid, res.concept_mask)
                    + config.flow_weight * flow_loss(res.velocity, noise, latents))
        loss.backward()
        model.release_capture()  # hooks kept for a checkpointed backward
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    def timed_training(n: int, optimizer, autocast: bool) -> tuple[float, float | None]:
        images, targets = batch(n)
        # Latents once, outside the timing: train() encodes every crop with the frozen VAE beforehand.
        inputs = (images, targets, torch.ones(n, R, R, dtype=torch.bool, device=device), model.encode_images(images))
        model.train()
        train_step(n, inputs, optimizer, autocast)  # warm-up outside the peak-memory window (optimizer state)
        _reset_peak(device)
        seconds = _timed(lambda: train_step(n, inputs, optimizer, autocast), args.repeat)
        peak = _peak_gib(device)
        optimizer.zero_grad(set_to_none=True)
        model.eval()
        return seconds, peak

    step_s, peak_gib = timed_training(args.batch, optimizer, autocast=False)
    del optimizer

    seg_images, _ = batch(args.seg_batch)

    def segment():
        with torch.no_grad():
            x0 = model.encode_images(seg_images)
            sigma = torch.full((args.seg_batch,), config.noise, device=device)
            noise = torch.randn(x0.shape, device=device, generator=gen, dtype=x0.dtype)
            torch.sigmoid(model.segment(x0, seg_images, [prompt] * args.seg_batch, sigma, noise).mask_logits.float())

    seg_s = _timed(segment, args.repeat)
    gen_prompt = "a photo of a person with [left hand] painted green and a [head]"
    gen_s = _timed(lambda: generate_images(model, [gen_prompt], [0], steps=args.gen_steps, resolution=R),
                   args.repeat)
    params_b = sum(p.numel() for p in model.parameters()) / 1e9
    # Last, since it changes the model: the `klein` training recipe (fp32 masters, checkpointing, bf16 autocast).
    model.upcast_trainable()
    model.enable_gradient_checkpointing()
    try:
        recipe_s, recipe_gib = timed_training(args.train_batch, torch.optim.AdamW(trainable, lr=1e-4), autocast=True)
    except torch.cuda.OutOfMemoryError as e:  # the rows above stand; this one says it did not fit
        print(f"Klein-{size}, klein recipe at micro-batch {args.train_batch}: out of memory "
              f"({str(e).splitlines()[0]})", file=sys.stderr)
        recipe_s = recipe_gib = None
    return {"size": size, "depth": f"{double}+{single} blocks, {text} text layers", "full": None,
            "step_s": step_s, "peak_gib": peak_gib, "recipe_s": recipe_s, "recipe_gib": recipe_gib,
            "seg_per_s": args.seg_batch / seg_s, "gen_s": gen_s, "params_b": params_b,
            "trainable_m": sum(p.numel() for p in trainable) / 1e6}


def run_size(size: str, args) -> dict:
    import torch

    if args.cpu_smoke:
        return measure(size, (1, 1, 7), args, device="cpu") | {"full": False}
    first = True
    for depth in _depths(size):
        try:
            row = measure(size, depth, args)
            row["full"] = first
            return row
        except torch.cuda.OutOfMemoryError as e:
            print(f"Klein-{size} at depth {depth}: out of memory ({str(e).splitlines()[0]}); cutting depth",
                  file=sys.stderr)
        finally:
            gc.collect()
            torch.cuda.empty_cache()
        first = False
    raise SystemExit(f"Klein-{size} does not fit on this GPU even at 1+1 blocks.")


def kernel_normaliser_check(device: str = "cuda") -> list[str]:
    """`partbench.attention_columns.fused_attention` on this GPU: for Klein's attention shape (24 heads x 128, 1024
    image + 512 text tokens) in bf16 and fp32, under each SDPA backend this GPU enables, its output must equal
    `F.scaled_dot_product_attention`'s bit for bit and its log-sum-exp the explicit one (the CUDA branches are
    untested on CPU machines). One line per case."""
    from contextlib import nullcontext

    import torch
    from torch.nn.attention import SDPBackend, sdpa_kernel
    from torch.nn.functional import scaled_dot_product_attention as sdpa

    from partbench.attention_columns import fused_attention

    lines = []
    g = torch.Generator(device=device).manual_seed(0)
    for dtype in (torch.bfloat16, torch.float32):
        q, k, v = (torch.randn(1, 1536, 24, 128, device=device, generator=g).to(dtype).transpose(1, 2)
                   for _ in range(3))
        want_lse = (q.float() @ k.float().transpose(-1, -2) * 128 ** -0.5).logsumexp(-1)
        for backend in (None, SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION,
                        SDPBackend.CUDNN_ATTENTION):
            name = "auto" if backend is None else backend.name
            try:
                with sdpa_kernel(backend) if backend is not None else nullcontext():
                    out, lse = fused_attention(q, k, v)
                    same = bool(torch.equal(out, sdpa(q, k, v)))
            except RuntimeError as e:  # a backend this card or dtype does not offer
                lines.append(f"{dtype} {name}: not available ({str(e).splitlines()[0][:80]})")
                continue
            err = "no kernel normaliser" if lse is None else f"lse max error {float((lse - want_lse).abs().max()):.2e}"
            lines.append(f"{dtype} {name}: output identical to SDPA: {same}; {err}")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size", default="4B,9B", help="Klein sizes, comma-separated (4B, 9B)")
    ap.add_argument("--resolution", type=int, default=512, help="square image size (PartConcepts' klein: 512)")
    ap.add_argument("--batch", type=int, default=1, help="training micro-batch as built (the klein recipe's: 4)")
    ap.add_argument("--train-batch", type=int, default=4,
                    help="micro-batch of the `klein` training recipe (x 4 accumulation; checkpointing, bf16 autocast)")
    ap.add_argument("--seg-batch", type=int, default=8, help="segmentation batch (the method's default 8)")
    ap.add_argument("--parts", type=int, default=12, help="PartConcepts per prompt (a Pascal person has 10-24)")
    ap.add_argument("--text-tokens", type=int, default=512, help="padded text length (Klein: 512)")
    ap.add_argument("--gen-steps", type=int, default=4, help="sampler steps (distilled Klein: 4)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--cpu-smoke", action="store_true",
                    help="run the same code on CPU at Klein-4B widths, 1+1 blocks, 7 text layers, 32 px, once: checks "
                         "that this script works before GPU time is spent on it (its times mean nothing)")
    args = ap.parse_args(argv)

    import torch

    if args.cpu_smoke:
        args.size, args.resolution, args.text_tokens, args.parts = "4B", 32, 16, 2
        args.seg_batch, args.gen_steps, args.repeat, args.batch, args.train_batch = 1, 1, 1, 1, 2
    elif not torch.cuda.is_available():
        print("gpu_check: no CUDA device. This check builds FLUX.2 Klein at full size (16-34 GB of bf16 weights) and "
              "times it on a GPU; run it on a CUDA machine (nothing is downloaded).", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT / "tests"))  # helpers.published_configs, as pytest's pythonpath has it
    if not args.cpu_smoke:
        print("attention kernel normaliser (partbench.attention_columns):")
        for line in kernel_normaliser_check():
            print(f"  {line}")
    rows = [run_size(size.strip(), args) for size in args.size.split(",") if size.strip()]

    import diffusers
    import transformers

    card = "CPU smoke run" if args.cpu_smoke else torch.cuda.get_device_name()
    print(f"\n{card}, torch {torch.__version__}, diffusers {diffusers.__version__}, transformers "
          f"{transformers.__version__}; bf16, {args.resolution}x{args.resolution}, {args.text_tokens} text tokens, "
          f"{args.parts} PartConcepts per prompt, median of {args.repeat}\n")
    print(f"| card | model | depth | params (B) | trainable (M) | train step, bf16, micro-batch {args.batch} (s) "
          f"| peak memory (GiB) | train step, klein recipe, micro-batch {args.train_batch} (s) | peak memory (GiB) "
          f"| segmentation, batch {args.seg_batch} (samples/s) | generation, {args.gen_steps} steps (s/image) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    gib = lambda v: "—" if v is None else f"{v:.1f}"  # noqa: E731
    for r in rows:
        depth = r["depth"] + ("" if r["full"] or args.cpu_smoke else " (cut: full depth did not fit)")
        recipe = "out of memory" if r["recipe_s"] is None else f"{r['recipe_s']:.3f}"
        print(f"| {card} | Klein-{r['size']} | {depth} | {r['params_b']:.2f} | {r['trainable_m']:.1f} "
              f"| {r['step_s']:.3f} | {gib(r['peak_gib'])} | {recipe} | {gib(r['recipe_gib'])} "
              f"| {r['seg_per_s']:.2f} | {r['gen_s']:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
