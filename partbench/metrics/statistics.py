"""Bootstrap confidence intervals that resample *samples* (images or image-object pairs), never pixels.

Pixels of one image are strongly correlated, so resampling them would give intervals far too narrow. Each replicate
draws N samples with replacement (multinomial counts), sums their per-sample count vectors, and recomputes the
metric from the sums, exactly as the headline number is computed from the full sums.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import scipy.sparse as sp

DEFAULT_REPLICATES = 1000
DEFAULT_SEED = 0


def bootstrap_sums(per_sample: sp.csr_matrix, n_replicates: int = DEFAULT_REPLICATES, seed: int = DEFAULT_SEED,
                   chunk: int = 100):
    """Yield (k, K) arrays: column sums of `per_sample` (N, K) under k multinomial resamplings at a time.

    Memory is O(chunk·(N + K)) whatever the number of replicates; `per_sample` stays sparse.
    """
    n = per_sample.shape[0]
    rng = np.random.default_rng(seed)
    xt = per_sample.T.tocsr()
    done = 0
    while done < n_replicates:
        k = min(chunk, n_replicates - done)
        weights = rng.multinomial(n, np.full(n, 1.0 / n), size=k).astype(np.float64)  # (k, N)
        yield np.asarray((xt @ weights.T).T)
        done += k


def percentile_interval(values: np.ndarray, level: float = 0.95) -> tuple[float, float] | None:
    """The central `level` percentile interval of the finite replicate values; None if there are none."""
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return None
    lo, hi = np.percentile(finite, [50 * (1 - level), 50 * (1 + level)])
    return float(lo), float(hi)


def bootstrap_intervals(per_sample: sp.csr_matrix, statistic: Callable[[np.ndarray], dict[str, np.ndarray]],
                        n_replicates: int = DEFAULT_REPLICATES, seed: int = DEFAULT_SEED,
                        level: float = 0.95) -> dict[str, tuple[float, float] | None]:
    """95 % percentile intervals of every metric `statistic` returns, computed from summed count vectors."""
    if per_sample.shape[0] == 0:
        return {}
    collected: dict[str, list[np.ndarray]] = {}
    for sums in bootstrap_sums(per_sample, n_replicates, seed):
        for name, values in statistic(sums).items():
            collected.setdefault(name, []).append(np.asarray(values, dtype=np.float64))
    return {name: percentile_interval(np.concatenate(parts), level) for name, parts in collected.items()}


def paired_bootstrap_differences(per_sample_a: sp.csr_matrix, per_sample_b: sp.csr_matrix,
                                 statistic: Callable[[np.ndarray], dict[str, np.ndarray]],
                                 n_replicates: int = DEFAULT_REPLICATES, seed: int = DEFAULT_SEED,
                                 level: float = 0.95) -> dict[str, dict[str, float | list[float] | None]]:
    """Paired bootstrap of `statistic(B) - statistic(A)` over the same N samples (rows aligned).

    Each replicate resamples the samples once and recomputes both runs' metrics from those same samples, so what the
    two runs share (hard images, easy images) cancels; that is why two methods can differ significantly while their
    separate intervals overlap. Per metric: `difference` (on the full sums), `ci95` (percentile interval of the
    replicate differences) and `p_value` (two-sided: twice the smaller share of replicates on either side of 0,
    at most 1).
    """
    if per_sample_a.shape != per_sample_b.shape:
        raise ValueError(f"paired runs need the same samples: {per_sample_a.shape} vs {per_sample_b.shape}")
    width = per_sample_a.shape[1]
    both = sp.hstack([per_sample_a, per_sample_b]).tocsr()
    full = np.asarray(both.sum(axis=0)).ravel()
    point = {k: float(statistic(full[width:])[k] - v) for k, v in statistic(full[:width]).items()}
    collected: dict[str, list[np.ndarray]] = {}
    for sums in bootstrap_sums(both, n_replicates, seed):
        a, b = statistic(sums[:, :width]), statistic(sums[:, width:])
        for name in a:
            collected.setdefault(name, []).append(np.asarray(b[name] - a[name], dtype=np.float64))
    out: dict[str, dict[str, float | list[float] | None]] = {}
    for name, parts in collected.items():
        diffs = np.concatenate(parts)
        finite = diffs[np.isfinite(diffs)]
        interval = percentile_interval(finite, level)
        p = None if finite.size == 0 else float(min(1.0, 2 * min(np.mean(finite <= 0), np.mean(finite >= 0))))
        out[name] = {"difference": point[name], "ci95": None if interval is None else list(interval), "p_value": p}
    return out
