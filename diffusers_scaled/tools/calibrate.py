"""Calibration: the `scaling_factor` (and `shift_factor`, per-channel statistics, preview map) a VAE needs.

Latents are streamed through the VAE batch by batch; only running float64 moments are kept, so memory does not grow
with the number of images. Under `accelerate launch` the batches are spread over the processes and the partial results
merged in batch order, so the result is bitwise that of a single process.

Video clips (`num_frames`): each clip is encoded whole, in its family's format (`VaeCodec(vae, clips=True)`), and the
statistics are taken over every latent frame of every clip. Images given to a video VAE are encoded as one-frame
videos.
"""

from __future__ import annotations

import functools
import itertools
import json
import math
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field

import torch

from .. import atomic, checks
from ..scaling import LatentScaling
from ..vae_codec import IDENTITY, VaeCodec, vae_latent_channels
from . import _clips, _data, _distributed, _encoding
from ._assets import vae_identity
from ._stats import RunningMoments, RunningScalar
from .preview import CALIBRATION_FILE, LatentPreview, PreviewFit


__all__ = ["CalibrationResult", "calibrate"]


@dataclass
class CalibrationResult:
    r"""
    Statistics of a VAE's raw latents over a set of images, and the scaling they call for.

    Attributes:
        scaling_factor (`float`): `1 / std` of all latent values (all channels together), the SD convention.
        shift_factor (`float`): the mean of all latent values (used when calibrating with a shift, SD3/Flux style).
        mean (`float`), std (`float`): mean and population standard deviation of all latent values.
        channel_mean (`list[float]`), channel_std (`list[float]`): the same per latent channel.
        scaling_factor_ci95 (`tuple[float, float]` or `None`): an approximate 95% confidence interval of
            `scaling_factor`, from the spread of the per-batch variances (batches treated as independent draws);
            `None` when the images filled a single batch, which gives no spread.
        stability (`list[tuple[int, float]]`): `(images seen, scaling_factor so far)` after 1, 2, 4, 8, ... batches.
        num_images (`int`), num_values (`int`): how much data the statistics come from.
        sample_mode (`str`): `"sample"` (posterior samples) or `"argmax"` (posterior mode).
        resolution (`int` or `None`): the square size images were resized and cropped to (`None`: own size).
        config_scaling (`dict`): the scaling in the VAE config at calibration time (for clips: the family's
            statistics, as `VaeCodec.describe_scaling` records them), and `std_after_config_scaling` the std of the
            latents it produces (what the denoiser would have seen; `None` without a config scaling).
        preview (`dict` or `None`): the fitted latent -> RGB map (see `LatentPreview`), on raw latents.
        vae (`dict`): the VAE's class, name and weights hash.
        num_frames (`int` or `None`), frame_stride (`int` or `None`): for video clips, the frames taken from each
            (`num_images` then counts clips).
    """

    scaling_factor: float
    shift_factor: float
    mean: float
    std: float
    channel_mean: list[float]
    channel_std: list[float]
    scaling_factor_ci95: tuple[float, float] | None
    stability: list[tuple[int, float]]
    num_images: int
    num_values: int
    sample_mode: str
    resolution: int | None
    config_scaling: dict
    std_after_config_scaling: float | None
    preview: dict | None = None
    vae: dict = field(default_factory=dict)
    num_frames: int | None = None
    frame_stride: int | None = None

    def to_dict(self) -> dict:
        return asdict(self)

    def scaling(self, shift: bool = False) -> LatentScaling:
        """The calibrated scaling: `scaling_factor` alone (SD style) or with `shift_factor` (SD3/Flux style)."""
        return LatentScaling(self.scaling_factor, shift_factor=self.shift_factor if shift else None)

    def latent_preview(self, shift: bool = False, scaling=None) -> LatentPreview:
        """The fitted preview map, for latents scaled with `scaling` (a family's statistics, e.g. a pipeline's
        `latent_scaling`) or, by default, with the calibrated scaling (`shift` as in `scaling`)."""
        if self.preview is None:
            raise ValueError("This calibration fitted no preview map (`fit_preview=False`).")
        return LatentPreview.from_dict(self.preview, self.scaling(shift) if scaling is None else scaling)

    def summary(self) -> str:
        if self.scaling_factor_ci95 is None:
            interval = (
                "no 95% CI: it needs at least two batches, and the images filled one (use more images or a smaller "
                "batch size)"
            )
        else:
            interval = "95% CI {:.5f} .. {:.5f}".format(*self.scaling_factor_ci95)
        after = "n/a" if self.std_after_config_scaling is None else f"{self.std_after_config_scaling:.5f}"
        lines = [
            f"images: {self.num_images}  latent values: {self.num_values}  sample_mode: {self.sample_mode}",
            f"raw latents: mean {self.mean:.5f}  std {self.std:.5f}",
            f"scaling_factor = 1/std = {self.scaling_factor:.5f}  ({interval})",
            f"shift_factor (mean) = {self.shift_factor:.5f}",
            "per channel mean: " + " ".join(f"{v:.4f}" for v in self.channel_mean),
            "per channel std:  " + " ".join(f"{v:.4f}" for v in self.channel_std),
            f"std of latents with the config's scaling {self.config_scaling}: {after}; "
            f"with the calibrated factor: {self.std * self.scaling_factor:.5f}",
            "stability (images: factor): " + ", ".join(f"{n}: {f:.5f}" for n, f in self.stability),
        ]
        return "\n".join(lines)

    def to_json(self) -> str:
        """The statistics as JSON text (strict JSON: values that are not known are `null`, never `NaN`)."""
        return json.dumps(self.to_dict(), indent=2, allow_nan=False)

    def save(self, path: str | os.PathLike) -> None:
        """Writes the statistics as JSON (atomically)."""
        atomic.write_text(path, self.to_json() + "\n")

    def write_to_vae(
        self,
        vae: torch.nn.Module,
        save_directory: str | os.PathLike,
        shift: bool = False,
        per_channel: bool | None = None,
    ) -> dict[str, float | list[float]]:
        """
        Saves the VAE with `save_pretrained` and the calibrated statistics in the form its family reads them, with the
        statistics next to it as `calibration.json`, then sets the same values on `vae`:

        - `scaling_factor` (and `shift_factor` when `shift`) in its config: the SD-style families;
        - with `per_channel`, the per-channel `channel_mean` / `channel_std` where the VAE keeps per-channel
          statistics: registered buffers `vae.latents_mean` / `vae.latents_std` (LTX-Video) or the config keys
          `latents_mean` / `latents_std` (Wan, Qwen-Image, Mochi); its `scaling_factor`, if any, is left as it is.
          Defaults to whether the VAE has such statistics already (buffers, or non-null config keys).

        No other config key changes, apart from diffusers' own bookkeeping: `_diffusers_version` is the installed
        version, and `_name_or_path` (where the VAE was loaded from, which `save_pretrained` would record as a local
        path) is left out.

        All-or-nothing: the files are written to a temporary folder beside `save_directory` and moved in only when all
        of them are complete (an existing folder keeps its other files; files of the same names are replaced). If any
        step fails, `save_directory` and the VAE's config and buffers are as they were and no temporary file is left.

        Returns:
            `dict[str, float | list[float]]`: what was written, by config key or buffer name (`scaling_factor`, or
            `latents_mean` / `latents_std`).
        """
        form = _per_channel_form(vae) if per_channel is None or per_channel else None
        if per_channel and form is None:
            raise ValueError(
                f"`per_channel=True` needs a VAE that keeps per-channel statistics (`latents_mean`/`latents_std` "
                f"buffers or config keys); the {type(vae).__name__} has none."
            )
        if form is None:
            updates = {"scaling_factor": self.scaling_factor}
            if shift:
                updates["shift_factor"] = self.shift_factor
        else:
            updates = {"latents_mean": list(self.channel_mean), "latents_std": list(self.channel_std)}
        buffers = {}
        if form == "buffers":  # saved with the weights: set before `save_pretrained`, restored if any step fails
            buffers = {name: getattr(vae, name).detach().clone() for name in updates}
            for name, values in updates.items():
                getattr(vae, name).copy_(torch.tensor(values))
        try:
            if _distributed.is_main_process():
                with atomic.transaction() as t:
                    folder = t.folder(save_directory)
                    vae.save_pretrained(folder)
                    config_updates = {} if form == "buffers" else updates
                    _finish_saved_config(os.path.join(folder, "config.json"), config_updates)
                    self.save(os.path.join(folder, CALIBRATION_FILE))
            _distributed.barrier()
        except BaseException:
            for name, values in buffers.items():
                getattr(vae, name).copy_(values)
            raise
        if form != "buffers":
            vae.register_to_config(**updates)
        return updates


