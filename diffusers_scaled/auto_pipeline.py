"""Task switching that keeps the scaled classes: text-to-image <-> image-to-image <-> inpainting.

diffusers' `AutoPipelineForText2Image` / `...ForImage2Image` / `...ForInpainting` pick the pipeline class of a task
from their tables (`AUTO_TEXT2IMAGE_PIPELINES_MAPPING`, ...), keyed by model family (`"stable-diffusion-xl"`), and
look a pipeline's class up there by name, so a scaled class (`ScaledStableDiffusionXLPipeline`) is not found. The
classes here compose the same tables, read and never changed, with this package's registry of scaled classes:

    pipeline's class -> its stock class -> family in diffusers' tables -> the task's stock class -> its scaled class

The task's scaled class is the registered one (the package's ready class first, then a user's own) or, where none is
registered, the one [`scaled`] makes (which refuses a pipeline whose latent format no test proves). So a family gets task switching as soon as diffusers lists it and the classes can
be scaled, and a ready class added later is picked up without a change here.
"""

from __future__ import annotations

import os

import diffusers
from diffusers import DiffusionPipeline

from . import _registry, pipelines
from .factory import scaled
from .loading import _LOAD_CONFIG_KWARGS, _class_named, scaled_class_for_model_index


__all__ = ["AutoScaledPipelineForText2Image", "AutoScaledPipelineForImage2Image", "AutoScaledPipelineForInpainting"]

# keywords diffusers' AutoPipeline reads to pick a different class (ControlNet, PAG); ours picks by family only
_CLASS_SWITCHES = ("enable_pag",)


_TASK_WORDS = {
    "AUTO_TEXT2IMAGE_PIPELINES_MAPPING": "text-to-image",
    "AUTO_IMAGE2IMAGE_PIPELINES_MAPPING": "image-to-image",
    "AUTO_INPAINT_PIPELINES_MAPPING": "inpainting",
}


def _auto_pipeline_tables():
    # deferred: diffusers' auto_pipeline module imports every pipeline diffusers has (seconds)
    from diffusers.pipelines import auto_pipeline

    return auto_pipeline


def family_of(stock: type) -> str | None:
    """The model family (`"stable-diffusion-xl"`) under which diffusers' AutoPipeline tables list `stock`, or None."""
    tables = _auto_pipeline_tables()
    for mapping in tables.SUPPORTED_TASKS_MAPPINGS:  # diffusers' own search order (`_get_model`)
        for family, pipeline_class in mapping.items():
            if pipeline_class is stock:
                return family
    return None


def _family_pipelines(family: str) -> str:
    """`family`'s pipelines in diffusers' AutoPipeline tables, with their tasks: `"LTXPipeline (text-to-video), ..."`."""
    tables = _auto_pipeline_tables()
    listed = []
    for name in dir(tables):
        if name.startswith("AUTO_") and name.endswith("_PIPELINES_MAPPING"):
            pipeline_class = getattr(tables, name).get(family)
            if pipeline_class is not None:
                words = _TASK_WORDS.get(name) or name[len("AUTO_") : -len("_PIPELINES_MAPPING")].lower().replace(
                    "2", "-to-"
                )
                listed.append(f"{pipeline_class.__name__} ({words})")
    return ", ".join(listed)


def task_class(pipeline_class: type, task: str) -> type:
    """
    The scaled class for `task` (the name of one of diffusers' AutoPipeline tables) in the family of `pipeline_class`
    (a stock or scaled pipeline class). A scaled class whose stock class already is the task's keeps itself.
    """
    is_scaled = _registry.is_scaled(pipeline_class)
    stock = _registry.stock_class_of(pipeline_class) if is_scaled else pipeline_class
    family = family_of(stock)
    target = getattr(_auto_pipeline_tables(), task).get(family) if family is not None else None
    if target is None:
        where = (
            f"diffusers' AutoPipeline tables do not list {stock.__name__}"
            if family is None
            else f"diffusers' AutoPipeline has no {_TASK_WORDS[task]} pipeline for the {family!r} family"
            f" (its tables list {_family_pipelines(family)})"
        )
        raise ValueError(
            f"`pipeline` is a {pipeline_class.__name__}, and {where}. Pick the class yourself: "
            f"`scaled(<diffusers pipeline class>).from_pipe(pipeline)`."
        )
    if is_scaled and target is stock:
        return pipeline_class
    return pipelines.ready_class_for(target) or _registry.preferred_registered_class(target) or scaled(target)


