"""Pascal-Part SR: the geometry against hand-worked examples, the checks after writing, resuming, the CLI, and the
prepared folder read back as the `pascal-part-sr` suite by the Pascal-Part reader."""

from __future__ import annotations

import json

import numpy as np
import pytest
from helpers.cli import invoke
from helpers.datasets import build_pascal_part
from PIL import Image

from partbench.data.pascal_part import read_annotation
from partbench.data.pascal_part_sr import Recipe, parse_margins
from partbench.data.pascal_part_sr_prepare import (
    ROWS,
    check_outputs,
    encode_mat,
    find_source,
    output_mat,
    prepare_pascal_part_sr,
    read_rows,
)
from partbench.data.sr_generators import ResizeGenerator, make_generator
from partbench.errors import PartbenchError
from partbench.suites import load_suite

SR, PASCAL = load_suite("pascal-part-sr"), load_suite("pascal-part")
X = 255  # the ignore value label maps get in the outpainted margin
SMALL = Recipe(scale=2.0, margins=(0.25, 0.25, 0.25, 0.25), multiple=4)  # fixture images stay tiny


# -- geometry --------------------------------------------------------------------------------------------------------

def test_golden_3x2_scaled_2x_with_a_margin():
    """3 wide, 2 high, x2 -> 6x4 placed box. Margins: left 1/6 of 6 = 1 px, top 1/4 of 4 = 1 px, none right or below:
    7x5, rounded up to multiples of 4 -> 8x8; the extra (1 column, 3 rows) is split smaller half first: dx = 1 + 0,
    dy = 1 + 1."""
    geo = Recipe(scale=2.0, margins=(1 / 6, 0.25, 0, 0), multiple=4).geometry(3, 2)
    assert geo.canvas_size == (8, 8) and geo.placement == (1, 2, 6, 4) and geo.box == (1, 2, 7, 6)
    label = np.array([[1, 2, 3],
                      [4, 5, 6]], dtype=np.uint8)
    expected = np.array([[X, X, X, X, X, X, X, X],
                         [X, X, X, X, X, X, X, X],
                         [X, 1, 1, 2, 2, 3, 3, X],
                         [X, 1, 1, 2, 2, 3, 3, X],
                         [X, 4, 4, 5, 5, 6, 6, X],
                         [X, 4, 4, 5, 5, 6, 6, X],
                         [X, X, X, X, X, X, X, X],
                         [X, X, X, X, X, X, X, X]], dtype=np.uint8)
    np.testing.assert_array_equal(geo.transform(label, X), expected)


def test_golden_non_integer_scale_uses_pixel_centres():
    """x1.5: width 4.5 rounds half up to 5, height 3. Output column u takes source column floor((u + 0.5) * 3 / 5):
    0.3, 0.9, 1.5, 2.1, 2.7 -> 0, 0, 1, 2, 2; rows floor((v + 0.5) * 2 / 3): 0.33, 1.0, 1.67 -> 0, 1, 1."""
    geo = Recipe(scale=1.5, margins=(0, 0, 0, 0), multiple=1).geometry(3, 2)
    assert geo.canvas_size == (5, 3) and geo.placement == (0, 0, 5, 3)
    out = geo.transform(np.array([[1, 2, 3], [4, 5, 6]], dtype=np.uint8), X)
    np.testing.assert_array_equal(out, [[1, 1, 2, 3, 3], [4, 4, 5, 6, 6], [4, 4, 5, 6, 6]])


@pytest.mark.parametrize(("w", "h", "scale"), [(3, 2, 1.5), (7, 5, 2.7307), (13, 11, 3.0), (9, 4, 1.0)])
def test_labels_follow_the_image_convention(w, h, scale):
    """PIL resizes images with the same pixel-centre map: its nearest-neighbour resize equals our label map."""
    geo = Recipe(scale=scale, margins=(0, 0, 0, 0), multiple=1).geometry(w, h)
    label = np.arange(w * h, dtype=np.uint8).reshape(h, w)
    pil = np.asarray(Image.fromarray(label).resize(geo.placement[2:], Image.Resampling.NEAREST))
    np.testing.assert_array_equal(geo.transform(label, X), pil)