def _per_channel_form(vae) -> str | None:
    """Where the VAE keeps per-channel latent statistics: `"buffers"` (LTX-Video), `"config"` (Wan, Qwen-Image, Mochi,
    Playground-style SDXL VAEs) or `None`."""
    if isinstance(getattr(vae, "latents_mean", None), torch.Tensor) and isinstance(
        getattr(vae, "latents_std", None), torch.Tensor
    ):
        return "buffers"
    config = vae.config
    if getattr(config, "latents_mean", None) is not None and getattr(config, "latents_std", None) is not None:
        return "config"
    return None


def _finish_saved_config(config_path: str, updates: dict) -> None:
    """The config `save_pretrained` wrote, with `updates` and without `_name_or_path`, in `save_pretrained`'s format."""
    with open(config_path, encoding="utf-8") as f:
        config = json.load(f)
    config.pop("_name_or_path", None)
    config.update(updates)
    atomic.write_text(config_path, json.dumps(config, indent=2, sort_keys=True) + "\n")


def _config_scaling(vae, clips: bool = False) -> tuple[object | None, dict]:
    """The scaling the VAE's config (or buffers) hold now and its record, or `(None, {})` where it holds none: a
    `LatentScaling`, or for clips the family's statistics (see `VaeCodec.describe_scaling`)."""
    try:
        if clips:
            codec = VaeCodec(vae, clips=True)
            return codec.latent_scaling, codec.describe_scaling()
        scaling = LatentScaling.from_config(vae.config)
        return scaling, scaling.to_dict()
    except ValueError:
        return None, {}


