"""partbench's inference worker for research codebases that need their own environment (PartCATSeg, LangHOPS).

partbench starts this file with the *external* environment's interpreter (`--method-arg python=...`), in the user's
checkout (`repo=...`). It must therefore run on that environment's old Python and libraries: it uses only the
standard library, numpy and PIL itself (written for Python >= 3.8), and imports torch/detectron2 only inside the
driver that needs them. It never imports partbench.

Protocol (WORKER_PROTOCOL below; partbench refuses a worker of another version):
  stdout lines starting with "PARTBENCH " carry JSON messages to partbench; every other stdout line (codebase logs)
  is passed through by partbench to stderr.
  1. worker -> {"event": "ready", "protocol": N, "driver": name, "classes": [...] or null}   (after loading the model)
  2. partbench -> one JSON line on stdin per batch:
       {"cmd": "predict", "out_dir": DIR, "ignore_label": 255, "classes": [...],
        "samples": [{"id", "image_path", "object_class", "allowed": [class ids], "height", "width"}]}
     worker -> writes DIR/<id>.png (class ids restricted to "allowed", argmax over scores), then
     {"event": "done", "ids": [...]}  or  {"event": "error", "message": "..."}
  3. partbench -> {"cmd": "exit"}; the worker exits 0.

Drivers (`--driver`); each built-in one mirrors its codebase's own evaluation path (docs/external-methods.md):
  partcatseg       kaist-cvml/part-catseg: train_net.setup / Trainer.build_model / DetectionCheckpointer as
                   `train_net.py --eval-only` does, then one oracle-object record per forward, built the way
                   SemanticObjPartDatasetMapper builds test records (the model reads the GT object class from
                   record["instances"].gt_classes[0]); scores = output["sem_seg"].
  langhops         LangHOPS (PartGLEE code base): projects/PartGLEE/train_net.py setup / Trainer.build_model with
                   scripts/inference.sh's overrides plus MODEL.MaskDINO.TEST.SEMANTIC_ON True, then one record per
                   forward with "dataset_name" = the OV-Parts task (pascalvoc, ade20k, partimagenet_semseg) and
                   "sem_seg" holding the GT object id (PartGLEE.forward's oracle-object semantic branch);
                   scores = output["sem_seg"] (the part channels).
  MODULE:FUNCTION  a function in the user's environment: FUNCTION(image_rgb HxWx3 uint8, object_class, classes,
                   checkpoint=..., config=..., device=...) -> CxHxW scores or HxW class ids.
"""

import argparse
import atexit
import importlib
import importlib.util
import json
import os
import shutil
import sys
import tempfile

import numpy as np

WORKER_PROTOCOL = 1
PREFIX = "PARTBENCH "

# What a checkout must contain for a built-in driver: (codebase, upstream repository, paths relative to the checkout).
LAYOUTS = {
    "partcatseg": ("PartCATSeg", "kaist-cvml/part-catseg",
                   ("train_net.py", "baselines/partcatseg.py")),
    "langhops": ("LangHOPS", "neelimagprasad/LangHOPS-release (author's commit 591a864)",
                 ("projects/PartGLEE/train_net.py", "projects/PartGLEE/partglee/PartGLEE.py",
                  "detectron2/__init__.py")),
}

