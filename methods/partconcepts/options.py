"""`partconcepts`' declared arguments and its generation samplers, apart from the method so that listing methods
imports nothing heavy."""

from __future__ import annotations

from partbench.api.method import Param

NAME = "partconcepts"
# Generation samplers by checkpoint kind. distilled (FLUX.2 Klein 4B/9B): 4 steps without guidance; base
# (FLUX.2 Klein base 4B/9B, not step-distilled): diffusers' documented 50 steps with classifier-free guidance 4.0.
SAMPLERS = {"distilled": {"steps": 4, "guidance": 1.0}, "base": {"steps": 50, "guidance": 4.0}}
PARAMS = (
    Param("checkpoint", str, help="the trained checkpoint folder (also --checkpoint DIR; `partbench train "
                                  "partconcepts` writes one)"),
    Param("noise", float, min=0.0, max=1.0, help="sigma of the segmentation forward (default: the checkpoint's)"),
    Param("resolution", int, min=8, help="segmentation: side of the object crop; generation: image side "
                                         "(default: the checkpoint's training resolution)"),
    Param("batch_size", int, 8, min=1, help="crops or prompts per forward"),
    Param("sampler", str, choices=tuple(SAMPLERS), help="generation: distilled or base (default: the checkpoint's "
                                                        "base model kind)"),
    Param("steps", int, min=1, help="generation sampling steps (default: the sampler's)"),
    Param("guidance", float, min=0.0, help="generation classifier-free guidance (default: the sampler's)"),
    Param("device", str, "auto", help="auto | cpu | cuda | cuda:N"),
)