def test_the_generated_image_and_its_annotation_line_up():
    """A white 2x2 square (rows 1-2, columns 5-6) on black, x2.5: its brightness centroid on the canvas is where the
    map puts the square's centre (to 0.1 px), and the nearest-neighbour mask's centroid is within half a pixel of it
    (pixels whose centre falls exactly on the square's edge are given to one side)."""
    img = np.zeros((6, 8, 3), dtype=np.uint8)
    img[1:3, 5:7] = 255
    geo = Recipe(scale=2.5, margins=(0.2, 0.1, 0.3, 0.0), multiple=8).geometry(8, 6)
    dx, dy, sw, sh = geo.placement
    centre = np.array([dy + 2 * sh / 6 - 0.5, dx + 6 * sw / 8 - 0.5])  # pixel-index coordinates (row, column)
    made = ResizeGenerator("edge").generate(Image.fromarray(img), geo.canvas_size, geo.placement, "", 0)
    lum = np.clip(np.asarray(made.convert("L"), dtype=np.float64), 0, None)
    ys, xs = np.indices(lum.shape)
    seen = np.array([(lum * ys).sum(), (lum * xs).sum()]) / lum.sum()
    assert np.abs(seen - centre).max() < 0.1, (seen, centre)
    mask = geo.transform(img[..., 0] > 0, False)
    assert np.abs(np.argwhere(mask).mean(axis=0) - centre).max() <= 0.5
    shifted = Shifted("edge").generate(Image.fromarray(img), geo.canvas_size, geo.placement, "", 0)
    lum = np.asarray(shifted.convert("L"), dtype=np.float64)
    assert abs((lum * xs).sum() / lum.sum() - centre[1]) > 1.9  # the measure sees a two-pixel shift


def test_default_recipe_sizes():
    r = Recipe()
    # 500x375 (a typical VOC image): s = 1024/375, 1365x1024; margins 171/128 -> 1707x1280 -> 1712x1280
    geo = r.geometry(500, 375)
    assert geo.placement == (173, 128, 1365, 1024) and geo.canvas_size == (1712, 1280)
    assert r.geometry(100, 50).placement[2:] == (400, 200)  # factor capped at 4
    assert r.geometry(2000, 1500).placement[2:] == (2000, 1500)  # never downscaled
    assert all(v % 16 == 0 for v in r.geometry(333, 271).canvas_size)
    assert Recipe(margins=(0.1, 0.125, 0.1, 0.125)).hash != r.hash and Recipe().hash == r.hash
    assert parse_margins("0.1,0.2") == (0.1, 0.2, 0.1, 0.2)
    assert r.prompt_for(["person", "tvmonitor", "person"]) == "a high-resolution, detailed photo of person and tv " \
                                                              "monitor"
    with pytest.raises(PartbenchError, match="scale must be"):
        Recipe(scale=0.5)
    with pytest.raises(PartbenchError, match="only \\{objects\\}"):
        Recipe(prompt="a photo of {thing}")


def test_the_inverse_check_finds_a_changed_pixel():
    geo = SMALL.geometry(3, 2)
    src = np.array([[1, 0, 1], [0, 1, 1]], dtype=bool)
    out = geo.transform(src, False)
    assert geo.mismatches(src, out, False) is None
    inside = out.copy()
    inside[geo.box[1] + 1, geo.box[0] + 2] ^= True
    assert "1 pixel(s) differ" in geo.mismatches(src, inside, False) and "inside" in geo.mismatches(src, inside, False)
    outside = out.copy()
    outside[0, 0] = True
    assert "outside the placed image" in geo.mismatches(src, outside, False)
    assert "canvas is" in geo.mismatches(src, out[1:], False)


# -- the prepared folder -----------------------------------------------------------------------------------------------

def _textured(root):
    """Give the fixture's flat-colour images texture, so a misplaced image cannot pass the PSNR check."""
    rng = np.random.default_rng(0)
    for path in sorted((root / "VOCdevkit/VOC2010/JPEGImages").glob("*.jpg")):
        with Image.open(path) as im:
            w, h = im.size
        y, x = np.indices((h, w))
        base = np.stack([x * 255 / max(w - 1, 1), y * 255 / max(h - 1, 1), (x + y) * 20 % 255], -1)
        noise = rng.integers(-20, 20, size=(h, w, 3))
        Image.fromarray(np.clip(base + noise, 0, 255).astype(np.uint8)).save(path, quality=100)


@pytest.fixture
def source(tmp_path):
    root = tmp_path / "data"
    build_pascal_part(root, PASCAL)
    _textured(root)
    return root


class Shifted(ResizeGenerator):
    """Places the image 2 pixels left of its box (one source pixel at x2): geometry broken, annotation untouched."""

    def generate(self, image, canvas_size, placement, prompt, seed):
        dx, dy, sw, sh = placement
        return super().generate(image, canvas_size, (dx - 2, dy, sw, sh), prompt, seed)


