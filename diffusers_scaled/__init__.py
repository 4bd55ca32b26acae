"""diffusers-scaled: exact, non-deprecated `encode_latents` / `decode_latents` for diffusers pipelines."""

__version__ = "0.1.0"

from ._registry import get_scaled_pipeline_class, get_stock_pipeline_class
from .auto_pipeline import (
    AutoScaledPipelineForImage2Image,
    AutoScaledPipelineForInpainting,
    AutoScaledPipelineForText2Image,
)
from .factory import scaled
from .loading import AutoScaledPipeline, custom_pipeline_path
from .mixin import ScaledLatentsMixin
from .packed import PackedLatentsMixin
from .pipelines import (
    ScaledFluxImg2ImgPipeline,
    ScaledFluxPipeline,
    ScaledStableDiffusion3Img2ImgPipeline,
    ScaledStableDiffusion3Pipeline,
    ScaledStableDiffusionImg2ImgPipeline,
    ScaledStableDiffusionInpaintPipeline,
    ScaledStableDiffusionPipeline,
    ScaledStableDiffusionXLImg2ImgPipeline,
    ScaledStableDiffusionXLInpaintPipeline,
    ScaledStableDiffusionXLPipeline,
)
from .scaling import LatentScaling
from .tools import CalibrationResult, LatentPreview, calibrate, encode_to_cache, load_cache, preview_latents


__all__ = [
    "AutoScaledPipeline",
    "AutoScaledPipelineForText2Image",
    "AutoScaledPipelineForImage2Image",
    "AutoScaledPipelineForInpainting",
    "custom_pipeline_path",
    "get_scaled_pipeline_class",
    "get_stock_pipeline_class",
    "LatentScaling",
    "ScaledLatentsMixin",
    "ScaledStableDiffusionPipeline",
    "ScaledStableDiffusionImg2ImgPipeline",
    "ScaledStableDiffusionInpaintPipeline",
    "ScaledStableDiffusionXLPipeline",
    "ScaledStableDiffusionXLImg2ImgPipeline",
    "ScaledStableDiffusionXLInpaintPipeline",
    "PackedLatentsMixin",
    "ScaledStableDiffusion3Pipeline",
    "ScaledStableDiffusion3Img2ImgPipeline",
    "ScaledFluxPipeline",
    "ScaledFluxImg2ImgPipeline",
    "scaled",
    "CalibrationResult",
    "LatentPreview",
    "calibrate",
    "encode_to_cache",
    "load_cache",
    "preview_latents",
]
