"""Small building blocks: torch layer classes by number of spatial axes (the one table of each in
pdesolve), pointwise (1x1) convolutions, channel MLPs, activations by name."""

from __future__ import annotations

from torch import nn

ACTIVATIONS: dict[str, type[nn.Module]] = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}
# by the number of spatial axes of channel-first tensors ``(b, c, *s)``
CONV: dict[int, type[nn.Module]] = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}
AVG_POOL: dict[int, type[nn.Module]] = {1: nn.AvgPool1d, 2: nn.AvgPool2d, 3: nn.AvgPool3d}
MAX_POOL: dict[int, type[nn.Module]] = {1: nn.MaxPool1d, 2: nn.MaxPool2d, 3: nn.MaxPool3d}
BATCH_NORM: dict[int, type[nn.Module]] = {1: nn.BatchNorm1d, 2: nn.BatchNorm2d, 3: nn.BatchNorm3d}
INTERPOLATION: dict[int, str] = {1: "linear", 2: "bilinear", 3: "trilinear"}  # nn.Upsample modes


def pointwise(ndim: int, in_channels: int, out_channels: int, bias: bool = True) -> nn.Module:
    """A 1x1 convolution over ``ndim`` spatial axes: ``(b, in, *s) -> (b, out, *s)``."""
    return CONV[ndim](in_channels, out_channels, kernel_size=1, bias=bias)


class ChannelMLP(nn.Module):
    """Two pointwise layers with an activation between: ``(b, in, *s) -> (b, out, *s)``."""

    def __init__(self, ndim: int, in_channels: int, hidden: int, out_channels: int, activation: str = "gelu"):
        super().__init__()
        self.net = nn.Sequential(
            pointwise(ndim, in_channels, hidden), ACTIVATIONS[activation](), pointwise(ndim, hidden, out_channels)
        )

    def forward(self, x):
        return self.net(x)
