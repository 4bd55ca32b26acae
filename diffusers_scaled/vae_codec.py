"""`VaeCodec`: the mixin's `encode_latents` / `decode_latents` on a bare VAE, with no pipeline around it.

The tools (calibration, latent cache, CLI) use it so that they run exactly the library's code path: a `VaeCodec` has the
encode/decode and compile mixins of the pipelines, with a `vae` and an `image_processor` given directly instead of
being pipeline components. It has no pipeline machinery: no saving, no registration.
"""

from __future__ import annotations

import dataclasses
import json
import math

import torch
from diffusers.image_processor import VaeImageProcessor

from ._compile import VaeCompileMixin
from ._latents_codec import LatentsCodecMixin
from .formats import LatentFormat, formats_for_vae
from .formats.sd_video import SDVideoFormat
from .formats.video import ONE_FRAME, VIDEO, VideoFormat
from .scaling import LatentScaling


__all__ = [
    "IDENTITY",
    "VaeCodec",
    "clip_format",
    "is_video_vae",
    "vae_latent_channels",
    "vae_scale_factor",
    "vae_temporal_factor",
]


#: Multiplying by 1.0 is exact, so this scaling makes `encode_latents` return the VAE's raw latents bitwise.
IDENTITY = LatentScaling(scaling_factor=1.0)


def vae_scale_factor(vae: torch.nn.Module) -> int:
    """The VAE's spatial down-sampling factor, computed as the diffusers pipelines compute it: the video VAEs' own
    ratio (`spatial_compression_ratio`, or `scale_factor_spatial` in the config as Wan's and Qwen-Image's), else
    `2 ** (len(block_out_channels) - 1)`."""
    for ratio in (getattr(vae, "spatial_compression_ratio", None), getattr(vae.config, "scale_factor_spatial", None)):
        if isinstance(ratio, int):
            return ratio
    block_out_channels = getattr(vae.config, "block_out_channels", None)
    if not block_out_channels:
        raise ValueError(
            f"Cannot tell the spatial scale factor of a {type(vae).__name__}: its config has no `block_out_channels`. "
            "Pass `vae_scale_factor=` explicitly."
        )
    return 2 ** (len(block_out_channels) - 1)


def vae_temporal_factor(vae: torch.nn.Module) -> int:
    """A video VAE's temporal compression, as its pipelines read it: `vae.temporal_compression_ratio` (LTX,
    HunyuanVideo, Mochi), `scale_factor_temporal` (Wan) or `temporal_compression_ratio` (CogVideoX) in the config, or
    the product of Mochi's `temporal_expansions`. A clip of `num_frames` frames gives `(num_frames - 1) // factor + 1`
    latent frames; the VAEs encode `1 + factor * k` frames exactly (the rest are dropped)."""
    config = vae.config
    for ratio in (
        vars(vae).get("temporal_compression_ratio"),
        getattr(config, "scale_factor_temporal", None),
        getattr(config, "temporal_compression_ratio", None),
    ):
        if isinstance(ratio, int):
            return ratio
    expansions = getattr(config, "temporal_expansions", None)
    if expansions:
        return math.prod(expansions)
    raise ValueError(f"Cannot tell the temporal compression of a {type(vae).__name__}: is it a video VAE?")


def clip_format(vae: torch.nn.Module) -> VideoFormat:
    """
    The format a video VAE's clips are encoded in by the tools (latent cache, calibration): the family's video format
    (the proven pipelines that take this VAE class, the first whose `encode_latents` takes a video: Wan's
    `WanVideoToVideoPipeline`, CogVideoX's `CogVideoXVideoToVideoPipeline`), or for a family whose proven encode path
    takes an image (LTX-Video, HunyuanVideo) the same statistics applied to a whole clip. Always the unpacked
    `(batch, channels, frames, h, w)` layout: the clip goes through `video_processor.preprocess_video`, then
    `vae.encode`, then the family's `scale`.

    Raises:
        `ValueError`: if no proven video pipeline takes the VAE's class.
    """
    # not the image VAEs that video pipelines run frame by frame (`SDVideoFormat`)
    formats = formats_for_vae(type(vae))
    found = [fmt for fmt in formats if isinstance(fmt, VideoFormat) and not isinstance(fmt, SDVideoFormat)]
    if not found:
        raise ValueError(
            f"Video clips need a video VAE of a covered family (Wan, LTX-Video, HunyuanVideo, CogVideoX, Mochi); "
            f"a {type(vae).__name__} is none. Encode images instead (leave `num_frames` unset)."
        )
    fmt = next((fmt for fmt in found if fmt.condition == "video"), found[0])
    return VideoFormat(
        name=fmt.name,
        formula=fmt.formula,
        statistics=fmt.statistics,
        statistics_options=fmt.statistics_options,
        layout=VIDEO,
        sample_mode=fmt.sample_mode,
        conditioned_by=fmt.conditioned_by if fmt.condition == "video" else None,
    )


