"""Built-in methods other than PartConcepts: weight-free baselines, model adapters, external codebases, text-to-image
pipelines. This catalogue registers each one next to its code; factories are imported only when a method is built."""

from partbench.api.method import MethodInfo
from partbench.methods.partconcepts.edit_options import PARAMS as PARTCONCEPTS_EDIT_PARAMS
from partbench.registry import register_method

from . import params
from .conceptattention.options import PARAMS as CONCEPTATTENTION_PARAMS
from .edit_diffusers_options import IP2P_PARAMS, SDXL_INPAINT_PARAMS
from .seg4diff.options import PARAMS as SEG4DIFF_PARAMS

# Weight-free baselines: a pipeline check, chance level, and the spatial prior every method must beat.
register_method(MethodInfo(
    name="oracle", factory="partbench.adapters.trivial:Oracle", params=(),
    summary="Returns the ground truth. Must score 100: a check of the data and scoring pipeline, not a result.",
    meaningful=False,
))
register_method(MethodInfo(
    name="random", factory="partbench.adapters.trivial:RandomParts", params=(),
    summary="Uniformly random part of the oracle object at every object pixel (seeded per sample): chance level.",
))
register_method(MethodInfo(
    name="spatial-prior", factory="partbench.adapters.spatial_prior:SpatialPrior",
    summary="Most frequent part at each object-normalised position, estimated per object class on the train split.",
    params=params.SPATIAL_PRIOR,
))

# Model adapters (CLIPSeg, ConceptAttention, Seg4Diff) and research codebases run in their own environments.
register_method(MethodInfo(
    name="clipseg", factory="partbench.adapters.clipseg:ClipSeg",
    summary="CLIPSeg (transformers), one prompt per allowed part (class name without 's), OV-PARTS style.",
    gpu="optional", extras=("torch", "transformers"), weights="CIDAS/clipseg-rd64-refined (HF cache or weights=PATH)",
    status="partbench.adapters.clipseg:status",
    params=params.CLIPSEG,
))
register_method(MethodInfo(
    name="conceptattention", factory="partbench.adapters.conceptattention:ConceptAttention",
    summary="ConceptAttention (Helbling et al. 2025) on diffusers' FLUX.1 transformer (model=flux2: FLUX.2): "
            "concept-token output-space attention maps from one forward at a fixed noise level.",
    gpu="optional", extras=("torch", "transformers", "diffusers"),
    weights="black-forest-labs/FLUX.1-schnell, or with model=flux2 black-forest-labs/FLUX.2-klein-4B "
            "(HF cache or weights=PATH)",
    status="partbench.adapters.conceptattention:status",
    params=CONCEPTATTENTION_PARAMS,
))
register_method(MethodInfo(
    name="seg4diff", factory="partbench.adapters.seg4diff:Seg4Diff",
    summary="Seg4Diff (Kim et al. 2025): image-to-text attention of one MM-DiT block, the grounding expert (SD3 block "
            "9), from one forward at one noise level; layers=all: one run per block (seg4diff@layer=K).",
    gpu="optional", extras=("torch", "transformers", "diffusers"),
    weights="stabilityai/stable-diffusion-3-medium-diffusers, or model=sd35 stabilityai/stable-diffusion-3.5-medium, "
            "model=flux black-forest-labs/FLUX.1-dev (all gated; HF cache or weights=PATH); optional MAGNET LoRA "
            "lora=PATH (lora_weights.pth of chyun/seg4diff-coco-lora)",
    status="partbench.adapters.seg4diff:status", variant_params=("layer",),
    params=SEG4DIFF_PARAMS,
))
register_method(MethodInfo(
    name="partcatseg", factory="partbench.adapters.external:PartCATSeg",
    summary="PartCATSeg (CVPR 2025), from its saved predictions (predictions=PATH) or run in your own PartCATSeg "
            "environment (repo=, python=, checkpoint=). Inference uses the oracle object class.",
    weights="a PartCATSeg checkout + environment + checkpoint, or its saved predictions",
    status="partbench.adapters.external:partcatseg_status", published_gt_resize="partcatseg",
    params=params.EXTERNAL,
))
register_method(MethodInfo(
    name="langhops", factory="partbench.adapters.external:LangHOPS",
    summary="LangHOPS (NeurIPS 2025), from its sem_seg_predictions.json / PNGs (predictions=PATH) or run in your "
            "own LangHOPS environment (repo=, python=, checkpoint=). Inference uses the oracle object class.",
    weights="a LangHOPS checkout + environment + checkpoint, or its saved predictions",
    status="partbench.adapters.external:langhops_status",
    params=params.EXTERNAL,
))

