"""2-D Kolmogorov flow (Kochkov et al. 2021, PNAS; jax-cfd's ``kolmogorov_forcing``), the cheap
turbulence case: a ``(2 pi)^2`` box, body force ``f_x = A sin(k_f y)`` (``A = 1, k_f = 4``), linear
drag ``-alpha u`` (``alpha = 0.1``), ``nu = 1e-3`` (Re = 1000). In vorticity form::

    d omega/dt + u . grad omega = nu Laplacian omega - alpha omega - A k_f cos(k_f y).

Solver: `pdesolve.problems.navier_stokes_equations.integrate_vorticity_2d` (pseudo-spectral, 2/3 rule,
IF-RK4) on ``resolution^2`` (256^2). A sample is a trajectory of **filtered-DNS** vorticity on the
data grid (sharp cutoff ``k_c = floor(N_les / 3)``: 21 on 64^2, 10 on 32^2), every
``snapshot_interval`` after a discarded ``spin_up`` from a Gaussian-random-field start; each
trajectory's kinetic energy, enstrophy and dissipation (DNS time means) are stored per sample.
LES baselines: no model, Smagorinsky, dynamic Smagorinsky, WALE and Leith (`problems.turbulence`).
"""

from __future__ import annotations

import math

import torch
from pydantic import Field

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Grid
from pdesolve.numerics.random_fields import gaussian_random_field
from pdesolve.numerics.spectral import dealias
from pdesolve.numerics.vector_calculus import velocity_from_vorticity
from pdesolve.problems.navier_stokes_equations import integrate_vorticity_2d
from pdesolve.problems.turbulence import DTYPES, LES_2D, TurbulenceParams, TurbulentFlow

BOX = 2 * math.pi


class Kolmogorov2DParams(TurbulenceParams):
    """Parameters of `Kolmogorov2D` (the ``problem`` section of a case file)."""

    viscosity: float = Field(1e-3, gt=0, description="kinematic viscosity nu (Re = 1/nu)")
    drag: float = Field(0.1, ge=0, description="linear drag coefficient alpha")
    forcing_amplitude: float = Field(1.0, description="A in f_x = A sin(k_f y)")
    forcing_wavenumber: int = Field(4, gt=0, description="k_f in f_x = A sin(k_f y)")
    resolution: int = Field(256, ge=8, description="DNS grid points per axis")
    spin_up: float = Field(10.0, ge=0, description="time run from the random start before the first snapshot")
    t_end: float = Field(10.0, gt=0, description="stored time span (a multiple of snapshot_interval)")
    dt: float = Field(2e-3, gt=0, description="largest DNS time step (LES grids scale it by the grid ratio)")
    ic_scale: float = Field(3.0, gt=0, description="rms of the initial random vorticity")


def _mean_spec(name: str, long_name: str) -> FieldSpec:
    return FieldSpec(name, "1", f"{long_name} of the DNS (time mean over the trajectory)")


class Kolmogorov2D(TurbulentFlow, name="kolmogorov_2d"):
    """Forced 2-D Kolmogorov flow with drag, stored as filtered DNS vorticity."""

    Params = Kolmogorov2DParams
    params: Kolmogorov2DParams
    description = "2-D Kolmogorov flow (sin 4y forcing, drag 0.1, Re 1000), filtered DNS vorticity"
    inputs = ("vorticity",)
    outputs = ("vorticity",)
    fields = {"vorticity": FieldSpec("vorticity", "1", "filtered vorticity")}
    baseline_types = LES_2D
    statistics = {
        "kinetic_energy": _mean_spec("kinetic_energy", "box-mean kinetic energy <u.u>/2"),
        "enstrophy": _mean_spec("enstrophy", "box-mean enstrophy <omega^2>/2"),
        "dissipation": _mean_spec("dissipation", "viscous dissipation nu <omega^2>"),
    }
    solver_name = "pdesolve pseudo-spectral 2-D vorticity (2/3 dealiasing, integrating-factor RK4)"

    @property
    def solver_grid(self) -> Grid:
        return Grid.uniform(2, self.params.resolution, length=BOX)

    def vorticity_forcing(self, grid: Grid, device=None, dtype=torch.float64) -> torch.Tensor:
        """``curl (A sin(k_f y), 0) = -A k_f cos(k_f y)`` on ``grid``, ``(Nx, Ny)``."""
        p = self.params
        _, y = (torch.as_tensor(c, dtype=dtype, device=device) for c in grid.mesh())
        return -p.forcing_amplitude * p.forcing_wavenumber * torch.cos(p.forcing_wavenumber * y)

    def sample_inputs(self, n, seed, first_index, device):
        """Random vorticity with rms ``ic_scale`` (a GRF peaked at low wavenumbers), ``(n, 1, N, N)``."""
        grid, p = self.solver_grid, self.params
        omega = gaussian_random_field(grid, n, alpha=2.5, tau=3.0, sigma=1.0, seed=seed,
                                      first_index=first_index, device=device, dtype=torch.float64)
        omega = torch.stack([dealias(w, grid) for w in omega])
        omega = omega * (p.ic_scale / omega.pow(2).mean(dim=(-2, -1), keepdim=True).sqrt())
        return omega.unsqueeze(1).to(DTYPES[p.dtype])

    def integrate(self, state, grid, *, t0, times, dt, cutoff, closure):
        p = self.params
        out = integrate_vorticity_2d(
            state[:, 0], grid, times, viscosity=p.viscosity, dt=dt, t0=t0,
            forcing=self.vorticity_forcing(grid, state.device, state.dtype), drag=p.drag, cutoff=cutoff,
            closure=closure, who=self.name)
        return out.unsqueeze(2)

    def velocity(self, states, grid):
        return velocity_from_vorticity(states[..., 0, :, :], grid)

    def solver_statistics(self, outputs, grid):
        """Time means of K, enstrophy and ``nu <omega^2>`` over each DNS trajectory ``(n, T, 1, *s)``."""
        omega = outputs[:, :, 0].double()
        energy = torch.stack([0.5 * (self.velocity(w[:, None], grid) ** 2).sum(1).mean(dim=(-2, -1))
                              for w in omega])
        enstrophy = 0.5 * (omega**2).mean(dim=(-2, -1))
        return {"kinetic_energy": energy.mean(1), "enstrophy": enstrophy.mean(1),
                "dissipation": (2.0 * self.params.viscosity * enstrophy).mean(1)}
