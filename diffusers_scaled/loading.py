"""Which scaled class a stock pipeline class, its name or a saved folder stands for, and loading it.

`get_scaled_pipeline_class` / `get_stock_pipeline_class` map classes both ways (ready classes are imported on demand);
`AutoScaledPipeline` loads a folder or converts a loaded pipeline as the scaled class.
"""

from __future__ import annotations

import os

import diffusers
from diffusers import DiffusionPipeline

from . import _registry, pipelines


__all__ = ["AutoScaledPipeline", "get_scaled_pipeline_class", "get_stock_pipeline_class"]

_LOAD_CONFIG_KWARGS = ("cache_dir", "force_download", "proxies", "token", "local_files_only", "revision")


def get_scaled_pipeline_class(stock: type | str) -> type:
    r"""
    The scaled counterpart of a stock diffusers pipeline class: the package's ready class where there is one, otherwise
    the first registered subclass of [`ScaledLatentsMixin`] extending it (a user's own, registered when defined).

    Args:
        stock (`type` or `str`):
            A diffusers pipeline class, or its name as in `model_index.json` (`"StableDiffusionPipeline"`). A scaled
            class is returned as it is.

    Returns:
        `type`: the scaled pipeline class.

    Raises:
        `ValueError`: no scaled class extends `stock`.

    Examples:

    ```py
    >>> from diffusers import StableDiffusionXLPipeline
    >>> from diffusers_scaled import get_scaled_pipeline_class

    >>> get_scaled_pipeline_class(StableDiffusionXLPipeline).__name__
    'ScaledStableDiffusionXLPipeline'
    ```
    """
    if isinstance(stock, str):
        stock_class = getattr(diffusers, stock, None) if stock.isidentifier() else None
        if not (isinstance(stock_class, type) and issubclass(stock_class, DiffusionPipeline)):
            raise ValueError(f"`stock` must name a diffusers pipeline class, got {stock!r}.")
        stock = stock_class
    if not (isinstance(stock, type) and issubclass(stock, DiffusionPipeline)):
        raise TypeError(f"`stock` must be a diffusers pipeline class or its name, got {stock!r}.")
    if _registry.is_scaled(stock):
        return stock
    scaled = pipelines.ready_class_for(stock) or _registry.preferred_registered_class(stock)
    if scaled is None:
        raise ValueError(
            f"{stock.__name__} has no scaled counterpart. Define one with "
            f"`class Scaled{stock.__name__}(ScaledLatentsMixin, {stock.__name__}): pass` (it registers itself), or "
            f"use one of the classes extending {', '.join(_stock_names())}."
        )
    return scaled


def get_stock_pipeline_class(scaled: type) -> type:
    r"""
    The stock diffusers pipeline a scaled class extends (`StableDiffusionPipeline` for
    `ScaledStableDiffusionPipeline`).

    Args:
        scaled (`type`):
            A subclass of [`ScaledLatentsMixin`] that extends a diffusers pipeline.

    Returns:
        `type`: the stock pipeline class.

    Raises:
        `TypeError`: `scaled` is not a scaled pipeline class.

    Examples:

    ```py
    >>> from diffusers_scaled import ScaledStableDiffusionPipeline, get_stock_pipeline_class

    >>> get_stock_pipeline_class(ScaledStableDiffusionPipeline).__name__
    'StableDiffusionPipeline'
    ```
    """
    return _registry.stock_class_of(scaled)


def _stock_names() -> list[str]:
    return sorted({s.__name__ for s in _registry.registered_stocks()} | set(pipelines.ready_stock_names()))


def _class_named(name: str) -> type | None:
    pipelines.ready_class_named(name)  # registers the ready class of that name, if there is one
    return _registry.registered_class_named(name)


def scaled_class_for_model_index(config: dict) -> type:
    """The scaled class for the pipeline a `model_index.json` describes (stock, scaled or a user's registered class)."""
    class_name = config.get("_class_name")
    if isinstance(class_name, (list, tuple)) and len(class_name) == 2:
        module, name = class_name
        scaled = _class_named(name)
        if scaled is None:
            raise ValueError(
                f"The folder holds the custom pipeline {name} (module file {module}.py), and no registered scaled "
                f"pipeline class has that name. If {name} is a subclass of ScaledLatentsMixin, import the module that "
                f"defines it first (it registers itself); AutoScaledPipeline runs no code from the folder. To run the "
                f"folder's own code, use `DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)`."
            )
        return scaled
    if not isinstance(class_name, str):
        raise ValueError(
            f"`_class_name` in model_index.json must be a class name or [module, class], got {class_name!r}."
        )
    scaled = _class_named(class_name)
    return scaled if scaled is not None else get_scaled_pipeline_class(class_name)