def test_prepared_root_reads_as_the_suite_with_transformed_ground_truth(source):
    out = source / "pascal-part-sr"
    done = prepare_pascal_part_sr(source, out, SMALL, ResizeGenerator(), progress=False)
    assert (done.made, done.kept, done.failed, done.without_annotation) == (4, 0, {}, 1)
    assert done.listed == {"train": 1, "val": 3}
    sr_reader, src_reader = SR.make_reader(source), PASCAL.make_reader(source)
    for split in ("train", "val"):
        refs = sr_reader.index(split).refs
        assert [r.id for r in refs] == [r.id for r in src_reader.index(split).refs]
        for sr_ref, src_ref in zip(refs, src_reader.index(split).refs):
            if not SR.part_ids_of(sr_ref.object_class):
                continue
            a, b = sr_reader.load(sr_ref), src_reader.load(src_ref)
            with Image.open(src_ref.image_path) as im:
                geo = SMALL.geometry(*im.size)
            np.testing.assert_array_equal(a.part_label_map, geo.transform(b.part_label_map, 255))
            np.testing.assert_array_equal(a.objects[0].mask, geo.transform(b.objects[0].mask, False))
    rows = read_rows(out / ROWS)
    assert all(r["ok"] and r["interior_psnr"] > 30 for r in rows.values())
    assert set(rows["2008_000001"]) >= {"source", "recipe", "generator", "outputs", "prompt", "seed", "placement"}
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["recipe_hash"] == SMALL.hash and manifest["splits"]["val"]["images"] == 3
    assert invoke("data", "verify", "pascal-part-sr", "--data-root", source).exit_code == 0


def test_a_corrupted_output_fails_the_check(source, tmp_path):
    src = find_source(source, tmp_path / "out")
    _, objects = read_annotation(src.mat("2008_000001"))
    with Image.open(src.image("2008_000001")) as im:
        image = im.convert("RGB")
    geo = SMALL.geometry(*image.size)
    made = ResizeGenerator().generate(image, geo.canvas_size, geo.placement, "", 0)
    made.save(tmp_path / "x.jpg", quality=95)
    (tmp_path / "x.mat").write_bytes(encode_mat("2008_000001", objects, geo, SMALL.hash))
    psnr, problems = check_outputs(tmp_path / "x.jpg", tmp_path / "x.mat", objects, geo, image, 20.0)
    assert problems == [] and psnr > 30
    objects[0].parts[0].mask = np.roll(objects[0].parts[0].mask, 1, axis=1)  # written from a shifted part mask
    (tmp_path / "x.mat").write_bytes(encode_mat("2008_000001", objects, geo, SMALL.hash))
    _, objects = read_annotation(src.mat("2008_000001"))
    _, problems = check_outputs(tmp_path / "x.jpg", tmp_path / "x.mat", objects, geo, image, 20.0)
    assert len(problems) == 1 and "part 'llarm'" in problems[0] and "differ from the source" in problems[0]


def test_a_generator_that_moves_the_image_fails_and_is_not_listed(source):
    out = source / "pascal-part-sr"
    # In place these images are >= 38 dB from their source; one source pixel off, <= 22 dB.
    done = prepare_pascal_part_sr(source, out, SMALL, Shifted(), min_psnr=30.0, progress=False)
    assert set(done.failed) == {"2008_000001", "2008_000002", "2008_000003", "2008_000004"}
    assert all("did not keep the image in its box" in why for why in done.failed.values())
    assert (out / "VOC2010/ImageSets/Main/val.txt").read_text() == "" and not read_rows(out / ROWS)["2008_000001"]["ok"]
    again = prepare_pascal_part_sr(source, out, SMALL, ResizeGenerator(), min_psnr=30.0, progress=False)
    assert (again.made, again.failed, again.listed) == (4, {}, {"train": 1, "val": 3})  # failed ones are retried


def test_a_bad_source_image_is_recorded_and_a_generator_error_stops_the_run(source):
    Image.new("RGB", (9, 9)).save(source / "VOCdevkit/VOC2010/JPEGImages/2008_000002.jpg")  # .mat masks are 5x4
    done = prepare_pascal_part_sr(source, source / "sr", SMALL, ResizeGenerator(), progress=False)
    assert list(done.failed) == ["2008_000002"] and "but its image is 9x9" in done.failed["2008_000002"]
    assert done.made == 4 and done.listed == {"train": 1, "val": 2}

    class Broken(ResizeGenerator):
        def generate(self, *args):
            raise PartbenchError("weights do not load")

    with pytest.raises(PartbenchError, match="weights do not load"):  # not 10,000 failed images
        prepare_pascal_part_sr(source, source / "sr", SMALL, Broken("mean"), force=True, progress=False)


