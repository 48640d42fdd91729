"""Datasets: readers (one per file format), the demo generator, download / prepare / verify.

This catalogue registers the built-in readers by the name a suite YAML gives as `reader`; a reader is imported only
when a suite that uses it is read.
"""

from partbench.registry import register_reader

register_reader("ovparts-semantic", "partbench.data.ovparts:OVPartsSemanticReader")
register_reader("ade20k-part", "partbench.data.ade20k:ADE20KPartReader")
register_reader("partimagenet", "partbench.data.partimagenet:PartImageNetReader")
register_reader("pascal-part-mat", "partbench.data.pascal_part:PascalPartReader")
register_reader("partonomy-qa", "partbench.data.partonomy:PartonomyReader")
register_reader("part-edit", "partbench.data.part_edit:PartEditReader")
