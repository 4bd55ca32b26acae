"""diffusers-scaled: exact, non-deprecated `encode_latents` / `decode_latents` for diffusers pipelines.

Importing the package imports nothing else (not torch, not diffusers): each public name is imported from its module on
first access, as diffusers' own `__init__` does, so `import diffusers_scaled` is instant and silent and
`from diffusers_scaled import ScaledFluxPipeline` imports only the Flux pipeline. `_PUBLIC` says where each name lives.
"""

import importlib
import importlib.util


__version__ = "0.1.0"

#: Public name -> the module of this package that defines it.
_PUBLIC = {
    "LatentScaling": "scaling",
    "ScaledLatentsMixin": "mixin",
    "PackedLatentsMixin": "packed",
    "scaled": "factory",
    "AutoScaledPipeline": "loading",
    "AutoScaledPipelineForText2Image": "auto_pipeline",
    "AutoScaledPipelineForImage2Image": "auto_pipeline",
    "AutoScaledPipelineForInpainting": "auto_pipeline",
    "get_scaled_pipeline_class": "loading",
    "get_stock_pipeline_class": "loading",
    "custom_pipeline_path": "saving",
    "ScaledStableDiffusionPipeline": "pipelines",
    "ScaledStableDiffusionImg2ImgPipeline": "pipelines",
    "ScaledStableDiffusionInpaintPipeline": "pipelines",
    "ScaledStableDiffusionXLPipeline": "pipelines",
    "ScaledStableDiffusionXLImg2ImgPipeline": "pipelines",
    "ScaledStableDiffusionXLInpaintPipeline": "pipelines",
    "ScaledStableDiffusion3Pipeline": "pipelines",
    "ScaledStableDiffusion3Img2ImgPipeline": "pipelines",
    "ScaledFluxPipeline": "pipelines",
    "ScaledFluxImg2ImgPipeline": "pipelines",
    "ScaledFlux2Pipeline": "pipelines",
    "ScaledQwenImagePipeline": "pipelines",
    "ScaledQwenImageImg2ImgPipeline": "pipelines",
    "ScaledQwenImageEditPipeline": "pipelines",
    "ScaledZImagePipeline": "pipelines",
    "ScaledZImageImg2ImgPipeline": "pipelines",
    "ScaledWanPipeline": "pipelines",
    "ScaledWanImageToVideoPipeline": "pipelines",
    "ScaledLTXPipeline": "pipelines",
    "ScaledLTXImageToVideoPipeline": "pipelines",
    "LatentFormat": "formats",
}
#: The tools' names, reachable here as before (`diffusers_scaled.calibrate`); their home is `diffusers_scaled.tools`.
_TOOLS = (
    "CalibrationResult",
    "LatentPreview",
    "calibrate",
    "encode_to_cache",
    "encode_to_cache_ray",
    "load_cache",
    "preview_latents",
)

__all__ = [*_PUBLIC, "tools"]


def __getattr__(name: str):
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f"{__name__}.{_PUBLIC[name]}"), name)
    elif name in _TOOLS:
        value = getattr(importlib.import_module(f"{__name__}.tools"), name)
    elif not name.startswith("__") and importlib.util.find_spec(f"{__name__}.{name}") is not None:
        return importlib.import_module(f"{__name__}.{name}")  # a submodule: `diffusers_scaled.tools`
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC) | set(_TOOLS) | {"tools"})
