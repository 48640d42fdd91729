"""Task kinds: what a suite asks of a method and how its answers are scored. This catalogue registers the built-in
kinds; each lives in its own module, and a plugin adds one with `partbench.registry.register_task_kind`."""

from partbench.registry import register_task_kind
from partbench.tasks.generation import GenerationTask
from partbench.tasks.part_editing import PartEditingTask
from partbench.tasks.reasoning_seg import PartReasoningTask
from partbench.tasks.segmentation import SegmentationTask

register_task_kind(SegmentationTask())
register_task_kind(GenerationTask())
register_task_kind(PartReasoningTask())
register_task_kind(PartEditingTask())
