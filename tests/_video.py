"""Helpers for the video format tests: the stock twin of a scaled pipeline and the transformer's first input during a
stock call."""

from __future__ import annotations

import torch


def stock_twin(pipe, stock_class):
    """The stock pipeline class on the same component objects as `pipe`, with the same config arguments (Wan 2.2's
    `expand_timesteps`, `boundary_ratio`)."""
    expected, optional = stock_class._get_signature_keys(stock_class)
    names = set(expected) | set(optional)
    kwargs = {name: value for name, value in pipe.config.items() if name in names and not name.startswith("_")}
    kwargs.update({name: component for name, component in pipe.components.items() if name in names})
    twin = stock_class(**kwargs)
    twin.set_progress_bar_config(disable=True)
    return twin


def first_transformer_input(pipe, call) -> torch.Tensor:
    """`hidden_states` (by keyword or first positional argument) of `pipe.transformer`'s first call during `call()` (a
    forward pre-hook, torch's own hook)."""
    seen = []
    hook = pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(
            (kwargs["hidden_states"] if "hidden_states" in kwargs else args[0]).clone()
        ),
        with_kwargs=True,
    )
    try:
        call()
    finally:
        hook.remove()
    return seen[0]


def run_with_first_input(pipe, call):
    """`call()`'s result and the `hidden_states` of `pipe.transformer`'s first call during it (one stock call gives
    both the latents to decode and the condition the transformer saw)."""
    results = []
    seen = first_transformer_input(pipe, lambda: results.append(call()))
    return results[0], seen