def vae_latent_channels(vae: torch.nn.Module) -> int | None:
    """The VAE's latent channel count: `latent_channels` in its config, or `z_dim` (Wan, Qwen-Image)."""
    config = vae.config
    return getattr(config, "latent_channels", None) or getattr(config, "z_dim", None)


def is_video_vae(vae: torch.nn.Module) -> bool:
    """Whether the VAE works on 5-D `(batch, channels, frames, height, width)` tensors: the families whose pipelines
    take its class say so (video formats, or Qwen-Image's frame axis; not the video pipelines that run an image VAE on
    each frame, `SDVideoFormat`)."""
    return any(
        fmt.frame_axis or (isinstance(fmt, VideoFormat) and not isinstance(fmt, SDVideoFormat))
        for fmt in formats_for_vae(type(vae))
    )


class VaeCodec(VaeCompileMixin, LatentsCodecMixin):
    r"""
    `encode_latents` / `decode_latents` for a bare VAE.

    Args:
        vae (`torch.nn.Module`):
            The VAE (`AutoencoderKL` and the other diffusers autoencoders).
        image_processor (`VaeImageProcessor`, *optional*):
            Pre- and post-processing; by default the one the Stable Diffusion pipelines build for this VAE.
        scaling (`LatentScaling`, *optional*):
            The scaling to apply; by default the one in `vae.config`. Pass `IDENTITY` to get raw latents.

    A float16 VAE whose config sets `force_upcast` computes in float32 (the SDXL rule), as a tool cannot know which
    pipeline the latents are meant for and float32 is the safe choice.

    A 5-D (video) VAE is fed each image as a one-frame video (`formats.video.ONE_FRAME`): its latents come back as
    `(batch, channels, 1, height, width)`, and decoding returns images. With `clips=True` it encodes video clips
    instead, in the family's format (`clip_format`): a clip is a list of frames, a batch a list of clips, the latents
    `(batch, channels, latent_frames, h, w)` scaled with the family's statistics, and decoding returns videos.
    """

    honour_force_upcast = True
    latent_format = LatentFormat(name="VAE", formula="`LatentScaling` from `vae.config`, or the one given")

    def __init__(
        self,
        vae: torch.nn.Module,
        image_processor: VaeImageProcessor | None = None,
        scaling: LatentScaling | None = None,
        clips: bool = False,
    ):
        self.vae = vae
        self.image_processor = image_processor or VaeImageProcessor(vae_scale_factor=vae_scale_factor(vae))
        if clips:
            from diffusers.video_processor import VideoProcessor

            self.latent_format = clip_format(vae)
            self.video_processor = VideoProcessor(vae_scale_factor=vae_scale_factor(vae))
            self.vae_scale_factor_temporal = vae_temporal_factor(vae)
        elif is_video_vae(vae):
            self.latent_format = ONE_FRAME
        self.clips = clips
        self._scaling = scaling

    @property
    def latent_scaling(self):
        """The scaling applied: the one given, else the VAE config's `LatentScaling` (with `clips`: the family's
        statistics, read from the VAE as its pipelines read them)."""
        if self._scaling is not None:
            return self._scaling
        if self.clips:
            return self.latent_format.scaling(self.vae)
        return LatentScaling.from_config(self.vae.config)

    def describe_scaling(self) -> dict:
        """The applied scaling as JSON-ready data, for records (a cache's metadata): `LatentScaling.to_dict()`, or for
        a family's statistics (`clips`) its format, formula and numbers."""
        scaling = self.latent_scaling
        if isinstance(scaling, LatentScaling):
            return scaling.to_dict()
        values = {}
        for item in dataclasses.fields(scaling):
            value = getattr(scaling, item.name)
            values[item.name] = value.tolist() if isinstance(value, torch.Tensor) else value
        values = {"format": self.latent_format.name, "formula": self.latent_format.formula, **values}
        return json.loads(json.dumps(values))  # tuples as lists: equal to what a record reads back

    def encode_posterior(self, image) -> tuple[torch.Tensor, torch.Tensor]:
        r"""
        The raw posterior mean and log-variance of images: the steps of `encode_latents` (checks, preprocessing,
        placement, upcast) up to the VAE's `latent_dist`, whose `mean` and `logvar` are returned as computed.

        Args:
            image: as for `encode_latents`.

        Returns:
            `tuple[torch.Tensor, torch.Tensor]`: `(mean, logvar)`, each `(batch, latent_channels, h, w)`, unscaled.

        Raises:
            `ValueError`: if the VAE has no Gaussian posterior (`AutoencoderTiny`, `VQModel`, `AutoencoderDC`).
        """
        pixels, vae_dtype, upcast, _ = self._encoder_input(image, None, None, None)
        posterior = getattr(self._run_vae(vae_dtype, upcast, lambda: self.vae.encode(pixels)), "latent_dist", None)
        if posterior is None or not hasattr(posterior, "logvar"):
            raise ValueError(
                f"`encode_posterior` needs a VAE with a Gaussian posterior (`latent_dist`, as AutoencoderKL); a "
                f"{type(self.vae).__name__} has none."
            )
        return posterior.mean, posterior.logvar
