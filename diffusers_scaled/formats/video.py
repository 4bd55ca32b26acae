"""The video latent formats: one `VideoFormat` per pipeline family, each checked against its stock pipelines by the
test named in `VIDEO_PROVEN`.

Every video VAE here works on 5-D tensors, `(batch, channels, frames, height, width)`; the pipelines pre- and
post-process with their `video_processor` (`postprocess_video` gives the stock form of `.frames`). What differs per
family (see /docs/latent-spaces.md, "Video"):

| format          | statistics (read from)                              | `decode` (stock order)           | denoiser layout                  |
| --------------- | --------------------------------------------------- | -------------------------------- | -------------------------------- |
| `WAN`           | `vae.config.latents_mean/std`                       | `x / (1 / std) + mean`           | `(B, C, F, H, W)`                |
| `WAN_VACE`      | `vae.config.latents_mean/std`                       | `x / (1 / std) + mean`           | `(B, C, refs + F, H, W)`         |
| `LTX`           | `vae.latents_mean/std` buffers, `config.scaling_factor` | `x * std / f + mean` (+ decode noise) | packed `(B, F*H*W/p^2/pt, C*pt*p^2)` |
| `HUNYUAN_VIDEO` | `vae.config.scaling_factor`                          | `x / f`                           | `(B, C, F, H, W)`                |
| `HUNYUAN_VIDEO_15` | `vae.config.scaling_factor`                       | `x / f`                           | `(B, C, F, H, W)`                |
| `COGVIDEOX`     | `vae.config.scaling_factor`                          | `1 / f * x`                       | `(B, F, C, H, W)`, 1.5 padded    |
| `SANA_VIDEO`    | the Wan VAE's `config.latents_mean/std`              | `x / (1 / std) + mean`           | `(B, C, F, H, W)`                |
| `EASYANIMATE`   | `vae.config.scaling_factor`                          | `1 / f * x`                       | `(B, C, F, H, W)`                |
| `KANDINSKY5`    | `vae.config.scaling_factor`                          | `x / f`                           | `(B, F, H, W, C)`                |
| `MOTIF_VIDEO`   | `vae.config.latents_mean/std` (Wan VAE)              | `x * std + mean`                  | `(B, C, F, H, W)`                |
| `MOCHI`         | `vae.config.latents_mean/std`, `scaling_factor`      | `x * std / f + mean`              | `(B, C, F, H, W)`                |

What `encode_latents` takes depends on the pipeline: a video for the text-/video-to-video ones (`preprocess_video`, as
`WanVideoToVideoPipeline`), the conditioning image for the image-to-video ones (the image as the first frame, zero
frames after it up to `num_frames` for Wan 2.1 i2v), returning the clean latents their `prepare_latents` computes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import PIL.Image
import torch
from diffusers.utils.torch_utils import randn_tensor

from .. import checks
from ._base import LatentFormat, checked_image
from ._layouts import Layout
from ._statistics import ConfigScaling, DividesByStd, ReciprocalStdScaling


# layouts ----------------------------------------------------------------------------------------------------------


__all__ = [
    "WAN",
    "WAN_I2V",
    "WAN_VACE",
    "WAN_EDIT",
    "WAN_IMAGE",
    "LTX",
    "HUNYUAN_VIDEO",
    "HUNYUAN_VIDEO_I2V",
    "HUNYUAN_SKYREELS_I2V",
    "HUNYUAN_VIDEO_15",
    "COGVIDEOX",
    "COGVIDEOX_I2V",
    "COGVIDEOX_CONTROL",
    "SANA_VIDEO",
    "EASYANIMATE",
    "KANDINSKY5",
    "MOTIF_VIDEO",
    "MOCHI",
    "ONE_FRAME",
    "VideoFormat",
]


class VideoLayout(Layout):
    """5-D latents, `(batch, channels, frames, height, width)`, the same for the VAE and the denoiser."""

    name = "video"
    description = "`(batch, channels, frames, h, w)`"

    def unpacked_ndim(self, pipe) -> int:
        return 5

    def unpacked_channels(self, pipe) -> int | None:
        config = pipe.vae.config
        return getattr(config, "z_dim", None) or getattr(config, "latent_channels", None)

    def unpack(self, pipe, latents, height=None, width=None, num_frames=None) -> torch.Tensor:
        return latents


class LTXPacking(VideoLayout):
    """LTX's packing into `patch_size_t x patch_size x patch_size` tokens, with the pipeline's
    `_pack_latents(latents, patch_size, patch_size_t)` and `_unpack_latents(latents, frames, h, w, patch_size,
    patch_size_t)`; unpacking needs the latent frame count, height and width, from the call's `num_frames`, `height`
    and `width`."""

    name = "ltx-packed"
    packs = True
    description = "packed: `(batch, f/pt * h/p * w/p, channels * pt * p * p)`; unpacked `(batch, channels, f, h, w)`"

    def is_packed(self, latents: torch.Tensor) -> bool:
        return isinstance(latents, torch.Tensor) and latents.ndim == 3

    def pack(self, pipe, latents: torch.Tensor) -> torch.Tensor:
        return pipe._pack_latents(latents, pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size)

    def unpack(self, pipe, latents, height=None, width=None, num_frames=None) -> torch.Tensor:
        if not self.is_packed(latents):
            return latents
        missing = [
            name for name, value in (("height", height), ("width", width), ("num_frames", num_frames)) if value is None
        ]
        if missing:
            raise ValueError(
                f"Packed LTX latents (shape {tuple(latents.shape)}) need the call's `height`, `width` and `num_frames` "
                f"to be unpacked; {', '.join(f'`{name}`' for name in missing)} missing."
            )
        spatial, temporal = pipe.vae_spatial_compression_ratio, pipe.vae_temporal_compression_ratio
        patch, patch_t = pipe.transformer_spatial_patch_size, pipe.transformer_temporal_patch_size
        frames, rows, columns = (num_frames - 1) // temporal + 1, height // spatial, width // spatial
        channels = self.unpacked_channels(pipe)
        expected = (frames // patch_t * (rows // patch) * (columns // patch), channels * patch_t * patch * patch)
        if tuple(latents.shape[1:]) != expected:
            raise ValueError(
                f"Packed LTX latents for num_frames={num_frames}, height={height}, width={width} have shape (batch, "
                f"{expected[0]}, {expected[1]}); got {tuple(latents.shape)}. Pass the `num_frames`, `height` and "
                "`width` of the call that produced them."
            )
        return pipe._unpack_latents(latents, frames, rows, columns, patch, patch_t)


class PermutedLayout(VideoLayout):
    """A transformer layout that is a permutation of the VAE's `(batch, channels, frames, height, width)`: 5-D latents
    are taken to be in the transformer's order (its packed form); `pack` permutes to it (`order`), `_to_vae` back."""

    packs = True
    order: tuple[int, ...] = (0, 1, 2, 3, 4)

    def is_packed(self, latents: torch.Tensor) -> bool:
        return isinstance(latents, torch.Tensor) and latents.ndim == 5

    def pack(self, pipe, latents: torch.Tensor) -> torch.Tensor:
        return latents.permute(*self.order)

    def _to_vae(self, latents: torch.Tensor) -> torch.Tensor:
        return latents.permute(*sorted(range(5), key=self.order.__getitem__))


