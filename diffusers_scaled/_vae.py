"""What the mixin needs from a VAE: where it runs, in which dtype, and its encode/decode calls.

Kept apart from the mixin so that the tools (calibration, caching) use exactly the same code path on a bare VAE.
"""

from __future__ import annotations

import contextlib
import inspect
import itertools
import threading
import weakref

import torch
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKLOutput
from diffusers.models.modeling_utils import ModelMixin
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents


try:  # diffusers >= 0.36 knows group offloading too
    from diffusers.utils.torch_utils import get_module_execution_device as _diffusers_execution_device
except ImportError:  # pragma: no cover - depends on the installed diffusers
    _diffusers_execution_device = None


def has_hooks(module: torch.nn.Module) -> bool:
    """Whether `module` or a submodule carries an accelerate (`_hf_hook`) or diffusers (`_diffusers_hook`) hook: the
    only things that make its execution device or compute dtype differ from its first parameter's. An explicit stack
    over `_modules`, because `Module.modules()` (a generator per level) costs about 1 ms per call on a VAE."""
    stack = [module]
    while stack:
        attributes = stack.pop().__dict__
        if "_hf_hook" in attributes or "_diffusers_hook" in attributes:
            return True
        stack.extend(child for child in attributes.get("_modules", {}).values() if child is not None)
    return False


def _hooked_execution_device(vae: torch.nn.Module) -> torch.device:
    if _diffusers_execution_device is not None:
        return _diffusers_execution_device(vae)
    for module in vae.modules():
        device = getattr(getattr(module, "_hf_hook", None), "execution_device", None)
        if device is not None:
            return torch.device(device)
    return torch.device(vae.device)


def _first_parameter_dtype(vae: ModelMixin) -> torch.dtype:
    # `ModelMixin.dtype` without hooks: the first floating parameter outside `_keep_in_fp32_modules`. Its rarer cases
    # (no such parameter) are left to `vae.dtype` itself.
    keep_in_fp32 = getattr(vae, "_keep_in_fp32_modules", None)
    for name, parameter in vae.named_parameters():
        if keep_in_fp32 and any(m in name for m in keep_in_fp32):
            continue
        if parameter.is_floating_point():
            return parameter.dtype
        break
    return vae.dtype


def needs_upcast(vae: torch.nn.Module, honour_force_upcast: bool, vae_dtype: torch.dtype | None = None) -> bool:
    """Whether a float16 VAE must compute in float32 (SDXL's rule: `force_upcast` in its config). bfloat16 never is:
    it has float32's range, which is what `force_upcast` protects against. `vae_dtype`: `vae.dtype`, if known."""
    if not honour_force_upcast:
        return False
    return (vae_dtype or vae.dtype) == torch.float16 and bool(getattr(vae.config, "force_upcast", False))


# float32 compute for a float16 VAE -------------------------------------------------------------------------------------
#
# The stock SDXL pipelines upcast with `vae.to(float32)` before the call and `vae.to(float16)` after it: the shared VAE
# is converted in place, which races when two threads share a pipeline and leaves it in float32 if decoding raises.
# Here the VAE's own modules run with float32 versions of its floating-point parameters and buffers, cast from the
# tensors it holds at that moment (`torch.func.functional_call`): one cast per call, as stock's `.to(float32)`, and
# nothing cached, so nothing can go stale (weights changed in place through `.data`, tiling or slicing switched on or
# off, hooks added). The cast values are exactly stock's, so the results are bitwise the stock upcast path's.
#
# For the duration of that call the VAE's modules hold the float32 tensors (functional_call swaps them in and back,
# also when the call raises). So that no other call of ours sees them, the calls of one float16 VAE take a lock: any
# number of float16 calls at once, or one float32 call alone. (Code outside this package that runs the same VAE at the
# same moment is not covered; the stock pipelines' own upcast mutates the VAE for longer.)


class _SharedOrExclusive:
    """A readers-writer lock: `shared()` for calls that run the VAE as it is, `exclusive()` for those that swap its
    tensors. A waiting exclusive call goes before shared calls that arrive after it, so it cannot be starved."""

    def __init__(self):
        self._condition = threading.Condition()
        self._shared = 0
        self._exclusive = False
        self._waiting = 0

    @contextlib.contextmanager
    def shared(self):
        with self._condition:
            self._condition.wait_for(lambda: not self._exclusive and not self._waiting)
            self._shared += 1
        try:
            yield
        finally:
            with self._condition:
                self._shared -= 1
                self._condition.notify_all()

    @contextlib.contextmanager
    def exclusive(self):
        with self._condition:
            self._waiting += 1
            self._condition.wait_for(lambda: not self._exclusive and not self._shared)
            self._waiting -= 1
            self._exclusive = True
        try:
            yield
        finally:
            with self._condition:
                self._exclusive = False
                self._condition.notify_all()