# scripts/inference.sh (LangHOPS 591a864): the overrides its released evaluation passes to train_net.py, minus the
# dataset/output/eval-period ones. They select the architecture the released checkpoints were trained with.
LANGHOPS_INFERENCE_OPTS = [
    "MODEL.MaskDINO.NUM_OBJECT_QUERIES", "200",
    "MODEL.MaskDINO.TOPK_OBJECT_QUERIES", "30",
    "MODEL.MaskDINO.NUM_PART_QUERIES", "10",
    "MODEL.LLM.LLM_TYPE", "google/paligemma2-3b-pt-448",
    "MODEL.LLM.HIDDEN_SIZE", "2304",
    "MODEL.LLM.USE_LLM", "False",
    "MODEL.LLM.VLM.IS_VLM", "True",
    "MODEL.LLM.PART_QUERY_MODE", "clip_query",
    "MODEL.LLM.PART_CLS_EMBED", "learnable",
    "MODEL.LLM.CLIP_EMB_PART_ATTEN_MASK", "False",
    "MODEL.MaskDINO.USE_BOX_RESTRICTIONS", "False",
]
# The semantic branch of PartGLEE.forward runs only with SEMANTIC_ON (the base config,
# configs/base_clip_frozen_image_r50.yaml, sets it False); ORACLE and OBJECT_PART_TEST_AUGMENTATIONS are what
# train_net.py's build_test_loader requires for the oracle-object semantic mapper. The release's own inference
# configs (configs/Inference/RN50/{ade20k-part-234,pascal-part-116}.yaml) set the same three.
LANGHOPS_SEMANTIC_OPTS = [
    "MODEL.MaskDINO.TEST.SEMANTIC_ON", "True",
    "MODEL.MaskDINO.TEST.ORACLE", "True",
    "MODEL.MaskDINO.TEST.OBJECT_PART_TEST_AUGMENTATIONS", "True",
]
LANGHOPS_DEFAULT_CONFIG = "projects/PartGLEE/configs/Training/Joint-Training-Swin-L_LLM.yaml"  # scripts/inference.sh
# PartGLEE.forward's semantic branch: task -> (object list, part list in _CONSTANTS, ignore label of "sem_seg").
LANGHOPS_TASKS = (
    ("pascalvoc", "PASCALVOC_OBJECT_CLASS_NAMES", "PASCALVOC_PART_CLASS_NAMES", 255),
    ("ade20k", "ADE20K_OBJECT_CLASS_NAMES", "ADE20K_PART_CLASS_NAMES", 65535),
    ("partimagenet_semseg", "PARTIMAGENET_SEMSEG_OBJECT_CATEGORIES", "PARTIMAGENET_SEMSEG_PART_CATEGORIES", 65535),
)


def send(message):
    sys.stdout.write(PREFIX + json.dumps(message) + "\n")
    sys.stdout.flush()


def read_image(path):
    from PIL import Image

    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def to_label_map(output, allowed, height, width, ignore_label):
    """Class ids from a driver's output: argmax over the allowed channels of CxHxW scores, or an HxW id map whose
    ids outside `allowed` are set to ignore."""
    output = np.asarray(output)
    allowed = np.asarray(allowed, dtype=np.int64)
    if output.ndim == 3:
        if output.shape[1:] != (height, width):
            raise ValueError("scores are %s, expected (C, %d, %d)" % (output.shape, height, width))
        if not allowed.size:
            return np.full((height, width), ignore_label, dtype=np.int64)
        return allowed[np.argmax(output[allowed], axis=0)]
    if output.ndim == 2:
        if output.shape != (height, width):
            raise ValueError("class-id map is %s, expected (%d, %d)" % (output.shape, height, width))
        out = output.astype(np.int64)
        return np.where(np.isin(out, allowed), out, ignore_label)
    raise ValueError("expected CxHxW scores or an HxW class-id map, got shape %s" % (output.shape,))


def write_label_png(path, label, ignore_label):
    from PIL import Image

    dtype = np.uint8 if ignore_label <= 255 else np.uint16
    tmp = path + ".tmp"
    Image.fromarray(np.ascontiguousarray(label.astype(dtype))).save(tmp, format="PNG")
    os.replace(tmp, path)  # atomic: partbench never reads a half-written prediction


# -- helpers shared by the built-in drivers ---------------------------------------------------------------------------
def layout_problem(driver, repo):
    """None if `repo` looks like the checkout `driver` expects, else a message saying what was expected and found."""
    codebase, upstream, expected = LAYOUTS[driver]
    missing = [p for p in expected if not os.path.isfile(os.path.join(repo, p))]
    if not missing:
        return None
    try:
        entries = sorted(os.listdir(repo))
    except OSError as e:
        entries = ["(cannot list: %s)" % e]
    found = ", ".join(entries[:20]) + (", ... (%d entries)" % len(entries) if len(entries) > 20 else "")
    return ("%s does not look like a %s checkout (%s): the built-in %r driver expects %s; missing %s. Found at its "
            "top level: %s. Pass the right repo=, or driver=MODULE:FUNCTION for another layout."
            % (repo, codebase, upstream, driver, ", ".join(expected), ", ".join(missing), found or "(nothing)"))