def calibrate(
    vae: torch.nn.Module | str | os.PathLike | None,
    images,
    batch_size: int = 8,
    resolution: int | None = 256,
    sample_mode: str = "sample",
    seed: int = 0,
    max_images: int | None = None,
    fit_preview: bool = True,
    preview_images: int = 64,
    progress: bool = True,
    num_workers: int = 2,
    compile: bool | dict = False,
    skip_bad_images: bool = False,
    num_frames: int | None = None,
    frame_stride: int = 1,
) -> CalibrationResult:
    r"""
    Streams images through a VAE and computes the statistics of its raw latents and the scaling they call for.

    Args:
        vae (`torch.nn.Module`, `str` or `None`):
            The VAE, a folder or hub id to load it from (a pipeline's `vae` subfolder works too), or `None` for the
            small VAE that ships with this package.
        images:
            A folder of images (read recursively, in sorted order), one image file, or any iterable or
            `torch.utils.data.Dataset` of PIL images, arrays/tensors in [0, 1], paths, `{"image": ...}` dicts or
            `(image, label)` tuples.
        batch_size (`int`, *optional*, defaults to 8): images per `vae.encode` call.
        resolution (`int`, *optional*, defaults to 256):
            Images are resized (shorter side) and centre-cropped to this square size, as training pipelines do; it
            must be a multiple of the VAE's scale factor (a `ValueError` says the nearest ones). `None` keeps every image's own size (rounded down to a multiple of the VAE's scale factor; encoded one by
            one).
        sample_mode (`str`, *optional*, defaults to `"sample"`):
            `"sample"` uses posterior samples (what training and img2img see), `"argmax"` the posterior mode.
        seed (`int`, *optional*, defaults to 0): seeds the posterior samples; each batch has its own generator.
        max_images (`int`, *optional*): stop after this many images.
        fit_preview (`bool`, *optional*, defaults to `True`):
            Also fit the linear latent -> RGB preview map (see `preview_latents`); this decodes the first
            `preview_images` images.
        progress (`bool`, *optional*, defaults to `True`): show a tqdm progress bar (on the main process).
        num_workers (`int`, *optional*, defaults to 2): threads that read (decode, resize) the next batch's images
            while the current batch encodes; 0 reads them in the calling thread. The result is the same either way.
        compile (`bool` or `dict`, *optional*, defaults to `False`): run the VAE's encoder through `torch.compile`,
            one graph per batch shape: worth it for large datasets on a GPU; compiled kernels agree with eager ones to
            rounding, not bitwise. A dict holds arguments for `ScaledLatentsMixin.enable_vae_compile` (for example
            `{"mode": "max-autotune"}`).
        skip_bad_images (`bool`, *optional*, defaults to `False`): leave out image files that cannot be read (each
            is logged to the `diffusers_scaled.tools` logger) instead of raising a `ValueError` that names the file.
            The statistics are those of the images read.
        num_frames (`int`, *optional*): calibrate from video clips of this many frames instead of images: `images`
            is then a folder of video files and/or frame folders (one per clip), a video file, or a list of clips
            (each a list of frames), as for `encode_to_cache`; `vae` a video VAE (Wan, LTX-Video, HunyuanVideo,
            CogVideoX, Mochi) and `num_frames - 1` a multiple of its temporal compression. Each clip is encoded whole
            (`batch_size` clips per call) and the statistics are taken over all its latent frames. The preview map
            pairs latent frame `k` with decoded frame `k * temporal_compression` (the last frame it covers).
        frame_stride (`int`, *optional*, defaults to 1): with `num_frames`, take every `frame_stride`-th frame.

    Returns:
        [`CalibrationResult`]

    Examples:

    ```py
    >>> from diffusers_scaled.tools import calibrate

    >>> result = calibrate("path/to/my_vae", "path/to/images", sample_mode="sample")
    >>> print(result.summary())
    >>> result.write_to_vae(vae, "path/to/my_vae_calibrated")
    ```
    """
    _encoding.check_encoding_arguments(sample_mode, batch_size, resolution, num_workers)
    checks.check_positive_int("max_images", max_images, allow_none=True)
    clips = num_frames is not None
    read = None
    if clips:
        checks.check_positive_int("num_frames", num_frames)
        checks.check_positive_int("frame_stride", frame_stride)
        items = _clips.as_clips(images)
        read = functools.partial(_read_clip, num_frames=num_frames, frame_stride=frame_stride, resolution=resolution)
    else:
        if frame_stride != 1:
            raise ValueError(f"`frame_stride` is for video clips and needs `num_frames`; got {frame_stride!r}.")
        items = _data.as_items(images)
    vae, codec = _encoding.load_codec(vae, IDENTITY, compile, clips=clips)
    if clips:
        _clips.check_num_frames(num_frames, codec.vae_scale_factor_temporal, vae)
    _encoding.check_resolution(resolution, vae)
    total = _data.num_items(items)
    if max_images is not None:
        items = itertools.islice(_data.iterate(items), max_images)
        total = None if total is None else min(total, max_images)

    rank, world_size = _distributed.world()
    layout = _PayloadLayout(vae_latent_channels(vae), fit_preview)
    merged = _MergedStatistics(layout)
    bars = _encoding.progress_bar(total, "calibrate", progress and rank == 0)
    with bars as bar, _encoding.BatchLoader(resolution, num_workers, skip_bad_images, read) as loader:
        unit = 0  # the index of this round's first batch
        for _, batch in loader.map(_batches_of_this_process(_data.chunks(items, batch_size), rank, world_size)):
            payload = layout.empty()
            if batch.images:  # (none: not this process's round, or every image of the batch skipped)
                first_index = (unit + rank) * batch_size
                fit_this_batch = fit_preview and first_index < preview_images
                payload = _encode_batch(
                    codec, layout, batch.images, resolution, sample_mode, seed, first_index, fit_this_batch
                )
            for part in _distributed.gather(payload):  # in process order = batch order
                bar.update(merged.add(part))
            bar.update(len(batch.skipped))
            unit += world_size
    result = merged.result(vae, sample_mode, resolution, clips)
    if clips:
        result.num_frames, result.frame_stride = num_frames, frame_stride
    return result


