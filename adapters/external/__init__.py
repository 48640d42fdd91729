"""Adapters for research codebases that cannot share partbench's environment (PartCATSeg, LangHOPS): an importer
for their saved predictions and a runner that drives them in the user's own environment (`methods.py`), through a
worker script partbench ships (`worker.py`, standard library + numpy + PIL only)."""

from .methods import LangHOPS, PartCATSeg, langhops_status, partcatseg_status

__all__ = ["PartCATSeg", "LangHOPS", "partcatseg_status", "langhops_status"]
