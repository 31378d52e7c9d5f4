"""3-D periodic incompressible Navier--Stokes: forced homogeneous isotropic turbulence (``hit_3d``)
and the Taylor--Green vortex, by a pseudo-spectral solver (`pdesolve.problems.navier_stokes_equations`).

Forced HIT follows the convention of the Wang group's neural-operator LES papers (Li et al. 2022;
Yang et al. 2024, TAML), scaled down: a ``(2 pi)^3`` box, velocity spectrum held at
``E(1) = 1.242477`` and ``E(2) = 0.391356`` in the two lowest shells (after every step the shell's
modes are rescaled), DNS on ``resolution^3`` (64^3 on a CPU, 128^3 on a GPU; the papers' 256^3 is a
GPU job), 2/3 dealiasing, RK4. A sample is a trajectory of **filtered-DNS** velocity snapshots
``(u, v, w)`` on the data grid (sharp spectral cutoff ``k_c = floor(N_les / 3)``, 10 on 32^3),
every ``snapshot_interval`` after a discarded ``spin_up``; each trajectory's Taylor-scale Reynolds
number, dissipation, integral scale and ``k_max eta`` (time means over its DNS snapshots) are stored
as per-sample variables and their means as global attributes.

Initial state: a random solenoidal field with ``E(k) ~ k^4 exp(-2 (k / k_p)^2)`` in every shell
(random phases; each sample from its own seeded stream), scaled so ``E(2)`` is on target.

Verified (tests/problems/test_navier_stokes_3d.py, benchmarks/taylor_green.py): Taylor--Green at
``Re = 1600``, ``N = 32``, ``dt = 0.01`` reproduces ``E(0.1) = 0.124953117517`` (spectralDNS);
velocity stays divergence-free to round-off; with ``nu = 0`` energy is conserved; the forcing holds
the shells on target.
"""

from __future__ import annotations

import math

import torch
from pydantic import Field, PositiveFloat

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Grid
from pdesolve.numerics.random_fields import sample_seed
from pdesolve.numerics.spectral import dealias_mask, irfft, rfft
from pdesolve.numerics.turbulence import ShellForcing, isotropic_scales, shell_index, shell_spectrum
from pdesolve.numerics.vector_calculus import project_hat, vorticity_3d
from pdesolve.problems.navier_stokes_equations import integrate_velocity_3d
from pdesolve.problems.turbulence import DTYPES, LES_3D, TurbulenceParams, TurbulentFlow

BOX = 2 * math.pi


def taylor_green_velocity(grid: Grid, device=None, dtype=torch.float64) -> torch.Tensor:
    """The Taylor--Green vortex ``(sin x cos y cos z, -cos x sin y cos z, 0)``, ``(1, 3, *grid.shape)``."""
    x, y, z = (torch.as_tensor(c, dtype=dtype, device=device) for c in grid.mesh())
    return torch.stack((torch.sin(x) * torch.cos(y) * torch.cos(z),
                        -torch.cos(x) * torch.sin(y) * torch.cos(z), torch.zeros_like(x)))[None]


def kinetic_energy(u: torch.Tensor) -> torch.Tensor:
    """``K = <u_i u_i> / 2`` (box mean) of velocities ``(..., 3, *s)`` -> ``(...)``."""
    return 0.5 * (u**2).sum(-4).mean(dim=(-3, -2, -1))


def enstrophy(u: torch.Tensor, grid: Grid) -> torch.Tensor:
    """``<omega_i omega_i> / 2`` (box mean; the dissipation is ``2 nu`` times it) -> ``(...)``."""
    return kinetic_energy(vorticity_3d(u, grid))


class HIT3DParams(TurbulenceParams):
    """Parameters of `ForcedHIT3D` (the ``problem`` section of a case file)."""

    viscosity: float = Field(0.012, gt=0, description="kinematic viscosity nu (Re_lambda ~ 70 at 64^3)")
    resolution: int = Field(64, ge=8, description="DNS grid points per axis")
    shell_energies: list[PositiveFloat] = Field(
        [1.242477, 0.391356], min_length=1,
        description="energy held in shells k = 1, 2, ... (the Wang group's E0(1), E0(2))")
    spin_up: float = Field(4.0, ge=0, description="time run from the random start before the first snapshot")
    t_end: float = Field(8.0, gt=0, description="stored time span (a multiple of snapshot_interval)")
    dt: float = Field(0.01, gt=0, description="largest DNS time step (LES grids scale it by the grid ratio)")
    ic_peak: float = Field(2.0, gt=0, description="peak wavenumber k_p of the initial spectrum")