class FramesFirst(PermutedLayout):
    """CogVideoX's transformer layout, `(batch, frames, channels, height, width)`, the form `output_type="latent"`
    returns, treated as its packed form: `unpack` permutes it to the VAE's `(batch, channels, frames, height, width)`,
    as the stock `decode_latents` does first (every 5-D input is taken to be frames-first), and `pack` permutes back,
    as the stock `prepare_latents` does after encoding.

    CogVideoX 1.5 (`transformer.config.patch_size_t` set) pads the latent frames at the front to a multiple of
    `patch_size_t`, returns them padded with `output_type="latent"` and drops the padding before decoding: given the
    call's `num_frames`, `unpack` drops it as well.
    """

    name = "frames-first"
    order = (0, 2, 1, 3, 4)
    description = (
        "packed (the transformer's): `(batch, frames, channels, h, w)`, CogVideoX 1.5's frames padded to a multiple "
        "of `patch_size_t`; unpacked `(batch, channels, frames, h, w)`"
    )

    def unpack(self, pipe, latents, height=None, width=None, num_frames=None) -> torch.Tensor:
        if not self.is_packed(latents):
            return latents
        patch_t = getattr(pipe.transformer.config, "patch_size_t", None)
        if patch_t is not None:
            latents = latents[:, self._padding(pipe, latents, patch_t, num_frames) :]
        return self._to_vae(latents)

    @staticmethod
    def _padding(pipe, latents, patch_t: int, num_frames: int | None) -> int:
        """How many padding frames CogVideoX 1.5's `__call__` put in front of `latents` (and drops before decoding)."""
        frames = latents.shape[1]
        if num_frames is None:
            if frames % patch_t:
                return 0  # not a multiple of `patch_size_t`: not padded (already trimmed)
            raise ValueError(
                f"{type(pipe).__name__} pads its latent frames to a multiple of `patch_size_t`={patch_t} and drops the "
                f"padding before decoding; pass the call's `num_frames` so that `decode_latents` knows whether the "
                f"{frames} latent frames given include padding."
            )
        checks.check_positive_int("num_frames", num_frames)
        expected = (num_frames - 1) // pipe.vae_scale_factor_temporal + 1
        padding = -expected % patch_t
        if frames not in (expected, expected + padding):
            raise ValueError(
                f"`latents` for num_frames={num_frames} have {expected} latent frames ({expected + padding} with "
                f"{type(pipe).__name__}'s padding to a multiple of `patch_size_t`={patch_t}); got {frames} "
                f"(shape {tuple(latents.shape)}). Pass the `num_frames` of the call that produced them."
            )
        return frames - expected


