"""Camera (lens) models: projection of camera-frame rays to pixels and back.

Convention
----------
* Camera frame: x right, y down, z forward (OpenCV). Rays are (..., 3) arrays, any length.
* Pixels: (..., 2) arrays ``(u, v)``, origin top-left, integer values at pixel centres
  (OpenCV's convention, and what ``cv2.remap`` samples).
* ``principal_offset_px`` (..., 2) shifts the principal point (OIS lens shift) and
  ``focal_scale`` (...) scales both focal lengths (focus breathing), per point, so every
  row of a rolling-shutter frame can carry its own lens state.
* Models: ``"pinhole"`` (no distortion), ``"opencv_fisheye"`` (k1..k4 on the angle theta,
  OpenCV's ``cv2.fisheye``) and ``"opencv_standard"`` (k1, k2, p1, p2[, k3[, k4, k5, k6]],
  OpenCV's ``cv2.projectPoints``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

__all__ = ["CameraModel", "MODELS"]

MODELS = ("pinhole", "opencv_fisheye", "opencv_standard")


@dataclass(frozen=True)
class CameraModel:
    """Intrinsics and distortion of a camera at a given frame size.

    Attributes
    ----------
    width_px, height_px : frame size the intrinsics refer to.
    fx_px, fy_px, cx_px, cy_px : focal lengths and principal point [px].
    model : one of :data:`MODELS`.
    coeffs : distortion coefficients of ``model`` (empty for pinhole).
    readout_s : rolling-shutter frame readout time [s], top row to bottom row; negative when
        the rows are read bottom to top (row ``y`` is read at ``t + readout_s * y / H`` either
        way); ``None`` when unknown.
    name : human-readable origin (profile name).
    pixel_aspect : width / height of one pixel in the scene (1 = square pixels; 4/3 for a
        1440x1080 HDV frame shown 1920 wide; an anamorphic lens profile's horizontal /
        vertical stretch). The output keeps it: its focal lengths are ``f / sqrt(a)`` across
        and ``f * sqrt(a)`` down, so a squeezed source gives an output squeezed the same way.
    """

    width_px: int
    height_px: int
    fx_px: float
    fy_px: float
    cx_px: float
    cy_px: float
    model: str = "pinhole"
    coeffs: tuple[float, ...] = field(default_factory=tuple)
    readout_s: float | None = None
    name: str = ""
    pixel_aspect: float = 1.0

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"unknown lens model {self.model!r}; expected one of {MODELS}")
        if not (math.isfinite(self.pixel_aspect) and 0.1 <= self.pixel_aspect <= 10.0):
            raise ValueError(f"pixel aspect must be in [0.1, 10], got {self.pixel_aspect}")

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_fov(cls, width_px: int, height_px: int, hfov_deg: float, *, pixel_aspect: float = 1.0,
                 **kw) -> "CameraModel":
        """Pinhole camera with horizontal field of view ``hfov_deg`` and centred principal point;
        pixels ``pixel_aspect`` times as wide as they are tall (``fy = fx * pixel_aspect``)."""
        if not 1.0 < hfov_deg < 179.0:
            raise ValueError(f"horizontal FOV must be in (1, 179) degrees, got {hfov_deg}")
        f = (width_px / 2.0) / math.tan(math.radians(hfov_deg) / 2.0)
        return cls(width_px, height_px, f, f * pixel_aspect, (width_px - 1) / 2.0, (height_px - 1) / 2.0,
                   pixel_aspect=pixel_aspect, **kw)

    @property
    def K(self) -> np.ndarray:
        """(3, 3) intrinsic matrix."""
        return np.array([[self.fx_px, 0.0, self.cx_px], [0.0, self.fy_px, self.cy_px], [0.0, 0.0, 1.0]])

    def scaled(self, width_px: int, height_px: int) -> "CameraModel":
        """The same lens at another resolution of the same aspect ratio (K scaled per axis)."""
        sx = width_px / self.width_px
        sy = height_px / self.height_px
        return replace(
            self,
            width_px=int(width_px),
            height_px=int(height_px),
            fx_px=self.fx_px * sx,
            fy_px=self.fy_px * sy,
            cx_px=(self.cx_px + 0.5) * sx - 0.5,
            cy_px=(self.cy_px + 0.5) * sy - 0.5,
        )

    def hfov_deg(self) -> float:
        """Horizontal field of view through the centre row [deg]."""
        left = self.unproject(np.array([[0.0, self.cy_px]]))[0]
        right = self.unproject(np.array([[self.width_px - 1.0, self.cy_px]]))[0]
        a = math.atan2(left[0], left[2])
        b = math.atan2(right[0], right[2])
        return math.degrees(b - a)

    # ------------------------------------------------------------------ projection
    def _k(self, focal_scale, principal_offset_px):
        fx, fy, cx, cy = self.fx_px, self.fy_px, self.cx_px, self.cy_px
        if focal_scale is not None:
            s = np.asarray(focal_scale, dtype=np.float64)
            fx, fy = fx * s, fy * s
        if principal_offset_px is not None:
            o = np.asarray(principal_offset_px, dtype=np.float64)
            cx, cy = cx + o[..., 0], cy + o[..., 1]
        return fx, fy, cx, cy

    def project(self, rays: np.ndarray, *, principal_offset_px=None, focal_scale=None) -> np.ndarray:
        """Project camera-frame rays (..., 3) to pixels (..., 2).

        Rays the lens cannot image (behind the camera, or beyond the distortion polynomial's
        monotonic range) give NaN.
        """
        rays = np.asarray(rays, dtype=np.float64)
        x, y, z = rays[..., 0], rays[..., 1], rays[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            if self.model == "opencv_fisheye":
                r = np.hypot(x, y)
                theta = np.arctan2(r, z)
                k1, k2, k3, k4 = (tuple(self.coeffs) + (0.0,) * 4)[:4]
                t2 = theta * theta
                theta_d = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4))))
                scale = np.where(r > 1e-12, theta_d / np.maximum(r, 1e-300), 1.0 / np.where(z > 0, z, np.nan))
                xd, yd = x * scale, y * scale
                bad = theta > self._fisheye_theta_max()
            else:
                a = x / z
                b = y / z
                bad = z <= 1e-9
                if self.model == "opencv_standard":
                    xd, yd = self._standard_distort(a, b)
                    bad = bad | (a * a + b * b > self._standard_r2_max())
                else:
                    xd, yd = a, b
        fx, fy, cx, cy = self._k(focal_scale, principal_offset_px)
        u = fx * xd + cx
        v = fy * yd + cy
        out = np.stack([u, v], axis=-1)
        out[bad] = np.nan
        return out

    def unproject(self, pixels: np.ndarray, *, principal_offset_px=None, focal_scale=None) -> np.ndarray:
        """Pixels (..., 2) to camera-frame rays (..., 3) (unit length for fisheye, z = 1 otherwise)."""
        px = np.asarray(pixels, dtype=np.float64)
        fx, fy, cx, cy = self._k(focal_scale, principal_offset_px)
        xd = (px[..., 0] - cx) / fx
        yd = (px[..., 1] - cy) / fy
        if self.model == "opencv_fisheye":
            theta_d = np.hypot(xd, yd)
            theta = self._fisheye_solve_theta(theta_d)
            with np.errstate(divide="ignore", invalid="ignore"):
                s = np.where(theta_d > 1e-12, np.sin(theta) / np.maximum(theta_d, 1e-300), 1.0)
            return np.stack([xd * s, yd * s, np.cos(theta)], axis=-1)
        if self.model == "opencv_standard":
            xd, yd = self._standard_undistort(xd, yd)
        return np.stack([xd, yd, np.ones_like(xd)], axis=-1)

    # ------------------------------------------------------------------ fisheye helpers
    def _fisheye_theta_max(self) -> float:
        """Largest angle up to which theta_d(theta) is increasing (and <= 179 deg)."""
        cached = self.__dict__.get("_theta_max_cache")
        if cached is not None:
            return cached
        k1, k2, k3, k4 = (tuple(self.coeffs) + (0.0,) * 4)[:4]
        th = np.linspace(0.0, math.radians(179.0), 4000)
        t2 = th * th
        d = 1 + 3 * k1 * t2 + 5 * k2 * t2**2 + 7 * k3 * t2**3 + 9 * k4 * t2**4
        nonpos = np.nonzero(d <= 0)[0]
        tmax = float(th[nonpos[0] - 1]) if len(nonpos) else float(th[-1])
        object.__setattr__(self, "_theta_max_cache", tmax)
        return tmax

    def _fisheye_solve_theta(self, theta_d: np.ndarray) -> np.ndarray:
        k1, k2, k3, k4 = (tuple(self.coeffs) + (0.0,) * 4)[:4]
        tmax = self._fisheye_theta_max()
        theta = np.clip(theta_d.copy(), 0.0, tmax)
        for _ in range(12):
            t2 = theta * theta
            f = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
            df = 1 + 3 * k1 * t2 + 5 * k2 * t2**2 + 7 * k3 * t2**3 + 9 * k4 * t2**4
            theta = np.clip(theta - f / np.where(np.abs(df) > 1e-9, df, 1e-9), 0.0, tmax)
        t2 = theta * theta
        resid = theta * (1 + t2 * (k1 + t2 * (k2 + t2 * (k3 + t2 * k4)))) - theta_d
        return np.where(np.abs(resid) < 1e-6, theta, np.nan)

    # ------------------------------------------------------------------ Brown-Conrady helpers
    def _standard_coeffs(self):
        c = (tuple(self.coeffs) + (0.0,) * 8)[:8]
        return c  # k1, k2, p1, p2, k3, k4, k5, k6

    def _standard_distort(self, a, b):
        k1, k2, p1, p2, k3, k4, k5, k6 = self._standard_coeffs()
        r2 = a * a + b * b
        radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        xd = a * radial + 2 * p1 * a * b + p2 * (r2 + 2 * a * a)
        yd = b * radial + p1 * (r2 + 2 * b * b) + 2 * p2 * a * b
        return xd, yd

    def _standard_r2_max(self) -> float:
        """Largest r^2 up to which the radial distortion keeps the image radius increasing."""
        cached = self.__dict__.get("_r2_max_cache")
        if cached is not None:
            return cached
        k1, k2, _, _, k3, k4, k5, k6 = self._standard_coeffs()
        r = np.linspace(0.0, 4.0, 4000)
        r2 = r * r
        rd = r * (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
        dec = np.nonzero(np.diff(rd) <= 0)[0]
        rmax = float(r[dec[0]]) if len(dec) else float(r[-1])
        object.__setattr__(self, "_r2_max_cache", rmax * rmax)
        return rmax * rmax

    def _standard_undistort(self, xd, yd):
        a, b = xd.copy(), yd.copy()
        k1, k2, p1, p2, k3, k4, k5, k6 = self._standard_coeffs()
        for _ in range(20):
            r2 = a * a + b * b
            radial = (1 + r2 * (k1 + r2 * (k2 + r2 * k3))) / (1 + r2 * (k4 + r2 * (k5 + r2 * k6)))
            dx = 2 * p1 * a * b + p2 * (r2 + 2 * a * a)
            dy = p1 * (r2 + 2 * b * b) + 2 * p2 * a * b
            a = (xd - dx) / radial
            b = (yd - dy) / radial
        return a, b