def _read_clip(item, num_frames: int, frame_stride: int, resolution: int | None) -> list:
    """A clip's frames as `calibrate` encodes them: taken, then each resized and centre-cropped to `resolution`."""
    return [_data.fit(frame, resolution) for frame in _clips.read_clip(item, num_frames, frame_stride).frames]


def _batches_of_this_process(chunks: Iterator[list], rank: int, world_size: int) -> Iterator[list]:
    """This process's batch of each round (batch `unit + r` goes to process `r`), `[]` when it has none. The round
    after the last batch is empty for every process, so that all of them take part in the same number of gathers."""
    while True:
        round_chunks = [next(chunks, None) for _ in range(world_size)]
        yield round_chunks[rank] or []
        if all(c is None for c in round_chunks):
            return


@dataclass(frozen=True)
class _PayloadLayout:
    """What a process sends for one batch: one float64 vector, gathered from every process once per round.

    `[num_images | moments | preview terms]`: `num_images` (0: no batch this round), the batch's `RunningMoments`
    (count, mean and m2 per channel, `3 * channels` values) and, when a preview is fitted, the batch's least-squares
    terms `[X^T X | X^T Y]` (`(channels + 1) * (channels + 4)` values; zeros for batches past `preview_images`).
    """

    channels: int
    preview: bool

    @property
    def moments(self) -> slice:
        return slice(1, 1 + 3 * self.channels)

    @property
    def preview_terms(self) -> slice:
        return slice(self.moments.stop, self.size)

    @property
    def preview_shape(self) -> tuple[int, int]:
        return self.channels + 1, self.channels + 4

    @property
    def size(self) -> int:
        return self.moments.stop + (math.prod(self.preview_shape) if self.preview else 0)

    def empty(self) -> torch.Tensor:
        return torch.zeros(self.size, dtype=torch.float64)