class ReferenceFramesFirst(VideoLayout):
    """Wan VACE's latents: the latents of its reference images (one latent frame each) before the video's, as
    `output_type="latent"` returns them; the stock `__call__` drops them before decoding. Given the call's `num_frames`,
    `unpack` drops them too (every latent frame beyond the `(num_frames - 1) // temporal + 1` of the video)."""

    name = "reference-frames-first"
    description = "`(batch, channels, references + frames, h, w)`, the reference images' latent frames first"

    def unpack(self, pipe, latents, height=None, width=None, num_frames=None) -> torch.Tensor:
        if num_frames is None or not isinstance(latents, torch.Tensor) or latents.ndim != 5:
            return latents
        checks.check_positive_int("num_frames", num_frames)
        expected = (num_frames - 1) // pipe.vae_scale_factor_temporal + 1
        if latents.shape[2] < expected:
            raise ValueError(
                f"`latents` for num_frames={num_frames} have at least {expected} latent frames (more with reference "
                f"images); got shape {tuple(latents.shape)}. Pass the `num_frames` of the call that produced them."
            )
        return latents[:, :, latents.shape[2] - expected :]


class ChannelsLast(PermutedLayout):
    """Kandinsky 5's transformer layout, `(batch, frames, height, width, channels)`, the form `output_type="latent"`
    returns, treated as its packed form: `unpack` permutes it to the VAE's `(batch, channels, frames, height, width)`
    (contiguous, as the stock `__call__`'s reshape leaves it), `pack` back, as the stock `prepare_latents` does after
    encoding."""

    name = "channels-last"
    order = (0, 2, 3, 4, 1)
    description = (
        "packed (the transformer's): `(batch, frames, h, w, channels)`; unpacked `(batch, channels, frames, h, w)`"
    )

    def unpack(self, pipe, latents, height=None, width=None, num_frames=None) -> torch.Tensor:
        if not self.is_packed(latents):
            return latents
        return self._to_vae(latents).contiguous()


VIDEO = VideoLayout()
CHANNELS_LAST = ChannelsLast()
LTX_PACKED = LTXPacking()
FRAMES_FIRST = FramesFirst()
REFERENCE_FRAMES_FIRST = ReferenceFramesFirst()


