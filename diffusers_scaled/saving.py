"""Saved folders that describe themselves: `save_pretrained` writes diffusers' custom-pipeline form
(`SelfDescribingPipelineMixin`), and `custom_pipeline_path` writes the same module file for any folder.

diffusers reads `_class_name` in `model_index.json` either as the name of a class it exports (`"StableDiffusionPipeline"`)
or, for a custom pipeline, as `[module, class]` with `<module>.py` beside `model_index.json`; it runs that module and
takes the class from it (diffusers 0.38 and later only with `trust_remote_code=True`; 0.35 to 0.37 ask for the flag
for hub code only). A scaled pipeline saves itself in the second form, with a
module of fixed text that defines nothing and only imports the class from the installed package. `stock_format=True`
saves the first form instead, naming the stock diffusers class, for readers without this package.

Loading through a scaled class (`ScaledX.from_pretrained(folder)`) reads `_class_name` as the plain class name, so the
folder's module file is neither needed nor run: as for any explicit pipeline class, the class loads the folder as
itself.
"""

from __future__ import annotations

import json
import os
import re
import sys

from . import atomic
from ._registry import is_diffusers_export, stock_class_of


__all__ = ["SelfDescribingPipelineMixin", "custom_pipeline_path"]


MARKER = "# Written by diffusers-scaled"
MODEL_INDEX = "model_index.json"

_MODULE_TEMPLATE = """{marker} when this pipeline was saved. It defines no code: it imports
# {cls} from an installed Python package, so that
# `DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)` returns that class.
# Without diffusers-scaled, delete this file and load the folder as the stock class:
# `{stock}.from_pretrained(folder)`.
try:
    import diffusers_scaled  # noqa: F401
except ImportError as error:
    raise ImportError(
        "This pipeline was saved by diffusers-scaled as {cls}, which needs the package: "
        "`pip install diffusers-scaled`. Or delete {file} from the folder "
        "and load it as the stock class with `{stock}.from_pretrained(folder)`."
    ) from error

from {module} import {cls}  # noqa: E402
"""


def module_name(cls: type) -> str:
    """The stem of the module file written beside `model_index.json` for `cls`: its name in snake case
    (`ScaledStableDiffusionXLImg2ImgPipeline` -> `scaled_stable_diffusion_xl_img2img_pipeline`)."""
    return re.sub(r"(?<=[a-z])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])", "_", cls.__name__).lower()


def check_importable(cls: type) -> None:
    """Raises where `cls` cannot be imported by name in another process, as the written module file must."""
    module = cls.__module__
    where = " inside a function" if "<locals>" in cls.__qualname__ else ""
    importable = module != "__main__" and getattr(sys.modules.get(module), cls.__qualname__, None) is cls
    if not importable:
        raise ValueError(
            f"{cls.__qualname__} is defined in {module!r}{where}, so a saved folder cannot import it back. Define the "
            f"class at the top level of an importable module, or save with `save_pretrained(folder, stock_format=True)` "
            f"to load the folder as the stock pipeline."
        )


def module_source(cls: type) -> str:
    """The fixed text of the module file that makes a folder load as `cls` through diffusers' custom pipelines."""
    check_importable(cls)
    return _MODULE_TEMPLATE.format(
        marker=MARKER,
        cls=cls.__name__,
        module=cls.__module__,
        stock=stock_class_of(cls).__name__,
        file=f"{module_name(cls)}.py",
    )


def is_our_module_file(path: str | os.PathLike) -> bool:
    """Whether `path` is a module file this package wrote (its first line carries the marker)."""
    try:
        with open(path, encoding="utf-8") as f:
            return f.readline().startswith(MARKER)
    except OSError:
        return False


def stock_class_name(cls: type) -> str:
    """The name under which diffusers exports the stock pipeline `cls` extends; raises where diffusers exports none."""
    stock = stock_class_of(cls)
    if not is_diffusers_export(stock):
        raise ValueError(
            f"{cls.__name__} extends {stock.__module__}.{stock.__qualname__}, which diffusers does not export, so there "
            f"is no stock form to save: save without `stock_format=True`."
        )
    return stock.__name__


def read_model_index(folder: str | os.PathLike) -> dict:
    with open(os.path.join(folder, MODEL_INDEX), encoding="utf-8") as f:
        return json.load(f)


def write_class_name(folder: str | os.PathLike, class_name: str | list[str]) -> None:
    """Rewrites `_class_name` in the folder's `model_index.json`, serialized exactly as diffusers' `to_json_string`."""
    config = read_model_index(folder)
    config["_class_name"] = class_name
    atomic.write_text(os.path.join(folder, MODEL_INDEX), json.dumps(config, indent=2, sort_keys=True) + "\n")


def mark_folder(folder: str | os.PathLike, cls: type, stock_format: bool) -> None:
    """Makes a folder that `save_pretrained` just wrote load as `cls` (custom-pipeline form) or as its stock class."""
    stale = os.path.join(folder, f"{module_name(cls)}.py")
    if stock_format:
        write_class_name(folder, stock_class_name(cls))
        if is_our_module_file(stale):
            os.remove(stale)  # left by an earlier save of ours into the same folder
        return
    atomic.write_text(stale, module_source(cls))
    write_class_name(folder, [module_name(cls), cls.__name__])


