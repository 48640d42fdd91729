"""`partconcepts-edit`'s declared arguments, apart from the method so that listing methods imports nothing heavy."""

from __future__ import annotations

from partbench.api.method import Param
from partbench.methods.partconcepts.options import SAMPLERS

NAME = "partconcepts-edit"
PARAMS = (
    Param("checkpoint", str, help="PartConcepts checkpoint (also --checkpoint DIR)"),
    Param("resolution", int, min=8, help="long side of the working size in pixels (default: the checkpoint's "
                                         "training resolution); PartEdit-Bench's 1024² sources want 1024"),
    Param("noise", float, min=0.0, max=1.0, help="sigma of the localisation pass (default: the checkpoint's)"),
    Param("map", str, "decoder", choices=("decoder", "attention"),
          help="decoder: the mask decoder's probability; attention: the PartConcept token's attention maps, mean "
               "over layers, min-max normalised"),
    Param("threshold", str, "0.5", help="a value in [0, 1) that the map must exceed, or otsu"),
    Param("dilate", int, 1, min=0, max=16, help="tokens the thresholded mask grows by"),
    Param("feather", int, 1, min=0, max=16, help="tokens of linear ramp around the dilated mask"),
    Param("blend", bool, "true", help="false: regenerate the whole image from the edit prompt (ablation)"),
    Param("sampler", str, choices=tuple(SAMPLERS), help="default: the checkpoint's base model kind"),
    Param("steps", int, min=1, help="sampling steps (default: the sampler's)"),
    Param("guidance", float, min=0.0, help="classifier-free guidance (base sampler; default: the sampler's)"),
    Param("device", str, "auto", help="auto | cpu | cuda | cuda:N"),
)
