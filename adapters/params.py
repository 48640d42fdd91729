"""The declared `--method-arg`s of the adapters registered in this package, apart from their modules so that listing
methods imports nothing heavy. ConceptAttention's and Seg4Diff's sit in their own `options.py`, part editors' in
`edit_diffusers_options.py`."""

from __future__ import annotations

from partbench.api.method import Param

DEVICE = Param("device", str, "auto", help="auto | cpu | cuda | cuda:N")
DTYPES = ("float32", "float16", "bfloat16")
VOCABULARY_RULES = ("exact", "substring")  # external/vocabulary.py: which part names an oracle-object method may use

SPATIAL_PRIOR = (
    Param("grid", int, 16, min=1, max=256, help="cells per side of the object-normalised grid"),
    Param("train_split", str, "train", help="split the part frequencies are counted on"),
    Param("train_objects", str, "seen", choices=("seen", "all"),
          help="seen: zero-shot (unseen objects borrow same-named parts); all: not zero-shot"),
    Param("allow_incomplete_train", bool, "false",
          help="fit on a train split with missing files (refused by default); the run's config records its problems"),
)

CLIPSEG = (
    Param("weights", str, "CIDAS/clipseg-rd64-refined", help="HF repo id or local path"),
    Param("revision", str, help="HF revision"),
    Param("preset", str, choices=("tiny",), help="tiny: random model from a config (smoke test)"),
    DEVICE,
    Param("dtype", str, "float32", choices=DTYPES),
    Param("max_pairs", int, 32, min=1, help="(image, prompt) pairs per forward"),
)

# Defaults that differ between flux1-dev and flux2-klein (and their tiny presets) are the pipeline class's.
FLUX_T2I = (
    Param("weights", str, help="HF repo id or local pipeline folder (default: the model's; never downloaded)"),
    Param("revision", str, help="HF revision"),
    Param("preset", str, "full", choices=("full", "tiny"), help="tiny: random tiny pipeline (smoke test)"),
    DEVICE,
    Param("dtype", str, choices=DTYPES, help="default: bfloat16 on a GPU, float32 on the CPU"),
    Param("steps", int, min=1, help="sampling steps (default: flux1-dev 28, flux2-klein 4; tiny 2)"),
    Param("guidance", float, min=0.0, help="guidance scale (default: flux1-dev 3.5, flux2-klein 1.0)"),
    Param("height", int, min=16, help="image height in pixels (default 1024; tiny 64)"),
    Param("width", int, min=16, help="image width in pixels (default 1024; tiny 64)"),
    Param("max_sequence_length", int, min=1, max=512, help="text tokens (default 512)"),
    Param("batch_size", int, 1, min=1, help="images per pipeline call"),
)

IMAGE_FOLDER = (
    Param("path", str, help="the folder: <prompt id>/<k>.png, as `partbench suites SUITE --prompts` lists them"),
)
EDIT_FOLDER = (
    Param("path", str, help="the folder: <sample id>/0.png at the source's size, as `partbench suites SUITE "
                            "--samples` lists them"),
)

EXTERNAL = (
    Param("predictions", str, help="saved predictions: a PNG folder or sem_seg_predictions.json (import mode)"),
    Param("repo", str, help="the method's checkout (runner mode)"),
    Param("python", str, help="the interpreter of its environment (runner mode)"),
    Param("checkpoint", str, help="its weights (runner mode)"),
    Param("config", str, help="its config, relative to the checkout (default: the codebase's own for the suite)"),
    Param("driver", str, help="MODULE:FUNCTION in its environment, in place of the built-in driver"),
    Param("script", str, help="a worker script of your own in place of the shipped worker.py"),
    Param("device", str, help="its MODEL.DEVICE (runner mode)"),
    Param("opts", str, help="detectron2 config overrides, KEY VALUE pairs in one string"),
    Param("vocabulary", str, choices=VOCABULARY_RULES,
          help="which part names the prediction may use (substring: PartCATSeg's leaky rule)"),
    Param("workdir", str, help="folder for the worker's files (default: a temporary one)"),
    Param("keep_workdir", bool, "false", help="keep the worker's folder after the run"),
)
