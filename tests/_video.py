"""Helpers for the video format tests: the stock twin of a scaled pipeline, the transformer's first input during a
stock call, and a bitwise comparison of `.frames` in each `output_type`'s form."""

from __future__ import annotations

import numpy as np
import torch


def stock_twin(pipe, stock_class):
    """The stock pipeline class on the same component objects as `pipe`."""
    names = set(stock_class._get_signature_keys(stock_class)[0])
    twin = stock_class(**{name: component for name, component in pipe.components.items() if name in names})
    twin.set_progress_bar_config(disable=True)
    return twin


def first_transformer_input(pipe, call) -> torch.Tensor:
    """`hidden_states` of `pipe.transformer`'s first call during `call()` (a forward pre-hook, torch's own hook)."""
    seen = []
    hook = pipe.transformer.register_forward_pre_hook(
        lambda module, args, kwargs: seen.append(kwargs["hidden_states"].clone()), with_kwargs=True
    )
    try:
        call()
    finally:
        hook.remove()
    return seen[0]


def assert_same_frames(actual, expected, output_type: str) -> None:
    """`.frames` bitwise: an np.ndarray (B, F, H, W, 3), a torch.Tensor (B, F, 3, H, W), or lists (batch) of lists
    (frames) of PIL images."""
    if output_type == "np":
        assert isinstance(actual, np.ndarray) and np.array_equal(actual, expected)
    elif output_type == "pt":
        assert isinstance(actual, torch.Tensor) and torch.equal(actual, expected)
    else:
        assert len(actual) == len(expected)
        for video, stock_video in zip(actual, expected):
            assert len(video) == len(stock_video)
            assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(video, stock_video))