# Generation: images made elsewhere, and text-to-image pipelines.
register_method(MethodInfo(
    name="image-folder", factory="partbench.adapters.image_folder:ImageFolder", kinds=("generation",),
    summary="Images generated elsewhere (closed models, other codebases): path=DIR holding <prompt id>/<k>.png, "
            "as `partbench suites SUITE --prompts` lists them.",
    params=params.IMAGE_FOLDER,
))
register_method(MethodInfo(
    name="flux1-dev", factory="partbench.adapters.flux_t2i:Flux1Dev", kinds=("generation",),
    summary="FLUX.1 [dev] text-to-image (diffusers FluxPipeline); preset=tiny: random tiny pipeline (smoke test).",
    gpu="optional", extras=("torch", "diffusers", "transformers"),
    weights="black-forest-labs/FLUX.1-dev (HF cache or weights=PATH)",
    status="partbench.adapters.flux_t2i:flux1_status",
    params=params.FLUX_T2I,
))
register_method(MethodInfo(
    name="flux2-klein", factory="partbench.adapters.flux_t2i:Flux2Klein", kinds=("generation",),
    summary="FLUX.2 [klein] text-to-image (diffusers Flux2KleinPipeline); preset=tiny: random tiny pipeline.",
    gpu="optional", extras=("torch", "diffusers", "transformers"),
    weights="black-forest-labs/FLUX.2-klein-4B (HF cache or weights=PATH)",
    status="partbench.adapters.flux_t2i:flux2_status",
    params=params.FLUX_T2I,
))

# Part reasoning (Partonomy) reference points; every segmentation method above also runs there, teacher-forced.
register_method(MethodInfo(
    name="oracle", factory="partbench.adapters.reasoning_baselines:PartOracle", kinds=("part-reasoning",), params=(),
    summary="Returns the correct answer's part masks. Must score 100: a pipeline check, not a result.",
    meaningful=False,
))
register_method(MethodInfo(
    name="whole-image", factory="partbench.adapters.reasoning_baselines:WholeImage", kinds=("part-reasoning",),
    params=(), summary="Every part of the answer is the whole image: the floor a part segmenter must clear.",
))

# Part editing (PartEdit-Bench, demo-edit): weight-free reference points and edits made elsewhere.
register_method(MethodInfo(
    name="identity", factory="partbench.adapters.edit_baselines:Identity", kinds=("part-editing",), params=(),
    summary="Returns the source unchanged: the ceiling of the background metrics, the floor of the part metrics.",
))
register_method(MethodInfo(
    name="oracle", factory="partbench.adapters.edit_baselines:EditOracle", kinds=("part-editing",), params=(),
    summary="Returns the intended edit (demo-edit only): a pipeline check, not a result.", meaningful=False,
))
register_method(MethodInfo(
    name="partedit-outputs", factory="partbench.adapters.edit_baselines:PartEditOutputs", kinds=("part-editing",),
    params=(), summary="PartEdit's own edits as PartEdit-Bench ships them (partedit-synth, partedit-real): PartEdit "
                       "scored without running it.",
))
register_method(MethodInfo(
    name="image-folder", factory="partbench.adapters.edit_folder:EditFolder", kinds=("part-editing",),
    summary="Edits made elsewhere: path=DIR holding <sample id>/0.png at the source's size, as `partbench suites "
            "SUITE --samples` lists the samples.",
    params=params.EDIT_FOLDER,
))
register_method(MethodInfo(
    name="partconcepts-edit", factory="partbench.methods.partconcepts.edit_method:PartConceptsEdit",
    kinds=("part-editing",), params=PARTCONCEPTS_EDIT_PARAMS,
    summary="PartConcepts finds the part on the source (one segmentation pass; the ground-truth mask is never read), "
            "FLUX.2 Klein regenerates it from the edit prompt with the latents outside it blended back from the "
            "source at every step (docs/partconcepts.md). Needs --checkpoint.",
    gpu="optional", extras=("torch", "diffusers", "transformers", "peft", "safetensors"),
    weights="a PartConcepts checkpoint (--checkpoint DIR); preset klein also needs FLUX.2 Klein in the HF cache",
))
register_method(MethodInfo(
    name="instruct-pix2pix", factory="partbench.adapters.edit_diffusers:InstructPix2Pix", kinds=("part-editing",),
    summary="InstructPix2Pix (diffusers) on one of the sample's instruction phrasings (instruction=1|2|3|random); "
            "never reads the mask. preset=tiny: random tiny pipeline (smoke test).",
    gpu="optional", extras=("torch", "diffusers", "transformers"),
    weights="timbrooks/instruct-pix2pix (HF cache or weights=PATH)",
    status="partbench.adapters.edit_diffusers:ip2p_status", params=IP2P_PARAMS,
))
register_method(MethodInfo(
    name="sdxl-inpaint", factory="partbench.adapters.edit_diffusers:SDXLInpaint", kinds=("part-editing",),
    summary="SDXL inpainting (diffusers) of the ground-truth part mask with the edit prompt: a mask-given upper "
            "baseline, tabulated in a block of its own. preset=tiny: random tiny pipeline (smoke test).",
    gpu="optional", extras=("torch", "diffusers", "transformers"),
    weights="diffusers/stable-diffusion-xl-1.0-inpainting-0.1 (HF cache or weights=PATH)",
    status="partbench.adapters.edit_diffusers:sdxl_inpaint_status", params=SDXL_INPAINT_PARAMS, uses_gt_mask=True,
))
