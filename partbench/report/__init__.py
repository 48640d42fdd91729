"""Static reports and figures of finished runs: `partbench report` (HTML, `build`), `partbench show` and
`partbench figure` (`panels`). One part colour map per suite (`palette`) is shared by every picture, overlays are
drawn by `overlay`, plots by `plots` (matplotlib, Agg). Everything written is deterministic: the same runs give the
same bytes.
"""
