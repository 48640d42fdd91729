"""`PartSegScorer.update_many` (one bincount for an image's samples) against `confusion_counts` one sample at a time."""

from __future__ import annotations

import numpy as np
import pytest

from partbench.errors import PartbenchError
from partbench.metrics.confusion import confusion_counts
from partbench.metrics.partseg import ClassSpace, PartSegScorer

C, IGNORE = 7, 255
SPACE = ClassSpace(tuple(f"o's p{i}" for i in range(C)), (False,) * 4 + (True,) * 3, IGNORE)


def _one_by_one(items):
    """What `update` did before: `confusion_counts` per sample, its non-zero cells in row-major order."""
    out = []
    for _, _, pred, target, where, _ in items:
        conf = confusion_counts(pred, target, C, IGNORE, where)
        p, g = np.nonzero(conf)
        out.append(np.stack([p, g, conf[p, g]], axis=1).astype(np.int32))
    return out


def _items(rng, dtypes):
    items = []
    for k, dtype in enumerate(dtypes):
        h, w = 5 + k, 9 - k
        target = rng.integers(0, C, (h, w))
        target[rng.random((h, w)) < 0.4] = IGNORE  # unlabelled pixels
        pred = rng.integers(0, C, (h, w))
        pred[rng.random((h, w)) < 0.2] = IGNORE  # "no prediction"
        items.append((k, f"s{k}", pred.astype(dtype), target.astype(np.uint8 if k % 2 else np.int64), f"w{k}", "o"))
    return items


@pytest.mark.parametrize("dtypes", [[np.uint8] * 3, [np.uint16, np.int64, np.int32], [np.int64], [np.uint8, np.int16]])
def test_update_many_gives_update_s_rows(dtypes):
    rng = np.random.default_rng(len(dtypes))
    items = _items(rng, dtypes)
    many, single = PartSegScorer(SPACE), PartSegScorer(SPACE)
    rows = many.update_many(items)
    for item, expected, row in zip(items, _one_by_one(items), rows):
        assert row.entries.dtype == np.int32 and row.entries.tolist() == expected.tolist()
        assert (row.index, row.sample_id, row.object_class) == (item[0], item[1], item[5])
        single.update(*item[:4], where=item[4], object_class=item[5])
    assert np.array_equal(many.conf, single.conf) and len(many.samples) == len(items)


def test_a_sample_without_labelled_pixels_has_no_entries_and_its_neighbours_keep_theirs():
    rng = np.random.default_rng(3)
    items = _items(rng, [np.uint8] * 3)
    items[1] = (1, "s1", items[1][2], np.full(items[1][3].shape, IGNORE, np.uint8), "w1", "o")
    rows = PartSegScorer(SPACE).update_many(items)
    assert rows[1].entries.shape == (0, 3)
    assert [r.entries.tolist() for r in rows] == [e.tolist() for e in _one_by_one(items)]


@pytest.mark.parametrize(("dtype", "bad"), [(np.uint8, C), (np.uint8, 254), (np.uint16, 300), (np.int64, C),
                                            (np.int64, -1), (np.int16, -3)])
def test_the_first_bad_sample_raises_confusion_counts_own_message(dtype, bad):
    rng = np.random.default_rng(5)
    items = _items(rng, [dtype] * 3)
    for k in (1, 2):  # two bad samples: the first one in order is named
        pred, target = items[k][2].copy(), items[k][3]
        pred[np.argwhere(target != IGNORE)[0][0], np.argwhere(target != IGNORE)[0][1]] = bad
        items[k] = (*items[k][:2], pred, *items[k][3:])
    with pytest.raises(PartbenchError) as expected:
        confusion_counts(items[1][2], items[1][3], C, IGNORE, items[1][4])
    with pytest.raises(PartbenchError) as got:
        PartSegScorer(SPACE).update_many(items)
    assert str(got.value) == str(expected.value) and "w1:" in str(got.value)


def test_a_size_mismatch_names_its_sample():
    items = _items(np.random.default_rng(7), [np.uint8] * 2)
    items[1] = (1, "s1", items[1][2][:, :-1], items[1][3], "w1", "o")
    with pytest.raises(PartbenchError) as expected:
        confusion_counts(items[1][2], items[1][3], C, IGNORE, "w1")
    with pytest.raises(PartbenchError) as got:
        PartSegScorer(SPACE).update_many(items)
    assert str(got.value) == str(expected.value)


def test_an_out_of_range_ground_truth_is_refused_instead_of_counted_in_another_sample():
    items = _items(np.random.default_rng(9), [np.uint8] * 2)
    target = items[0][3].copy()
    target[0, 0] = C + 3
    items[0] = (0, "s0", items[0][2], target, "w0", "o")
    with pytest.raises(PartbenchError, match=r"w0: ground-truth label 10 is out of range \(7 classes\)"):
        PartSegScorer(SPACE).update_many(items)


def test_sixteen_bit_ignore():
    """A suite whose ignore value is 65535 (ADE): 16-bit maps go through the look-up table with it."""
    space = ClassSpace(SPACE.classes, SPACE.unseen, 65535)
    rng = np.random.default_rng(11)
    target = rng.integers(0, C, (6, 6)).astype(np.uint16)
    target[0] = 65535
    pred = rng.integers(0, C, (6, 6)).astype(np.uint16)
    pred[:, 0] = 65535
    conf = confusion_counts(pred, target, C, 65535)
    p, g = np.nonzero(conf)
    row = PartSegScorer(space).update_many([(0, "s", pred, target, "w", None)])[0]
    assert row.entries.tolist() == np.stack([p, g, conf[p, g]], axis=1).tolist()
    assert conf[C].sum() == 5  # the "no prediction" row: column 0 below the ignored first row