def test_resume_skips_finished_images_and_redoes_changed_ones(source):
    out = source / "pascal-part-sr"
    first = prepare_pascal_part_sr(source, out, SMALL, ResizeGenerator(), limit=2, progress=False)
    assert (first.made, first.remaining, first.listed) == (2, 2, {"train": 0, "val": 2})
    assert not json.loads((out / "manifest.json").read_text())["complete"]

    class Killed(ResizeGenerator):  # interrupted while making the second image still to do
        calls = 0

        def generate(self, *args):
            Killed.calls += 1
            if Killed.calls == 2:
                raise KeyboardInterrupt
            return super().generate(*args)

    with pytest.raises(KeyboardInterrupt):
        prepare_pascal_part_sr(source, out, SMALL, Killed(), progress=False)
    assert not (out / "manifest.json").exists()  # a folder mid-run reads as incomplete
    with open(out / ROWS, "a") as f:
        f.write('{"id": "2008_000004", "ok": tr')  # a line a kill cut short
    again = prepare_pascal_part_sr(source, out, SMALL, ResizeGenerator(), progress=False)
    assert (again.made, again.kept, again.remaining) == (1, 3, 0)  # 1 and 2, and 3 from the killed run
    before = output_mat(out, "2008_000001").stat().st_mtime_ns
    same = prepare_pascal_part_sr(source, out, SMALL, ResizeGenerator(), progress=False)
    assert (same.made, same.kept) == (0, 4) and output_mat(out, "2008_000001").stat().st_mtime_ns == before

    output_mat(out, "2008_000002").unlink()  # a lost file is made again
    assert prepare_pascal_part_sr(source, out, SMALL, ResizeGenerator(), progress=False).made == 1
    # Another recipe or generator would replace finished images (hours of FLUX): refused, nothing touched, unless
    # --force.
    other = Recipe(scale=2.0, margins=(0.5, 0, 0.5, 0), multiple=4)
    listing = (out / "manifest.json").read_bytes(), (out / ROWS).read_bytes()
    for recipe, generator in ((other, ResizeGenerator()), (SMALL, ResizeGenerator("mean"))):
        with pytest.raises(PartbenchError, match=r"4 image\(s\) there were made with another recipe or generator.*"
                                                 r"--force to replace them"):
            prepare_pascal_part_sr(source, out, recipe, generator, limit=1, progress=False)
        assert ((out / "manifest.json").read_bytes(), (out / ROWS).read_bytes()) == listing
    changed = prepare_pascal_part_sr(source, out, other, ResizeGenerator(), limit=1, force=True, progress=False)
    assert (changed.made, changed.kept, changed.listed) == (1, 0, {"train": 0, "val": 1})  # others: old recipe
    assert prepare_pascal_part_sr(source, out, other, ResizeGenerator("mean"), force=True, progress=False).made == 4
    assert len(read_rows(out / ROWS)) == 4 and len((out / ROWS).read_text().splitlines()) == 4  # compacted
    outputs = {i: r["outputs"] for i, r in read_rows(out / ROWS).items()}
    forced = prepare_pascal_part_sr(source, out, other, ResizeGenerator("mean"), force=True, progress=False)
    assert forced.made == 4 and {i: r["outputs"] for i, r in read_rows(out / ROWS).items()} == outputs  # same bytes


# -- the CLI -----------------------------------------------------------------------------------------------------------

def test_cli_end_to_end_with_the_resize_generator(source):
    result = invoke("data", "prepare", "pascal-part-sr", "--source", source, "--data-root", source,
                    "--generator", "resize", "--scale", "2", "--margin", "0.25", "-g", "fill=mean")
    assert result.exit_code == 0, result.output
    assert "val: 3 images" in result.output and "made 4" in result.output
    assert json.loads((source / "pascal-part-sr/manifest.json").read_text())["image_generator"]["fill"] == "mean"
    again = invoke("data", "prepare", "pascal-part-sr", "--source", source, "--data-root", source,
                   "--generator", "resize", "--scale", "2", "--margin", "0.25", "-g", "fill=mean")
    assert "made 0, kept 4" in again.output
    assert invoke("data", "verify", "pascal-part-sr", "--data-root", source).exit_code == 0


