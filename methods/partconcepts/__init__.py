"""PartConcepts (Agrawal et al.): part phrases become single PartConcept tokens whose mmDiT attention maps are decoded
into part masks, and which steer part-level generation. See docs/partconcepts.md.

Modules, one job each: `prompts` (marked-prompt parsing), `encoder` (PartConcept encoder + token replacement),
`capture` (per-layer attention capture), `decoder` (multi-scale mask decoder), `model` (wiring), `presets`
(base models), `checkpoint` (safetensors io), `data` (training/inference crops), `losses`, `train`, `method`
(the partbench method class), `generate`. Heavy imports stay inside those modules.
"""
