"""`scaled(PipelineClass)`: the scaled subclass of any diffusers pipeline class with a VAE and an image processor.

Classes made here live in this module's namespace under their own name (`ScaledPixArtSigmaPipeline`), so that pickle
and anything else that imports a class by its qualified name finds them; a name that is not made yet is made on first
access (`from diffusers_scaled.factory import ScaledPixArtSigmaPipeline` works in a fresh process).
"""

from __future__ import annotations

import inspect
import threading

import diffusers
from diffusers import DiffusionPipeline

from . import pipelines
from .formats import format_for
from .mixin import ScaledLatentsMixin
from .packed import PackedLatentsMixin


__all__ = ["scaled"]

_PREFIX = "Scaled"
_lock = threading.RLock()
_made: dict[type, type] = {}


def _check_pipeline_class(pipeline_class) -> None:
    if not isinstance(pipeline_class, type) or not issubclass(pipeline_class, DiffusionPipeline):
        raise TypeError(
            f"`pipeline_class` must be a diffusers pipeline class (a subclass of `DiffusionPipeline`), got "
            f"{pipeline_class!r}."
        )
    if pipeline_class is DiffusionPipeline:
        raise TypeError(
            "`pipeline_class` must be a concrete pipeline class such as `PixArtSigmaPipeline`, not "
            "`DiffusionPipeline` itself (its components are only known once it loads a checkpoint)."
        )
    if "vae" not in inspect.signature(pipeline_class.__init__).parameters:
        raise TypeError(
            f"`{pipeline_class.__name__}` lacks a `vae` component, which `encode_latents` / `decode_latents` need "
            "(some pipelines name their autoencoder `movq` or `vqvae`, others have none)."
        )


def _free_name(base_name: str) -> str:
    name, n = base_name, 1
    while name in globals():
        n += 1
        name = f"{base_name}{n}"
    return name


def scaled(pipeline_class: type) -> type:
    r"""
    Returns the scaled subclass of a diffusers pipeline class: the same pipeline, with
    [`~ScaledLatentsMixin.encode_latents`] and [`~ScaledLatentsMixin.decode_latents`].

    The package's ready class comes back where there is one (`scaled(StableDiffusionXLPipeline)` is
    `ScaledStableDiffusionXLPipeline`); otherwise the class is made once and cached, so every call returns the same
    class. It is registered like the ready ones, saves and loads with `save_pretrained` / `from_pretrained`, and
    pickles: it lives in `diffusers_scaled.factory` under the name `Scaled<PipelineName>`. Its latent format comes from
    the explicit family table (`diffusers_scaled.formats`): a pipeline whose family is not proven against its stock
    pipeline is refused. Pipelines whose denoiser works on packed latents get [`PackedLatentsMixin`]. A class that is
    already scaled comes back unchanged.

    Args:
        pipeline_class (`type`):
            A diffusers pipeline class with a `vae` component and an `image_processor`, e.g. `PixArtSigmaPipeline`.

    Returns:
        `type`: the scaled subclass.

    Raises:
        `TypeError`: if `pipeline_class` is not a pipeline class, has no `vae`, or no proven latent format covers it
        (the message names the reason and the covered families).

    Examples:

    ```py
    >>> from diffusers import PixArtSigmaPipeline
    >>> from diffusers_scaled import scaled

    >>> ScaledPixArtSigmaPipeline = scaled(PixArtSigmaPipeline)
    >>> pipe = ScaledPixArtSigmaPipeline.from_pretrained("PixArt-alpha/PixArt-Sigma-XL-2-1024-MS")
    >>> latents = pipe("a cat", output_type="latent").images
    >>> image = pipe.decode_latents(latents, output_type="pil")[0]
    ```
    """
    if isinstance(pipeline_class, type) and issubclass(pipeline_class, ScaledLatentsMixin):
        return pipeline_class
    _check_pipeline_class(pipeline_class)
    with _lock:
        made = _made.get(pipeline_class)
        if made is not None:
            return made
        made = pipelines.ready_class_for(pipeline_class)
        if made is None:
            latent_format = format_for(pipeline_class)  # the explicit table: TypeError for an unproven pipeline
            mixin = PackedLatentsMixin if latent_format.packs else ScaledLatentsMixin
            name = _free_name(_PREFIX + pipeline_class.__name__)
            doc = (
                f"[`~{pipeline_class.__module__}.{pipeline_class.__qualname__}`] with "
                f"[`~diffusers_scaled.{mixin.__name__}.encode_latents`] and "
                f"[`~diffusers_scaled.{mixin.__name__}.decode_latents`], made by `diffusers_scaled.scaled`. "
                "Generation is unchanged."
            )
            made = type(name, (mixin, pipeline_class), {"__module__": __name__, "__qualname__": name, "__doc__": doc})
            globals()[name] = made
        _made[pipeline_class] = made
        return made


def __getattr__(name: str):
    # `diffusers_scaled.factory.Scaled<Name>` for any diffusers pipeline `<Name>`, made on first access: what pickle
    # and `importlib` need to find a class that an earlier process made.
    if name.startswith(_PREFIX):
        stock = getattr(diffusers, name[len(_PREFIX) :], None)
        if isinstance(stock, type) and issubclass(stock, DiffusionPipeline):
            made = scaled(stock)
            if made.__name__ == name:
                return made
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