def import_file(name, path):
    """Import a script that is not on sys.path as a package module (LangHOPS' projects/PartGLEE/train_net.py)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def detectron2_cfg(train_net, config, opts):
    """The codebase's own `setup(args)` (train_net.py), given what `train_net.py --config-file C --eval-only OPTS`
    parses. OUTPUT_DIR defaults to a temporary folder, so detectron2's default_setup (which writes the merged config
    and a log there) leaves the user's checkout untouched; later entries of `opts` win, as in detectron2."""
    from detectron2.engine import default_argument_parser

    output_dir = tempfile.mkdtemp(prefix="partbench-worker-")
    atexit.register(shutil.rmtree, output_dir, True)
    argv = ["--config-file", config, "--eval-only", "OUTPUT_DIR", output_dir] + list(opts)
    return train_net.setup(default_argument_parser().parse_args(argv))


def load_weights(model, cfg):
    """`DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=False)`, the
    call both codebases' train_net.main makes with --eval-only."""
    from detectron2.checkpoint import DetectionCheckpointer

    DetectionCheckpointer(model, save_dir=cfg.OUTPUT_DIR).resume_or_load(cfg.MODEL.WEIGHTS, resume=False)
    model.eval()
    return model


def test_resize(cfg, own_transforms):
    """ResizeShortestEdge(MIN_SIZE_TEST, MAX_SIZE_TEST, "choice"): the only test-time augmentation of both codebases'
    SemanticObjPartDatasetMapper, taken from the codebase's own transforms module when it has one."""
    try:
        transforms = importlib.import_module(own_transforms)
    except ModuleNotFoundError as e:
        if e.name not in (own_transforms, own_transforms.rpartition(".")[0]):
            raise
        from detectron2.data import transforms
    return transforms.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, "choice")


def model_input_image(image_rgb, cfg, resize):
    """The mapper's image: read in cfg.INPUT.FORMAT, resized (unless `resize` is None), as a CxHxW uint8 tensor (the
    model normalises it)."""
    import torch

    fmt = cfg.INPUT.FORMAT
    if fmt not in ("RGB", "BGR"):
        raise ValueError("INPUT.FORMAT %r is not supported by the partbench worker (RGB or BGR)" % (fmt,))
    image = image_rgb if fmt == "RGB" else image_rgb[:, :, ::-1]
    if resize is not None:
        image = resize.get_transform(image).apply_image(image)
    return torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))


def check_same_classes(what, model_classes, classes):
    if list(classes) == list(model_classes):
        return
    diff = [(i, a, b) for i, (a, b) in enumerate(zip(classes, model_classes)) if a != b][:3]
    raise ValueError("the suite's %d classes differ from %s's %d test classes (first differences: %s); the suite and "
                     "the codebase's test dataset must use the same class list in the same order"
                     % (len(classes), what, len(model_classes),
                        "; ".join("#%d suite %r vs model %r" % d for d in diff) or "lengths differ"))


