"""PartConcepts (Agrawal et al.): part phrases become single PartConcept tokens whose mmDiT attention maps are decoded
into part masks, and which steer part-level generation. See docs/partconcepts.md.

Modules, one job each: `prompts` (marked-prompt parsing), `encoder` (PartConcept encoder + token replacement),
`capture` (per-layer attention capture), `decoder` (multi-scale mask decoder), `model` (wiring), `presets`
(base models), `checkpoint` (safetensors io), `data` (training/inference crops), `losses`, `train`, `method`
(the partbench method class), `generate`. Heavy imports stay inside those modules.
"""

from partbench.api.method import MethodInfo
from partbench.methods.partconcepts.options import PARAMS
from partbench.registry import register_method

register_method(MethodInfo(
    name="partconcepts", factory="partbench.methods.partconcepts.method:PartConcepts",
    kinds=("segmentation", "generation"),
    summary="PartConcepts: part phrases as single tokens whose mmDiT attention maps decode into part masks "
            "(one forward pass); part-level generation. Needs --checkpoint (partbench train partconcepts).",
    gpu="optional", extras=("torch", "diffusers", "transformers", "peft", "accelerate", "safetensors"),
    weights="a PartConcepts checkpoint (--checkpoint DIR); preset klein also needs FLUX.2 Klein in the HF cache",
    params=PARAMS,
))
