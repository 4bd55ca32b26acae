"""The files the tools read: a VAE by name, the small VAE and sample image that ship with the package, JSON records."""

from __future__ import annotations

import hashlib
import json
import os

import torch

from ..checks import check_model_source


ASSETS = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets")
DEFAULT_VAE = os.path.join(ASSETS, "default_vae")
SAMPLE_IMAGE = os.path.join(ASSETS, "chelsea.png")
#: The name the tools print and record for the embedded VAE.
DEFAULT_VAE_NAME = "diffusers-scaled/default-vae"


def default_vae_path() -> str:
    """The folder of the small `AutoencoderKL` that ships with the package (diffusers' `save_pretrained` layout)."""
    return DEFAULT_VAE


def sample_image_path() -> str:
    """A sample image (scikit-image's `chelsea`, CC0) that the default VAE never saw in training."""
    return SAMPLE_IMAGE


def load_vae(name_or_path: str | os.PathLike | None = None, subfolder: str | None = None, torch_dtype=None):
    """
    Loads a VAE with diffusers' `from_pretrained` (hub cache and `HF_HUB_OFFLINE` honoured).

    `name_or_path` is a VAE folder or hub id, or a pipeline folder or hub id (its `vae` subfolder is used); `None`
    loads the embedded default VAE, which needs no network. The class is read from the config (`AutoModel`).

    Raises:
        `FileNotFoundError`: `name_or_path` looks like a path and does not exist.
        `OSError`: a hub repo that is not cached while `HF_HUB_OFFLINE=1`, or a Hub that cannot be reached; when
            nothing loadable is found, with the reasons.
    """
    from diffusers import AutoModel

    if name_or_path is None:
        return AutoModel.from_pretrained(DEFAULT_VAE, torch_dtype=torch_dtype or torch.float32)
    name_or_path = os.fspath(name_or_path)
    check_model_source(name_or_path, subfolder)  # a missing folder or unreachable repo: one message, at once
    kwargs = {} if torch_dtype is None else {"torch_dtype": torch_dtype}
    if subfolder is not None:
        return AutoModel.from_pretrained(name_or_path, subfolder=subfolder, **kwargs)
    if os.path.isdir(name_or_path):
        if os.path.isfile(os.path.join(name_or_path, "model_index.json")):
            return AutoModel.from_pretrained(name_or_path, subfolder="vae", **kwargs)
        if os.path.isfile(os.path.join(name_or_path, "config.json")):
            return AutoModel.from_pretrained(name_or_path, **kwargs)
        raise OSError(
            f"`{name_or_path}` is a folder but holds neither a `config.json` (a VAE saved with `save_pretrained`) nor "
            "a `model_index.json` (a pipeline with a `vae` subfolder)."
        )
    errors = []
    for sub in ("vae", None):  # a pipeline repository first, then a VAE repository
        try:
            return AutoModel.from_pretrained(name_or_path, subfolder=sub, **kwargs)
        except (OSError, ValueError) as error:
            errors.append(f"{'subfolder ' + repr(sub) if sub else 'repository root'}: {error}")
    raise OSError(f"Could not load a VAE from `{name_or_path}`.\n" + "\n".join(errors))


def vae_identity(vae: torch.nn.Module, name: str | None = None) -> dict:
    """What identifies a VAE in cache metadata: its class, name, and a SHA-256 of its config and weights."""
    digest = hashlib.sha256()
    digest.update(type(vae).__name__.encode())
    for key, tensor in sorted(vae.state_dict().items()):
        digest.update(key.encode())
        digest.update(tensor.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    name = name or getattr(vae.config, "_name_or_path", None) or ""
    return {
        "class": type(vae).__name__,
        "name": os.fspath(name),  # `from_pretrained(Path(...))` keeps the Path: stored as the string it stands for
        "weights_sha256": digest.hexdigest(),
    }


def read_json(path: str | os.PathLike, missing: str):
    """The JSON document in `path`; `FileNotFoundError` with the message `missing` when there is no such file."""
    if not os.path.isfile(path):
        raise FileNotFoundError(missing)
    with open(path, encoding="utf-8") as f:
        return json.load(f)