def _encode_batch(
    codec, layout: _PayloadLayout, images, resolution, sample_mode: str, seed: int, first_index: int, fit: bool
) -> torch.Tensor:
    """Step 1, on each process: encode one batch and reduce it to its payload."""
    generator = _encoding.batch_generator(seed, first_index)
    latents = _encoding.encode_images(codec, images, resolution, sample_mode, generator)
    payload = layout.empty()
    payload[0] = len(images)
    payload[layout.moments] = RunningMoments.of_batch(_concat(latents)).to_tensor().flatten()
    if fit:
        terms = 0
        for z in latents if resolution is None else [torch.cat(latents)]:
            with torch.no_grad():
                decoded = codec.decode_latents(z, output_type="pt")
            if getattr(codec, "clips", False):
                z, decoded = _frames_as_images(z, decoded, codec.vae_scale_factor_temporal)
            terms = terms + PreviewFit.batch_terms(z, decoded)
        payload[layout.preview_terms] = terms.flatten()
    return payload


def _frames_as_images(latents: torch.Tensor, decoded: torch.Tensor, temporal: int) -> tuple:
    """Clip latents `(B, C, F', h, w)` and their decoded frames `(B, (F' - 1) * temporal + 1, 3, H, W)` as image pairs
    for the preview fit: latent frame `k` with decoded frame `k * temporal`, the last of the frames it covers (frame 0
    alone for `k = 0`, as the causal video VAEs encode it)."""
    frames = decoded[:, ::temporal]
    batch, channels, count = latents.shape[:3]
    if frames.shape[1] != count:
        raise ValueError(f"{count} latent frames decode to {decoded.shape[1]} frames, not (F' - 1) * {temporal} + 1.")
    images = latents.permute(0, 2, 1, 3, 4).reshape(batch * count, channels, *latents.shape[3:])
    return images, frames.reshape(batch * count, *frames.shape[2:])