class SelfDescribingPipelineMixin:
    """Saves a scaled pipeline in diffusers' custom-pipeline form (or, on request, its stock form) and loads any folder
    as the class it is called on, without running the folder's module file."""

    def save_pretrained(self, save_directory: str | os.PathLike, *args, stock_format: bool = False, **kwargs):
        r"""
        Saves the pipeline to a folder, as [`~diffusers.DiffusionPipeline.save_pretrained`] does, so that it loads back
        as this class.

        By default the folder describes itself through diffusers' custom pipelines: `model_index.json` names the class
        as `[module, class]` and a small module file beside it imports the class from the installed `diffusers-scaled`.
        `DiffusionPipeline.from_pretrained(folder, trust_remote_code=True)` then returns this class;
        `ScaledX.from_pretrained(folder)` and `AutoScaledPipeline.from_pretrained(folder)` need no
        `trust_remote_code`. With `stock_format=True` the folder names the stock diffusers class instead, and plain
        diffusers loads it as that class. Weights and component configs are the same either way.

        Args:
            save_directory (`str` or `os.PathLike`):
                Directory to save the pipeline to; created if it does not exist.
            stock_format (`bool`, *optional*, defaults to `False`):
                Whether to save the folder as the stock diffusers pipeline (`"StableDiffusionPipeline"`) rather than as
                this class.
            kwargs:
                Passed to [`~diffusers.DiffusionPipeline.save_pretrained`] (`safe_serialization`, `variant`,
                `max_shard_size`). `push_to_hub` is not supported: save, then upload the folder with
                `huggingface_hub.upload_folder`.

        Examples:

        ```py
        >>> from diffusers import DiffusionPipeline
        >>> from diffusers_scaled import ScaledStableDiffusionPipeline

        >>> pipe = ScaledStableDiffusionPipeline.from_pretrained("stable-diffusion-v1-5/stable-diffusion-v1-5")
        >>> pipe.save_pretrained("my-pipeline")
        >>> type(DiffusionPipeline.from_pretrained("my-pipeline", trust_remote_code=True)).__name__
        'ScaledStableDiffusionPipeline'
        ```
        """
        if not isinstance(stock_format, bool):
            raise TypeError(f"`stock_format` must be a bool, got {stock_format!r}.")
        if kwargs.get("push_to_hub") or len(args) >= 4:
            raise NotImplementedError(
                "`push_to_hub` is not supported by the scaled pipelines' `save_pretrained`: save to a folder, then "
                "upload it with `huggingface_hub.upload_folder(repo_id=..., folder_path=folder)`."
            )
        kwargs.pop("push_to_hub", None)
        # Fail before writing anything where the folder could not describe the class.
        if stock_format:
            stock_class_name(type(self))
        else:
            module_source(type(self))
        super().save_pretrained(save_directory, *args, **kwargs)
        mark_folder(save_directory, type(self), stock_format)

    @classmethod
    def _dict_from_json_file(cls, json_file, *args, **kwargs):
        # The one reader of `model_index.json` behind `load_config` (so `from_pretrained`, `from_single_file`) and the
        # hub download of diffusers 0.35 to 0.42. A scaled class loads any folder as itself: reading `[module, class]`
        # as the class name keeps diffusers from resolving, and running, the folder's module file.
        config = super()._dict_from_json_file(json_file, *args, **kwargs)
        if isinstance(config, dict) and isinstance(config.get("_class_name"), (list, tuple)):
            config["_class_name"] = config["_class_name"][1]
        return config


def _default_directory() -> str:
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(cache, "diffusers_scaled", "custom_pipelines")


def custom_pipeline_path(pipeline_class: type, directory: str | os.PathLike | None = None) -> str:
    r"""
    Path of a module file that makes diffusers load a pipeline as `pipeline_class` through its custom pipelines:
    `DiffusionPipeline.from_pretrained(folder, custom_pipeline=path, trust_remote_code=True)`.

    The file is the one `save_pretrained` writes beside `model_index.json`: a few lines of fixed text that define
    nothing and import `pipeline_class` from the installed package (raising an `ImportError` that says
    `pip install diffusers-scaled` where it is missing). It is written to `directory` if it is not there yet.

    Args:
        pipeline_class (`type`):
            A scaled pipeline class: one of the package's ready classes, or a subclass of [`ScaledLatentsMixin`]
            defined at the top level of an importable module.
        directory (`str` or `os.PathLike`, *optional*):
            Folder to write the file to; defaults to `$XDG_CACHE_HOME/diffusers_scaled/custom_pipelines` (by default
            `~/.cache/diffusers_scaled/custom_pipelines`).

    Returns:
        `str`: the absolute path of the module file.

    Examples:

    ```py
    >>> from diffusers import DiffusionPipeline
    >>> from diffusers_scaled import ScaledStableDiffusionPipeline, custom_pipeline_path

    >>> pipe = DiffusionPipeline.from_pretrained(
    ...     "stable-diffusion-v1-5/stable-diffusion-v1-5",
    ...     custom_pipeline=custom_pipeline_path(ScaledStableDiffusionPipeline),
    ...     trust_remote_code=True,
    ... )
    ```
    """
    if not isinstance(pipeline_class, type):
        raise TypeError(f"`pipeline_class` must be a scaled pipeline class, got {pipeline_class!r}.")
    source = module_source(pipeline_class)  # raises for a class that is not scaled or not importable
    directory = os.path.abspath(directory if directory is not None else _default_directory())
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"{module_name(pipeline_class)}.py")
    try:
        with open(path, encoding="utf-8") as f:
            current = f.read()
    except OSError:
        current = None
    if current != source:
        atomic.write_text(path, source)  # a concurrent reader sees the old file or the new one, never half of one
    return path