# -- drivers ---------------------------------------------------------------------------------------------------------
def partcatseg_driver(args):
    """PartCATSeg (kaist-cvml/part-catseg): the model built and loaded as `train_net.py --eval-only` does (main()),
    fed the records baselines/data/dataset_mappers/object_part_mapper.py builds at test time; one record per forward,
    because PartCATSeg.forward reads the object class and the scores of batch entry 0 only."""
    import torch
    from detectron2.data import MetadataCatalog
    from detectron2.structures import Instances

    if not args.config:
        raise SystemExit("partcatseg driver: --config is required (e.g. configs/zero_shot/partcatseg_voc.yaml)")
    import train_net  # the checkout's entry point (cwd and sys.path are the checkout)

    opts = ["MODEL.WEIGHTS", args.checkpoint] + (["MODEL.DEVICE", args.device] if args.device else []) + args.opts
    cfg = detectron2_cfg(train_net, args.config, opts)
    if hasattr(train_net, "random_seed"):  # main(): random_seed(cfg.SEED) right after setup
        train_net.random_seed(cfg.SEED)
    cfg.update({"EVAL_ONLY": True})  # main() does this before building the model
    model = load_weights(train_net.Trainer.build_model(cfg), cfg)
    predictor = model.sem_seg_head.predictor
    model_classes = list(predictor.test_ori_text_classes)  # MetadataCatalog(DATASETS.TEST[0]).stuff_classes
    object_classes = list(predictor.test_obj_classes)  # what PartCATSeg.forward indexes with gt_classes[0]
    ignore_label = MetadataCatalog.get(cfg.DATASETS.TEST[0]).ignore_label
    # PartImageNet's mappers (partimagenet_mapper.py, the OOD one too) compute the test resize but leave
    # `image = aug_input.image` commented out: the model sees the image at its own size.
    own_size = getattr(cfg.INPUT, "DATASET_MAPPER_NAME", None) in ("partimagenet", "partimagenet_ood")
    resize = None if own_size else test_resize(cfg, "baselines.data.transforms")

    def predict(image_rgb, sample, classes):
        check_same_classes("the PartCATSeg model (config %s)" % args.config, model_classes, classes)
        if sample["object_class"] not in object_classes:
            raise ValueError("object %r is not among the model's test object classes (%s)"
                             % (sample["object_class"], ", ".join(object_classes)))
        image = model_input_image(image_rgb, cfg, resize)
        size = tuple(image.shape[1:])
        # The mapper's ground-truth maps: the model only moves them to its device at inference, it never reads them.
        unused_gt = torch.full(size, ignore_label, dtype=torch.long)
        instances = Instances(size)
        instances.gt_classes = torch.tensor([object_classes.index(sample["object_class"])], dtype=torch.int64)
        record = {"file_name": sample["image_path"], "image": image, "height": image_rgb.shape[0],
                  "width": image_rgb.shape[1], "sem_seg": unused_gt, "obj_part_sem_seg": unused_gt.clone(),
                  "instances": instances}
        with torch.no_grad():
            scores = model([record])[0]["sem_seg"]  # sigmoid scores, -1 on classes not containing the object name
        return scores.float().cpu().numpy()

    return predict, model_classes


