"""Checks of plain arguments: choices, counts, generators.

Each `check_*` function returns nothing when the argument is valid and otherwise raises (`ValueError` or `TypeError`)
with a message that names the argument, what was expected and what was given. `encode_latents` / `decode_latents` and
the tools use them, so one argument gets one message everywhere. The checks of images and latents are in
`_validation`.
"""

from __future__ import annotations

from collections.abc import Sequence


__all__ = [
    "OUTPUT_TYPES",
    "SAMPLE_MODES",
    "check_choice",
    "check_generator",
    "check_non_negative_int",
    "check_output_type",
    "check_positive_int",
    "check_sample_mode",
]

#: The `output_type` values of `decode_latents` and `preview_latents`.
OUTPUT_TYPES = ("pil", "np", "pt")
#: The `sample_mode` values of `encode_latents` and the tools: a posterior sample, or its mode.
SAMPLE_MODES = ("sample", "argmax")


def check_choice(name: str, value, choices: Sequence[str]) -> None:
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {', '.join(repr(c) for c in choices)}; got {value!r}.")


def check_output_type(output_type) -> None:
    check_choice("output_type", output_type, OUTPUT_TYPES)


def check_sample_mode(sample_mode) -> None:
    check_choice("sample_mode", sample_mode, SAMPLE_MODES)


def check_generator(generator, batch_size: int) -> None:
    import torch  # here, not at the top: the command line reads this module's constants without importing torch

    if generator is None or isinstance(generator, torch.Generator):
        return
    if isinstance(generator, (list, tuple)):
        if len(generator) != batch_size:
            raise ValueError(
                f"`generator` is a list of {len(generator)} generators, but the batch has {batch_size} images; pass one "
                "generator per image or a single generator."
            )
        bad = [type(g).__name__ for g in generator if not isinstance(g, torch.Generator)]
        if bad:
            raise TypeError(
                f"`generator` must hold `torch.Generator` objects only; got {', '.join(sorted(set(bad)))}."
            )
        return
    raise TypeError(
        f"`generator` must be a `torch.Generator`, a list of them (one per image) or None; got {type(generator).__name__}."
    )


def check_positive_int(name: str, value, allow_none: bool = False) -> None:
    """An `int` of at least 1 (or `None` when `allow_none`)."""
    if allow_none and value is None:
        return
    if not isinstance(value, int) or value < 1:
        raise ValueError(f"`{name}` must be a positive integer{' or None' if allow_none else ''}; got {value!r}.")


def check_non_negative_int(name: str, value) -> None:
    """An `int` of at least 0 (not a `bool`)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"`{name}` must be a non-negative integer; got {value!r}.")
