"""Cheap previews: latents -> RGB through a linear map, without running the VAE.

ComfyUI and AUTOMATIC1111 hard-code such a map ("latent RGB factors") for a few famous VAEs. Here calibration fits it
for any VAE by least squares, from raw latents to the decoded image average-pooled to the latent resolution, and
stores it with the statistics (`calibration.json`).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch

from ..checks import check_output_type
from ..scaling import LatentScaling
from ._assets import read_json


__all__ = ["CALIBRATION_FILE", "LatentPreview", "preview_latents"]


CALIBRATION_FILE = "calibration.json"


@dataclass(frozen=True)
class LatentPreview:
    r"""
    A linear map from raw VAE latents to RGB in [0, 1]: `rgb = weight @ latent + bias` at every latent pixel.

    Args:
        weight (`tuple[tuple[float, ...], ...]`): 3 rows (R, G, B) of one coefficient per latent channel.
        bias (`tuple[float, float, float]`): the constant term per colour.
        scaling (`LatentScaling`, or a latent format's statistics): the scaling of the latents it is applied to (the
            VAE's, when it was fitted); for a family whose numbers live elsewhere than `LatentScaling` (Wan, LTX-Video,
            Flux.2, ...), the pipeline's `latent_scaling` (anything with `unscale(latents) -> raw latents`).
    """

    weight: tuple[tuple[float, ...], ...]
    bias: tuple[float, float, float]
    scaling: LatentScaling

    @property
    def num_channels(self) -> int:
        return len(self.weight[0])

    def to_dict(self) -> dict:
        return {"weight": [list(row) for row in self.weight], "bias": list(self.bias)}

    @classmethod
    def from_dict(cls, data: dict, scaling: LatentScaling) -> "LatentPreview":
        return cls(
            weight=tuple(tuple(float(v) for v in row) for row in data["weight"]),
            bias=tuple(float(v) for v in data["bias"]),
            scaling=scaling,
        )

    @classmethod
    def from_pretrained(cls, vae_folder: str | os.PathLike, scaling=None) -> "LatentPreview":
        """The preview stored by calibration in a VAE folder, for latents scaled with `scaling` (by default the
        `LatentScaling` of that folder's `config.json`; pass a pipeline's `latent_scaling` for the other families)."""
        path = os.path.join(vae_folder, CALIBRATION_FILE)
        calibration = read_json(
            path, f"`{vae_folder}` has no `{CALIBRATION_FILE}`; run `diffusers-scaled calibrate --write` on it first."
        )
        if not calibration.get("preview"):
            raise ValueError(f"`{path}` holds no preview map (calibrated with `fit_preview=False`).")
        if scaling is None:
            with open(os.path.join(vae_folder, "config.json"), encoding="utf-8") as f:
                scaling = LatentScaling.from_config(json.load(f))
        return cls.from_dict(calibration["preview"], scaling)


def preview_latents(latents: torch.Tensor, preview: LatentPreview, output_type: str = "pil"):
    r"""
    Turns scaled latents (what the denoiser sees, e.g. in a step-end callback) into small RGB images without the VAE.

    The images have one pixel per latent pixel (1/8 of the final size for SD): enough for a progress preview. Video
    latents give one preview frame per latent frame, in the form of a video pipeline's `.frames`.

    Args:
        latents (`torch.Tensor`): scaled latents of shape `(batch, channels, height, width)`, or `(batch, channels,
            frames, height, width)` for video families. Packed latents (Flux, Qwen-Image, LTX-Video) are unpacked
            first: `pipe.latent_format.unpack(pipe, latents, height, width, num_frames)`.
        preview (`LatentPreview`): the map, for example `LatentPreview.from_pretrained(vae_folder)` (with
            `scaling=pipe.latent_scaling` for the families whose statistics are not a `LatentScaling`).
        output_type (`str`, *optional*, defaults to `"pil"`): `"pil"`, `"np"` (`(batch, h, w, 3)` float32 in [0, 1])
            or `"pt"` (`(batch, 3, h, w)` in [0, 1]); for video latents `(batch, frames, h, w, 3)`, `(batch, frames,
            3, h, w)` and a list (batch) of lists (frames) of PIL images.

    Returns:
        The previews in the form `output_type` names.

    Examples:

    ```py
    >>> from diffusers_scaled.tools import LatentPreview, default_vae_path, preview_latents

    >>> preview = LatentPreview.from_pretrained(default_vae_path())
    >>> images = preview_latents(latents, preview)  # list of PIL images
    ```
    """
    check_output_type(output_type)
    if not isinstance(latents, torch.Tensor) or latents.ndim not in (4, 5):
        raise ValueError(
            "`latents` must be a tensor of shape (batch, channels, height, width) or (batch, channels, frames, height, "
            f"width); got {tuple(latents.shape) if isinstance(latents, torch.Tensor) else type(latents).__name__}."
        )
    if latents.shape[1] != preview.num_channels:
        raise ValueError(
            f"`latents` has {latents.shape[1]} channels but the preview map was fitted for {preview.num_channels}."
        )
    raw = preview.scaling.unscale(latents.detach().float())
    weight = torch.tensor(preview.weight, dtype=torch.float32, device=raw.device)
    bias = torch.tensor(preview.bias, dtype=torch.float32, device=raw.device)
    rgb = torch.einsum("oc,bc...->bo...", weight, raw) + bias.view(1, 3, *[1] * (raw.ndim - 2))
    rgb = rgb.clamp(0, 1)
    if rgb.ndim == 5:  # (batch, 3, frames, h, w) -> (batch, frames, 3, h, w), a video pipeline's `.frames` order
        rgb = rgb.permute(0, 2, 1, 3, 4)
    if output_type == "pt":
        return rgb
    array = rgb.movedim(-3, -1).cpu().numpy()
    if output_type == "np":
        return array
    if array.ndim == 5:
        return [[PIL.Image.fromarray((f * 255).round().astype(np.uint8)) for f in video] for video in array]
    return [PIL.Image.fromarray((a * 255).round().astype(np.uint8)) for a in array]


class PreviewFit:
    """Least-squares accumulator (normal equations in float64): constant memory, merged by addition."""

    def __init__(self, num_channels: int):
        self.xtx = torch.zeros(num_channels + 1, num_channels + 1, dtype=torch.float64)
        self.xty = torch.zeros(num_channels + 1, 3, dtype=torch.float64)

    @staticmethod
    def batch_terms(raw_latents: torch.Tensor, decoded: torch.Tensor) -> torch.Tensor:
        """`(C + 1, C + 4)` float64: [X^T X | X^T Y] of one batch. `decoded` is `(B, 3, H, W)` in [0, 1]; a 5-D VAE's
        latents of images fed as one frame, `(B, C, 1, h, w)`, are taken as `(B, C, h, w)`."""
        if raw_latents.ndim == 5 and raw_latents.shape[2] == 1:
            raw_latents = raw_latents[:, :, 0]
        factor = decoded.shape[-1] // raw_latents.shape[-1]
        target = torch.nn.functional.avg_pool2d(decoded.float(), factor) if factor > 1 else decoded.float()
        x = raw_latents.detach().to("cpu", torch.float64).permute(0, 2, 3, 1).reshape(-1, raw_latents.shape[1])
        x = torch.cat([x, torch.ones(x.shape[0], 1, dtype=torch.float64)], dim=1)
        y = target.detach().to("cpu", torch.float64).permute(0, 2, 3, 1).reshape(-1, 3)
        return torch.cat([x.T @ x, x.T @ y], dim=1)

    def add(self, terms: torch.Tensor) -> None:
        n = self.xtx.shape[0]
        self.xtx += terms[:, :n]
        self.xty += terms[:, n:]

    def solve(self) -> tuple[tuple[tuple[float, ...], ...], tuple[float, float, float]]:
        """The least-squares map. Solved in plain Python (Gauss-Jordan, partial pivoting) rather than LAPACK, whose
        result can change in the last bits with the number of BLAS threads: the same sums give the same map."""
        a = self.xtx.tolist()
        b = self.xty.tolist()
        n = len(a)
        ridge = 1e-12 * max(sum(a[i][i] for i in range(n)) / n, 1e-300)  # keeps a constant channel solvable
        rows = [a[i][:] + b[i][:] for i in range(n)]
        for i in range(n):
            rows[i][i] += ridge
        for col in range(n):
            pivot = max(range(col, n), key=lambda r: abs(rows[r][col]))
            rows[col], rows[pivot] = rows[pivot], rows[col]
            head = rows[col][col]
            rows[col] = [v / head for v in rows[col]]
            for r in range(n):
                if r != col and rows[r][col] != 0.0:
                    factor = rows[r][col]
                    rows[r] = [v - factor * p for v, p in zip(rows[r], rows[col])]
        solution = [row[n:] for row in rows]  # (C + 1) x 3
        weight = tuple(tuple(solution[c][o] for c in range(n - 1)) for o in range(3))
        return weight, tuple(solution[n - 1])
