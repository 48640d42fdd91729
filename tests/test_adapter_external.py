"""PartCATSeg / LangHOPS adapters: importing saved predictions, and the subprocess runner with stand-in codebases."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from partbench.errors import PartbenchError
from partbench.run import RunRequest, run
from partbench.suites import load_suite

pytestmark = pytest.mark.filterwarnings("ignore::partbench.adapters.external.methods.MergedSamplesWarning")


def _samples(demo_root):
    suite = load_suite("demo")
    reader = suite.make_reader(demo_root)
    return suite, [reader.load(r) for r in reader.index("val").refs]


def _run(demo_root, method, args, **kw):
    return run(RunRequest(method=method, suite="demo", data_root=demo_root, method_args=args, bootstrap=0,
                          workers=0, **kw))


def _saved(outcome, sample_id):
    from partbench.data.images import read_label_png

    return read_label_png(outcome.run_dir / "predictions" / f"{sample_id}.png").astype(np.int64)


# -- vocabulary rules ------------------------------------------------------------------------------------------------
def test_substring_rule_leaks_like_partcatseg_and_exact_does_not():
    from partbench.adapters.external.vocabulary import allowed_ids

    classes = ["cabinet's door", "door's handle", "armchair's arm", "chair's leg", "traffic light's pole"]
    assert allowed_ids(classes, "door", "exact") == [1]
    assert allowed_ids(classes, "door", "substring") == [0, 1]
    assert allowed_ids(classes, "chair", "exact") == [3]
    assert allowed_ids(classes, "chair", "substring") == [2, 3]
    assert allowed_ids(classes, "light", "exact") == []
    assert allowed_ids(classes, "light", "substring") == [4]
    with pytest.raises(PartbenchError, match="vocabulary"):
        allowed_ids(classes, "door", "fuzzy")


# -- import mode -----------------------------------------------------------------------------------------------------
def _write_pngs(folder: Path, samples, corrupt: bool) -> None:
    from PIL import Image

    folder.mkdir()
    for k, s in enumerate(samples):
        label = s.part_label_map.astype(np.uint8).copy()
        if corrupt and k % 2 == 0:  # every other sample: one labelled row becomes "no prediction"
            rows = np.flatnonzero((label != 255).any(axis=1))
            label[rows[0]] = 255
        Image.fromarray(label).save(folder / f"{s.id}.png")


def test_import_png_directory_scores_like_partbench_score(demo_root, tmp_path):
    from partbench.run import ScoreRequest, score

    suite, samples = _samples(demo_root)
    preds = tmp_path / "pngs"
    _write_pngs(preds, samples, corrupt=True)
    outcome = _run(demo_root, "partcatseg", {"predictions": str(preds)})
    reference = score(ScoreRequest(suite=suite.name, data_root=demo_root, predictions=preds, name="ref",
                                   samples_path=tmp_path / "ref.jsonl", bootstrap=0))
    assert 0 < outcome.results["metrics"]["h_iou"] < 100  # the corruption is visible...
    assert outcome.results["metrics"] == reference["metrics"]  # ...and scored exactly as `partbench score` does
    config = outcome.results["method_config"]
    assert config["mode"] == "import" and "oracle-object" in config["inference_setting"]


def test_import_detectron2_json_warns_about_merged_samples_and_scores_the_ground_truth_as_100(demo_root, tmp_path):
    from pycocotools import mask as mask_utils

    from partbench.adapters.external.methods import MergedSamplesWarning

    suite, samples = _samples(demo_root)
    entries = []
    for s in samples:  # one group of entries per sample, keyed only by the image file name (protocol §7)
        label = np.where(s.part_label_map == suite.ignore_label, suite.num_classes, s.part_label_map)
        for cat in np.unique(label):
            rle = mask_utils.encode(np.asfortranarray((label == cat).astype(np.uint8)))
            entries.append({"file_name": str(s.ref.image_path), "category_id": int(cat),
                            "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
    path = tmp_path / "inference" / "sem_seg_predictions.json"
    path.parent.mkdir()
    path.write_text(json.dumps(entries))
    assert len({s.image_id for s in samples}) < len(samples)  # the demo has images with several samples
    with pytest.warns(MergedSamplesWarning, match="images of demo/val have several samples"):
        outcome = _run(demo_root, "langhops", {"predictions": str(path)})
    assert outcome.results["metrics"]["h_iou"] == pytest.approx(100.0)


def test_import_reports_missing_samples_by_id(demo_root, tmp_path):
    _, samples = _samples(demo_root)
    preds = tmp_path / "pngs"
    _write_pngs(preds, samples, corrupt=False)
    (preds / f"{samples[1].id}.png").unlink()
    with pytest.raises(PartbenchError, match=samples[1].id):
        _run(demo_root, "partcatseg", {"predictions": str(preds)})


def test_argument_errors_name_what_to_pass(demo_root, tmp_path):
    with pytest.raises(PartbenchError, match="predictions=PATH.*repo=CHECKOUT"):
        _run(demo_root, "partcatseg", {})
    with pytest.raises(PartbenchError, match="cannot be combined"):
        _run(demo_root, "partcatseg", {"predictions": str(tmp_path), "repo": str(tmp_path)})
    with pytest.raises(PartbenchError, match="does not exist"):
        _run(demo_root, "partcatseg", {"predictions": str(tmp_path / "nope")})


# -- runner mode -----------------------------------------------------------------------------------------------------
STAND_IN_CODEBASE = '''
"""A stand-in "external codebase": scores that favour the lowest class id, plus a trace of what it was asked."""
import json
import os

import numpy as np


def predict(image_rgb, object_class, classes, checkpoint, config, device):
    with open(os.path.join(os.path.dirname(__file__), "calls.jsonl"), "a") as f:
        f.write(json.dumps({"object": object_class, "shape": list(image_rgb.shape), "checkpoint": checkpoint}) + "\\n")
    h, w = image_rgb.shape[:2]
    return -np.arange(len(classes), dtype=np.float32)[:, None, None] * np.ones((1, h, w), np.float32)
'''


@pytest.fixture
def stand_in_repo(tmp_path) -> Path:
    repo = tmp_path / "fake-checkout"
    repo.mkdir()
    (repo / "fake_codebase.py").write_text(STAND_IN_CODEBASE)
    (repo / "model.pth").write_bytes(b"weights")
    return repo


def test_runner_drives_the_shipped_worker_once_and_collects_per_sample_predictions(demo_root, stand_in_repo):
    suite, samples = _samples(demo_root)
    args = {"repo": str(stand_in_repo), "python": sys.executable, "checkpoint": str(stand_in_repo / "model.pth"),
            "driver": "fake_codebase:predict"}
    outcome = _run(demo_root, "langhops", args, batch_size=4)
    calls = [json.loads(line) for line in (stand_in_repo / "calls.jsonl").read_text().splitlines()]
    assert len(calls) == len(samples) and calls[0]["checkpoint"].endswith("model.pth")
    assert [c["object"] for c in calls] == [s.object_class for s in samples]
    for s in samples:  # argmax of -class_id over the object's parts = its lowest part id, inside the object
        lowest = min(suite.part_ids_of(s.object_class))
        expected = np.where(s.object_mask, lowest, 255)
        np.testing.assert_array_equal(_saved(outcome, s.id), expected)
    config = outcome.results["method_config"]
    assert config["mode"] == "runner" and config["vocabulary"] == "exact" and config["driver"] == "fake_codebase:predict"
    # A second run reuses every cached prediction and never starts the worker.
    (stand_in_repo / "calls.jsonl").unlink()
    again = _run(demo_root, "langhops", args)
    assert again.predicted == 0 and not (stand_in_repo / "calls.jsonl").exists()


STAND_IN_SCRIPT = '''
"""A stand-in worker that answers like an evaluator dumping detectron2's sem_seg_predictions.json."""
import json, os, sys
import numpy as np
from PIL import Image
from pycocotools import mask as mask_utils