class AutoScaledPipeline:
    r"""
    Loads a saved pipeline as its scaled counterpart: a folder of `StableDiffusionXLPipeline` loads as
    [`ScaledStableDiffusionXLPipeline`], a folder saved by a scaled class (ready or a user's own, registered) as that
    class.

    It reads `model_index.json` and nothing else to pick the class: no code from the folder runs, whether or not it
    holds a module file, and no `trust_remote_code` is needed. A pipeline class with no scaled counterpart is an error
    that says how to define one.

    This class cannot be instantiated: use [`AutoScaledPipeline.from_pretrained`] or [`AutoScaledPipeline.from_pipe`].
    """

    def __init__(self, *args, **kwargs):
        raise EnvironmentError(
            f"{self.__class__.__name__} is designed to be instantiated using the "
            f"`{self.__class__.__name__}.from_pretrained(pretrained_model_or_path)` or "
            f"`{self.__class__.__name__}.from_pipe(pipeline)` methods."
        )

    @classmethod
    def scaled_class_for(cls, pretrained_model_or_path: str | os.PathLike, **kwargs) -> type:
        r"""
        The scaled class that [`~AutoScaledPipeline.from_pretrained`] would return an instance of, read from
        `model_index.json` (only that file is read or downloaded).

        Args:
            pretrained_model_or_path (`str` or `os.PathLike`):
                A folder saved with `save_pretrained`, or a hub repo id.
            kwargs:
                `cache_dir`, `force_download`, `proxies`, `token`, `local_files_only`, `revision` are used to find
                `model_index.json`; other keywords are ignored.

        Returns:
            `type`: the scaled pipeline class.
        """
        load_kwargs = {k: kwargs[k] for k in _LOAD_CONFIG_KWARGS if k in kwargs}
        config = DiffusionPipeline.load_config(pretrained_model_or_path, **load_kwargs)
        return scaled_class_for_model_index(config)

    @classmethod
    def from_pretrained(cls, pretrained_model_or_path: str | os.PathLike, **kwargs) -> DiffusionPipeline:
        r"""
        Loads a pipeline as the scaled counterpart of the class its `model_index.json` names.

        Args:
            pretrained_model_or_path (`str` or `os.PathLike`):
                A folder saved with `save_pretrained` (by a stock or a scaled pipeline), or a hub repo id.
            kwargs:
                Passed to the scaled class's `from_pretrained` (`torch_dtype`, components to replace, `variant`, ...).
                `custom_pipeline` is not accepted: this loader runs no custom code.

        Returns:
            The loaded scaled pipeline.

        Examples:

        ```py
        >>> from diffusers_scaled import AutoScaledPipeline

        >>> pipe = AutoScaledPipeline.from_pretrained("stabilityai/stable-diffusion-xl-base-1.0")
        >>> type(pipe).__name__
        'ScaledStableDiffusionXLPipeline'
        ```
        """
        if "custom_pipeline" in kwargs:
            raise TypeError(
                "`custom_pipeline` is not accepted by AutoScaledPipeline.from_pretrained, which runs no custom code: use "
                "`DiffusionPipeline.from_pretrained(folder, custom_pipeline=..., trust_remote_code=True)`."
            )
        scaled = cls.scaled_class_for(pretrained_model_or_path, **kwargs)
        return scaled.from_pretrained(pretrained_model_or_path, **kwargs)

    @classmethod
    def from_pipe(cls, pipeline: DiffusionPipeline, **kwargs) -> DiffusionPipeline:
        r"""
        The scaled counterpart of a loaded pipeline, sharing its components (as diffusers' `from_pipe` does): no
        memory is copied.

        Args:
            pipeline (`DiffusionPipeline`):
                A stock or scaled pipeline.
            kwargs:
                Passed to the scaled class's `from_pipe` (components to replace, pipeline config).

        Returns:
            The scaled pipeline.

        Examples:

        ```py
        >>> from diffusers import StableDiffusionPipeline
        >>> from diffusers_scaled import AutoScaledPipeline

        >>> stock = StableDiffusionPipeline.from_pretrained("stable-diffusion-v1-5/stable-diffusion-v1-5")
        >>> pipe = AutoScaledPipeline.from_pipe(stock)
        >>> pipe.unet is stock.unet
        True
        ```
        """
        if not isinstance(pipeline, DiffusionPipeline):
            raise TypeError(f"`pipeline` must be a DiffusionPipeline, got {type(pipeline).__name__}.")
        return get_scaled_pipeline_class(type(pipeline)).from_pipe(pipeline, **kwargs)
