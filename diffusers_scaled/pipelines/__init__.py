"""Ready scaled pipelines, one class per module file (each file can be handed to diffusers as a `custom_pipeline`).

A ready class is this package's own scaled class for one stock diffusers pipeline, listed in `READY_CLASSES`. Nothing
is imported with this package: a class is imported on first access (`diffusers_scaled.pipelines.ScaledFluxPipeline`),
which imports only its own stock pipeline from diffusers. To add one, write its module file and add its row.
"""

from __future__ import annotations

import importlib


#: Ready class -> (its module in this package, the name under which diffusers exports the stock pipeline it extends).
READY_CLASSES: dict[str, tuple[str, str]] = {
    "ScaledStableDiffusionPipeline": ("pipeline_scaled_stable_diffusion", "StableDiffusionPipeline"),
    "ScaledStableDiffusionImg2ImgPipeline": (
        "pipeline_scaled_stable_diffusion_img2img",
        "StableDiffusionImg2ImgPipeline",
    ),
    "ScaledStableDiffusionInpaintPipeline": (
        "pipeline_scaled_stable_diffusion_inpaint",
        "StableDiffusionInpaintPipeline",
    ),
    "ScaledStableDiffusionXLPipeline": ("pipeline_scaled_stable_diffusion_xl", "StableDiffusionXLPipeline"),
    "ScaledStableDiffusionXLImg2ImgPipeline": (
        "pipeline_scaled_stable_diffusion_xl_img2img",
        "StableDiffusionXLImg2ImgPipeline",
    ),
    "ScaledStableDiffusionXLInpaintPipeline": (
        "pipeline_scaled_stable_diffusion_xl_inpaint",
        "StableDiffusionXLInpaintPipeline",
    ),
    "ScaledStableDiffusion3Pipeline": ("pipeline_scaled_stable_diffusion_3", "StableDiffusion3Pipeline"),
    "ScaledStableDiffusion3Img2ImgPipeline": (
        "pipeline_scaled_stable_diffusion_3_img2img",
        "StableDiffusion3Img2ImgPipeline",
    ),
    "ScaledFluxPipeline": ("pipeline_scaled_flux", "FluxPipeline"),
    "ScaledFluxImg2ImgPipeline": ("pipeline_scaled_flux_img2img", "FluxImg2ImgPipeline"),
    "ScaledFlux2Pipeline": ("pipeline_scaled_flux2", "Flux2Pipeline"),
    "ScaledQwenImagePipeline": ("pipeline_scaled_qwenimage", "QwenImagePipeline"),
    "ScaledQwenImageImg2ImgPipeline": ("pipeline_scaled_qwenimage_img2img", "QwenImageImg2ImgPipeline"),
    "ScaledQwenImageEditPipeline": ("pipeline_scaled_qwenimage_edit", "QwenImageEditPipeline"),
    "ScaledZImagePipeline": ("pipeline_scaled_z_image", "ZImagePipeline"),
    "ScaledZImageImg2ImgPipeline": ("pipeline_scaled_z_image_img2img", "ZImageImg2ImgPipeline"),
    "ScaledWanPipeline": ("pipeline_scaled_wan", "WanPipeline"),
    "ScaledWanImageToVideoPipeline": ("pipeline_scaled_wan_i2v", "WanImageToVideoPipeline"),
    "ScaledLTXPipeline": ("pipeline_scaled_ltx", "LTXPipeline"),
    "ScaledLTXImageToVideoPipeline": ("pipeline_scaled_ltx_image2video", "LTXImageToVideoPipeline"),
}

__all__ = list(READY_CLASSES)


def ready_class_named(name: str) -> type | None:
    """The ready class called `name` (imported now if it was not yet), or `None` if there is none."""
    entry = READY_CLASSES.get(name)
    if entry is None:
        return None
    return getattr(importlib.import_module(f"{__name__}.{entry[0]}"), name)


def ready_class_for(stock: type) -> type | None:
    """The ready class extending the stock pipeline class `stock` (imported now if it was not yet), or `None`."""
    import diffusers

    for name, (_, stock_name) in READY_CLASSES.items():
        if stock_name == getattr(stock, "__name__", None) and getattr(diffusers, stock_name, None) is stock:
            return ready_class_named(name)
    return None


def ready_stock_names() -> list[str]:
    """The names of the stock pipelines that have a ready class."""
    return [stock_name for _, stock_name in READY_CLASSES.values()]


def __getattr__(name: str):
    cls = ready_class_named(name)
    if cls is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return cls


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(READY_CLASSES))
