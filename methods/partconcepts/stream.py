"""Streaming training data: samples are read and cropped on the fly in DataLoader workers, targets travel as uint8
part label maps (expanded into per-part masks per batch, on the device), mirroring is an augmentation of each entry,
and the frozen VAE's latents are computed once into a file on disk (or per batch). Host memory therefore does not
grow with the dataset: what is held is the list of sample references, a few batches in flight and, with
`latent_stats=calibrate`, the latents of at most CALIBRATION_CAP crops.

Entries: the training samples in the reader's order, then (with mirroring) the same samples mirrored: entry i < n is
sample i, entry n + i its mirror image; the order the pre-streaming trainer kept its crops in, so plans
(`partbench.methods.partconcepts.plans`) draw the same entries.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from partbench.errors import PartbenchError
from partbench.methods.partconcepts.data import labelled_crop
from partbench.methods.partconcepts.plans import EntryInfo, Plan
from partbench.suites import part_of

# Latent normalisation is measured on at most this many crops (evenly spaced over the entries; all of them when there
# are fewer): enough for a per-channel mean and variance, and a bounded amount of memory however large the data.
CALIBRATION_CAP = 1024


class TrainingIndex(Sequence):
    """The entries that train, as `EntryInfo`s, known without decoding any image."""

    def __init__(self, refs: list, parts_by_class: dict[str, tuple[str, ...]], mirror: bool):
        self.refs, self.parts_by_class, self.mirror = refs, parts_by_class, mirror

    def __len__(self) -> int:
        return len(self.refs) * (2 if self.mirror else 1)

    def ref(self, entry: int) -> tuple[Any, bool]:
        """(sample reference, mirrored?) of an entry."""
        n = len(self.refs)
        return self.refs[entry % n], entry >= n

    def __getitem__(self, entry: int) -> EntryInfo:  # type: ignore[override]
        ref, flipped = self.ref(entry)
        cls = ref.object_class or ""
        return EntryInfo(ref.id, cls, self.parts_by_class[cls], flipped)


class _LabelCheck(Dataset):
    """Whether a sample has any labelled pixel (`Sample.has_labels`): only its annotation is read."""

    def __init__(self, reader, refs: list):
        self.reader, self.refs = reader, refs

    def __len__(self) -> int:
        return len(self.refs)

    def __getitem__(self, i: int) -> bool:
        return bool(self.reader.load(self.refs[i]).has_labels)


def build_index(suite, reader, refs: list, mirror: bool, workers: int, seed: int) -> TrainingIndex:
    """The training entries of `refs`: samples whose object has parts and whose annotation labels some pixel (an
    empty one would only teach empty masks). The labels are checked in `workers` processes, one sample at a time."""
    from partbench.console import progress_bar

    parts = {}
    for ref in refs:
        cls = ref.object_class or ""
        if cls not in parts:
            parts[cls] = tuple(part_of(suite.classes[i]) for i in suite.part_ids_of(ref.object_class))
    candidates = [r for r in refs if parts[r.object_class or ""]]
    keep = []
    with progress_bar(transient=True) as bar:
        task = bar.add_task(f"partconcepts: indexing {suite.name}", total=len(candidates), note="")
        for flags in _loader(_LabelCheck(reader, candidates), _chunks(range(len(candidates)), 64), workers, seed,
                             collate_fn=list):
            keep += flags
            bar.advance(task, len(flags))
    return TrainingIndex([r for r, ok in zip(candidates, keep) if ok], parts, mirror)


class CropDataset(Dataset):
    """Reads and crops one entry (a `Plan` or an entry number): image (3, R, R), part labels (R, R) uint8, valid
    pixels (R, R) bool."""

    def __init__(self, index: TrainingIndex, reader, suite, resolution: int, margin: float, crop: str):
        self.index, self.reader, self.suite = index, reader, suite
        self.resolution, self.margin, self.crop = resolution, margin, crop

    def __len__(self) -> int:
        return len(self.index)

    def __getitem__(self, item: Plan | int) -> dict[str, Any]:
        entry = item.entry if isinstance(item, Plan) else item
        ref, flipped = self.index.ref(entry)
        crop, labels = labelled_crop(self.reader.load(ref), self.suite, self.resolution, self.margin, self.crop,
                                     flipped)
        return {"image": crop.image, "labels": labels, "valid": crop.valid, "plan": item}


@dataclass
class TrainBatch:
    images: torch.Tensor  # (B, 3, R, R)
    labels: torch.Tensor  # (B, R, R) uint8 part labels
    valid: torch.Tensor  # (B, R, R) bool
    select: torch.Tensor  # (B, C) long: per concept, its part's label (-1: padding)
    prompts: list[str]
    entries: list[int]

    def pin_memory(self) -> TrainBatch:
        """Page-locked copies (the DataLoader calls this with `pin_memory=True`): faster copies to the GPU."""
        return TrainBatch(self.images.pin_memory(), self.labels.pin_memory(), self.valid.pin_memory(),
                          self.select.pin_memory(), self.prompts, self.entries)


def collate(items: list[dict[str, Any]]) -> TrainBatch:
    plans = [it["plan"] for it in items]
    select = torch.full((len(plans), max(len(p.select) for p in plans)), -1, dtype=torch.long)
    for b, p in enumerate(plans):
        select[b, :len(p.select)] = torch.tensor(p.select, dtype=torch.long)
    return TrainBatch(torch.stack([it["image"] for it in items]), torch.stack([it["labels"] for it in items]),
                      torch.stack([it["valid"] for it in items]), select, [p.prompt for p in plans],
                      [p.entry for p in plans])


def _images(items: list[dict[str, Any]]) -> torch.Tensor:
    return torch.stack([it["image"] for it in items])


def _chunks(items: Iterable[int], size: int) -> list[list[int]]:
    items = list(items)
    return [items[i:i + size] for i in range(0, len(items), size)]


def _loader(dataset: Dataset, batches: Iterable, workers: int, seed: int, collate_fn: Callable = collate,
            pin: bool = False) -> DataLoader:
    # The loader's own generator: an iterator otherwise draws its workers' base seed from torch's global generator,
    # which would shift the noise and sigma draws of training (nothing in the workers is random anyway).
    return DataLoader(dataset, batch_sampler=batches, num_workers=workers, collate_fn=collate_fn,
                      generator=torch.Generator().manual_seed(seed), pin_memory=pin,
                      prefetch_factor=2 if workers else None)


def batch_loader(dataset: CropDataset, plans: Iterable[list[Plan]], workers: int, seed: int,
                 pin: bool = False) -> DataLoader:
    """Micro-batches of `plans`, read ahead by `workers` processes (at most 2 batches each), in order."""
    return _loader(dataset, plans, workers, seed, pin=pin)


def calibration_entries(n: int, cap: int = CALIBRATION_CAP) -> list[int]:
    """Up to `cap` entries evenly spaced over `n` (all of them when n <= cap)."""
    if n <= cap:
        return list(range(n))
    return sorted({round(i * (n - 1) / (cap - 1)) for i in range(cap)})


class LatentCache:
    """Raw (un-normalised) patchified VAE latents per entry, in a file (`path`), or none (`path=None`: the trainer
    encodes each batch). Raw latents are stored because the normalisation may be measured from them; rows are read
    with `os.pread`, so nothing is mapped into the process."""

    def __init__(self, path: Path | None):
        self.path = Path(path) if path is not None else None
        self.shape: tuple[int, ...] | None = None
        self.dtype: torch.dtype | None = None
        self._fd: int | None = None

    def build(self, core, dataset: CropDataset, device, workers: int, seed: int,
              calibrate: bool) -> torch.Tensor | None:
        """Encode every entry into the file (when there is one), in batches of 32 in entry order; returns the raw
        latents of `calibration_entries` when `calibrate` (else None). Without a file and without calibration it
        does nothing."""
        wanted = calibration_entries(len(dataset)) if calibrate else []
        entries = list(range(len(dataset))) if self.path is not None else wanted
        if not entries:
            return None
        slot = {e: i for i, e in enumerate(wanted)}
        kept: torch.Tensor | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        from partbench.console import progress_bar

        chunks = _chunks(entries, 32)
        with progress_bar(transient=True) as bar:
            task = bar.add_task("partconcepts: encoding latents", total=len(entries), note="")
            for chunk, images in zip(chunks, _loader(dataset, chunks, workers, seed, collate_fn=_images)):
                with torch.no_grad():
                    raw = core._patchified_latents(images.to(device))
                if self.path is not None:
                    self._write(chunk, raw)
                rows = [(j, slot[e]) for j, e in enumerate(chunk) if e in slot]
                if rows:
                    # One buffer allocated up front: small per-batch pieces kept between the batches' large
                    # transient buffers would fragment the heap, and the process would grow with the batch count.
                    if kept is None:
                        kept = torch.empty((len(wanted), *raw.shape[1:]), dtype=raw.dtype, device=raw.device)
                    src, dst = zip(*rows)
                    kept[list(dst)] = raw[list(src)]
                bar.advance(task, len(chunk))
        return kept

    def _row_bytes(self) -> int:
        return int(torch.Size(self.shape).numel()) * torch.empty((), dtype=self.dtype).element_size()

    def _write(self, entries: list[int], raw: torch.Tensor) -> None:
        if self.shape is None:
            self.shape, self.dtype = tuple(raw.shape[1:]), raw.dtype
        data = raw.detach().cpu().contiguous().view(torch.uint8).numpy().tobytes()
        size = self._row_bytes()
        for j, e in enumerate(entries):
            os.pwrite(self._fd, data[j * size:(j + 1) * size], e * size)

    def read(self, entries: Sequence[int]) -> torch.Tensor:
        """Raw latents (B, ...) of `entries`."""
        if self._fd is None:
            raise PartbenchError("PartConcepts: the latent cache was not built.")
        size = self._row_bytes()
        buf = bytearray(b"".join(os.pread(self._fd, size, e * size) for e in entries))
        if len(buf) != size * len(entries):
            raise PartbenchError(f"PartConcepts latent cache {self.path}: truncated (was it deleted during "
                                 "training?).")
        return torch.frombuffer(buf, dtype=torch.uint8).view(self.dtype).view(len(entries), *self.shape)

    def close(self, remove: bool = True) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        if remove and self.path is not None:
            self.path.unlink(missing_ok=True)
