"""What the mixin needs from a VAE: where it runs, in which dtype, and its encode/decode calls.

Kept apart from the mixin so that the tools (calibration, caching) use exactly the same code path on a bare VAE.
"""

from __future__ import annotations

import copy
import inspect
import threading
import weakref

import torch
from diffusers.models.autoencoders.autoencoder_kl import AutoencoderKLOutput
from diffusers.pipelines.stable_diffusion.pipeline_stable_diffusion_img2img import retrieve_latents


SAMPLE_MODES = ("sample", "argmax")


try:  # diffusers >= 0.36 knows group offloading too
    from diffusers.utils.torch_utils import get_module_execution_device as _diffusers_execution_device
except ImportError:  # pragma: no cover - depends on the installed diffusers
    _diffusers_execution_device = None


def execution_device(vae: torch.nn.Module) -> torch.device:
    """The device the VAE's inputs must be on: its offload hook's execution device if it has one, else its own."""
    if _diffusers_execution_device is not None:
        return _diffusers_execution_device(vae)
    for module in vae.modules():
        device = getattr(getattr(module, "_hf_hook", None), "execution_device", None)
        if device is not None:
            return torch.device(device)
    return torch.device(vae.device)


def needs_upcast(vae: torch.nn.Module, honour_force_upcast: bool) -> bool:
    """Whether a float16 VAE must compute in float32 (SDXL's rule: `force_upcast` in its config). bfloat16 never is:
    it has float32's range, which is what `force_upcast` protects against."""
    return honour_force_upcast and vae.dtype == torch.float16 and bool(getattr(vae.config, "force_upcast", False))


_float32_copies: "weakref.WeakKeyDictionary[torch.nn.Module, tuple[tuple, torch.nn.Module]]" = (
    weakref.WeakKeyDictionary()
)
_float32_copies_lock = threading.Lock()


def _weights_fingerprint(vae: torch.nn.Module) -> tuple:
    # `_version` counts in-place writes (load_state_dict, optimizer steps); `data_ptr` changes on `.to(...)`.
    return tuple((t.data_ptr(), t._version) for t in vae.state_dict(keep_vars=True).values())


def float32_copy(vae: torch.nn.Module) -> torch.nn.Module:
    """
    A float32 copy of `vae`, cached while `vae`'s weights are unchanged.

    The stock SDXL pipelines upcast by converting the shared VAE to float32 in place and back afterwards, which races
    when two threads share a pipeline and leaves the VAE in float32 if decoding raises. A copy leaves `vae` untouched;
    its weights are the exact float32 values of the float16 ones, so results are bitwise the stock upcast path's.
    """
    fingerprint = _weights_fingerprint(vae)
    with _float32_copies_lock:
        cached = _float32_copies.get(vae)
        if cached is not None and cached[0] == fingerprint:
            return cached[1]
        upcast = copy.deepcopy(vae).to(dtype=torch.float32)
        _float32_copies[vae] = (fingerprint, upcast)
        return upcast


def compute_vae(vae: torch.nn.Module, honour_force_upcast: bool) -> torch.nn.Module:
    """The module that actually runs: `vae` itself, or its float32 copy when it needs upcasting."""
    return float32_copy(vae) if needs_upcast(vae, honour_force_upcast) else vae


_decode_takes_generator_by_class: dict[type, bool] = {}


def _decode_takes_generator(vae_class: type) -> bool:
    # ConsistencyDecoderVAE needs the generator to decode; AutoencoderKL and AutoencoderTiny accept and ignore it;
    # VQModel does not accept it. (A plain dict, not functools.lru_cache, which torch.compile warns about.)
    takes = _decode_takes_generator_by_class.get(vae_class)
    if takes is None:
        takes = "generator" in inspect.signature(vae_class.decode).parameters
        _decode_takes_generator_by_class[vae_class] = takes
    return takes


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
        latents = [
            retrieve_latents(run(image[i : i + 1]), generator=generator[i], sample_mode=sample_mode)
            for i in range(image.shape[0])
        ]
        return torch.cat(latents, dim=0)
    return retrieve_latents(run(image), generator=generator, sample_mode=sample_mode)


def decode(
    vae: torch.nn.Module, latents: torch.Tensor, generator: torch.Generator | None, compiled=None
) -> torch.Tensor:
    """Decoded image batch in the VAE's output range ([-1, 1] for the usual VAEs). `compiled`: a
    `CompiledAutoencoderKL` of `vae` to run instead."""
    if compiled is not None:
        return compiled.decode(latents)
    if _decode_takes_generator(type(vae)):
        return vae.decode(latents, return_dict=False, generator=generator)[0]
    return vae.decode(latents, return_dict=False)[0]
