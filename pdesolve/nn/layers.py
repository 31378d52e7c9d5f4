"""Small building blocks: pointwise (1x1) convolutions, channel MLPs, activations by name."""

from __future__ import annotations

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}
POINTWISE: dict[int, type[nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def pointwise(ndim: int, in_channels: int, out_channels: int, bias: bool = True) -> nn.Module:
    """A 1x1 convolution over ``ndim`` spatial axes: ``(b, in, *s) -> (b, out, *s)``."""
    return POINTWISE[ndim](in_channels, out_channels, kernel_size=1, bias=bias)


class ChannelMLP(nn.Module):
    """Two pointwise layers with an activation between: ``(b, in, *s) -> (b, out, *s)``."""

    def __init__(self, ndim: int, in_channels: int, hidden: int, out_channels: int, activation: str = "gelu"):
        super().__init__()
        self.net = nn.Sequential(
            pointwise(ndim, in_channels, hidden), ACTIVATIONS[activation](), pointwise(ndim, hidden, out_channels)
        )

    def forward(self, x):
        return self.net(x)
