"""The video pipelines on the Stable Diffusion image VAE: AnimateDiff, ModelScope text-to-video (`TextToVideoSDPipeline`,
`VideoToVideoSDPipeline`), I2VGen-XL, PIA, and Stable Video Diffusion (its `AutoencoderKLTemporalDecoder` decodes
frames in chunks, its temporal layers mixing the frames of a chunk).

Their VAE is a 2-D one: the stock pipelines fold the frames into the batch, `(batch * frames, channels, h, w)`,
encode or decode them, in chunks where the pipeline chunks, and unfold the result. Their stock `__call__` decodes
through its own deprecated `self.decode_latents(...)` (`1 / f * x`, each with its own signature), which the scaled
classes leave alone (see `_latents_codec`). `decode_latents` here takes the call's `decode_chunk_size` (default: the
stock `__call__`'s), because a chunk boundary changes what the temporal decoder sees and how CPU kernels round.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import torch

from .. import checks
from ._base import LatentFormat
from ._statistics import ReciprocalFactorScaling
from .video import FramesFirst, VideoFormat


__all__ = ["SD_VIDEO", "SD_VIDEO_FRAMES_ENCODED_TOGETHER", "SD_VIDEO_IMAGE", "STABLE_VIDEO_DIFFUSION", "SDVideoFormat"]


class FramesFirstUnpadded(FramesFirst):
    """Stable Video Diffusion's UNet layout, `(batch, frames, channels, h, w)`, the form `output_type="latent"`
    returns: its packed form, as CogVideoX's (without CogVideoX 1.5's frame padding)."""

    description = "packed (the UNet's): `(batch, frames, channels, h, w)`; unpacked `(batch, channels, frames, h, w)`"

    def unpack(self, pipe, latents, height=None, width=None, num_frames=None) -> torch.Tensor:
        return latents.permute(0, 2, 1, 3, 4) if self.is_packed(latents) else latents


FRAMES_FIRST_UNPADDED = FramesFirstUnpadded()


def _stock_call_default(pipe, name: str):
    """The default of `__call__`'s argument `name` in the first diffusers class of `type(pipe)`'s MRO that takes it
    (the stock pipeline's), or None."""
    for base in type(pipe).__mro__:
        call = vars(base).get("__call__")
        if call is not None and base.__module__.startswith("diffusers."):
            parameter = inspect.signature(call).parameters.get(name)
            if parameter is not None and parameter.default is not inspect.Parameter.empty:
                return parameter.default
    return None


@dataclass(frozen=True)
class SDVideoFormat(VideoFormat):
    r"""
    Videos on a 2-D image VAE: frames folded into the batch for the VAE, `1 / f * x` to decode, `f * z` to encode.

    Args (besides [`VideoFormat`]'s):
        chunk_per_video (`bool`, *optional*, defaults to `False`):
            Whether the decoder works on the frames of one video at a time when no `decode_chunk_size` is given (Stable
            Video Diffusion: its temporal decoder is told how many frames a chunk holds); otherwise all the frames of
            the batch go through one call, unless the stock `__call__` has a `decode_chunk_size` default.
        encode_videos_apart (`bool`, *optional*, defaults to `True`):
            Whether the stock video-to-video pipeline encodes each video on its own, in chunks of its
            `decode_chunk_size` frames (AnimateDiff video-to-video), rather than all frames of the batch in one call
            (`VideoToVideoSDPipeline`, which takes one generator).
    """

    statistics: type = ReciprocalFactorScaling
    chunk_per_video: bool = False
    encode_videos_apart: bool = True

    @staticmethod
    def _fold(x: torch.Tensor) -> torch.Tensor:
        """`(batch, channels, frames, h, w)` -> `(batch * frames, channels, h, w)`, as the stock pipelines fold."""
        batch, channels, frames, height, width = x.shape
        return x.permute(0, 2, 1, 3, 4).reshape(batch * frames, channels, height, width)

    @staticmethod
    def _unfold(x: torch.Tensor, batch: int, frames: int) -> torch.Tensor:
        return x[None, :].reshape((batch, frames, -1) + x.shape[2:]).permute(0, 2, 1, 3, 4)

    def _chunk_size(self, pipe, decode_chunk_size, frames: int, total: int) -> int:
        if decode_chunk_size is None:
            decode_chunk_size = _stock_call_default(pipe, "decode_chunk_size")
        if decode_chunk_size is None:
            return frames if self.chunk_per_video else total
        checks.check_positive_int("decode_chunk_size", decode_chunk_size)
        return decode_chunk_size

    def vae_decode(self, pipe, raw, decode, generator=None, decode_chunk_size=None) -> torch.Tensor:
        r"""
        Raw `(batch, channels, frames, h, w)` latents -> `(batch, 3, frames, H, W)` float32 pixels, decoded as the stock
        `decode_latents` does: frames folded into the batch, `decode_chunk_size` frames per VAE call (the stock
        `__call__`'s default if not given; a temporal decoder is told how many frames each call holds).
        """
        batch, _, frames = raw.shape[:3]
        folded = self._fold(raw)
        size = self._chunk_size(pipe, decode_chunk_size, frames, folded.shape[0])
        takes_frames = "num_frames" in inspect.signature(pipe.vae.forward).parameters  # the temporal decoder
        chunks = []
        for start in range(0, folded.shape[0], size):
            chunk = folded[start : start + size]
            chunks.append(decode(chunk, **({"num_frames": chunk.shape[0]} if takes_frames else {})))
        return self._unfold(torch.cat(chunks), batch, frames).float()

    def vae_encode(self, pipe, pixels, encode, generator=None) -> torch.Tensor:
        r"""
        `(batch, 3, frames, H, W)` pixels -> raw `(batch, channels, frames, h, w)` latents, encoded as the stock
        conditioned pipeline does: each video on its own in chunks of the stock `decode_chunk_size` frames, with its
        generator (AnimateDiff video-to-video), all frames of the batch in one call (`VideoToVideoSDPipeline`), or
        the condition images as one image batch (PIA, I2VGen-XL).
        """
        batch, _, frames = pixels.shape[:3]
        if self.condition == "image":  # the condition image, encoded as the 4-D batch the stock pipeline encodes
            return encode(pixels[:, :, 0], generator).unsqueeze(2)
        if not self.encode_videos_apart:
            if isinstance(generator, list):
                raise ValueError(
                    f"{type(pipe).__name__} encodes all the frames of the batch in one VAE call: pass one "
                    f"`generator`, not a list of {len(generator)}."
                )
            return self._unfold(encode(self._fold(pixels), generator), batch, frames)
        size = self._chunk_size(pipe, None, frames, frames)
        videos = []
        for index in range(batch):
            g = generator[index] if isinstance(generator, list) else generator
            video = self._fold(pixels[index : index + 1])
            videos.append(torch.cat([encode(video[i : i + size], g) for i in range(0, frames, size)]))
        return self._unfold(torch.cat(videos), batch, frames)


SD_VIDEO = SDVideoFormat(
    name="Stable Diffusion VAE video",
    formula="`f * z` of each frame; decoded as `1 / f * x`",
    conditioned_by="AnimateDiffVideoToVideoPipeline.prepare_latents",
)
SD_VIDEO_FRAMES_ENCODED_TOGETHER = SDVideoFormat(
    name="Stable Diffusion VAE video, frames encoded together",
    formula="`f * z` of each frame (all frames in one VAE call); decoded as `1 / f * x`",
    encode_videos_apart=False,
    conditioned_by="VideoToVideoSDPipeline.prepare_latents",
)
SD_VIDEO_IMAGE = SDVideoFormat(
    name="Stable Diffusion VAE video, image-conditioned",
    formula="`f * z` of the condition image as one frame; decoded as `1 / f * x`",
    condition="image",
    conditioned_by="PIAPipeline.prepare_masked_condition, I2VGenXLPipeline.prepare_image_latents",
)
STABLE_VIDEO_DIFFUSION = SDVideoFormat(
    name="Stable Video Diffusion",
    formula="`f * z` of each frame, frames before channels; decoded as `1 / f * x` by the temporal decoder, "
    "`decode_chunk_size` frames at a time (default: each video's)",
    layout=FRAMES_FIRST_UNPADDED,
    chunk_per_video=True,
)


# pipeline class name -> (format, the test that proves it); merged into `_table.PROVEN`.
SD_VIDEO_PROVEN: dict[str, tuple[LatentFormat, str]] = {
    "AnimateDiffPipeline": (SD_VIDEO, "tests/formats/test_video_sd.py"),
    "AnimateDiffVideoToVideoPipeline": (SD_VIDEO, "tests/formats/test_video_sd.py"),
    "AnimateDiffControlNetPipeline": (SD_VIDEO, "tests/formats/test_video_sd.py"),
    "AnimateDiffVideoToVideoControlNetPipeline": (SD_VIDEO, "tests/formats/test_video_sd.py"),
    "AnimateDiffSparseControlNetPipeline": (SD_VIDEO, "tests/formats/test_video_sd.py"),
    "AnimateDiffPAGPipeline": (SD_VIDEO, "tests/formats/test_video_sd.py"),
    "AnimateDiffSDXLPipeline": (SD_VIDEO, "tests/formats/test_video_sd.py"),
    "TextToVideoSDPipeline": (SD_VIDEO_FRAMES_ENCODED_TOGETHER, "tests/formats/test_video_sd.py"),
    "VideoToVideoSDPipeline": (SD_VIDEO_FRAMES_ENCODED_TOGETHER, "tests/formats/test_video_sd.py"),
    "PIAPipeline": (SD_VIDEO_IMAGE, "tests/formats/test_video_sd.py"),
    "I2VGenXLPipeline": (SD_VIDEO_IMAGE, "tests/formats/test_video_sd.py"),
    "StableVideoDiffusionPipeline": (STABLE_VIDEO_DIFFUSION, "tests/formats/test_video_sd.py"),
}
