"""A declared argument's range is named as the user can read it: both bounds, or the one there is."""

from __future__ import annotations

import pytest

from partbench.api.method import Param
from partbench.errors import PartbenchError


@pytest.mark.parametrize(("param", "text", "said"), [
    (Param("resolution", int, min=8), "0", "must be at least 8, got '0'"),
    (Param("strength", float, max=1.0), "2", "must be at most 1.0, got '2'"),
    (Param("grid", int, min=1, max=256), "300", "must lie in [1, 256], got '300'"),
])
def test_out_of_range_messages(param, text, said):
    with pytest.raises(PartbenchError) as e:
        param.check("m", text)
    assert said in str(e.value)
    assert "[8, ]" not in str(e.value)


def test_in_range_values_pass():
    assert Param("resolution", int, min=8).check("m", "8") == 8