def _class_in_model_index(config: dict) -> type:
    # The class a `model_index.json` names: a scaled class (custom-pipeline form, or registered by name) or a stock
    # diffusers pipeline class (stock form), which need not have a scaled counterpart yet.
    class_name = config.get("_class_name")
    if isinstance(class_name, str) and _class_named(class_name) is None:
        stock = getattr(diffusers, class_name, None) if class_name.isidentifier() else None
        if isinstance(stock, type) and issubclass(stock, DiffusionPipeline):
            return stock
    return scaled_class_for_model_index(config)


class _AutoScaledTaskPipeline:
    """Shared by the three task classes below: `_task` names diffusers' table for the task."""

    _task: str

    def __init__(self, *args, **kwargs):
        raise EnvironmentError(
            f"{type(self).__name__} is designed to be instantiated using the "
            f"`{type(self).__name__}.from_pretrained(pretrained_model_or_path)` or "
            f"`{type(self).__name__}.from_pipe(pipeline)` methods."
        )

    @classmethod
    def _check_kwargs(cls, kwargs: dict) -> None:
        if "enable_pag" in kwargs:
            raise TypeError(
                f"`enable_pag` is not accepted by {cls.__name__}, which picks the pipeline class by model family only: "
                "pick the class yourself, e.g. `scaled(StableDiffusionXLPAGImg2ImgPipeline).from_pipe(pipeline)`."
            )
        if "custom_pipeline" in kwargs:
            raise TypeError(
                f"`custom_pipeline` is not accepted by {cls.__name__}, which runs no custom code: use "
                "`DiffusionPipeline.from_pretrained(folder, custom_pipeline=..., trust_remote_code=True)`."
            )

    @classmethod
    def from_pipe(cls, pipeline: DiffusionPipeline, **kwargs) -> DiffusionPipeline:
        r"""
        The pipeline of this class's task in `pipeline`'s model family, as its scaled class, sharing `pipeline`'s
        components (the same module objects, as diffusers' `from_pipe`): no memory is copied.

        Args:
            pipeline (`DiffusionPipeline`):
                A stock or scaled pipeline of a family that diffusers' AutoPipeline lists (Stable Diffusion, SDXL,
                SD3, Flux, ...).
            kwargs:
                Passed to the scaled class's `from_pipe`: components to replace, pipeline config values. diffusers'
                `enable_pag` is not accepted.

        Returns:
            The scaled pipeline of the task.

        Raises:
            `ValueError`: diffusers' AutoPipeline has no pipeline of the task for the family.
            `TypeError`: the task's pipeline class cannot be scaled (no VAE, no image processor, or a latent format
                no test proves yet: `scaled()`'s message).
        """
        if not isinstance(pipeline, DiffusionPipeline):
            raise TypeError(f"`pipeline` must be a DiffusionPipeline, got {type(pipeline).__name__}.")
        cls._check_kwargs(kwargs)
        return task_class(type(pipeline), cls._task).from_pipe(pipeline, **kwargs)

    @classmethod
    def from_pretrained(cls, pretrained_model_or_path: str | os.PathLike, **kwargs) -> DiffusionPipeline:
        r"""
        Loads a folder or hub repo as the scaled pipeline of this class's task in the model family its
        `model_index.json` names. Folders saved by a stock pipeline and by a scaled one (in either form) load; no code
        from the folder runs.

        Args:
            pretrained_model_or_path (`str` or `os.PathLike`):
                A folder saved with `save_pretrained`, or a hub repo id.
            kwargs:
                Passed to the scaled class's `from_pretrained` (`torch_dtype`, components to replace, `variant`,
                ...). `custom_pipeline` and diffusers' `enable_pag` are not accepted.

        Returns:
            The loaded scaled pipeline of the task.
        """
        cls._check_kwargs(kwargs)
        load_kwargs = {k: kwargs[k] for k in _LOAD_CONFIG_KWARGS if k in kwargs}
        config = DiffusionPipeline.load_config(pretrained_model_or_path, **load_kwargs)
        return task_class(_class_in_model_index(config), cls._task).from_pretrained(pretrained_model_or_path, **kwargs)


