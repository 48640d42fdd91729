"""Model building blocks shared by methods and adapters (tiny offline presets of real diffusers/transformers models).

Nothing here is imported by the `partbench` CLI's import path: each module imports torch/diffusers itself.
"""
