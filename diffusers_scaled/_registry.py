"""Which scaled class extends which stock diffusers pipeline.

Every subclass of `ScaledLatentsMixin` registers itself here when Python creates the class, keyed by the stock
diffusers pipeline it extends. The registry is this package's own dictionary: nothing of diffusers is touched.
"""

from __future__ import annotations

import threading

from diffusers import DiffusionPipeline


_lock = threading.Lock()
# stock class -> scaled classes extending it, in registration order (the package's ready classes first).
_scaled_by_stock: dict[type, list[type]] = {}


def stock_pipeline_class(cls: type) -> type | None:
    """The first diffusers pipeline class in `cls`'s MRO that is not itself a scaled class."""
    from .mixin import ScaledLatentsMixin

    for base in cls.__mro__[1:]:
        if (
            isinstance(base, type)
            and issubclass(base, DiffusionPipeline)
            and not issubclass(base, ScaledLatentsMixin)
            and base is not DiffusionPipeline
        ):
            return base
    return None


def register(cls: type) -> None:
    """Records `cls` as a scaled counterpart of the stock pipeline it extends (no-op for abstract mixin subclasses)."""
    stock = stock_pipeline_class(cls)
    if stock is None:
        return
    with _lock:
        classes = _scaled_by_stock.setdefault(stock, [])
        if cls not in classes:
            classes.append(cls)


def scaled_class_for(stock: type) -> type | None:
    """The package's scaled counterpart of `stock` (the first registered), or None."""
    with _lock:
        classes = _scaled_by_stock.get(stock)
        return classes[0] if classes else None