_locks: "weakref.WeakKeyDictionary[torch.nn.Module, _SharedOrExclusive]" = weakref.WeakKeyDictionary()
_locks_lock = threading.Lock()


def _lock(vae: torch.nn.Module) -> _SharedOrExclusive:
    with _locks_lock:
        lock = _locks.get(vae)
        if lock is None:
            lock = _locks[vae] = _SharedOrExclusive()
        return lock


class _Scope(torch.nn.Module):
    """Holds `vae` as its only submodule, so that `functional_call` on it replaces the VAE's tensors while `run` runs
    (`functional_call` calls a module's `forward`; the VAE's own entry points are `encode` and `decode`)."""

    def __init__(self, vae: torch.nn.Module, run):
        super().__init__()
        self.vae = vae
        self.run = run

    def forward(self):
        return self.run()


def run_vae(vae: torch.nn.Module, vae_dtype: torch.dtype, upcast: bool, run):
    """
    Calls `run()`, which runs `vae`'s modules: as they are, or, when `upcast`, with float32 versions of the floating-
    point parameters and buffers `vae` holds now (see above). `vae_dtype`: `vae.dtype`; only float16 VAEs are ever
    upcast, so only their calls take the VAE's lock.
    """
    if not upcast:
        if vae_dtype != torch.float16:
            return run()
        with _lock(vae).shared():
            return run()
    with _lock(vae).exclusive():
        float32 = {f"vae.{name}": t.float() for name, t in vae.named_buffers() if t.is_floating_point()}
        for name, parameter in vae.named_parameters():
            if parameter.is_floating_point():
                # Parameters, as the modules and offload hooks expect (accelerate rebuilds them by their type); without
                # gradient: the call's gradients reach its inputs, not these temporary float32 weights.
                float32[f"vae.{name}"] = torch.nn.Parameter(parameter.detach().float(), requires_grad=False)
        return torch.func.functional_call(_Scope(vae, run), float32, ())


