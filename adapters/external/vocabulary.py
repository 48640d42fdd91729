"""Which part classes an oracle-object method may predict: the exact rule and PartCATSeg's leaky substring rule."""

from __future__ import annotations

from partbench.adapters.params import VOCABULARY_RULES as RULES
from partbench.errors import PartbenchError
from partbench.suites import object_of


def allowed_ids(classes: tuple[str, ...] | list[str], object_class: str, rule: str = "exact") -> list[int]:
    """Class ids admitted for a sample whose ground-truth object is `object_class`.

    `exact` (OV-PARTS/PartCLIPSeg, partbench's default): the text before `'s` equals the object name.
    `substring` (OV-PARTS CATSeg and PartCATSeg, `partcatseg.py` L344-356): every class whose *name contains* the
    object name, so on ADE20K-Part-234 `door` also admits "cabinet's door" and `chair` admits "armchair's ...".
    Offered only to reproduce published PartCATSeg numbers.
    """
    if rule == "exact":
        return [i for i, c in enumerate(classes) if object_of(c) == object_class]
    if rule == "substring":
        return [i for i, c in enumerate(classes) if object_class in c]
    raise PartbenchError(f"vocabulary must be one of {', '.join(RULES)}, got {rule!r}.")
