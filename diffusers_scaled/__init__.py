"""diffusers-scaled: exact, non-deprecated `encode_latents` / `decode_latents` for diffusers pipelines."""

__version__ = "0.1.0"

from ._registry import get_scaled_pipeline_class, get_stock_pipeline_class
from .loading import AutoScaledPipeline, custom_pipeline_path
from .mixin import ScaledLatentsMixin
from .pipelines import (
    ScaledStableDiffusionImg2ImgPipeline,
    ScaledStableDiffusionInpaintPipeline,
    ScaledStableDiffusionPipeline,
    ScaledStableDiffusionXLImg2ImgPipeline,
    ScaledStableDiffusionXLInpaintPipeline,
    ScaledStableDiffusionXLPipeline,
)
from .scaling import LatentScaling


__all__ = [
    "AutoScaledPipeline",
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
]