@pytest.mark.parametrize("how", ["failed", "limit"])
def test_an_unfinished_preparation_is_incomplete_data(source, how):
    """Images that failed their check, or were left out by --limit, make the prepared folder incomplete: `run` refuses
    it (naming the manifest and what is missing) unless --allow-incomplete-data, which records complete: false, and
    `data verify` reports it. (The folder itself is consistent: only the manifest knows.)"""
    extra = ["--min-psnr", "99"] if how == "failed" else ["--limit", "2"]
    prepared = invoke("data", "prepare", "pascal-part-sr", "--source", source, "--data-root", source,
                      "--generator", "resize", "--scale", "2", "--margin", "0.25", *extra)
    assert prepared.exit_code == (1 if how == "failed" else 0), prepared.output
    manifest = source / "pascal-part-sr" / "manifest.json"
    run = ["run", "-m", "random", "-s", "pascal-part-sr", "--data-root", source, "--output", "runs", "--bootstrap", "0"]
    refused = invoke(*run)
    assert refused.exit_code != 0 and "incomplete" in refused.output and "Traceback" not in refused.output
    flat = " ".join(refused.output.split())
    assert "manifest.json" in flat
    assert ("3 failed their checks" in flat if how == "failed" else "limited to --limit 2 of 4 source images" in flat)
    allowed = invoke(*run, "--allow-incomplete-data")
    assert allowed.exit_code == 0, allowed.output
    (results,) = (source.parent / "runs").rglob("results.json")  # the tests run in tmp_path, source's parent
    data = json.loads(results.read_text())["data"]
    assert data["complete"] is False and any(str(manifest) in p for p in data["problems"])
    verify = invoke("data", "verify", "pascal-part-sr", "--data-root", source)
    assert verify.exit_code != 0 and "the preparation is incomplete" in " ".join(verify.output.split())


def test_a_split_prepared_in_full_is_complete(source):
    """`--split val` made every val image: val is complete though train was not asked for."""
    done = prepare_pascal_part_sr(source, source / "pascal-part-sr", SMALL, ResizeGenerator(), splits=("val",),
                                  progress=False)
    assert done.listed == {"train": 0, "val": 3}
    from partbench.data.completeness import check_completeness

    reader = SR.make_reader(source)
    assert check_completeness(SR, reader, "val").complete
    assert not check_completeness(SR, reader, "train").complete


def test_cli_bad_input_is_a_clear_error(source, tmp_path):
    missing = invoke("data", "prepare", "pascal-part-sr", "--source", tmp_path / "nowhere", "--generator", "resize")
    assert missing.exit_code != 0 and "source folder not found" in missing.output
    assert "Traceback" not in missing.output
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos/a.jpg").write_bytes(b"")
    other = invoke("data", "prepare", "pascal-part-sr", "--source", tmp_path / "photos", "--generator", "resize",
                   "--output", tmp_path / "out")
    assert other.exit_code != 0 and "Annotations_Part" in other.output and "Traceback" not in other.output
    bad = invoke("data", "prepare", "pascal-part-sr", "--source", source, "--generator", "resize", "-g", "colour=red")
    assert bad.exit_code != 0 and "unknown --generator-arg colour" in bad.output
    assert "only" in invoke("data", "prepare", "pascal-part", "--source", source, "--limit", "3").output


def test_flux2_without_weights_names_the_repo_and_where_to_put_it(monkeypatch, tmp_path):
    import huggingface_hub.constants as hc

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(hc, "HF_HUB_CACHE", str(tmp_path / "empty-hf" / "hub"))
    with pytest.raises(PartbenchError, match=r"black-forest-labs/FLUX.2-klein-9B.*huggingface-cli download.*weights="):
        make_generator("flux2")
    with pytest.raises(PartbenchError, match="4B"):
        make_generator("flux2", {"weights": "4B"})
    with pytest.raises(PartbenchError, match="does not exist"):
        make_generator("flux2", {"weights": str(tmp_path / "nowhere")})


def test_flux2_code_path_on_the_tiny_klein(source):
    """The real generator's code (diffusers' Flux2KleinInpaintPipeline, both passes) on the random tiny Klein: the
    canvas comes back at its size and the annotation passes its check (the tiny model's pixels mean nothing, so the
    PSNR check is off)."""
    pytest.importorskip("diffusers")
    out = source / "pascal-part-sr"
    gen = make_generator("flux2", {"preset": "tiny", "steps": "2", "refine": "0.5"})
    done = prepare_pascal_part_sr(source, out, SMALL, gen, splits=("train",), min_psnr=0.0, progress=False)
    assert (done.made, done.failed, done.listed) == (1, {}, {"train": 1, "val": 0})  # val: not made yet
    row = read_rows(out / ROWS)["2008_000004"]
    assert row["generator"]["name"] == "flux2" and row["canvas"] == [12, 12]
