"""Seg4Diff (Kim et al., NeurIPS 2025): zero-shot segmentation from the image-to-text attention of an MM-DiT's
grounding-expert block (SD3 / SD3.5-medium block 9; FLUX.1 optional), and a sweep over every block.

`method.py` is the partbench method; `options.py` its arguments and each model's defaults; `capture.py` the
attention capture on the stock diffusers forward; `prompt.py` the prompts and each part's text columns; `sd3.py` /
`flux.py` the backbones (`backbone.py`: what they share); `lora.py` MAGNET's LoRA; `sweep.py` what a layer sweep's
runs share; `recipe.py` what a run records. docs/seg4diff.md maps every step to upstream's code.

The method is imported on first use only, so the catalogue can read `options.PARAMS` without importing it."""

from typing import Any

__all__ = ["Seg4Diff", "status"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import method

        return getattr(method, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
