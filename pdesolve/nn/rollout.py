"""Autoregressive stepping of a one-step model over a sliding window of frames."""

from __future__ import annotations

from collections.abc import Callable

import torch

Step = Callable[[torch.Tensor], torch.Tensor]


def slide(window: torch.Tensor, frame: torch.Tensor) -> torch.Tensor:
    """Drop the oldest frame of ``window`` ``(b, k, c, *s)`` and append ``frame`` ``(b, c, *s)``."""
    return torch.cat([window[:, 1:], frame.unsqueeze(1)], dim=1)


def autoregressive(step: Step, window: torch.Tensor, steps: int, *, grad_steps: int | None = None) -> torch.Tensor:
    """Predict ``steps`` frames by feeding each prediction back into the window.

    Args:
        step: one-step model ``(b, k, c, *s) -> (b, c, *s)``.
        window: the initial ``k`` frames, ``(b, k, c, *s)``.
        steps: number of frames to predict.
        grad_steps: only the last ``grad_steps`` steps keep gradients (pushforward training);
            ``None`` keeps them all.

    Returns:
        ``(b, steps, c, *s)``.
    """
    frames = []
    first_grad = 0 if grad_steps is None else steps - grad_steps
    for i in range(steps):
        with torch.set_grad_enabled(torch.is_grad_enabled() and i >= first_grad):
            frame = step(window)
        frames.append(frame)
        if i < steps - 1:
            window = slide(window, frame)
    return torch.stack(frames, dim=1)
