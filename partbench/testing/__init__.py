"""Reference implementations that partbench's tests and benchmarks check partbench against.

Nothing here is used by partbench itself. `ovparts_reference` is an independent re-statement of the official OV-PARTS
evaluator: the parity tests (tests/run/test_parity.py) compare `partbench run` / `partbench score` with it, and
benchmarks/score_speed.py times it as the baseline. To stay independent it imports no partbench code (only numpy and
PIL), so a bug in partbench's metrics cannot hide in both.
"""