# statistics -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LTXBufferScaling:
    r"""
    LTX's per-channel statistics, kept as registered buffers on the VAE (`vae.latents_mean`, `vae.latents_std`), with
    `vae.config.scaling_factor`, in the order of `LTXPipeline._normalize_latents` / `_denormalize_latents`.

    The stock image-to-video pipeline normalizes its condition without the scaling factor (`_normalize_latents` is
    called with its default `scaling_factor=1.0`) while decoding divides by it; `scale` follows the former and
    `unscale` the latter, so both match the stock pipelines exactly. Released LTX checkpoints have `scaling_factor=1.0`,
    where the two agree.
    """

    latents_mean: torch.Tensor
    latents_std: torch.Tensor
    scaling_factor: float

    description = "`vae.latents_mean`/`vae.latents_std` buffers and `scaling_factor` in `vae.config`"

    @classmethod
    def from_vae(cls, vae) -> "LTXBufferScaling":
        return cls(vae.latents_mean, vae.latents_std, vae.config.scaling_factor)

    def _stats(self, latents: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if latents.ndim != 5 or latents.shape[1] != self.latents_mean.numel():
            raise ValueError(
                f"`latents` must be (batch, {self.latents_mean.numel()}, frames, height, width) to match the VAE's "
                f"`latents_mean`/`latents_std`; got shape {tuple(latents.shape)}."
            )
        mean = self.latents_mean.view(1, -1, 1, 1, 1).to(latents.device, latents.dtype)
        std = self.latents_std.view(1, -1, 1, 1, 1).to(latents.device, latents.dtype)
        return mean, std

    def scale(self, latents: torch.Tensor) -> torch.Tensor:
        """Raw VAE latents -> denoiser latents: `(z - mean) * 1.0 / std`, as `LTXImageToVideoPipeline.prepare_latents`."""
        mean, std = self._stats(latents)
        return (latents - mean) * 1.0 / std

    def unscale(self, latents: torch.Tensor) -> torch.Tensor:
        """Denoiser latents -> raw VAE latents: `x * std / scaling_factor + mean`."""
        mean, std = self._stats(latents)
        return latents * std / self.scaling_factor + mean


@dataclass(frozen=True)
class ReciprocalFactorScaling:
    r"""
    CogVideoX's scaling: decoding multiplies by the reciprocal of `vae.config.scaling_factor` (`1 / f * x`), encoding
    multiplies by the factor (`f * z`) or, for checkpoints whose config sets `invert_scale_latents` (CogVideoX 1.5
    image-to-video), by its reciprocal, as `CogVideoXImageToVideoPipeline.prepare_latents` does.
    """

    scaling_factor: float
    invert_on_encode: bool = False

    description = "`scaling_factor` (and `invert_scale_latents`) in `vae.config`"

    @classmethod
    def from_vae(cls, vae, honour_invert_scale_latents: bool = False) -> "ReciprocalFactorScaling":
        invert = honour_invert_scale_latents and bool(getattr(vae.config, "invert_scale_latents", False))
        return cls(vae.config.scaling_factor, invert)

    def scale(self, latents: torch.Tensor) -> torch.Tensor:
        """Raw VAE latents -> denoiser latents."""
        if self.invert_on_encode:
            return 1 / self.scaling_factor * latents
        return self.scaling_factor * latents

    def unscale(self, latents: torch.Tensor) -> torch.Tensor:
        """Denoiser latents -> raw VAE latents."""
        return 1 / self.scaling_factor * latents


@dataclass(frozen=True)
class MeanStdScaling(DividesByStd, ReciprocalStdScaling):
    r"""
    Per-channel `latents_mean` / `latents_std` from `vae.config` (read as `ReciprocalStdScaling` reads them), applied
    as Motif-Video's `_normalize_latents` / `_denormalize_latents` do: `(z - mean) / std` and `x * std + mean` (no
    reciprocal, no scaling factor).
    """


class SanaVideoScaling(ReciprocalStdScaling):
    r"""
    Sana-Video's statistics: its pipelines read them from the VAE they are given, `vae.config.latents_mean/std` for
    `AutoencoderKLWan` (the released checkpoints' VAE), in Wan's order (`x / (1 / std) + mean`, `(z - mean) * (1 /
    std)`). Only that VAE is checked against the stock pipelines: another one raises a `ValueError`, as a VAE without
    the numbers a format reads does.
    """

    description = "`latents_mean`/`latents_std` in the Wan VAE's config"

    @classmethod
    def from_vae(cls, vae) -> "SanaVideoScaling":
        from diffusers import AutoencoderKLWan

        if not isinstance(vae, AutoencoderKLWan):
            raise ValueError(
                f"Sana-Video latents are checked with its Wan VAE (`AutoencoderKLWan`) only; this pipeline has a "
                f"{type(vae).__name__}."
            )
        return super().from_vae(vae)


# formats ----------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class VideoFormat(LatentFormat):
    r"""
    A latent format whose VAE encodes and decodes videos, `(batch, 3, frames, height, width)` pixels.

    Args (besides [`LatentFormat`]'s):
        condition (`str`, *optional*, defaults to `"video"`):
            What `encode_latents` takes, as the family's stock conditioned pipeline does: `"video"` (a video, through
            `video_processor.preprocess_video`), `"image"` (an image encoded as a one-frame video) or `"image_padded"`
            (Wan 2.1 image-to-video: the image followed by black frames, `num_frames` in all; a pipeline whose config
            sets `expand_timesteps`, Wan 2.2 TI2V, encodes the image alone).
    """

    layout: Layout = VIDEO
    condition: str = "video"

    def unpack(self, pipe, latents, height=None, width=None, num_frames=None) -> torch.Tensor:
        return self.layout.unpack(pipe, latents, height, width, num_frames)

    def processor(self, pipe):
        return pipe.video_processor

    def check_input(self, pipe, video, height, width):
        """`encode_latents`' input: an image (batch) for the image-conditioned formats, a video (batch) otherwise."""
        if self.condition != "video":
            return checked_image(video, pipe.vae, self.processor(pipe), height, width)
        processor = self.processor(pipe)
        if isinstance(video, list) and video and all(isinstance(v, list) for v in video):
            # a batch of videos, each a list of frames
            return [checked_image(v, pipe.vae, processor, height, width) for v in video]
        if isinstance(video, list):
            return checked_image(video, pipe.vae, processor, height, width)  # one video: its frames
        if isinstance(video, (np.ndarray, torch.Tensor)) and video.ndim in (4, 5):
            return video  # (frames, ...) or (batch, frames, ...): `preprocess_video` reads both
        raise TypeError(
            "`video` must be a list of frames (PIL images or arrays), a list of such lists (a batch), or a 4-D/5-D "
            "np.ndarray or torch.Tensor ((frames, ...) or (batch, frames, ...)); got "
            f"{type(video).__name__}{tuple(getattr(video, 'shape', ()))}."
        )

    def check_pixels(self, pipe, pixels: torch.Tensor) -> None:
        """The preprocessed clip just before the VAE: (batch, 3, frames, height, width)."""
        if pixels.ndim != 5 or pixels.shape[1] != 3 or 0 in pixels.shape:
            raise ValueError(
                "`video` must give (batch, 3, frames, height, width) pixels after the pipeline's `video_processor`; "
                f"got shape {tuple(pixels.shape)}."
            )

    def preprocess(self, pipe, video, height, width, device, num_frames=None, last_image=None) -> torch.Tensor:
        processor = self.processor(pipe)
        if last_image is not None and (self.condition != "image_padded" or pipe.config.get("expand_timesteps")):
            raise ValueError(
                f"`last_image` is a condition of Wan 2.1/2.2 A14B first-last-frame-to-video; {type(pipe).__name__}'s "
                "condition does not take one."
            )
        if self.condition == "video":
            return processor.preprocess_video(video, height=height, width=width).to(device, torch.float32)
        image = processor.preprocess(video, height=height, width=width).to(device, torch.float32)
        image = image.unsqueeze(2)  # (batch, channels, 1, height, width)
        if self.condition == "image" or pipe.config.get("expand_timesteps"):
            return image
        if num_frames is None:
            raise ValueError(
                f"{type(pipe).__name__} encodes its condition image followed by black frames, `num_frames` in all; "
                "pass the `num_frames` of the generation."
            )
        temporal = pipe.vae_scale_factor_temporal
        if not isinstance(num_frames, int) or num_frames < 1 or (num_frames - 1) % temporal:
            raise ValueError(
                f"`num_frames` must be a positive integer with `num_frames - 1` divisible by {temporal} (the VAE's "
                f"temporal compression); got {num_frames!r}."
            )
        batch, channels, _, rows, columns = image.shape
        if last_image is not None and num_frames < 2:
            raise ValueError(
                f"`last_image` needs `num_frames` of at least 2 (a first and a last frame); got {num_frames}."
            )
        if last_image is None:
            return torch.cat([image, image.new_zeros(batch, channels, num_frames - 1, rows, columns)], dim=2)
        # first-last-frame-to-video: the image, black frames, `last_image` (as `WanImageToVideoPipeline`)
        last_image = checked_image(last_image, pipe.vae, processor, height, width)
        last = processor.preprocess(last_image, height=height, width=width).to(device, torch.float32).unsqueeze(2)
        if last.shape[0] != batch or last.shape[3:] != image.shape[3:]:
            raise ValueError(
                f"`last_image` must give as many images of the same size as `image`: {batch} of {rows}x{columns}; got "
                f"{last.shape[0]} of {last.shape[3]}x{last.shape[4]}."
            )
        return torch.cat([image, image.new_zeros(batch, channels, num_frames - 2, rows, columns), last], dim=2)

    def vae_input(self, pixels: torch.Tensor) -> torch.Tensor:
        return pixels

    def vae_output(self, decoded: torch.Tensor) -> torch.Tensor:
        return decoded

    def postprocess(self, pipe, decoded: torch.Tensor, output_type: str):
        return self.processor(pipe).postprocess_video(decoded, output_type=output_type)


@dataclass(frozen=True)
class LTXFormat(VideoFormat):
    r"""
    LTX-Video: packed latents, and a decoder that (from LTX-Video 0.9.1, `vae.config.timestep_conditioning`) takes a
    timestep and latents mixed with noise, as `LTXPipeline.__call__` does before decoding:
    `(1 - decode_noise_scale) * latents + decode_noise_scale * noise`, the noise drawn from `generator`.
    """

    def vae_decode_inputs(self, pipe, raw, generator=None, decode_timestep=0.0, decode_noise_scale=None):
        """Raw latents -> (the VAE decoder's latents, its extra keyword arguments), as the stock `__call__`."""
        if not pipe.vae.config.timestep_conditioning:
            return raw, {}
        batch_size = raw.shape[0]
        noise = randn_tensor(raw.shape, generator=generator, device=raw.device, dtype=raw.dtype)
        if not isinstance(decode_timestep, list):
            decode_timestep = [decode_timestep] * batch_size
        if decode_noise_scale is None:
            decode_noise_scale = decode_timestep
        elif not isinstance(decode_noise_scale, list):
            decode_noise_scale = [decode_noise_scale] * batch_size
        timestep = torch.tensor(decode_timestep, device=raw.device, dtype=raw.dtype)
        scale = torch.tensor(decode_noise_scale, device=raw.device, dtype=raw.dtype)[:, None, None, None, None]
        return (1 - scale) * raw + scale * noise, {"temb": timestep}


@dataclass(frozen=True)
class HunyuanVideoImageFormat(VideoFormat):
    r"""
    HunyuanVideo image-to-video. With a `"token_replace"` transformer the condition replaces latent frame 0 and the
    video is decoded from the latents `output_type="latent"` returns. With a `"latent_concat"` transformer (the
    released HunyuanVideo-I2V) the pipeline decodes all latent frames and drops the first 4 video frames, while
    `output_type="latent"` returns the latents without their first frame: those cannot be decoded to the stock video
    (a causal VAE's frames depend on the frames before them). `decode_latents` then takes the final latents with all
    their frames (`callback_on_step_end`'s `latents` at the last step) and the call's `num_frames`, and drops the
    same 4 frames.
    """

    def _concat(self, pipe) -> bool:
        return pipe.transformer.config.image_condition_type == "latent_concat"

    def unpack(self, pipe, latents, height=None, width=None, num_frames=None) -> torch.Tensor:
        if not self._concat(pipe) or not isinstance(latents, torch.Tensor) or latents.ndim != 5:
            return latents
        if num_frames is None:
            raise ValueError(
                f"{type(pipe).__name__} with a `latent_concat` transformer decodes its latents with all their frames; "
                "pass them (`callback_on_step_end`'s `latents` at the last step) with the call's `num_frames`."
            )
        checks.check_positive_int("num_frames", num_frames)
        expected = (num_frames - 1) // pipe.vae_scale_factor_temporal + 1
        if latents.shape[2] == expected - 1:
            raise ValueError(
                f'These latents have {expected - 1} frames, those `output_type="latent"` returns for num_frames='
                f"{num_frames}: {type(pipe).__name__} (`latent_concat` transformer) drops their first latent frame there "
                "but decodes the video from all of them, so no decode of these equals its video. Pass the final "
                f"latents with all {expected} frames (`callback_on_step_end`'s `latents` at the last step)."
            )
        if latents.shape[2] != expected:
            raise ValueError(
                f"`latents` for num_frames={num_frames} have {expected} latent frames; got shape {tuple(latents.shape)}."
            )
        return latents

    def postprocess(self, pipe, decoded: torch.Tensor, output_type: str):
        if self._concat(pipe):
            decoded = decoded[:, :, 4:]  # as `HunyuanVideoImageToVideoPipeline.__call__`
        return super().postprocess(pipe, decoded, output_type)


@dataclass(frozen=True)
class HunyuanVideo15ImageFormat(VideoFormat):
    r"""
    HunyuanVideo 1.5 image-to-video: the pipeline sizes the video from the condition image (the aspect-ratio bucket
    nearest to it for `transformer.config.target_size`, `video_processor.calculate_default_height_width`) and resizes
    the image to that size by centre-cropping (`video_processor.resize(..., resize_mode="crop")`) before
    preprocessing; `encode_latents` does the same for PIL images (the only input the stock pipeline takes), at the
    given `height` and `width` if both are given.
    """

    def preprocess(self, pipe, image, height, width, device, num_frames=None, **options) -> torch.Tensor:
        if (height is None) != (width is None):
            raise ValueError(
                f"`height` and `width` go together for {type(pipe).__name__} (the image is centre-cropped to both); "
                f"got height={height!r}, width={width!r}."
            )
        processor = self.processor(pipe)
        images = image if isinstance(image, list) else [image]
        if all(isinstance(img, PIL.Image.Image) for img in images):
            if height is None:
                first = images[0]
                height, width = processor.calculate_default_height_width(
                    height=first.size[1], width=first.size[0], target_size=pipe.target_size
                )
            image = [processor.resize(img, height=height, width=width, resize_mode="crop") for img in images]
        return super().preprocess(pipe, image, height, width, device, num_frames, **options)


WAN = VideoFormat(
    name="Wan 2.1/2.2",
    formula="`(z - mean) * (1 / std)`",
    statistics=ReciprocalStdScaling,
    sample_mode="argmax",
    conditioned_by="WanVideoToVideoPipeline.prepare_latents",
)
WAN_EDIT = VideoFormat(
    name="Wan video edit",
    formula="`(z - mean) * (1 / std)` of each video on its own",
    statistics=ReciprocalStdScaling,
    sample_mode="argmax",
    encodes_one_by_one=True,
    conditioned_by="LucyEditPipeline.prepare_latents",
)
WAN_VACE = VideoFormat(
    name="Wan VACE",
    formula="`(z - mean) * (1 / std)`; with reference images, their latent frames first",
    statistics=ReciprocalStdScaling,
    layout=REFERENCE_FRAMES_FIRST,
    sample_mode="argmax",
    conditioned_by="WanVACEPipeline.prepare_video_latents",
)
WAN_I2V = VideoFormat(
    name="Wan 2.1/2.2 image-to-video",
    formula="`(z - mean) * (1 / std)` of the image and black frames (Wan 2.2 TI2V: the image alone)",
    statistics=ReciprocalStdScaling,
    sample_mode="argmax",
    condition="image_padded",
    conditioned_by="WanImageToVideoPipeline.prepare_latents",
)
WAN_IMAGE = VideoFormat(
    name="Wan image-to-video, the image alone",
    formula="`(z - mean) * (1 / std)` of the image as one frame",
    statistics=ReciprocalStdScaling,
    sample_mode="argmax",
    condition="image",
    conditioned_by="SkyReelsV2DiffusionForcingImageToVideoPipeline.prepare_latents",
)
LTX = LTXFormat(
    name="LTX-Video",
    formula="`(z - mean) * 1.0 / std` (decode: `x * std / f + mean`), then packed",
    statistics=LTXBufferScaling,
    layout=LTX_PACKED,
    condition="image",
    conditioned_by="LTXImageToVideoPipeline.prepare_latents",
)
SANA_VIDEO = VideoFormat(
    name="Sana-Video",
    formula="`(z - mean) * (1 / std)` (Wan VAE); with resolution binning, decoded frames resized back",
    statistics=SanaVideoScaling,
    sample_mode="argmax",
    condition="image",
    resolution_binning=True,
    conditioned_by="SanaImageToVideoPipeline.prepare_latents",
)
EASYANIMATE = VideoFormat(
    name="EasyAnimate",
    formula="`f * z` of the posterior mode, each video on its own",
    statistics=ReciprocalFactorScaling,
    sample_mode="argmax",
    condition="video",
    encodes_one_by_one=True,
    conditioned_by="EasyAnimateInpaintPipeline.prepare_mask_latents",
)
KANDINSKY5 = VideoFormat(
    name="Kandinsky 5 video",
    formula="`f * z` of the image as one frame (a posterior sample), channels last",
    statistics=ConfigScaling,
    layout=CHANNELS_LAST,
    condition="image",
    conditioned_by="Kandinsky5I2VPipeline.prepare_latents",
)
MOTIF_VIDEO = VideoFormat(
    name="Motif-Video",
    formula="`(z - mean) / std` of the image as one frame (a posterior sample)",
    statistics=MeanStdScaling,
    condition="image",
    conditioned_by="MotifVideoImage2VideoPipeline._prepare_first_frame_conditioning",
)
HUNYUAN_VIDEO = VideoFormat(
    name="HunyuanVideo",
    formula="`f * z`",
    statistics=ConfigScaling,
    sample_mode="argmax",
    condition="image",
    conditioned_by="HunyuanVideoImageToVideoPipeline.prepare_latents",
)
HUNYUAN_VIDEO_I2V = HunyuanVideoImageFormat(
    name="HunyuanVideo image-to-video",
    formula="`f * z` of the image as one frame (`latent_concat`: decoded from all latent frames, first 4 frames "
    "dropped)",
    statistics=ConfigScaling,
    sample_mode="argmax",
    condition="image",
    encodes_one_by_one=True,
    conditioned_by="HunyuanVideoImageToVideoPipeline.prepare_latents",
)
HUNYUAN_SKYREELS_I2V = VideoFormat(
    name="HunyuanVideo SkyReels image-to-video",
    formula="`f * z` of the image as one frame (a posterior sample)",
    statistics=ConfigScaling,
    condition="image",
    encodes_one_by_one=True,
    conditioned_by="HunyuanSkyreelsImageToVideoPipeline.prepare_latents",
)
HUNYUAN_VIDEO_15 = HunyuanVideo15ImageFormat(
    name="HunyuanVideo 1.5",
    formula="`f * z`",
    statistics=ConfigScaling,
    sample_mode="argmax",
    condition="image",
    conditioned_by="HunyuanVideo15ImageToVideoPipeline.prepare_cond_latents_and_mask",
)
COGVIDEOX = VideoFormat(
    name="CogVideoX",
    formula="`f * z`, frames before channels",
    statistics=ReciprocalFactorScaling,
    layout=FRAMES_FIRST,
    condition="video",
    conditioned_by="CogVideoXVideoToVideoPipeline.prepare_latents",
)
COGVIDEOX_CONTROL = VideoFormat(
    name="CogVideoX Fun control",
    formula="`f * z` of the control video's posterior mode, each video on its own, frames before channels",
    statistics=ReciprocalFactorScaling,
    layout=FRAMES_FIRST,
    sample_mode="argmax",
    condition="video",
    encodes_one_by_one=True,
    conditioned_by="CogVideoXFunControlPipeline.prepare_control_latents",
)
COGVIDEOX_I2V = VideoFormat(
    name="CogVideoX image-to-video",
    formula="`f * z` of the image as one frame (`1 / f * z` where `vae.config.invert_scale_latents`), frames before "
    "channels",
    statistics=ReciprocalFactorScaling,
    statistics_options={"honour_invert_scale_latents": True},
    layout=FRAMES_FIRST,
    condition="image",
    encodes_one_by_one=True,
    conditioned_by="CogVideoXImageToVideoPipeline.prepare_latents",
)
MOCHI = VideoFormat(
    name="Mochi",
    formula="`(z - mean) * f / std`",
    statistics=ConfigScaling,
)


#: A 5-D VAE fed images as one-frame videos (`pixels.unsqueeze(2)`, decoded `[:, :, 0]`), with the scaling the caller
#: gives: how the tools (`VaeCodec`: calibration, previews) encode images with a video VAE of any family.
ONE_FRAME = LatentFormat(
    name="5-D VAE, images as one frame",
    formula="the scaling the tool is given",
    layout=VIDEO,
    frame_axis=True,
)


# pipeline class name -> (format, the test that proves it); merged into `_table.PROVEN`.
VIDEO_PROVEN: dict[str, tuple[LatentFormat, str]] = {
    "WanPipeline": (WAN, "tests/formats/test_video_wan.py"),
    "WanVideoToVideoPipeline": (WAN, "tests/formats/test_video_wan.py"),
    "WanImageToVideoPipeline": (WAN_I2V, "tests/formats/test_video_wan.py"),
    "SkyReelsV2Pipeline": (WAN, "tests/formats/test_video_skyreels.py"),
    "SkyReelsV2DiffusionForcingPipeline": (WAN, "tests/formats/test_video_skyreels.py"),
    "SkyReelsV2ImageToVideoPipeline": (WAN_I2V, "tests/formats/test_video_skyreels.py"),
    "SkyReelsV2DiffusionForcingImageToVideoPipeline": (WAN_IMAGE, "tests/formats/test_video_skyreels.py"),
    "LTXPipeline": (LTX, "tests/formats/test_video_ltx.py"),
    "LTXImageToVideoPipeline": (LTX, "tests/formats/test_video_ltx.py"),
    "HunyuanVideoPipeline": (HUNYUAN_VIDEO, "tests/formats/test_video_families.py"),
    "HunyuanVideoImageToVideoPipeline": (HUNYUAN_VIDEO_I2V, "tests/formats/test_video_hunyuan.py"),
    "HunyuanSkyreelsImageToVideoPipeline": (HUNYUAN_SKYREELS_I2V, "tests/formats/test_video_hunyuan.py"),
    "HunyuanVideo15Pipeline": (HUNYUAN_VIDEO_15, "tests/formats/test_video_hunyuan.py"),
    "HunyuanVideo15ImageToVideoPipeline": (HUNYUAN_VIDEO_15, "tests/formats/test_video_hunyuan.py"),
    "CogVideoXPipeline": (COGVIDEOX, "tests/formats/test_video_families.py"),
    "CogVideoXVideoToVideoPipeline": (COGVIDEOX, "tests/formats/test_video_families.py"),
    "CogVideoXImageToVideoPipeline": (COGVIDEOX_I2V, "tests/formats/test_video_cogvideox.py"),
    "MochiPipeline": (MOCHI, "tests/formats/test_video_families.py"),
    "WanVACEPipeline": (WAN_VACE, "tests/formats/test_video_wan.py"),
    "LucyEditPipeline": (WAN_EDIT, "tests/formats/test_video_wan.py"),
    "AnyFlowPipeline": (WAN, "tests/formats/test_video_wan.py"),
    "SkyReelsV2DiffusionForcingVideoToVideoPipeline": (WAN, "tests/formats/test_video_skyreels.py"),
    "LTXConditionPipeline": (LTX, "tests/formats/test_video_ltx.py"),
    "CogVideoXFunControlPipeline": (COGVIDEOX_CONTROL, "tests/formats/test_video_cogvideox.py"),
    "SanaVideoPipeline": (SANA_VIDEO, "tests/formats/test_video_sana.py"),
    "EasyAnimatePipeline": (EASYANIMATE, "tests/formats/test_video_easyanimate.py"),
    "EasyAnimateInpaintPipeline": (EASYANIMATE, "tests/formats/test_video_easyanimate.py"),
    "Kandinsky5T2VPipeline": (KANDINSKY5, "tests/formats/test_video_kandinsky5.py"),
    "Kandinsky5I2VPipeline": (KANDINSKY5, "tests/formats/test_video_kandinsky5.py"),
    "MotifVideoPipeline": (MOTIF_VIDEO, "tests/formats/test_video_motif.py"),
    "MotifVideoImage2VideoPipeline": (MOTIF_VIDEO, "tests/formats/test_video_motif.py"),
    "SanaImageToVideoPipeline": (SANA_VIDEO, "tests/formats/test_video_sana.py"),
}
