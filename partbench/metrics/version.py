"""The version of how part-segmentation metrics and their intervals are computed from per-sample counts.

Bump it whenever a convention's numbers or their intervals change for the same samples: results files record it
(`convention_version`) and `partbench table` marks a results file of another version stale, so that no table mixes
old and new numbers. It lives apart from `conventions` so that reading results files needs no numpy.

- 1 (no `convention_version` in results): percentile bootstrap, samples resampled freely, each replicate averaging
  over its own classes.
- 2: samples resampled within object classes, replicates scored over the full set's classes.
- 3: h-IoU is undefined (null) when seen and unseen mIoU are both 0, as in OV-PARTS' and PartCATSeg's evaluators;
  under `partcatseg` the all-class mIoU is the plain mean over classes with ground truth or prediction (PartCATSeg
  filters IoU > 0 for the seen and unseen subsets only).
- 4: object classes with a single sample are pooled into one stratum (a lone sample had no variability).
"""

CONVENTION_VERSION = 4