class AutoScaledPipelineForText2Image(_AutoScaledTaskPipeline):
    r"""
    [`~diffusers.AutoPipelineForText2Image`] for scaled pipelines: the text-to-image pipeline of a model family, as
    its scaled class ([`ScaledStableDiffusionXLPipeline`] for any SDXL pipeline).

    This class cannot be instantiated: use [`~AutoScaledPipelineForText2Image.from_pretrained`] or
    [`~AutoScaledPipelineForText2Image.from_pipe`].

    Examples:

    ```py
    >>> from diffusers_scaled import AutoScaledPipelineForText2Image, ScaledStableDiffusionXLImg2ImgPipeline

    >>> img2img = ScaledStableDiffusionXLImg2ImgPipeline.from_pretrained("stabilityai/stable-diffusion-xl-base-1.0")
    >>> text2image = AutoScaledPipelineForText2Image.from_pipe(img2img)
    >>> type(text2image).__name__, text2image.unet is img2img.unet
    ('ScaledStableDiffusionXLPipeline', True)
    ```
    """

    _task = "AUTO_TEXT2IMAGE_PIPELINES_MAPPING"


class AutoScaledPipelineForImage2Image(_AutoScaledTaskPipeline):
    r"""
    [`~diffusers.AutoPipelineForImage2Image`] for scaled pipelines: the image-to-image pipeline of a model family, as
    its scaled class ([`ScaledStableDiffusionXLImg2ImgPipeline`] for any SDXL pipeline).

    This class cannot be instantiated: use [`~AutoScaledPipelineForImage2Image.from_pretrained`] or
    [`~AutoScaledPipelineForImage2Image.from_pipe`].

    Examples:

    ```py
    >>> from diffusers_scaled import AutoScaledPipelineForImage2Image, ScaledStableDiffusionXLPipeline

    >>> pipe = ScaledStableDiffusionXLPipeline.from_pretrained("stabilityai/stable-diffusion-xl-base-1.0")
    >>> img2img = AutoScaledPipelineForImage2Image.from_pipe(pipe)
    >>> type(img2img).__name__, img2img.unet is pipe.unet
    ('ScaledStableDiffusionXLImg2ImgPipeline', True)
    ```
    """

    _task = "AUTO_IMAGE2IMAGE_PIPELINES_MAPPING"


class AutoScaledPipelineForInpainting(_AutoScaledTaskPipeline):
    r"""
    [`~diffusers.AutoPipelineForInpainting`] for scaled pipelines: the inpainting pipeline of a model family, as its
    scaled class ([`ScaledStableDiffusionXLInpaintPipeline`] for any SDXL pipeline).

    This class cannot be instantiated: use [`~AutoScaledPipelineForInpainting.from_pretrained`] or
    [`~AutoScaledPipelineForInpainting.from_pipe`].

    Examples:

    ```py
    >>> from diffusers_scaled import AutoScaledPipelineForInpainting

    >>> inpaint = AutoScaledPipelineForInpainting.from_pretrained("stabilityai/stable-diffusion-xl-base-1.0")
    >>> type(inpaint).__name__
    'ScaledStableDiffusionXLInpaintPipeline'
    ```
    """

    _task = "AUTO_INPAINT_PIPELINES_MAPPING"
