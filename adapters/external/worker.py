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

Drivers (`--driver`):
  partcatseg       builds the model with the checkout's train_net.setup/Trainer.build_model and feeds one
                   oracle-object sample per forward (the model reads the GT object class from "instances").
  MODULE:FUNCTION  a function in the user's environment: FUNCTION(image_rgb HxWx3 uint8, object_class, classes,
                   checkpoint=..., config=..., device=...) -> CxHxW scores or HxW class ids.
"""

import argparse
import importlib
import json
import os
import sys

import numpy as np

WORKER_PROTOCOL = 1
PREFIX = "PARTBENCH "


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


# -- drivers ---------------------------------------------------------------------------------------------------------
def partcatseg_driver(args):
    """PartCATSeg (kaist-cvml/part-catseg): model built and loaded the way its train_net.py --eval-only does."""
    import torch
    from detectron2.checkpoint import DetectionCheckpointer
    from detectron2.data import transforms as T
    from detectron2.engine import default_argument_parser
    from detectron2.structures import Instances

    import train_net  # the checkout's entry point (cwd and sys.path are the checkout)

    if not args.config:
        raise SystemExit("partcatseg driver: --config is required (e.g. configs/zero_shot/partcatseg_voc.yaml)")
    opts = ["--config-file", args.config, "--eval-only", "MODEL.WEIGHTS", args.checkpoint]
    if args.device:
        opts += ["MODEL.DEVICE", args.device]
    cfg = train_net.setup(default_argument_parser().parse_args(opts))
    model = train_net.Trainer.build_model(cfg)
    DetectionCheckpointer(model).load(args.checkpoint)
    model.eval()
    predictor = model.sem_seg_head.predictor
    model_classes = list(predictor.test_ori_text_classes)
    object_classes = list(predictor.test_obj_classes)
    resize = T.ResizeShortestEdge(cfg.INPUT.MIN_SIZE_TEST, cfg.INPUT.MAX_SIZE_TEST, "choice")

    def predict(image_rgb, object_class, classes):
        if list(classes) != model_classes:
            raise ValueError("the suite's class list differs from the model's test classes (config %s)" % args.config)
        if object_class not in object_classes:
            raise ValueError("object %r is not among the model's test object classes" % object_class)
        height, width = image_rgb.shape[:2]
        image = image_rgb if cfg.INPUT.FORMAT == "RGB" else image_rgb[:, :, ::-1]
        image = resize.get_transform(image).apply_image(image)
        tensor = torch.as_tensor(np.ascontiguousarray(image.transpose(2, 0, 1)))
        # The model moves these GT maps to the device at inference but does not read them.
        unused_gt = torch.full(tuple(tensor.shape[1:]), 255, dtype=torch.long)
        instances = Instances(tuple(tensor.shape[1:]))
        instances.gt_classes = torch.tensor([object_classes.index(object_class)])
        record = {"image": tensor, "height": height, "width": width, "obj_part_sem_seg": unused_gt,
                  "sem_seg": unused_gt, "instances": instances}
        with torch.no_grad():
            scores = model([record])[0]["sem_seg"]
        return scores.float().cpu().numpy()

    return predict, model_classes


def function_driver(args):
    module_name, _, attr = args.driver.partition(":")
    function = getattr(importlib.import_module(module_name), attr)

    def predict(image_rgb, object_class, classes):
        return function(image_rgb, object_class, classes, checkpoint=args.checkpoint, config=args.config,
                        device=args.device)

    return predict, None


DRIVERS = {"partcatseg": partcatseg_driver}


def main(argv=None):
    parser = argparse.ArgumentParser(description="partbench inference worker (see the module docstring)")
    parser.add_argument("--driver", required=True)
    parser.add_argument("--checkpoint", default="")
    parser.add_argument("--config", default="")
    parser.add_argument("--device", default="")
    args = parser.parse_args(argv)
    sys.path.insert(0, os.getcwd())
    if args.driver in DRIVERS:
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
                output = predict(read_image(s["image_path"]), s["object_class"], request["classes"])
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
