"""Which scaled class extends which stock diffusers pipeline, both ways.

Every subclass of `ScaledLatentsMixin` (the package's ready classes and a user's own) registers itself here when Python
creates the class, keyed by the stock pipeline it extends. The registry is this package's own dictionary: nothing of
diffusers is touched. Classes are held by weak reference, so a class defined inside a function disappears with it.
"""

from __future__ import annotations

import threading
import weakref

import diffusers
from diffusers import DiffusionPipeline


__all__ = ["get_scaled_pipeline_class", "get_stock_pipeline_class"]

_PACKAGE = __name__.split(".")[0]
_lock = threading.Lock()
# stock class -> weak references to the scaled classes extending it, in registration order.
_scaled_by_stock: dict[type, list[weakref.ref]] = {}


def _is_scaled(cls: type) -> bool:
    from .mixin import ScaledLatentsMixin  # deferred: the mixin imports this module when a subclass is created

    return isinstance(cls, type) and issubclass(cls, ScaledLatentsMixin)


def _is_ready_class(cls: type) -> bool:
    """Whether `cls` is one of this package's own classes (as opposed to a user's subclass)."""
    return cls.__module__.split(".")[0] == _PACKAGE


def is_diffusers_export(cls: type) -> bool:
    """Whether `cls` is a class that `diffusers` exports under its own name (`diffusers.<name> is cls`)."""
    return cls.__module__.split(".")[0] == "diffusers" and getattr(diffusers, cls.__name__, None) is cls


def stock_pipeline_class(cls: type) -> type | None:
    """
    The stock pipeline `cls` extends: the first class in its MRO that diffusers exports by name (`StableDiffusionPipeline`
    for `ScaledStableDiffusionPipeline`, also when a user's own non-scaled subclass sits in between); failing that (a
    community pipeline), the first non-scaled `DiffusionPipeline` subclass. `None` for the mixin itself.
    """
    candidates = [
        base
        for base in cls.__mro__[1:]
        if isinstance(base, type)
        and issubclass(base, DiffusionPipeline)
        and base is not DiffusionPipeline
        and not _is_scaled(base)
    ]
    for base in candidates:
        if is_diffusers_export(base):
            return base
    return candidates[0] if candidates else None


def register(cls: type) -> None:
    """Records `cls` as a scaled counterpart of the stock pipeline it extends (no-op for abstract mixin subclasses)."""
    stock = stock_pipeline_class(cls)
    if stock is None:
        return
    with _lock:
        refs = _scaled_by_stock.setdefault(stock, [])
        if not any(ref() is cls for ref in refs):
            refs.append(weakref.ref(cls))


def scaled_classes_for(stock: type) -> list[type]:
    """The live scaled classes extending `stock`: the package's ready class first, then users' in registration order."""
    with _lock:
        classes = [c for c in (ref() for ref in _scaled_by_stock.get(stock, [])) if c is not None]
    return sorted(classes, key=lambda c: not _is_ready_class(c))  # stable: keeps registration order within each group


def scaled_class_for(stock: type) -> type | None:
    """The preferred scaled counterpart of `stock` (the package's ready class where there is one), or None."""
    classes = scaled_classes_for(stock)
    return classes[0] if classes else None


def registered_scaled_classes() -> list[type]:
    """Every live registered scaled class."""
    with _lock:
        stocks = list(_scaled_by_stock)
    return [c for stock in stocks for c in scaled_classes_for(stock)]


def scaled_class_named(name: str) -> type | None:
    """The registered scaled class whose `__name__` is `name`, or None; raises where several classes share the name."""
    matches = [c for c in registered_scaled_classes() if c.__name__ == name]
    if len(matches) > 1:
        raise ValueError(
            f"Several registered scaled pipeline classes are named {name!r}: "
            f"{', '.join(f'{c.__module__}.{c.__qualname__}' for c in matches)}. Load the folder with the class you mean, "
            f"e.g. `{name}.from_pretrained(folder)`."
        )
    return matches[0] if matches else None


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
    if _is_scaled(stock):
        return stock
    scaled = scaled_class_for(stock)
    if scaled is None:
        raise ValueError(
            f"{stock.__name__} has no scaled counterpart. Define one with "
            f"`class Scaled{stock.__name__}(ScaledLatentsMixin, {stock.__name__}): pass` (it registers itself), or "
            f"use one of the classes extending {', '.join(sorted(s.__name__ for s in _stocks()))}."
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
    stock = stock_pipeline_class(scaled) if _is_scaled(scaled) else None
    if stock is None:
        raise TypeError(
            f"`scaled` must be a pipeline class that mixes in ScaledLatentsMixin and extends a diffusers pipeline, "
            f"got {scaled!r}."
        )
    return stock


def _stocks() -> list[type]:
    with _lock:
        return [s for s, refs in _scaled_by_stock.items() if any(ref() is not None for ref in refs)]
