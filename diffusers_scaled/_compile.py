"""Opt-in compiled VAE encoder/decoder for callers that encode or decode many images of few shapes (`VaeCompileMixin`).

`torch.compile` specialises a graph per input shape: compiling pays off for shapes that come back (a server's fixed
resolution, a dataset's crops), not for one-off shapes, whose compilation takes longer than many eager calls. So a
shape runs eagerly until it has been seen `min_calls` times, then compiled; at most `max_shapes` shapes are compiled
(torch's own recompilation limit would otherwise fall back to eager with a warning), later ones stay eager.
"""

from __future__ import annotations

import threading
from collections import Counter

import torch
from diffusers import AutoencoderKL
from diffusers.models.autoencoders.vae import DiagonalGaussianDistribution

from . import _vae


class ShapeCompiledModule:
    """Calls `module` eagerly for rare input shapes and through one compiled graph per frequent shape."""

    def __init__(self, module: torch.nn.Module, min_calls: int = 2, max_shapes: int = 8, **compile_kwargs):
        if min_calls < 1:
            raise ValueError(f"`min_calls` must be at least 1, got {min_calls}.")
        if max_shapes < 1:
            raise ValueError(f"`max_shapes` must be at least 1, got {max_shapes}.")
        self.module = module
        self.min_calls = min_calls
        self.max_shapes = max_shapes
        self.compiled = torch.compile(module, dynamic=False, **compile_kwargs)
        self.calls: Counter = Counter()
        self.compiled_shapes: set = set()
        self._lock = threading.Lock()

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        key = (tuple(x.shape), x.dtype, x.device)
        with self._lock:
            self.calls[key] += 1
            use_compiled = key in self.compiled_shapes or (
                self.calls[key] >= self.min_calls and len(self.compiled_shapes) < self.max_shapes
            )
            if use_compiled:
                self.compiled_shapes.add(key)
        return self.compiled(x) if use_compiled else self.module(x)


class CompiledAutoencoderKL:
    """`AutoencoderKL` encode/decode with compiled `encoder` and `decoder` submodules (weights shared, VAE untouched).

    It wires the submodules as `AutoencoderKL.encode` / `decode` do without slicing or tiling; `supports` says when
    that wiring applies (otherwise callers use the VAE's own methods).
    """

    def __init__(self, vae: AutoencoderKL, **kwargs):
        self.vae = vae
        self.encoder = ShapeCompiledModule(vae.encoder, **kwargs)
        self.decoder = ShapeCompiledModule(vae.decoder, **kwargs)

    @staticmethod
    def supports(vae: torch.nn.Module) -> bool:
        return (
            type(vae) is AutoencoderKL
            and not getattr(vae, "use_slicing", False)
            and not getattr(vae, "use_tiling", False)
            and not _vae.has_hooks(vae)  # offloading / layerwise-casting hooks move or cast weights per call
        )

    def encode(self, x: torch.Tensor) -> DiagonalGaussianDistribution:
        h = self.encoder(x)
        if self.vae.quant_conv is not None:
            h = self.vae.quant_conv(h)
        return DiagonalGaussianDistribution(h)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if self.vae.post_quant_conv is not None:
            z = self.vae.post_quant_conv(z)
        return self.decoder(z)


class VaeCompileCache:
    """The compiled wrappers of the VAEs a pipeline computes with (an upcast call runs them with float32 weights)."""

    def __init__(self, **kwargs):
        self.kwargs = kwargs
        self._compiled: dict[int, CompiledAutoencoderKL] = {}
        self._lock = threading.Lock()

    def get(self, vae: torch.nn.Module) -> CompiledAutoencoderKL | None:
        if not CompiledAutoencoderKL.supports(vae):
            return None
        with self._lock:
            compiled = self._compiled.get(id(vae))
            if compiled is None or compiled.vae is not vae:
                compiled = self._compiled[id(vae)] = CompiledAutoencoderKL(vae, **self.kwargs)
            return compiled


class VaeCompileMixin:
    """The compile switch of `encode_latents` / `decode_latents`: `enable_vae_compile` / `disable_vae_compile`. It
    provides the `_compiled(vae)` hook that `LatentsCodecMixin` calls; mix it in before that mixin."""

    _vae_compile: VaeCompileCache | None = None

    def enable_vae_compile(self, min_calls: int = 2, max_shapes: int = 8, **compile_kwargs) -> None:
        r"""
        Runs the VAE's encoder and decoder through `torch.compile` in `encode_latents` / `decode_latents`, one graph
        per input shape, for callers that process many images of few shapes (servers, dataset encoding).

        A shape runs eagerly until it has been seen `min_calls` times; at most `max_shapes` shapes are compiled, later
        ones run eagerly. Applies to `AutoencoderKL` without slicing, tiling or offloading hooks; other VAEs run
        eagerly. The VAE itself is not modified. Compiling takes tens of seconds per shape, and compiled kernels may
        order floating-point operations differently: results agree with eager ones to about 1e-6 relative in float32
        and 1e-3 in float16, not bitwise.

        Args:
            min_calls (`int`, *optional*, defaults to 2):
                Calls with a shape before that shape is compiled.
            max_shapes (`int`, *optional*, defaults to 8):
                Most shapes compiled (torch's default recompilation limit).
            compile_kwargs:
                Passed to `torch.compile` (for example `mode="max-autotune"`); `dynamic` is always `False`.

        Examples:

        ```py
        >>> pipe.enable_vae_compile(min_calls=3)
        >>> for batch in loader:
        ...     latents = pipe.encode_latents(batch)
        ```
        """
        self._vae_compile = VaeCompileCache(min_calls=min_calls, max_shapes=max_shapes, **compile_kwargs)

    def disable_vae_compile(self) -> None:
        """Goes back to eager VAE calls (see `enable_vae_compile`)."""
        self._vae_compile = None

    def _compiled(self, vae):
        return None if self._vae_compile is None else self._vae_compile.get(vae)
