"""Image generators for Pascal-Part SR: given a source image and where it lands on the canvas, make the canvas.

A generator is any object with `identity() -> dict` (name, version and every setting that changes its pixels: it is
recorded per image, and a different identity redoes the image) and

    generate(image, canvas_size, placement, prompt, seed) -> PIL.Image of canvas_size

where `placement = (dx, dy, sw, sh)` is the scaled image's box (`partbench.data.pascal_part_sr.Geometry`). It must keep
the scaled image in that box: the annotation is transformed with exactly that map, and the driver checks the box
against the source afterwards (interior PSNR).

- `resize`: Lanczos upsampling, margins filled by edge replication (`fill=edge`) or the mean colour (`fill=mean`).
  No model: tests, CPU, and a baseline for the real thing.
- `flux2`: FLUX.2 Klein through diffusers' `Flux2KleinInpaintPipeline`. Pass 1 outpaints: the margins are generated
  (mask white there, `strength` 1.0), the box is kept in latent space. Pass 2 upsamples: the whole canvas again at a
  low `refine` strength (default 0.3), which adds detail to the Lanczos-upsampled interior without moving its layout
  (`refine=0` skips it). Weights are a `KLEIN_MODELS` name (`9B`, the paper's model, by default; `4B`, `base-9B`,
  `base-4B`), a cached Hugging Face repo id or a local folder; they are never downloaded. `preset=tiny` runs the
  same code on the random tiny Klein (`partbench.tiny_models.flux2_tiny`): a CPU smoke test, its pixels mean nothing.
- `module:Class`: a generator of your own, constructed with the `--generator-arg` values as keyword strings.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from partbench.errors import PartbenchError

if TYPE_CHECKING:
    from PIL import Image

Placement = tuple[int, int, int, int]  # (dx, dy, sw, sh)


class ImageGenerator(Protocol):
    def identity(self) -> dict[str, Any]: ...

    def generate(self, image: Image.Image, canvas_size: tuple[int, int], placement: Placement, prompt: str,
                 seed: int) -> Image.Image: ...


def placed_canvas(image: Image.Image, canvas_size: tuple[int, int], placement: Placement, fill: str) -> Image.Image:
    """The image Lanczos-resized into its box, the margins filled (`edge`: each margin pixel repeats the nearest
    image pixel; `mean`: the image's mean colour)."""
    import numpy as np
    from PIL import Image

    dx, dy, sw, sh = placement
    W, H = canvas_size
    scaled = np.asarray(image.convert("RGB").resize((sw, sh), Image.Resampling.LANCZOS))
    if fill == "edge":
        out = np.pad(scaled, ((dy, H - dy - sh), (dx, W - dx - sw), (0, 0)), mode="edge")
    else:
        out = np.empty((H, W, 3), dtype=np.uint8)
        out[:] = np.round(scaled.reshape(-1, 3).mean(axis=0)).astype(np.uint8)
        out[dy:dy + sh, dx:dx + sw] = scaled
    return Image.fromarray(out)


class ResizeGenerator:
    """Plain Lanczos upsampling; margins by edge replication or mean colour. Deterministic, no model."""

    version = 1

    def __init__(self, fill: str = "edge"):
        if fill not in ("edge", "mean"):
            raise PartbenchError(f"generator resize: fill must be edge or mean, got {fill!r}.")
        self.fill = fill

    def identity(self) -> dict[str, Any]:
        return {"name": "resize", "version": self.version, "fill": self.fill}

    def generate(self, image, canvas_size, placement, prompt, seed):
        return placed_canvas(image, canvas_size, placement, self.fill)


class Flux2Generator:
    """FLUX.2 Klein outpainting (pass 1) and low-strength refinement of the whole canvas (pass 2)."""

    version = 1
    ARGS = ("weights", "revision", "preset", "steps", "guidance", "strength", "refine", "dtype", "device")

    def __init__(self, weights: str = "9B", revision: str | None = None, preset: str = "full",
                 steps: str | None = None, guidance: str | None = None, strength: str = "1.0", refine: str = "0.3",
                 dtype: str | None = None, device: str = "auto"):
        if preset not in ("full", "tiny"):
            raise PartbenchError(f"generator flux2: preset must be full or tiny, got {preset!r}.")
        try:
            self.steps = None if steps is None else int(steps)
            self.guidance = None if guidance is None else float(guidance)
            self.strength, self.refine = float(strength), float(refine)
        except ValueError as e:
            raise PartbenchError(f"generator flux2: bad argument value ({e}).") from None
        if not (0.0 < self.strength <= 1.0 and 0.0 <= self.refine <= 1.0):
            raise PartbenchError("generator flux2: strength must be in (0, 1] and refine in [0, 1].")
        self.preset, self.revision, self.device_name, self.dtype_name = preset, revision, device, dtype
        self.ref = self._repo(weights)
        # Resolved now, before anything is written: missing weights fail the command at once, naming the repo.
        self.path = None if preset == "tiny" else self._resolve(self.ref, revision)
        self.pipe = None

    @staticmethod
    def _repo(weights: str) -> str:
        from partbench.methods.partconcepts.presets import KLEIN_MODELS  # the names PartConcepts' --base-model takes

        return KLEIN_MODELS.get(weights, weights)

    @staticmethod
    def _resolve(ref: str, revision: str | None):
        from partbench.weights import WeightsNotFoundError, hf_cache_dir, resolve_model

        try:
            return resolve_model(ref, what="FLUX.2 Klein (Pascal-Part SR)", revision=revision)
        except WeightsNotFoundError as e:
            if "does not exist" in str(e):  # a path that is not there (resolve_model's own test of ref)
                raise WeightsNotFoundError(f"FLUX.2 Klein for Pascal-Part SR: {ref} does not exist; pass a local "
                                           "diffusers folder with --generator-arg weights=PATH.") from None
            raise WeightsNotFoundError(
                f"FLUX.2 Klein {ref!r} for Pascal-Part SR is not on this machine (looked for a local folder, then "
                f"the Hugging Face cache {hf_cache_dir()}), and partbench never downloads it. On a machine with "
                f"network access run `huggingface-cli download {ref}` with HF_HOME pointing at the cache this "
                f"machine uses, or pass a local diffusers folder with --generator-arg weights=/path/to/model. "
                f"--generator resize makes the images without a model.") from None

    def identity(self) -> dict[str, Any]:
        out = {"name": "flux2", "version": self.version, "preset": self.preset, "weights": self.ref,
               "steps": self.steps, "guidance": self.guidance, "strength": self.strength, "refine": self.refine}
        if self.path is not None:
            from partbench.weights import weights_fingerprint

            out["weights_fingerprint"] = weights_fingerprint(self.path)
        return out

    def _load(self):
        import torch
        from diffusers import Flux2KleinInpaintPipeline

        from partbench.devices import select_device

        device = select_device(self.device_name)
        dtype = getattr(torch, self.dtype_name or ("bfloat16" if device.startswith("cuda") else "float32"))
        self.call_kwargs: dict[str, Any] = {}
        if self.preset == "tiny":
            from partbench.tiny_models.flux2_tiny import tiny_flux2_components

            c = tiny_flux2_components(seed=0)
            pipe = Flux2KleinInpaintPipeline(scheduler=c.scheduler, vae=c.vae, text_encoder=c.text_encoder,
                                              tokenizer=c.tokenizer, transformer=c.transformer, is_distilled=True)
            # the tiny text encoder has 7 layers, not Klein's (9, 18, 27), and a 48-token limit
            self.call_kwargs = {"text_encoder_out_layers": tuple(c.base_layers),
                                "max_sequence_length": c.max_sequence_length}
            # built in float32: cast only when asked otherwise (a cast warns about modules kept in float32)
            pipe = pipe.to(device) if dtype == torch.float32 else pipe.to(device=device, dtype=dtype)
        else:
            try:
                pipe = Flux2KleinInpaintPipeline.from_pretrained(self.path, torch_dtype=dtype, local_files_only=True)
            except (OSError, ValueError) as e:
                raise PartbenchError(f"generator flux2: cannot load FLUX.2 Klein from {self.path} ({e}).") from None
            pipe = pipe.to(device)
        pipe.set_progress_bar_config(disable=True)
        # BFL's step-distilled Klein checkpoints say is_distilled; klein-base ones need guidance and ~50 steps
        # (the same rule as PartConcepts' sampler, methods/partconcepts/method.py).
        distilled = bool(pipe.config.get("is_distilled", False))
        self.sampler = {"steps": self.steps or (4 if distilled else 50),
                        "guidance": self.guidance if self.guidance is not None else (1.0 if distilled else 4.0)}
        if 0 < self.refine * self.sampler["steps"] < 1:  # diffusers would run zero steps and fail mid-run
            raise PartbenchError(f"generator flux2: refine {self.refine} of {self.sampler['steps']} steps is less "
                                 "than one step; raise refine or steps, or set refine=0.")
        self.device = device
        return pipe

    def generate(self, image, canvas_size, placement, prompt, seed):
        import numpy as np
        import torch
        from PIL import Image

        if self.pipe is None:
            self.pipe = self._load()
        dx, dy, sw, sh = placement
        W, H = canvas_size
        init = placed_canvas(image, canvas_size, placement, "edge")
        mask = np.full((H, W), 255, dtype=np.uint8)
        mask[dy:dy + sh, dx:dx + sw] = 0  # black: kept

        def run(start, mask_array, strength):
            kwargs = {"prompt": prompt, "image": start, "mask_image": Image.fromarray(mask_array), "height": H,
                      "width": W, "strength": strength, "num_inference_steps": self.sampler["steps"],
                      "guidance_scale": self.sampler["guidance"],
                      "generator": torch.Generator(device=self.device).manual_seed(seed)} | self.call_kwargs
            with torch.inference_mode():
                return self.pipe(**kwargs).images[0]

        out = run(init, mask, self.strength) if mask.any() else init
        if self.refine > 0:
            out = run(out, np.full((H, W), 255, dtype=np.uint8), self.refine)
        return out


def make_generator(name: str, args: dict[str, str] | None = None) -> ImageGenerator:
    """`resize`, `flux2`, or `module:Class` (constructed with `args` as keyword strings)."""
    args = dict(args or {})
    builtin = {"resize": (ResizeGenerator, ("fill",)), "flux2": (Flux2Generator, Flux2Generator.ARGS)}
    if ":" in name:
        from partbench.plugins import resolve

        try:
            return resolve(name)(**args)
        except (ImportError, AttributeError, TypeError) as e:
            raise PartbenchError(f"generator {name!r} cannot be loaded ({e}).") from None
    if name not in builtin:
        from partbench.errors import UnknownNameError

        raise UnknownNameError("Pascal-Part SR generator", name, builtin)
    cls, known = builtin[name]
    unknown = sorted(set(args) - set(known))
    if unknown:
        raise PartbenchError(f"generator {name}: unknown --generator-arg {', '.join(unknown)}; known: "
                             f"{', '.join(known) or 'none'}.")
    return cls(**args)
