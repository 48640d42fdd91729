"""Kept for plugins written against earlier releases: the method types now live in `partbench.api`."""

from partbench.api.types import GenerationMethod, PromptItem, SegmentationMethod, Vocabulary

__all__ = ["GenerationMethod", "PromptItem", "SegmentationMethod", "Vocabulary"]