def placement(vae: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    """
    The device the VAE's inputs must be on and the dtype it computes in: exactly diffusers'
    `get_module_execution_device(vae)` (an offload hook's execution device if there is one, else the VAE's own) and
    `vae.dtype` (a layerwise-casting hook's compute dtype if there is one, else its first parameter's).

    Both walk every submodule, about 1.5 ms per call together on a VAE. Without hooks the answer is the first
    parameter's device and dtype, which is what this returns after one cheap check for hooks.

    Read under the VAE's lock: never while another thread's call holds the VAE's float32 tensors (see `run_vae`).
    """
    with _lock(vae).shared():
        return _placement(vae)


def _placement(vae: torch.nn.Module) -> tuple[torch.device, torch.dtype]:
    plain = (
        isinstance(vae, ModelMixin)
        and type(vae).device is ModelMixin.device
        and type(vae).dtype is ModelMixin.dtype
        and not has_hooks(vae)
    )
    if not plain:
        return _hooked_execution_device(vae), vae.dtype
    first = next(itertools.chain(vae.parameters(), vae.buffers()), None)
    if first is None:
        return _hooked_execution_device(vae), vae.dtype
    return first.device, _first_parameter_dtype(vae)


_decode_takes_generator_by_class: dict[type, bool] = {}


def _parameters(function) -> dict:
    """The parameters of `function`, seen through decorators: diffusers < 0.36 wraps `decode` in `apply_forward_hook`
    without `functools.wraps`, leaving a `(self, *args, **kwargs)` signature; the wrapped method is in its closure."""
    function = inspect.unwrap(function)
    parameters = inspect.signature(function).parameters
    kinds = {p.kind for p in parameters.values()}
    if inspect.Parameter.VAR_KEYWORD in kinds and inspect.Parameter.VAR_POSITIONAL in kinds:
        for cell in getattr(function, "__closure__", None) or ():
            inner = cell.cell_contents
            if inspect.isfunction(inner):
                return _parameters(inner)
    return parameters


def _decode_takes_generator(vae_class: type) -> bool:
    # ConsistencyDecoderVAE needs the generator to decode; AutoencoderKL and AutoencoderTiny accept and ignore it;
    # VQModel does not accept it. (A plain dict, not functools.lru_cache, which torch.compile warns about.)
    takes = _decode_takes_generator_by_class.get(vae_class)
    if takes is None:
        takes = "generator" in _parameters(vae_class.decode)
        _decode_takes_generator_by_class[vae_class] = takes
    return takes


def _retrieve_latents(encoder_output, generator, sample_mode: str) -> torch.Tensor:
    # `retrieve_latents` knows posteriors (`latent_dist`: AutoencoderKL, AsymmetricAutoencoderKL,
    # ConsistencyDecoderVAE) and `latents` (AutoencoderTiny, VQModel); AutoencoderDC returns a deterministic `latent`,
    # which the Sana pipelines read directly (`vae.encode(image).latent`).
    if not hasattr(encoder_output, "latent_dist") and not hasattr(encoder_output, "latents"):
        latent = getattr(encoder_output, "latent", None)
        if isinstance(latent, torch.Tensor):
            return latent
    return retrieve_latents(encoder_output, generator=generator, sample_mode=sample_mode)


def encode(
    vae: torch.nn.Module,
    image: torch.Tensor,
    generator: torch.Generator | list[torch.Generator] | None,
    sample_mode: str,
    compiled=None,
) -> torch.Tensor:
    """Raw latents of a preprocessed image batch, as the img2img pipelines take them (one encode per image and
    generator when `generator` is a list). `compiled`: a `CompiledAutoencoderKL` of `vae` to run instead."""
    run = vae.encode if compiled is None else (lambda x: AutoencoderKLOutput(latent_dist=compiled.encode(x)))
    if isinstance(generator, list):
        latents = [_retrieve_latents(run(image[i : i + 1]), generator[i], sample_mode) for i in range(image.shape[0])]
        return torch.cat(latents, dim=0)
    return _retrieve_latents(run(image), generator, sample_mode)


def decode(
    vae: torch.nn.Module, latents: torch.Tensor, generator: torch.Generator | None, compiled=None, **decode_kwargs
) -> torch.Tensor:
    """Decoded image batch in the VAE's output range ([-1, 1] for the usual VAEs). `compiled`: a
    `CompiledAutoencoderKL` of `vae` to run instead. `decode_kwargs`: extra arguments of the VAE's `decode` (LTX-Video's
    `temb`)."""
    if compiled is not None and not decode_kwargs:
        return compiled.decode(latents)
    if _decode_takes_generator(type(vae)):
        return vae.decode(latents, return_dict=False, generator=generator, **decode_kwargs)[0]
    return vae.decode(latents, return_dict=False, **decode_kwargs)[0]


# float16 overflow ---------------------------------------------------------------------------------------------------
#
# Policy: a float16 VAE computing in float16 (no upcast) whose finite input comes out with NaN or inf has overflowed
# float16's range (largest value 65504), which is what `force_upcast` exists for. The call is then run again in float32
# (`run_vae` with `upcast`), from the same generator state, and a warning names `force_upcast`; the result is cast back to
# float16, the dtype the call returns without overflow. bfloat16 has float32's range and is never retried.


def _overflowed(inputs: torch.Tensor, outputs: torch.Tensor) -> bool:
    # `outputs.dtype`: float16 exactly when a float16 VAE computed without upcast, without walking its parameters.
    return (
        outputs.dtype == torch.float16
        and not bool(torch.isfinite(outputs).all())
        and bool(torch.isfinite(inputs).all())
    )


def _generator_states(generator) -> list | None:
    if generator is None:
        return None
    generators = generator if isinstance(generator, list) else [generator]
    return [(g, g.get_state()) for g in generators if g is not None]


def _restore(states) -> None:
    for g, state in states or ():
        g.set_state(state)


def _warn_overflow(what: str) -> None:
    from diffusers.utils import logging

    logging.get_logger(__name__).warning(
        f"The float16 VAE overflowed (NaN/inf) during {what}; ran it again in float32. To compute in float32 from "
        "the start, load the VAE in float32 or bfloat16, or, on pipelines that honour it (`honour_force_upcast`, the "
        "SDXL family), set `vae.register_to_config(force_upcast=True)`."
    )


def encode_finite(vae, vae_dtype, upcast, image, generator, sample_mode, compiled=None) -> torch.Tensor:
    """`encode` through `run_vae(vae, vae_dtype, upcast, ...)`, retried in float32 if float16 overflowed (see the
    policy above). `image` is in the dtype the VAE computes in."""
    states = _generator_states(generator)
    latents = run_vae(vae, vae_dtype, upcast, lambda: encode(vae, image, generator, sample_mode, compiled))
    if _overflowed(image, latents):
        _warn_overflow("encoding")
        _restore(states)
        image = image.float()
        latents = run_vae(vae, vae_dtype, True, lambda: encode(vae, image, generator, sample_mode)).to(vae_dtype)
    return latents


def decode_finite(vae, vae_dtype, upcast, latents, generator, compiled=None, **decode_kwargs) -> torch.Tensor:
    """`decode` through `run_vae(vae, vae_dtype, upcast, ...)`, retried in float32 if float16 overflowed (see the
    policy above). `latents` are raw latents in the dtype the VAE computes in; `decode_kwargs` go to `decode`."""
    states = _generator_states(generator)
    image = run_vae(vae, vae_dtype, upcast, lambda: decode(vae, latents, generator, compiled, **decode_kwargs))
    if _overflowed(latents, image):
        _warn_overflow("decoding")
        _restore(states)
        latents = latents.float()
        floats = {k: v.float() if isinstance(v, torch.Tensor) else v for k, v in decode_kwargs.items()}
        image = run_vae(vae, vae_dtype, True, lambda: decode(vae, latents, generator, **floats)).to(vae_dtype)
    return image