def langhops_driver(args):
    """LangHOPS (PartGLEE code base, LangHOPS-release 591a864): projects/PartGLEE/train_net.py's setup() and
    Trainer.build_model() with scripts/inference.sh's overrides, fed the records partglee/data/object_part_mapper.py
    builds; PartGLEE.forward's semantic branch then zeroes every part channel whose object is not in
    unique(record["sem_seg"]) and returns the part channels as output["sem_seg"]."""
    import torch

    train_net = import_file("partbench_langhops_train_net", os.path.join("projects", "PartGLEE", "train_net.py"))
    opts = (LANGHOPS_INFERENCE_OPTS + LANGHOPS_SEMANTIC_OPTS + ["MODEL.WEIGHTS", args.checkpoint]
            + (["MODEL.DEVICE", args.device] if args.device else []) + args.opts)
    config = args.config or LANGHOPS_DEFAULT_CONFIG
    cfg = detectron2_cfg(train_net, config, opts)  # setup() seeds with cfg.SEED itself
    model = load_weights(train_net.Trainer.build_model(cfg), cfg)
    constants = importlib.import_module("detectron2.projects.partglee.models._CONSTANTS")
    resize = test_resize(cfg, "detectron2.projects.partglee.data.transforms")
    chosen = {}

    def task_for(classes):
        key = tuple(classes)
        if key not in chosen:
            for task, objects, parts, ignore in LANGHOPS_TASKS:
                if list(getattr(constants, parts)) == list(classes):
                    chosen[key] = (task, list(getattr(constants, objects)), ignore)
                    break
            else:
                sizes = ", ".join("%s: %d classes (%s)" % (t, len(getattr(constants, p)), p)
                                  for t, _, p, _ in LANGHOPS_TASKS)
                raise ValueError("the suite's %d classes match none of the vocabularies LangHOPS' semantic inference "
                                 "supports (%s, in partglee/models/_CONSTANTS.py); PartGLEE.forward fixes the "
                                 "vocabulary by dataset_name" % (len(classes), sizes))
        return chosen[key]

    def predict(image_rgb, sample, classes):
        task, objects, ignore = task_for(classes)
        if sample["object_class"] not in objects:
            raise ValueError("object %r is not among LangHOPS' %s object classes" % (sample["object_class"], task))
        image = model_input_image(image_rgb, cfg, resize)
        # Only unique(sem_seg) is read: the set of ground-truth objects whose parts stay enabled.
        sem_seg = torch.full(tuple(image.shape[1:]), objects.index(sample["object_class"]), dtype=torch.long)
        record = {"file_name": sample["image_path"], "image": image, "height": image_rgb.shape[0],
                  "width": image_rgb.shape[1], "dataset_name": task, "task": task, "is_sem_seg": True,
                  "sem_seg": sem_seg}
        with torch.no_grad():
            output = model([record])[0]
        if "sem_seg" not in output:
            raise ValueError("the model returned no 'sem_seg' (keys: %s); the config must enable "
                             "MODEL.MaskDINO.TEST.SEMANTIC_ON" % ", ".join(sorted(output)))
        return output["sem_seg"].float().cpu().numpy()  # part channels in the task's part-list order

    return predict, None


def function_driver(args):
    module_name, _, attr = args.driver.partition(":")
    function = getattr(importlib.import_module(module_name), attr)

    def predict(image_rgb, sample, classes):
        return function(image_rgb, sample["object_class"], classes, checkpoint=args.checkpoint, config=args.config,
                        device=args.device)

    return predict, None


DRIVERS = {"partcatseg": partcatseg_driver, "langhops": langhops_driver}


def main(argv=None):
    parser = argparse.ArgumentParser(description="partbench inference worker (see the module docstring)")
    parser.add_argument("--driver", required=True)
    parser.add_argument("--checkpoint", default="")
    parser.add_argument("--config", default="")
    parser.add_argument("--device", default="")
    parser.add_argument("--opts", default="[]", help="JSON list of extra config overrides: KEY, VALUE, ...")
    args = parser.parse_args(argv)
    args.opts = [str(o) for o in json.loads(args.opts)]
    sys.path.insert(0, os.getcwd())
    if args.driver in DRIVERS:
        problem = layout_problem(args.driver, os.getcwd())
        if problem:
            raise SystemExit(problem)
        predict, classes = DRIVERS[args.driver](args)
    elif ":" in args.driver:
        predict, classes = function_driver(args)
    else:
        raise SystemExit("unknown driver %r (known: %s, or MODULE:FUNCTION)" % (args.driver, ", ".join(DRIVERS)))
    send({"event": "ready", "protocol": WORKER_PROTOCOL, "driver": args.driver, "classes": classes})
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        if request.get("cmd") == "exit":
            break
        done = []
        try:
            for s in request["samples"]:
                output = predict(read_image(s["image_path"]), s, request["classes"])
                label = to_label_map(output, s["allowed"], s["height"], s["width"], request["ignore_label"])
                write_label_png(os.path.join(request["out_dir"], s["id"] + ".png"), label, request["ignore_label"])
                done.append(s["id"])
        except Exception as e:  # reported to partbench, which raises it naming the sample
            send({"event": "error", "message": "sample %s: %s: %s" % (s["id"], type(e).__name__, e), "ids": done})
            continue
        send({"event": "done", "ids": done})
    return 0


if __name__ == "__main__":
    sys.exit(main())
