"""The learned state of GP-HM (Fang, Cooley, Long, Li, Kirby, Zhe, "Solving High Frequency and
Multi-Scale PDEs with Gaussian Processes", ICLR 2024): the solution values on the collocation
grid, one stationary kernel per axis (`pdesolve.nn.gp_kernels`) and two noise precisions. The
objective and the posterior mean are the backend's (`pdesolve.backends.gp_spectral`)."""

from __future__ import annotations

import torch
from torch import nn

from pdesolve.data.grid import Grid
from pdesolve.nn.gp_kernels import StationaryKernel


class GPField(nn.Module):
    """The learned state: grid values ``u`` (``grid.shape``), one kernel per axis, noise precisions.

    Non-persistent buffers hold, per axis, the collocation coordinates and the lag tables used to
    assemble ``K_j`` (rebuilt from the grid, not saved).
    """

    def __init__(self, grid: Grid, kernel: type[StationaryKernel], components: int,
                 freq_scales: list[float], toeplitz: bool, dtype: torch.dtype = torch.float64):
        super().__init__()
        self.ndim = grid.ndim
        self.toeplitz = toeplitz
        self.u = nn.Parameter(torch.zeros(grid.shape, dtype=dtype))
        self.kernels = nn.ModuleList(kernel(components, f) for f in freq_scales)
        self.log_tau_boundary = nn.Parameter(torch.zeros((), dtype=dtype))
        self.log_tau_equation = nn.Parameter(torch.zeros((), dtype=dtype))
        for j, axis in enumerate(grid.axes):
            x = torch.as_tensor(axis.coords(), dtype=dtype)
            n = axis.size
            self.register_buffer(f"coords{j}", x, persistent=False)
            # lag of entry (i, k) is x_i - x_k = (i - k) h on the uniform grid: table index i - k + n - 1
            lags = (torch.arange(2 * n - 1, dtype=dtype) - (n - 1)) * axis.spacing
            index = torch.arange(n)[:, None] - torch.arange(n)[None, :] + (n - 1)
            self.register_buffer(f"lags{j}", lags, persistent=False)
            self.register_buffer(f"lag_index{j}", index, persistent=False)

    def coords(self, axis: int) -> torch.Tensor:
        return getattr(self, f"coords{axis}")

    def kernel_matrix(self, axis: int, order: int = 0) -> torch.Tensor:
        """``K_j^(order)[i, k] = d^order k_j / dr^order`` at ``r = x_i - x_k`` on the collocation grid."""
        kernel = self.kernels[axis]
        if self.toeplitz:
            return kernel(getattr(self, f"lags{axis}"), order)[getattr(self, f"lag_index{axis}")]
        x = self.coords(axis)
        return kernel(x[:, None] - x[None, :], order)

    def cross_matrix(self, axis: int, points: torch.Tensor) -> torch.Tensor:
        """``k_j(points_i - x_k)``: ``(len(points), n_j)``."""
        return self.kernels[axis](points[:, None] - self.coords(axis)[None, :])