def _scale_spec(name: str, units: str, long_name: str) -> FieldSpec:
    return FieldSpec(name, units, f"{long_name} of the DNS (time mean over the trajectory)")


class ForcedHIT3D(TurbulentFlow, name="hit_3d"):
    """Forced homogeneous isotropic turbulence in a ``(2 pi)^3`` box, stored as filtered DNS."""

    Params = HIT3DParams
    params: HIT3DParams
    description = "3-D forced homogeneous isotropic turbulence (filtered DNS on the LES grid)"
    inputs = ("u", "v", "w")
    outputs = ("u", "v", "w")
    fields = {name: FieldSpec(name, "1", f"filtered {axis} velocity")
              for name, axis in (("u", "x"), ("v", "y"), ("w", "z"))}
    baseline_types = LES_3D
    statistics = {
        "re_lambda": _scale_spec("re_lambda", "1", "Taylor-scale Reynolds number"),
        "dissipation": _scale_spec("dissipation", "1", "dissipation rate 2 nu sum k^2 E(k)"),
        "integral_scale": _scale_spec("integral_scale", "1", "integral length scale"),
        "eddy_turnover_time": _scale_spec("eddy_turnover_time", "1", "large-eddy turnover time L/u'"),
        "u_rms": _scale_spec("u_rms", "1", "rms velocity per component u'"),
        "kmax_eta": _scale_spec("kmax_eta", "1", "resolution k_max eta"),
    }
    solver_name = "pdesolve pseudo-spectral 3-D Navier-Stokes (rotational form, 2/3 dealiasing, RK4)"

    @property
    def solver_grid(self) -> Grid:
        return Grid.uniform(3, self.params.resolution, length=BOX)

    def sample_inputs(self, n, seed, first_index, device):
        """Random solenoidal velocity, ``(n, 3, N, N, N)``, with the initial spectrum exactly."""
        grid, dtype = self.solver_grid, DTYPES[self.params.dtype]
        noise = torch.stack([
            torch.randn((3, *grid.shape), generator=torch.Generator().manual_seed(
                sample_seed(seed, first_index + i, "hit_3d")), dtype=torch.float64)
            for i in range(n)]).to(device)
        u_hat = project_hat(rfft(noise, 3) * dealias_mask(grid, device), grid)
        spectrum = shell_spectrum(u_hat, grid)
        k = torch.arange(spectrum.shape[1], dtype=torch.float64, device=device)
        kp = self.params.ic_peak
        target = k**4 * torch.exp(-2.0 * (k / kp) ** 2)
        forced = self.params.shell_energies
        target = target * forced[-1] / target[len(forced)]  # the highest forced shell on target
        gain = torch.sqrt(target / spectrum.clamp_min(1e-300))
        u_hat = u_hat * gain[:, shell_index(grid, device)][:, None]
        return irfft(u_hat, grid).to(dtype)

    def integrate(self, state, grid, *, t0, times, dt, cutoff, closure):
        forcing = ShellForcing({k + 1: e for k, e in enumerate(self.params.shell_energies)}, grid)
        return integrate_velocity_3d(state, grid, times, viscosity=self.params.viscosity, dt=dt, t0=t0,
                                     cutoff=cutoff, closure=closure, after_step=forcing, who=self.name)

    def velocity(self, states, grid):
        return states

    def solver_statistics(self, outputs, grid):
        """Time means of `isotropic_scales` over each DNS trajectory ``(n, T, 3, *s)``."""
        per_sample = [isotropic_scales(traj.double(), grid, self.params.viscosity) for traj in outputs]
        return {name: torch.stack([s[name].mean() for s in per_sample]) for name in self.statistics}