class _MergedStatistics:
    """Step 2, on every process alike: the batches' payloads merged in batch order; step 3, `result`."""

    def __init__(self, layout: _PayloadLayout):
        self.layout = layout
        self.moments = RunningMoments.empty(layout.channels)
        self.batch_variance = RunningScalar()
        self.fit = PreviewFit(layout.channels) if layout.preview else None
        self.stability = []
        self.num_images = self.num_batches = 0

    def add(self, payload: torch.Tensor) -> int:
        """Merges one batch's payload; returns its number of images (0 for a process that had no batch)."""
        if payload[0] == 0:
            return 0
        batch = RunningMoments.from_tensor(payload[self.layout.moments].view(3, self.layout.channels))
        self.moments = self.moments.merge(batch)
        self.batch_variance.update(batch.pooled()[1] ** 2)
        if self.fit:
            self.fit.add(payload[self.layout.preview_terms].view(self.layout.preview_shape))
        self.num_images += int(payload[0])
        self.num_batches += 1
        if self.num_batches & (self.num_batches - 1) == 0:
            self.stability.append((self.num_images, 1.0 / self.moments.pooled()[1]))
        return int(payload[0])

    def result(self, vae, sample_mode: str, resolution: int | None, clips: bool = False) -> CalibrationResult:
        if self.num_images == 0:
            raise ValueError("`images` holds no images.")
        stability = list(self.stability)
        if stability[-1][0] != self.num_images:
            stability.append((self.num_images, 1.0 / self.moments.pooled()[1]))
        mean, std = self.moments.pooled()
        if std == 0:
            raise ValueError("All latent values are equal (std 0): the scaling factor is undefined.")
        factor = 1.0 / std
        config_scaling, record = _config_scaling(vae, clips)
        preview = None
        if self.fit:
            weight, bias = self.fit.solve()
            preview = {"weight": [list(w) for w in weight], "bias": list(bias)}
        return CalibrationResult(
            scaling_factor=factor,
            shift_factor=mean,
            mean=mean,
            std=std,
            channel_mean=self.moments.mean.tolist(),
            channel_std=self.moments.channel_std().tolist(),
            scaling_factor_ci95=self._factor_ci95(factor),
            stability=stability,
            num_images=self.num_images,
            num_values=self.moments.num_values,
            sample_mode=sample_mode,
            resolution=resolution,
            config_scaling=record,
            std_after_config_scaling=self._std_after(config_scaling),
            preview=preview,
            vae=vae_identity(vae),
        )

    def _factor_ci95(self, factor: float) -> tuple[float, float] | None:
        if self.batch_variance.count <= 1:
            return None  # one batch: no spread to estimate it from
        # delta method: factor = var^-1/2, se(var) from the spread of the batch variances
        variances = self.batch_variance
        se = 0.5 * factor * (variances.std / math.sqrt(variances.count)) / variances.mean
        return factor - 1.96 * se, factor + 1.96 * se

    def _std_after(self, config_scaling: LatentScaling | None) -> float | None:
        """The std of the latents with the config's scaling applied. It is affine per channel, z -> a * z + b: the
        scaled moments follow from the raw ones."""
        if config_scaling is None:
            return None
        channels = self.layout.channels
        zeros = torch.zeros(1, channels, 1, 1, 1, dtype=torch.float64)  # 5-D: the video statistics take it too
        b = config_scaling.scale(zeros).flatten()
        a = config_scaling.scale(zeros + 1).flatten() - b
        return RunningMoments(self.moments.count, a * self.moments.mean + b, a**2 * self.moments.m2).pooled()[1]


def _concat(latents: list[torch.Tensor]) -> torch.Tensor:
    """Per-image latents, possibly of different sizes, as one `(1 or B, C, N, 1)` tensor for the statistics."""
    if len({tuple(t.shape) for t in latents}) == 1:
        return torch.cat(latents)
    return torch.cat([t.reshape(t.shape[1], -1) for t in latents], dim=1)[None, :, :, None]
