"""The `--method-arg`s the task kinds take themselves (`TaskKind.arg_params`: scorer and protocol options), apart from
the modules that use them, which import numpy or each other."""

from __future__ import annotations

from partbench.api.method import Param

GENERATION_ARGS = (
    Param("images_per_prompt", int, min=1, help="images generated per prompt (default: the suite's, else 1)"),
    Param("clip_model", str, help="open_clip model of the CLIP score, hf:REPO, or tiny (a random CLIP needing no "
                                  "weights: a smoke test, not meaningful); default: the suite's, else ViT-L-14"),
    Param("clip_pretrained", str, help="its weights: an open_clip tag or a checkpoint file (default: the suite's, "
                                       "else openai)"),
    Param("clip_device", str, "cpu", help="cpu | auto | cuda | cuda:N"),
    Param("clip_batch_size", int, 16, min=1, help="images per CLIP forward"),
    Param("clip_dtype", str, "float32", choices=("float32", "bfloat16", "float16"), help="the CLIP weights' dtype"),
)

# When a CLIP score is computed: auto (when its weights are on this machine, else left out with the reason), on
# (missing weights are an error), off, tiny (random tiny models: tests only).
CLIP_MODES = ("auto", "on", "off", "tiny")
PART_EDITING_ARGS = (
    Param("alpha_clip", str, "auto", choices=CLIP_MODES, help="when alpha_clip_fg/bg are computed"),
    Param("alpha_clip_model", str, "ViT-L-14", help="ViT-B-16, ViT-L-14 or ViT-L-14-336 (the official checkpoints)"),
    Param("alpha_clip_pretrained", str, "openai", help="the base CLIP's weights (open_clip tag or file)"),
    Param("alpha_clip_weights", str, help="the Alpha-CLIP checkpoint file (default: PARTBENCH_CACHE/alpha-clip/)"),
    Param("masked_clip", str, "auto", choices=CLIP_MODES, help="when masked_clip_fg is computed"),
    Param("masked_clip_model", str, "ViT-L-14", help="open_clip model of masked_clip_fg"),
    Param("masked_clip_pretrained", str, "openai", help="its weights (open_clip tag or file)"),
    Param("clip_device", str, "cpu", help="cpu | auto | cuda | cuda:N"),
    Param("clip_batch_size", int, 16, min=1, help="images per CLIP forward"),
)

# The classes a part competes with when a segmentation method answers teacher-forced (docs/partonomy.md).
COMPETITORS = {"background": ("background",), "object": ("object",), "background+object": ("background", "object"),
               "none": ()}
PART_REASONING_ARGS = (
    Param("competitor", str, "background", choices=tuple(COMPETITORS),
          help="the classes each part competes with: a background class, the object's name, both, or none"),
    Param("part_threshold", float, help="instead of the argmax, a part is where its score exceeds T (methods "
                                        "returning CxHxW scores)"),
)