print("some codebase log line on stdout")
print("PARTBENCH " + json.dumps({"event": "ready", "protocol": 1, "driver": "stand-in", "classes": None}), flush=True)
entries = []
for line in sys.stdin:
    req = json.loads(line)
    if req["cmd"] == "exit":
        break
    for s in req["samples"]:
        part = np.array(Image.open(s["gt"]))
        obj = np.array(Image.open(s["gt"].replace("_part", "_obj")))
        label = np.where(part == 255, len(req["classes"]), part)
        for cat in np.unique(label):
            rle = mask_utils.encode(np.asfortranarray((label == cat).astype(np.uint8)))
            entries.append({"file_name": s["image_path"], "category_id": int(cat),
                            "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})
    with open(os.path.join(req["out_dir"], "sem_seg_predictions.json"), "w") as f:
        json.dump(entries, f)
    print("PARTBENCH " + json.dumps({"event": "done", "ids": []}), flush=True)
'''


def test_runner_collects_a_detectron2_json_written_by_a_stand_in_script(demo_root, stand_in_repo, monkeypatch):
    """The stand-in reads each image's ground truth (the path is derived from the image path, as the external
    codebase's own data loader would) and writes it as sem_seg_predictions.json: the merged import must score 100."""
    from partbench.adapters.external import methods

    script = stand_in_repo / "stand_in_worker.py"
    script.write_text(STAND_IN_SCRIPT.replace(
        's["gt"]', 's["image_path"].replace("/images/", "/annotations_detectron2_part/").replace(".jpg", ".png")'))
    args = {"repo": str(stand_in_repo), "python": sys.executable, "script": str(script)}
    with pytest.warns(methods.MergedSamplesWarning):
        outcome = _run(demo_root, "partcatseg", args)
    assert outcome.results["metrics"]["h_iou"] == pytest.approx(100.0)
    assert outcome.results["method_config"]["script"] == str(script.absolute())


def test_runner_reports_a_worker_that_dies_and_a_codebase_error(demo_root, stand_in_repo):
    dying = stand_in_repo / "dying.py"
    dying.write_text("import sys\nprint('loading...')\nsys.exit(3)\n")
    with pytest.raises(PartbenchError, match="exited with status 3"):
        _run(demo_root, "partcatseg", {"repo": str(stand_in_repo), "python": sys.executable, "script": str(dying)})
    (stand_in_repo / "broken.py").write_text("def predict(*a, **k):\n    raise RuntimeError('CUDA out of memory')\n")
    with pytest.raises(PartbenchError, match="CUDA out of memory"):
        _run(demo_root, "langhops", {"repo": str(stand_in_repo), "python": sys.executable, "driver": "broken:predict"},
             output_root=Path("runs2"))


def test_worker_script_is_stdlib_numpy_pil_only_and_python38_syntax():
    """The worker runs in the external environment: no partbench import, no 3.9+ syntax (checked with ast)."""
    import ast

    from partbench.adapters.external.process import WORKER_SCRIPT

    source = WORKER_SCRIPT.read_text()
    tree = ast.parse(source, feature_version=(3, 8))
    top_level = {a.name.split(".")[0] for node in tree.body if isinstance(node, (ast.Import, ast.ImportFrom))
                 for a in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])}
    assert "numpy" in top_level and top_level - {"numpy"} <= set(sys.stdlib_module_names)
    assert "WORKER_PROTOCOL = 1" in source


# -- runner mode, built-in drivers against stand-in checkouts ----------------------------------------------------------
# Each stand-in is laid out like the real repository (the files, module paths and names the built-in driver imports
# and calls) and behaves like the upstream code on the inference path: PartCATSeg.forward sets every class whose name
# does not contain the oracle object to -1; PartGLEE.forward's semantic branch zeroes the parts of objects absent from
# unique(record["sem_seg"]). Scores are two per-class constants from the checkpoint, one for the left and one for the
# right half of the output, so the expected maps below follow from the checkpoint alone.

FAKE_DETECTRON2 = {
    "detectron2/__init__.py": '"""Stands in for detectron2 (PartCATSeg: installed in its env; LangHOPS: vendored)"""\n',
    "detectron2/config.py": """
import ast, json

class CfgNode(dict):
    def __getattr__(self, key):
        try:
            return self[key]
        except KeyError:
            raise AttributeError(key)

    def __setattr__(self, key, value):
        self[key] = value

    @classmethod
    def wrap(cls, d):
        return cls({k: cls.wrap(v) if isinstance(v, dict) else v for k, v in d.items()})

    def merge_from_file(self, path):
        with open(path) as f:  # the stand-in configs are JSON, which is YAML
            self._merge(json.load(f))

    def _merge(self, d):
        for k, v in d.items():
            if isinstance(v, dict) and isinstance(self.get(k), CfgNode):
                self[k]._merge(v)
            else:
                self[k] = CfgNode.wrap(v) if isinstance(v, dict) else v

    def merge_from_list(self, opts):
        assert len(opts) % 2 == 0, opts
        for key, value in zip(opts[0::2], opts[1::2]):
            node, path = self, key.split(".")
            for p in path[:-1]:
                node = node.setdefault(p, CfgNode())
            try:
                node[path[-1]] = ast.literal_eval(value)
            except (ValueError, SyntaxError):
                node[path[-1]] = value

def get_cfg():
    return CfgNode.wrap({"MODEL": {"DEVICE": "cuda", "WEIGHTS": ""}, "OUTPUT_DIR": "./output", "SEED": -1,
                         "INPUT": {"MIN_SIZE_TEST": 800, "MAX_SIZE_TEST": 1333, "FORMAT": "BGR"},
                         "DATASETS": {"TRAIN": [], "TEST": []}})
""",
    "detectron2/engine.py": """
import argparse, json, os

def default_argument_parser():
    parser = argparse.ArgumentParser()
    parser.add_argument("--config-file", default="", metavar="FILE")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--eval-only", action="store_true")
    parser.add_argument("--num-gpus", type=int, default=1)
    parser.add_argument("opts", default=None, nargs=argparse.REMAINDER)
    return parser

def default_setup(cfg, args):  # like detectron2: creates OUTPUT_DIR and writes the merged config there
    os.makedirs(cfg.OUTPUT_DIR, exist_ok=True)
    with open(os.path.join(cfg.OUTPUT_DIR, "config.yaml"), "w") as f:
        json.dump(cfg, f)
""",
    "detectron2/checkpoint.py": """
import json

class DetectionCheckpointer:
    def __init__(self, model, save_dir="", **kwargs):
        self.model, self.save_dir = model, save_dir

    def resume_or_load(self, path, *, resume=True):
        assert resume is False, "eval-only loading never resumes"
        with open(path) as f:
            self.model.load_state_dict(json.load(f))
""",
    "detectron2/structures.py": """
class Instances:
    def __init__(self, image_size, **fields):
        self.image_size = image_size
        self.__dict__.update(fields)

    def to(self, device):
        return self
""",
    "detectron2/data/__init__.py": """
class _Metadata:
    def set(self, **kwargs):
        self.__dict__.update(kwargs)
        return self

class _Catalog(dict):
    def get(self, name):
        return self.setdefault(name, _Metadata())

MetadataCatalog = _Catalog()
""",
    "detectron2/data/transforms.py": """
import numpy as np
from PIL import Image

class _Resize:
    def __init__(self, new_h, new_w):
        self.new_h, self.new_w = new_h, new_w

    def apply_image(self, image):
        return np.asarray(Image.fromarray(image).resize((self.new_w, self.new_h), Image.BILINEAR))

class ResizeShortestEdge:
    def __init__(self, short_edge_length, max_size, sample_style="range"):
        self.short, self.max_size, self.style = short_edge_length, max_size, sample_style

    def get_transform(self, image):
        h, w = image.shape[:2]
        scale = self.short / min(h, w)
        new_h, new_w = h * scale, w * scale
        if max(new_h, new_w) > self.max_size:
            scale = self.max_size / max(new_h, new_w)
            new_h, new_w = new_h * scale, new_w * scale
        return _Resize(int(new_h + 0.5), int(new_w + 0.5))
""",
}

STAND_IN_LOG = """
import json, os
import numpy as np

def log_call(checkout, record, cfg, **extra):
    calls = os.path.join(checkout, "calls")
    os.makedirs(calls, exist_ok=True)
    n = len(os.listdir(calls)) // 2
    np.save(os.path.join(calls, "%03d.npy" % n), record["image"].numpy())
    entry = {"file_name": record["file_name"], "height": record["height"], "width": record["width"],
             "image_shape": list(record["image"].shape), "image_dtype": str(record["image"].dtype),
             "weights": cfg.MODEL.WEIGHTS, "device": cfg.MODEL.DEVICE, "output_dir": cfg.OUTPUT_DIR}
    entry.update(extra)
    with open(os.path.join(calls, "%03d.json" % n), "w") as f:
        json.dump(entry, f)

def half_scores(weights, height, width):
    left, right = np.asarray(weights["left"], np.float32), np.asarray(weights["right"], np.float32)
    scores = np.empty((len(left), height, width), np.float32)
    scores[:, :, : width // 2] = left[:, None, None]
    scores[:, :, width // 2:] = right[:, None, None]
    return scores
"""

PARTCATSEG_CHECKOUT = {
    "train_net.py": """
from detectron2.config import get_cfg
from detectron2.engine import default_argument_parser, default_setup
from baselines import add_mask_former_config, PartCATSeg
from baselines.utils.misc import random_seed

class Trainer:
    @classmethod
    def build_model(cls, cfg):
        return PartCATSeg(cfg)

def setup(args):
    cfg = get_cfg()
    add_mask_former_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    default_setup(cfg, args)
    return cfg
""",
    "baselines/__init__.py": """
from . import data
from .partcatseg import PartCATSeg

def add_mask_former_config(cfg):
    cfg.setdefault("TEST", {})
""",
    "baselines/data/__init__.py": """
import json, os
from detectron2.data import MetadataCatalog

with open(os.path.join(os.path.dirname(__file__), "..", "..", "classes.json")) as f:
    _meta = json.load(f)
MetadataCatalog.get("demo_obj_part_sem_seg_val_obj_condition").set(
    stuff_classes=_meta["classes"], obj_classes=_meta["objects"], ignore_label=255)
""",
    "baselines/data/transforms.py": """
import json, os
from detectron2.data.transforms import ResizeShortestEdge as _Resize

class ResizeShortestEdge(_Resize):  # the codebase's own copy; records that the driver used it
    def __init__(self, *args):
        super().__init__(*args)
        with open(os.path.join(os.path.dirname(__file__), "..", "..", "resize.json"), "w") as f:
            json.dump({"module": __name__, "args": list(args)}, f)
""",
    "baselines/utils/__init__.py": "",
    "baselines/utils/misc.py": """
SEEDS = []

def random_seed(seed):
    SEEDS.append(seed)
""",
    "baselines/stand_in_log.py": STAND_IN_LOG,
    "baselines/partcatseg.py": """
import os
import torch
from detectron2.data import MetadataCatalog
from .stand_in_log import half_scores, log_call
from .utils.misc import SEEDS

class _Node:
    pass

class PartCATSeg:
    def __init__(self, cfg):
        self.cfg, self.training, self.weights = cfg, True, None
        meta = MetadataCatalog.get(cfg.DATASETS.TEST[0])
        self.sem_seg_head = _Node()
        self.sem_seg_head.predictor = _Node()
        self.sem_seg_head.predictor.test_ori_text_classes = meta.stuff_classes
        self.sem_seg_head.predictor.test_obj_classes = meta.obj_classes

    def load_state_dict(self, state):
        self.weights = state

    def eval(self):
        self.training = False
        return self

    def __call__(self, batched_inputs):
        assert not self.training and self.weights is not None and len(batched_inputs) == 1
        x = batched_inputs[0]
        x["obj_part_sem_seg"].to("cpu"), x["sem_seg"].to("cpu")  # forward() moves these, never reads them
        predictor = self.sem_seg_head.predictor
        obj_class = predictor.test_obj_classes[x["instances"].to("cpu").gt_classes[0].item()]
        scores = half_scores(self.weights, x["height"], x["width"])
        select_mask = [i for i, name in enumerate(predictor.test_ori_text_classes) if obj_class not in name]
        scores[select_mask] = -1.0
        log_call(os.path.dirname(os.path.dirname(__file__)), x, self.cfg, object=obj_class, seeds=SEEDS,
                 eval_only=self.cfg.get("EVAL_ONLY"), instances_size=list(x["instances"].image_size))
        return [{"sem_seg": torch.from_numpy(scores), "sem_seg_all": None, "costs": {}}]
""",
    "configs/zero_shot/partcatseg_demo.yaml": json.dumps({
        "SEED": 12345678, "MODEL": {"META_ARCHITECTURE": "PartCATSeg"},
        "INPUT": {"MIN_SIZE_TEST": 64, "MAX_SIZE_TEST": 80, "FORMAT": "RGB"},
        "DATASETS": {"TRAIN": ["demo_obj_part_sem_seg_train"], "TEST": ["demo_obj_part_sem_seg_val_obj_condition"]},
        "OUTPUT_DIR": "output/partcatseg_demo"}),
}

LANGHOPS_CHECKOUT = {
    "detectron2/projects/__init__.py": """
import os
# Like detectron2's projects/__init__.py: detectron2.projects.partglee is <checkout>/projects/PartGLEE/partglee.
__path__.append(os.path.join(os.path.dirname(__file__), "..", "..", "projects", "PartGLEE"))
""",
    "projects/PartGLEE/train_net.py": """
import os, random
import numpy as np
import torch
from detectron2.config import get_cfg
from detectron2.engine import default_argument_parser, default_setup
from detectron2.projects.partglee import add_partglee_config, PartGLEE

os.environ['CUDA_LAUNCH_BLOCKING'] = '1'

class Trainer:
    @classmethod
    def build_model(cls, cfg):
        return PartGLEE(cfg)

def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)

def setup(args):
    cfg = get_cfg()
    add_partglee_config(cfg)
    cfg.merge_from_file(args.config_file)
    cfg.merge_from_list(args.opts)
    seed_all(cfg.SEED if "SEED" in cfg else 42)
    default_setup(cfg, args)
    return cfg
""",
    "projects/PartGLEE/partglee/__init__.py": """
from .config import add_partglee_config
from .PartGLEE import PartGLEE
""",
    "projects/PartGLEE/partglee/config.py": """
from detectron2.config import CfgNode

def add_partglee_config(cfg):
    cfg.MODEL.MaskDINO = CfgNode.wrap({"NUM_OBJECT_QUERIES": 100, "TOPK_OBJECT_QUERIES": 50, "NUM_PART_QUERIES": 10,
                                       "USE_BOX_RESTRICTIONS": True,
                                       "TEST": {"SEMANTIC_ON": True, "INSTANCE_ON": False, "ORACLE": False,
                                                "OBJECT_PART_TEST_AUGMENTATIONS": False}})
    cfg.MODEL.LLM = CfgNode.wrap({"USE_LLM": False, "LLM_TYPE": "microsoft/phi-1_5", "HIDDEN_SIZE": 2048,
                                  "PART_QUERY_MODE": "learnable_query", "PART_CLS_EMBED": "learnable",
                                  "CLIP_EMB_PART_ATTEN_MASK": False, "VLM": {"IS_VLM": False}})
""",
    "projects/PartGLEE/partglee/stand_in_log.py": STAND_IN_LOG,
    "projects/PartGLEE/partglee/PartGLEE.py": """
import os
import torch
from .models import _CONSTANTS as C
from .stand_in_log import half_scores, log_call

CHECKOUT = os.path.join(os.path.dirname(__file__), "..", "..", "..")

class PartGLEE:
    def __init__(self, cfg):
        if cfg.MODEL.LLM.USE_LLM:
            raise RuntimeError("USE_LLM would download " + cfg.MODEL.LLM.LLM_TYPE)
        self.cfg, self.training, self.weights = cfg, True, None
        self.semantic_on = cfg.MODEL.MaskDINO.TEST.SEMANTIC_ON
        self.dataset_name_dicts = {
            "pascalvoc": C.PASCALVOC_OBJECT_CLASS_NAMES + C.PASCALVOC_PART_CLASS_NAMES,
            "ade20k": C.ADE20K_OBJECT_CLASS_NAMES + C.ADE20K_PART_CLASS_NAMES,
            "partimagenet_semseg": C.PARTIMAGENET_SEMSEG_OBJECT_CATEGORIES + C.PARTIMAGENET_SEMSEG_PART_CATEGORIES}

    def load_state_dict(self, state):
        self.weights = state

    def eval(self):
        self.training = False
        return self

    def __call__(self, batched_inputs):
        assert not self.training and self.weights is not None and len(batched_inputs) == 1
        x = batched_inputs[0]
        task = x["dataset_name"]
        r = half_scores(self.weights, x["height"], x["width"])
        assert r.shape[0] == len(self.dataset_name_dicts[task])
        result = {"instances": None}
        if self.semantic_on and task in ("ade20k", "pascalvoc", "partimagenet_semseg"):
            test_obj_classes, test_classes, ignore_label = {
                "ade20k": (C.ADE20K_OBJECT_CLASS_NAMES, C.ADE20K_PART_CLASS_NAMES, 65535),
                "pascalvoc": (C.PASCALVOC_OBJECT_CLASS_NAMES, C.PASCALVOC_PART_CLASS_NAMES, 255),
                "partimagenet_semseg": (C.PARTIMAGENET_SEMSEG_OBJECT_CATEGORIES,
                                        C.PARTIMAGENET_SEMSEG_PART_CATEGORIES, 65535)}[task]
            gt_objs = [test_obj_classes[i] for i in torch.unique(x["sem_seg"]) if i != ignore_label]
            part_inds = [i for obj in gt_objs for i, part in enumerate(test_classes) if part.split("'s")[0] == obj]
            preds = r[len(test_obj_classes):]
            preds[[i for i in range(len(test_classes)) if i not in part_inds]] = 0.0
            result["sem_seg"] = torch.from_numpy(preds)
        llm = self.cfg.MODEL.LLM
        log_call(CHECKOUT, x, self.cfg, task=task, gt_objs=gt_objs if self.semantic_on else None,
                 use_llm=llm.USE_LLM, llm_type=llm.LLM_TYPE, part_query_mode=llm.PART_QUERY_MODE,
                 is_vlm=llm.VLM.IS_VLM, num_object_queries=self.cfg.MODEL.MaskDINO.NUM_OBJECT_QUERIES,
                 topk_object_queries=self.cfg.MODEL.MaskDINO.TOPK_OBJECT_QUERIES,
                 box_restrictions=self.cfg.MODEL.MaskDINO.USE_BOX_RESTRICTIONS,
                 oracle=self.cfg.MODEL.MaskDINO.TEST.ORACLE, keys=sorted(x))
        return [result]
""",
    "projects/PartGLEE/partglee/models/__init__.py": "",
    # scripts/inference.sh's config; like the real one (through its base config) it leaves SEMANTIC_ON off and,
    # unlike the inference command line, turns the LLM on.
    "projects/PartGLEE/configs/Training/Joint-Training-Swin-L_LLM.yaml": json.dumps({
        "SEED": 42, "MODEL": {"META_ARCHITECTURE": "PartGLEE", "LLM": {"USE_LLM": True},
                              "MaskDINO": {"NUM_OBJECT_QUERIES": 300, "TEST": {"SEMANTIC_ON": False}}},
        "INPUT": {"MIN_SIZE_TEST": 96, "MAX_SIZE_TEST": 1333, "FORMAT": "BGR"},
        "DATASETS": {"TRAIN": ["pascalvoc_joint_train"], "TEST": ["paco_lvis_v1_val"]},
        "OUTPUT_DIR": "projects/PartGLEE/output/Training/Joint-Training-SwinL/"}),
}


def _write_tree(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def _weights(n: int, seed: int) -> dict[str, list[float]]:
    rng = np.random.default_rng(seed)
    return {"left": rng.uniform(0.1, 1.0, n).round(4).tolist(), "right": rng.uniform(0.1, 1.0, n).round(4).tolist()}


def _expected_map(sample, part_ids: list[int], weights: dict[str, list[float]], offset: int = 0) -> np.ndarray:
    """The prediction the stand-in's scores imply: per half, the object's part with the largest constant."""
    h, w = sample.size
    left = part_ids[int(np.argmax([weights["left"][offset + i] for i in part_ids]))]
    right = part_ids[int(np.argmax([weights["right"][offset + i] for i in part_ids]))]
    halves = np.where(np.arange(w)[None, :] < w // 2, left, right) * np.ones((h, 1), np.int64)
    return np.where(sample.object_mask, halves, 255)


def _resized(size: tuple[int, int], short: int, max_size: int) -> tuple[int, int]:
    """detectron2's ResizeShortestEdge output size (shortest edge to `short`, longest capped at `max_size`)."""
    h, w = size
    scale = short / min(h, w)
    if max(h, w) * scale > max_size:
        scale = max_size / max(h, w)
    return int(h * scale + 0.5), int(w * scale + 0.5)


def _calls(checkout: Path) -> list[dict]:
    return [json.loads(p.read_text()) | {"image": np.load(p.with_suffix(".npy"))}
            for p in sorted((checkout / "calls").glob("*.json"))]


def _cli_run(demo_root, method: str, *method_args: str):
    from typer.testing import CliRunner

    from partbench.cli.main import app

    args = ["run", "--method", method, "--suite", "demo", "--data-root", str(demo_root), "--bootstrap", "0"]
    for a in method_args:
        args += ["-a", a]
    return CliRunner().invoke(app, args)


@pytest.fixture
def partcatseg_checkout(tmp_path) -> Path:
    suite = load_suite("demo")
    repo = tmp_path / "part-catseg"
    _write_tree(repo, FAKE_DETECTRON2 | PARTCATSEG_CHECKOUT)
    (repo / "classes.json").write_text(json.dumps({"classes": list(suite.classes),
                                                   "objects": list(suite.object_classes)}))
    (repo / "weights").mkdir()
    (repo / "weights" / "partcatseg_demo.pth").write_text(json.dumps(_weights(len(suite.classes), seed=1)))
    return repo


def _langhops_constants(objects, parts) -> str:
    return (f"PASCALVOC_OBJECT_CLASS_NAMES = {list(objects)!r}\nPASCALVOC_PART_CLASS_NAMES = {list(parts)!r}\n"
            "ADE20K_OBJECT_CLASS_NAMES = ['chair']\nADE20K_PART_CLASS_NAMES = [\"chair's leg\"]\n"
            "PARTIMAGENET_SEMSEG_OBJECT_CATEGORIES = ['tench']\n"
            "PARTIMAGENET_SEMSEG_PART_CATEGORIES = [\"tench's fin\"]\n")


@pytest.fixture
def langhops_checkout(tmp_path) -> Path:
    suite = load_suite("demo")
    repo = tmp_path / "LangHOPS-release"
    _write_tree(repo, FAKE_DETECTRON2 | LANGHOPS_CHECKOUT)
    # A stand-in whose Pascal-Part vocabulary is the demo suite's (the real one is Pascal-Part-116's).
    (repo / "projects/PartGLEE/partglee/models/_CONSTANTS.py").write_text(
        _langhops_constants(suite.object_classes, suite.classes))
    (repo / "checkpoint.pth").write_text(
        json.dumps(_weights(len(suite.object_classes) + len(suite.classes), seed=2)))
    return repo


def _run_dir(method: str) -> Path:
    (run_dir,) = [p for p in Path("runs/demo").iterdir() if p.name.split("@")[0] == method]
    return run_dir


def test_langhops_builtin_driver_end_to_end(demo_root, langhops_checkout):
    """`partbench run --method langhops -a repo= python= checkpoint=` with no driver= and no config=."""
    from PIL import Image

    suite, samples = _samples(demo_root)
    weights = json.loads((langhops_checkout / "checkpoint.pth").read_text())
    result = _cli_run(demo_root, "langhops", f"repo={langhops_checkout}", f"python={sys.executable}",
                      f"checkpoint={langhops_checkout / 'checkpoint.pth'}")
    assert result.exit_code == 0, result.output
    run_dir = _run_dir("langhops")
    results = json.loads((run_dir / "results.json").read_text())
    config = results["method_config"]
    assert config["driver"] == "langhops" and "oracle-object" in config["inference_setting"]
    assert config["config"] == "projects/PartGLEE/configs/Training/Joint-Training-Swin-L_LLM.yaml"

    scored = [s for s in samples if suite.part_ids_of(s.object_class)]
    calls = _calls(langhops_checkout)
    assert [c["file_name"] for c in calls] == [str(s.ref.image_path) for s in scored]
    for s, call in zip(scored, calls):
        # the record PartGLEE.forward's OV-Parts semantic branch needs; only the sample's object stays enabled
        assert call["task"] == "pascalvoc" and call["gt_objs"] == [s.object_class]
        assert {"image", "height", "width", "dataset_name", "sem_seg"} <= set(call["keys"])
        assert (call["height"], call["width"]) == s.size
        # scripts/inference.sh's model settings, plus the semantic head partbench needs
        assert call["use_llm"] is False and call["is_vlm"] is True and call["part_query_mode"] == "clip_query"
        assert call["llm_type"] == "google/paligemma2-3b-pt-448"
        assert (call["num_object_queries"], call["topk_object_queries"]) == (200, 30)
        assert call["box_restrictions"] is False and call["oracle"] is True
        assert call["weights"] == str(langhops_checkout / "checkpoint.pth")
        assert not Path(call["output_dir"]).is_relative_to(langhops_checkout)
        # the config's INPUT: BGR, shortest edge 96, as a CxHxW uint8 tensor
        h, w = _resized(s.size, 96, 1333)
        assert call["image_dtype"] == "torch.uint8" and call["image_shape"] == [3, h, w]
        rgb = np.asarray(Image.open(s.ref.image_path).convert("RGB"))
        bgr = np.asarray(Image.fromarray(np.ascontiguousarray(rgb[:, :, ::-1])).resize((w, h), Image.BILINEAR))
        np.testing.assert_array_equal(call["image"], bgr.transpose(2, 0, 1))
        offset = len(suite.object_classes)  # the model's channels are objects first, then parts
        expected = _expected_map(s, list(suite.part_ids_of(s.object_class)), weights, offset)
        np.testing.assert_array_equal(_saved_in(run_dir, s.id), expected)
    assert not (langhops_checkout / "projects/PartGLEE/output").exists()  # nothing written into the checkout


def _saved_in(run_dir: Path, sample_id: str) -> np.ndarray:
    from partbench.data.images import read_label_png

    return read_label_png(run_dir / "predictions" / f"{sample_id}.png").astype(np.int64)


def test_partcatseg_builtin_driver_end_to_end(demo_root, partcatseg_checkout):
    from PIL import Image

    suite, samples = _samples(demo_root)
    weights = json.loads((partcatseg_checkout / "weights/partcatseg_demo.pth").read_text())
    result = _cli_run(demo_root, "partcatseg", f"repo={partcatseg_checkout}", f"python={sys.executable}",
                      f"checkpoint={partcatseg_checkout / 'weights/partcatseg_demo.pth'}",
                      "config=configs/zero_shot/partcatseg_demo.yaml", "device=cpu")
    assert result.exit_code == 0, result.output
    run_dir = _run_dir("partcatseg")
    config = json.loads((run_dir / "results.json").read_text())["method_config"]
    assert config["driver"] == "partcatseg" and config["config"] == "configs/zero_shot/partcatseg_demo.yaml"
    # the checkout's own transforms module, with INPUT.MIN_SIZE_TEST / MAX_SIZE_TEST and "choice"
    assert json.loads((partcatseg_checkout / "resize.json").read_text()) == {
        "module": "baselines.data.transforms", "args": [64, 80, "choice"]}

    scored = [s for s in samples if suite.part_ids_of(s.object_class)]
    calls = _calls(partcatseg_checkout)
    assert [(c["file_name"], c["object"]) for c in calls] == [(str(s.ref.image_path), s.object_class) for s in scored]
    for s, call in zip(scored, calls):
        assert call["seeds"] == [12345678] and call["eval_only"] is True and call["device"] == "cpu"
        assert call["weights"] == str(partcatseg_checkout / "weights/partcatseg_demo.pth")
        h, w = _resized(s.size, 64, 80)
        assert call["image_shape"] == [3, h, w] and call["instances_size"] == [h, w]
        assert (call["height"], call["width"]) == s.size
        rgb = np.asarray(Image.open(s.ref.image_path).convert("RGB"))
        resized = np.asarray(Image.fromarray(rgb).resize((w, h), Image.BILINEAR))
        np.testing.assert_array_equal(call["image"], resized.transpose(2, 0, 1))
        expected = _expected_map(s, list(suite.part_ids_of(s.object_class)), weights)
        np.testing.assert_array_equal(_saved_in(run_dir, s.id), expected)
    assert not (partcatseg_checkout / "output").exists()


def test_builtin_drivers_say_what_checkout_they_expected_and_what_they_found(demo_root, tmp_path):
    other = tmp_path / "some-other-repo"
    other.mkdir()
    (other / "setup.py").write_text("")
    (other / "model.pth").write_text("{}")
    base = {"repo": str(other), "python": sys.executable, "checkpoint": str(other / "model.pth")}
    with pytest.raises(PartbenchError) as langhops:
        _run(demo_root, "langhops", base)
    message = str(langhops.value)
    assert "not look like a LangHOPS checkout (neelimagprasad/LangHOPS-release" in message
    assert "missing projects/PartGLEE/train_net.py, projects/PartGLEE/partglee/PartGLEE.py, detectron2/__init__.py" \
        in message
    assert "Found at its top level: model.pth, setup.py" in message and "driver=MODULE:FUNCTION" in message
    with pytest.raises(PartbenchError) as partcatseg:
        _run(demo_root, "partcatseg", base | {"config": "configs/x.yaml"})
    message = str(partcatseg.value)
    assert "not look like a PartCATSeg checkout (kaist-cvml/part-catseg)" in message
    assert "missing train_net.py, baselines/partcatseg.py" in message and "model.pth, setup.py" in message


def test_partcatseg_config_and_class_list_errors(demo_root, partcatseg_checkout):
    base = {"repo": str(partcatseg_checkout), "python": sys.executable,
            "checkpoint": str(partcatseg_checkout / "weights/partcatseg_demo.pth")}
    with pytest.raises(PartbenchError, match="no default partcatseg config for suite 'demo'.*configs/zero_shot/"):
        _run(demo_root, "partcatseg", base)
    with pytest.raises(PartbenchError, match="config configs/nope.yaml not found in the checkout"):
        _run(demo_root, "partcatseg", base | {"config": "configs/nope.yaml"})
    with pytest.raises(PartbenchError, match="KEY VALUE pairs"):
        _run(demo_root, "partcatseg", base | {"config": "configs/zero_shot/partcatseg_demo.yaml", "opts": "A.B"})
    # a checkpoint's test dataset with other classes is refused before any prediction
    meta = json.loads((partcatseg_checkout / "classes.json").read_text())
    meta["classes"][2] = "figure's hat"
    (partcatseg_checkout / "classes.json").write_text(json.dumps(meta))
    with pytest.raises(PartbenchError, match=r"first difference is at #2 \(suite: \"figure's left upper arm\", "
                                             r"model: \"figure's hat\"\)"):
        _run(demo_root, "partcatseg", base | {"config": "configs/zero_shot/partcatseg_demo.yaml"})
    assert not (partcatseg_checkout / "calls").exists()


def test_langhops_vocabulary_mismatch_and_config_overrides(demo_root, langhops_checkout):
    suite = load_suite("demo")
    args = {"repo": str(langhops_checkout), "python": sys.executable,
            "checkpoint": str(langhops_checkout / "checkpoint.pth")}
    # opts= overrides win over the driver's defaults: without the semantic head there is no part map to score
    with pytest.raises(PartbenchError, match="returned no 'sem_seg'.*SEMANTIC_ON"):
        _run(demo_root, "langhops", args | {"opts": "MODEL.MaskDINO.TEST.SEMANTIC_ON False"})
    constants = langhops_checkout / "projects/PartGLEE/partglee/models/_CONSTANTS.py"
    constants.write_text(_langhops_constants(suite.object_classes, suite.classes[:-1]))
    with pytest.raises(PartbenchError, match=r"match none of the vocabularies.*pascalvoc: 62 classes "
                                             r"\(PASCALVOC_PART_CLASS_NAMES\), ade20k: 1 classes"):
        _run(demo_root, "langhops", args, output_root=Path("runs2"))


def test_driver_override_still_wins_over_a_recognised_checkout(demo_root, langhops_checkout):
    (langhops_checkout / "fake_codebase.py").write_text(STAND_IN_CODEBASE)
    (langhops_checkout / "model.pth").write_bytes(b"weights")
    outcome = _run(demo_root, "langhops", {"repo": str(langhops_checkout), "python": sys.executable,
                                           "checkpoint": str(langhops_checkout / "model.pth"),
                                           "driver": "fake_codebase:predict"})
    assert outcome.results["method_config"]["driver"] == "fake_codebase:predict"
    assert outcome.results["method_config"]["config"] is None
    assert not (langhops_checkout / "calls").exists()  # the built-in driver never ran
