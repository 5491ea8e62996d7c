"""Stage 2A: Gaussian smoothing of the camera orientation in the tangent space.

``V_i = R_i @ Exp( sum_k w_k Log(R_i^T R_{i+k}) / sum_k w_k )`` with
``w_k = exp(-(t_{i+k} - t_i)^2 / (2 sigma^2))`` over ``|t_{i+k} - t_i| <= 3 sigma``.
Weights use the frames' real times, so variable frame rates are handled. At the ends of
the clip the motion is continued by odd reflection about the end frame (a steady pan stays
a steady pan up to the last frame instead of easing out).

``lookahead_frames`` bounds the future the filter may see (the online mode's queue): with
a lookahead that covers the kernel the result equals the offline one.
"""

from __future__ import annotations

import numpy as np

from ..rotation import exp_so3, log_so3

__all__ = ["gaussian_smooth_orientations"]


#: relative rotations evaluated per vectorized step of :func:`gaussian_smooth_orientations`
_BATCH_ROTATIONS = 65_536


def gaussian_smooth_orientations(
    R_world_cam: np.ndarray,
    times_s: np.ndarray,
    sigma_s: float,
    *,
    lookahead_frames: int | None = None,
    first_out: int = 0,
) -> np.ndarray:
    """Smooth a sequence of orientations.

    Parameters
    ----------
    R_world_cam : (N, 3, 3) real camera orientations at the frames' centre-row times.
    times_s : (N,) those times [s], increasing.
    sigma_s : Gaussian sigma [s]; 0 returns the input.
    lookahead_frames : at most this many future frames are used (None: unbounded).
    first_out : smooth only frames ``first_out`` to ``N - 1`` (each from the same neighbours as
        when all are smoothed): the online filter needs the frames from the one leaving onward.

    Returns
    -------
    (N - first_out, 3, 3) ``R_world_virt``: the virtual (smooth) camera.
    """
    R_all = np.asarray(R_world_cam, dtype=np.float64)
    t_all = np.asarray(times_s, dtype=np.float64)
    n = len(R_all)
    i0 = int(first_out)
    if not 0 <= i0 <= n:
        raise ValueError(f"first_out must be in [0, {n}], got {first_out}")
    if sigma_s <= 0 or n < 2:
        return R_all[i0:].copy()
    R, t = R_all, t_all
    period = float(np.median(np.diff(t)))
    K = max(1, int(np.ceil(3.0 * sigma_s / period - 1e-6)))  # tolerant to period rounding
    # Odd reflection at both ends, in the tangent space of the end frame.
    pad = min(K, n - 1)
    head = R[0] @ exp_so3(-log_so3(np.einsum("ji,njk->nik", R[0], R[1 : pad + 1])))[::-1]
    tail = R[-1] @ exp_so3(-log_so3(np.einsum("ji,njk->nik", R[-1], R[-pad - 1 : -1])))[::-1]
    t_head = 2 * t[0] - t[1 : pad + 1][::-1]
    t_tail = 2 * t[-1] - t[-pad - 1 : -1][::-1]
    Rp = np.concatenate([head, R, tail])
    tp = np.concatenate([t_head, t, t_tail])
    R, t = R_all[i0:], t_all[i0:]  # the frames smoothed; their neighbours come from Rp
    m = n - i0
    acc = np.zeros((m, 3))
    wsum = np.zeros(m)
    idx = np.arange(i0, n) + pad
    max_future = K if lookahead_frames is None else min(K, int(lookahead_frames))
    offsets = np.arange(-K, max_future + 1)
    # several offsets per step (one log_so3 call over a (block, n) batch: the per-call overhead
    # of a short clip's loop was most of the cost), at most _BATCH_ROTATIONS rotations at once
    block = max(1, _BATCH_ROTATIONS // max(m, 1))
    for lo in range(0, len(offsets), block):
        k = offsets[lo : lo + block]
        j = idx[None, :] + k[:, None]  # (b, n)
        valid = (j >= 0) & (j < len(Rp))
        jj = np.clip(j, 0, len(Rp) - 1)
        dt = tp[jj] - t[None, :]
        w = np.where(valid, np.exp(-0.5 * (dt / sigma_s) ** 2), 0.0)
        wsum += w.sum(axis=0)
        w = np.where(k[:, None] == 0, 0.0, w)  # the frame itself: weight, no rotation
        rel = log_so3(np.einsum("nji,bnjk->bnik", R, Rp[jj]))
        acc += np.einsum("bn,bni->ni", w, rel)
    return R @ exp_so3(acc / wsum[:, None])
