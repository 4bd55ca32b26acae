"""The image latent formats: one `LatentFormat` per pipeline family, each checked against its stock pipelines by the
test named in `_table.py`."""

from __future__ import annotations

from ._base import LatentFormat
from ._layouts import FLUX2_PACKED, FLUX_PACKED, HUNYUAN_IMAGE_REFINER_FOLDED, QWEN_PACKED
from ._statistics import BatchNormScaling, FactorScaling, ReciprocalFactorScaling, ReciprocalStdScaling


__all__ = [
    "STABLE_DIFFUSION",
    "STABLE_DIFFUSION_T2I_ADAPTER",
    "STABLE_DIFFUSION_XL",
    "STABLE_DIFFUSION_XL_FACTOR_ONLY",
    "STABLE_DIFFUSION_3",
    "FLUX",
    "FLUX_KONTEXT",
    "FLUX_2",
    "QWEN_IMAGE",
    "QWEN_IMAGE_EDIT",
    "Z_IMAGE",
    "PIXART",
    "SANA",
    "CHROMA",
    "LUMINA2",
    "COGVIEW4",
    "HIDREAM",
    "HUNYUAN_IMAGE",
    "HUNYUAN_IMAGE_REFINER",
]


STABLE_DIFFUSION = LatentFormat(
    name="Stable Diffusion 1.x/2.x",
    formula="`f * z`",
    conditioned_by="StableDiffusionImg2ImgPipeline.prepare_latents",
)
STABLE_DIFFUSION_T2I_ADAPTER = LatentFormat(
    name="Stable Diffusion T2I-Adapter",
    formula="`f * z`; decoded as `1 / f * x` (its `__call__` decodes with the deprecated `decode_latents`, whose "
    '`output_type="pt"` gives the "np" array; ours gives the tensor)',
    statistics=ReciprocalFactorScaling,
)
STABLE_DIFFUSION_XL = LatentFormat(
    name="Stable Diffusion XL",
    formula="`f * z`; `(z - mean) * f / std` when the config has `latents_mean`/`latents_std` (Playground v2.5)",
    conditioned_by="StableDiffusionXLImg2ImgPipeline.prepare_latents",
)
STABLE_DIFFUSION_XL_FACTOR_ONLY = LatentFormat(
    name="Stable Diffusion XL, factor only",
    formula="`f * z`, also when the config has `latents_mean`/`latents_std` (these pipelines ignore them)",
    statistics=FactorScaling,
    conditioned_by="StableDiffusionXLControlNetInpaintPipeline._encode_vae_image",
)
STABLE_DIFFUSION_3 = LatentFormat(
    name="Stable Diffusion 3",
    formula="`(z - shift) * f`",
    conditioned_by="StableDiffusion3Img2ImgPipeline.prepare_latents",
)
FLUX = LatentFormat(
    name="Flux.1",
    formula="`(z - shift) * f`, then packed",
    layout=FLUX_PACKED,
    conditioned_by="FluxImg2ImgPipeline.prepare_latents",
)
FLUX_KONTEXT = LatentFormat(
    name="Flux.1 Kontext",
    formula="`(z - shift) * f`, then packed (image conditions: the posterior's mode)",
    layout=FLUX_PACKED,
    sample_mode="argmax",
    conditioned_by="FluxKontextPipeline._encode_vae_image",
)
FLUX_2 = LatentFormat(
    name="Flux.2",
    formula="patchified 2x2, then `(z - mean) / sqrt(var + eps)`, then packed",
    statistics=BatchNormScaling,
    layout=FLUX2_PACKED,
    sample_mode="argmax",
    encodes_one_by_one=True,
    conditioned_by="Flux2Pipeline.prepare_image_latents",
)
QWEN_IMAGE = LatentFormat(
    name="Qwen-Image",
    formula="`(z - mean) * (1 / std)`, then packed",
    statistics=ReciprocalStdScaling,
    layout=QWEN_PACKED,
    frame_axis=True,
    conditioned_by="QwenImageImg2ImgPipeline._encode_vae_image",
)
QWEN_IMAGE_EDIT = LatentFormat(
    name="Qwen-Image edit",
    formula="`(z - mean) / std`, then packed",
    statistics=ReciprocalStdScaling,
    statistics_options={"encode_divides": True},
    layout=QWEN_PACKED,
    frame_axis=True,
    sample_mode="argmax",
    conditioned_by="QwenImageEditPipeline._encode_vae_image",
)
Z_IMAGE = LatentFormat(
    name="Z-Image",
    formula="`(z - shift) * f`",
    conditioned_by="ZImageImg2ImgPipeline.prepare_latents",
)
PIXART = LatentFormat(
    name="PixArt",
    formula="`f * z`",
    resolution_binning=True,
)
SANA = LatentFormat(
    name="Sana (DC-AE)",
    formula="`f * z` (deterministic encoder output `.latent`)",
    resolution_binning=True,
    conditioned_by="SanaSprintImg2ImgPipeline.prepare_latents",
)
CHROMA = LatentFormat(
    name="Chroma",
    formula="`(z - shift) * f`, then packed",
    layout=FLUX_PACKED,
    conditioned_by="ChromaImg2ImgPipeline._encode_vae_image",
)
LUMINA2 = LatentFormat(
    name="Lumina2",
    formula="`(z - shift) * f`",
)
COGVIEW4 = LatentFormat(
    name="CogView4",
    formula="`f * z`",
)
HIDREAM = LatentFormat(
    name="HiDream",
    formula="`(z - shift) * f`",
)
HUNYUAN_IMAGE = LatentFormat(
    name="HunyuanImage 2.1",
    formula="`f * z`",
    statistics=FactorScaling,
)
HUNYUAN_IMAGE_REFINER = LatentFormat(
    name="HunyuanImage 2.1 refiner",
    formula="`f * z`, the one frame doubled and folded into the channels",
    statistics=FactorScaling,
    layout=HUNYUAN_IMAGE_REFINER_FOLDED,
    frame_axis=True,
    conditioned_by="HunyuanImageRefinerPipeline._encode_vae_image",
)
