"""The table of scaled pipeline classes, keyed by the stock diffusers pipeline each extends.

Every subclass of `RegisteredPipelineMixin` (through `ScaledLatentsMixin`: the package's ready classes and a user's own)
registers itself here when Python creates the class. The registry is this package's own dictionary: nothing of
diffusers is touched. Classes are held by weak reference, so a class defined inside a function disappears with it.

This module imports nothing of this package: "is this class scaled?" is `issubclass(cls, RegisteredPipelineMixin)`.
It knows only the classes defined so far; `loading.get_scaled_pipeline_class` also loads the package's ready class of
a stock pipeline on demand (`diffusers_scaled.pipelines`).
"""

from __future__ import annotations

import threading
import weakref

import diffusers
from diffusers import DiffusionPipeline


_PACKAGE = __name__.split(".")[0]
_lock = threading.Lock()
# stock class -> weak references to the scaled classes extending it, in registration order.
_scaled_by_stock: dict[type, list[weakref.ref]] = {}


class RegisteredPipelineMixin:
    """Registers every subclass that extends a diffusers pipeline in this module's table when Python creates it (a
    subclass that extends none, such as `PackedLatentsMixin`, is a mixin and is not recorded)."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        register(cls)


def is_scaled(cls) -> bool:
    """Whether `cls` is a scaled pipeline class (or mixin): a subclass of `RegisteredPipelineMixin`."""
    return isinstance(cls, type) and issubclass(cls, RegisteredPipelineMixin)


def _is_own_class(cls: type) -> bool:
    """Whether `cls` is one of this package's own classes (a ready class, or one `scaled()` made), not a user's."""
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
        and not is_scaled(base)
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


def registered_classes_for(stock: type) -> list[type]:
    """The live registered classes extending `stock`: this package's own (ready or made by `scaled()`) first, then
    users', each group in registration order."""
    with _lock:
        classes = [c for c in (ref() for ref in _scaled_by_stock.get(stock, [])) if c is not None]
    return sorted(classes, key=lambda c: not _is_own_class(c))  # stable: keeps registration order within each group


def preferred_registered_class(stock: type) -> type | None:
    """The first of `registered_classes_for(stock)`, or None. (A ready class that is not imported yet is not
    registered: `loading.get_scaled_pipeline_class` asks `pipelines.ready_class_for` first.)"""
    classes = registered_classes_for(stock)
    return classes[0] if classes else None


def registered_scaled_classes() -> list[type]:
    """Every live registered scaled class."""
    with _lock:
        stocks = list(_scaled_by_stock)
    return [c for stock in stocks for c in registered_classes_for(stock)]


def registered_class_named(name: str) -> type | None:
    """The registered scaled class whose `__name__` is `name`, or None; raises where several classes share the name."""
    matches = [c for c in registered_scaled_classes() if c.__name__ == name]
    if len(matches) > 1:
        raise ValueError(
            f"Several registered scaled pipeline classes are named {name!r}: "
            f"{', '.join(f'{c.__module__}.{c.__qualname__}' for c in matches)}. Load the folder with the class you mean, "
            f"e.g. `{name}.from_pretrained(folder)`."
        )
    return matches[0] if matches else None


def stock_class_of(scaled: type) -> type:
    """`stock_pipeline_class(scaled)`, raising `TypeError` for a class that is not a scaled pipeline class."""
    stock = stock_pipeline_class(scaled) if is_scaled(scaled) else None
    if stock is None:
        raise TypeError(
            f"`scaled` must be a pipeline class that mixes in ScaledLatentsMixin and extends a diffusers pipeline, "
            f"got {scaled!r}."
        )
    return stock


def registered_stocks() -> list[type]:
    """The stock pipelines that some live registered class extends."""
    with _lock:
        return [s for s, refs in _scaled_by_stock.items() if any(ref() is not None for ref in refs)]
