"""The `--method-arg` declarations of `instruct-pix2pix` and `sdxl-inpaint` (adapters/edit_diffusers.py).

Kept apart from the adapters so that the method catalogue (`partbench methods`, `partbench table`) imports no torch.
Defaults that depend on the preset (steps, resolution) are None here and filled in by the adapter.
"""

from __future__ import annotations

from partbench.api.method import Param

# How instruct-pix2pix picks one of a sample's instruction phrasings (instructp2p_edit1..3): docs/partedit.md.
INSTRUCTION_CHOICES = ("1", "2", "3", "random")

_COMMON = (
    Param("weights", str, help="HF repo id or local path (default: the checkpoint the method names)"),
    Param("revision", str, help="HF revision"),
    Param("preset", str, "full", choices=("full", "tiny"), help="tiny: random tiny pipeline (smoke test)"),
    Param("device", str, "auto", help="auto | cpu | cuda | cuda:N"),
    Param("dtype", str, choices=("float32", "float16", "bfloat16"), help="default bfloat16 on GPU, float32 on CPU"),
    Param("steps", int, min=1, max=1000, help="denoising steps (default: the pipeline's; tiny: 2)"),
    Param("guidance", float, min=0, help="text guidance scale (default 7.5)"),
    Param("resolution", int, min=0, max=4096,
          help="long side the source is resized to for the model, each side a multiple of 8; the edit is resized "
               "back to the source's size (0: the source's own size, rounded to multiples of 8)"),
)

IP2P_PARAMS = (
    *_COMMON,
    Param("image_guidance", float, min=0, help="image guidance scale (default 1.5)"),
    Param("instruction", str, "1", choices=INSTRUCTION_CHOICES,
          help="which instruction phrasing: 1, 2 or 3 (instructp2p_edit1..3) for every sample, or random: one per "
               "sample drawn from the run's seed"),
)

SDXL_INPAINT_PARAMS = (
    *_COMMON,
    Param("strength", float, min=0.01, max=1.0, help="how far the masked region is noised (default 0.99)"),
    Param("keep_background", bool, False,
          help="paste the source back outside the mask after the edit (default false: the pipeline's output as is)"),
)
