"""Turbulent plane channel flow at Re_tau 180 (395 selectable), the IFactFormer-m / IUFNO-CHL case
(les.md §1.5): walls at ``y = -1, 1``, periodic ``lx x lz = 8 x 4`` (half-heights), wall units of the
nominal friction velocity (``u_tau = 1``, ``nu = 1 / Re_tau``, time in ``h / u_tau``). Driven by a
constant pressure gradient ``-dP/dx = 1`` (``Re_tau`` fixed) or a constant flow rate (bulk velocity
``params.bulk_velocity``).

Solver: Kim--Moin--Moser velocity--vorticity, Fourier x, z (2/3 rule) -- Chebyshev y, low-storage
IMEX RK3 with implicit wall-normal viscosity (`pdesolve.problems.channel_equations`). A sample is a
trajectory of velocity snapshots ``(u, v, w)``, ``y`` ascending on Chebyshev--Gauss--Lobatto
points; ``simulate`` on the solver grid is the DNS (or the finest wall-resolved run), on a
decimating grid (e.g. 128x65x64 -> 32x33x16) an LES with no model or the closure of
`pdesolve.numerics.channel_sgs` named like the baseline (``smagorinsky`` with van Driest
damping, ``dsm`` with plane averaging, ``wale``). Filtered data: sharp Fourier cutoff in x, z to
the coarse grid's 2/3-rule modes, then injection at every other Chebyshev point in y (the
decimated Gauss--Lobatto points are the coarse grid's own).

Initial state: Reichardt's mean profile plus random divergence-free fluctuations in the lowest
modes (``v ~ (1 - y^2)^2``, amplitude ``params.perturbation`` u_tau), each sample from its own stream.

Training data (the papers' protocol, les.md §1.5): a sample is one **group** of snapshots, spun up
from its own seed for ``spin_up`` (optionally the first ``spin_up_coarse`` of it as a cheap LES on
``spin_up_resolution``, then prolonged to the solver grid), then stored every ``snapshot_interval``.
The stored fields are **fluctuations** about the mean profile over x, z, time and the groups that
are not held out (the last ``held_out_groups`` = ``data.n_test``); the profile is stored beside them
(``u_mean``, ``v_mean``, ``w_mean``) and `physical_state` adds it back. With ``reference_model`` the
solver grid runs a wall-resolved LES instead of a DNS: the data are then a stand-in for filtered DNS
and say so (``reference_label``, ``reference_is_stand_in``, the title), as does every comparison of them.
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
import torch
import xarray as xr
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Axis, Grid
from pdesolve.data.symmetries import PeriodicShift, Reflection
from pdesolve.errors import UserError
from pdesolve.numerics import chebyshev
from pdesolve.numerics.channel_sgs import (
    ChannelClosure,
    ChannelDynamicSmagorinsky,
    channel_wale,
    van_driest_smagorinsky,
)
from pdesolve.numerics.channel_spectral import ChannelGrid, SpectralChannel
from pdesolve.numerics.channel_statistics import wall_profiles
from pdesolve.numerics.random_fields import sample_seed
from pdesolve.numerics.time_steppers import LowStorageIMEXRK3, finite_check, march
from pdesolve.problems.base import GridProblem, SnapshotParams
from pdesolve.problems.channel_equations import ChannelKMM, ConstantFlowRate
from pdesolve.problems.turbulence import DTYPES, LES_3D

#: explicit stability bound of the SMR RK3 on the imaginary axis
RK3_LIMIT = math.sqrt(3.0)
#: wall-resolution limits: first point off the wall, streamwise and spanwise spacing (wall units)
MAX_Y1_PLUS, MAX_DX_PLUS, MAX_DZ_PLUS = 2.0, 100.0, 60.0


class ChannelLESOptions(BaseModel):
    """The ``problem.les`` section: constants of the wall-bounded SGS models (do not change the data)."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    smagorinsky_cs: float = Field(0.1, gt=0, description="Smagorinsky constant with van Driest damping")
    van_driest_a: float = Field(25.0, gt=0, description="van Driest damping length A+")
    test_filter_ratio: float = Field(2.0, gt=1, description="DSM test-filter width ratio in x and z")
    wale_cw: float = Field(0.5, gt=0, description="WALE constant (Nicoud-Ducros / Xcompact3d)")


class ChannelParams(SnapshotParams):
    """Parameters of `ChannelFlow3D` (the ``problem`` section of a case file)."""

    re_tau: Literal[180, 395] = Field(180, description="friction Reynolds number u_tau h / nu")
    length_x: float = Field(8.0, gt=0, description="streamwise box length in half-heights")
    length_z: float = Field(4.0, gt=0, description="spanwise box length in half-heights")
    resolution: list[int] = Field([64, 65, 32], min_length=3, max_length=3,
                                  description="solver grid nx, ny (Chebyshev points, odd), nz")
    forcing: Literal["pressure_gradient", "flow_rate"] = Field(
        "pressure_gradient", description="constant -dP/dx = u_tau^2/h, or constant bulk velocity")
    bulk_velocity: float = Field(15.7, gt=0, description="U_b+ held with forcing: flow_rate (MKM 180: 15.7)")
    dt: float = Field(0.004, gt=0, description="time step on the solver grid (h/u_tau); coarser grids scale it")
    spin_up: float = Field(50.0, ge=0, description="time run from the initial state before the first snapshot")
    t_end: float = Field(10.0, gt=0, description="stored span (a multiple of snapshot_interval)")
    snapshot_interval: float = Field(0.5, gt=0, description="time between stored snapshots")
    perturbation: float = Field(1.5, ge=0, description="rms of the initial fluctuations (u_tau)")
    dtype: Literal["float64", "float32"] = Field("float64", description="floating-point type of the solver")
    reference_model: Literal["smagorinsky", "dsm", "wale"] | None = Field(
        None, description="null: the solver grid runs a DNS; a closure: a wall-resolved LES with it, stored as a "
                          "labelled stand-in for filtered DNS")
    spin_up_resolution: list[int] | None = Field(
        None, min_length=3, max_length=3, description="grid of the first spin_up_coarse of the spin-up (a decimation "
                                                      "of resolution; LES with reference_model, or WALE)")
    spin_up_coarse: float = Field(0.0, ge=0, description="part of spin_up run on spin_up_resolution, then prolonged")
    held_out_groups: int = Field(1, ge=1, description="last groups (samples) left out of the mean profile: the "
                                                      "test groups, data.n_test")
    les: ChannelLESOptions = Field(default_factory=ChannelLESOptions)

    @model_validator(mode="after")
    def _spin_up_stages(self):
        if self.spin_up_coarse > self.spin_up:
            raise ValueError(f"spin_up_coarse ({self.spin_up_coarse:g}) is part of spin_up ({self.spin_up:g}); "
                             "expected spin_up_coarse <= spin_up")
        if self.spin_up_coarse > 0 and self.spin_up_resolution is None:
            raise ValueError("spin_up_coarse > 0 needs spin_up_resolution (the grid it runs on)")
        if self.spin_up_resolution is not None:
            problem = decimation_problem(self.resolution, self.spin_up_resolution) or grid_problem(
                ChannelGrid(*self.spin_up_resolution, self.length_x, self.length_z), self.re_tau)
            if problem:
                raise ValueError(f"spin_up_resolution {self.spin_up_resolution}: {problem}")
        return self

    @field_validator("resolution")
    @classmethod
    def _resolvable(cls, resolution, info):
        d = info.data
        if "re_tau" in d and "length_x" in d and "length_z" in d:
            problem = grid_problem(ChannelGrid(*resolution, d["length_x"], d["length_z"]), d["re_tau"])
            if problem:
                raise ValueError(problem)
        return resolution

    @field_validator("dt")
    @classmethod
    def _stable(cls, dt, info):
        d = info.data
        if {"re_tau", "length_x", "length_z", "resolution"} <= set(d):
            nx, ny, nz = d["resolution"]
            limit = stable_time_step(ChannelGrid(nx, ny, nz, d["length_x"], d["length_z"]), d["re_tau"])
            if dt > limit:
                raise ValueError(f"dt = {dt:g} is above the convective stability limit {limit:.3g} h/u_tau of the "
                                 f"{nx}x{ny}x{nz} grid at Re_tau {d['re_tau']} (RK3 |lambda dt| <= sqrt 3)")
        return dt


def decimation_problem(resolution: list[int], sizes: list[int]) -> str | None:
    """Why ``sizes`` is not a decimation of the grid ``resolution`` (one sentence), or ``None``."""
    nx, ny, nz = resolution
    if len(sizes) != 3 or nx % sizes[0] or nz % sizes[2] or sizes[1] < 3 or (ny - 1) % (sizes[1] - 1):
        return (f"{sizes} is not a decimation of the solver grid {nx}x{ny}x{nz} "
                f"(need nx, nz dividing {nx}, {nz} and ny - 1 dividing {ny - 1})")
    return None


def grid_problem(grid: ChannelGrid, re_tau: float) -> str | None:
    """Why ``grid`` cannot resolve the channel at ``re_tau`` (one sentence), or ``None`` when it can."""
    if grid.ny % 2 == 0 or grid.ny < 9:
        return f"ny = {grid.ny} Chebyshev points; expected an odd number >= 9 (the centre on a point)"
    y1 = (1.0 - math.cos(math.pi / grid.n)) * re_tau
    if y1 > MAX_Y1_PLUS:
        need = math.ceil(math.pi / math.acos(1.0 - MAX_Y1_PLUS / re_tau)) + 1
        return (f"ny = {grid.ny} puts the first point off the wall at y+ = {y1:.2f} at Re_tau "
                f"{re_tau:g}; a wall-resolved run needs y+ <= {MAX_Y1_PLUS:g} (ny >= {need + (need % 2 == 0)})")
    dx, dz = grid.lx / grid.nx * re_tau, grid.lz / grid.nz * re_tau
    if dx > MAX_DX_PLUS or dz > MAX_DZ_PLUS:
        return (f"spacing dx+ = {dx:.0f}, dz+ = {dz:.0f} at Re_tau {re_tau:g}; a wall-resolved "
                f"run needs dx+ <= {MAX_DX_PLUS:g} (nx >= {math.ceil(grid.lx * re_tau / MAX_DX_PLUS)}) "
                f"and dz+ <= {MAX_DZ_PLUS:g} (nz >= {math.ceil(grid.lz * re_tau / MAX_DZ_PLUS)})")
    return None


def centreline_velocity(re_tau: float) -> float:
    """Log-law estimate of the centreline ``U+`` (``ln(Re_tau)/0.41 + 5.2 + 1``): 18.9 at 180, 20.8 at 395."""
    return math.log(re_tau) / 0.41 + 6.2


def stable_time_step(grid: ChannelGrid, re_tau: float) -> float:
    """Convective limit ``sqrt(3) / (1.2 U_c kx_max + 3 kz_max)`` of the explicit RK3 on ``grid`` (``h/u_tau``):
    streamwise velocity up to 1.2 x the centreline estimate, spanwise up to 3 u_tau."""
    kx = 2 * math.pi / grid.lx * grid.kept(grid.nx)
    kz = 2 * math.pi / grid.lz * grid.kept(grid.nz)
    return RK3_LIMIT / (1.2 * centreline_velocity(re_tau) * kx + 3.0 * kz)


def reichardt(y_plus: np.ndarray) -> np.ndarray:
    """Reichardt's (1951) mean profile ``U+(y+)``."""
    return np.log1p(0.41 * y_plus) / 0.41 + 7.8 * (1 - np.exp(-y_plus / 11) - y_plus / 11 * np.exp(-y_plus / 3))


class ChannelFlow3D(GridProblem, name="channel_3d"):
    """Turbulent channel flow, Fourier--Chebyshev KMM solver, stored as (filtered) velocity snapshots."""

    Params = ChannelParams
    params: ChannelParams
    task = "trajectory"
    description = "3-D turbulent channel flow at Re_tau 180/395 (KMM Fourier-Chebyshev; wall-bounded LES baselines)"
    inputs = ("u", "v", "w")
    outputs = ("u", "v", "w")
    fields = {name: FieldSpec(name, "1", f"{axis} velocity in units of u_tau")
              for name, axis in (("u", "streamwise"), ("v", "wall-normal"), ("w", "spanwise"))}
    baseline_types = LES_3D
    #: shifts in x and z, the spanwise reflection and the reflection about the centre plane (the stored
    #: fluctuations are about a mean profile symmetric up to sampling; the Chebyshev points are symmetric)
    symmetries = (PeriodicShift("x"), PeriodicShift("z"), Reflection("z", ("w",), periodic=True),
                  Reflection("y", ("v",), periodic=False))
    statistics = {"u_tau": FieldSpec("u_tau", "1", "friction velocity from the wall shear (time mean)"),
                  "bulk_velocity": FieldSpec("bulk_velocity", "1", "bulk velocity U_b+ (time mean)")}
    solver_name = "pdesolve KMM channel (Fourier x,z 2/3 rule, Chebyshev y, IMEX RK3)"
    solver_version = 2

    # ------------------------------------------------------------------ grids
    @property
    def viscosity(self) -> float:
        return 1.0 / self.params.re_tau

    def channel_grid(self, grid: Grid) -> ChannelGrid:
        nx, ny, nz = grid.shape
        return ChannelGrid(nx, ny, nz, self.params.length_x, self.params.length_z)

    def make_grid(self, nx: int, ny: int, nz: int) -> Grid:
        """The pdesolve `Grid` of a channel grid: x, z periodic, y the ascending Gauss--Lobatto points."""
        p = self.params
        y = tuple(np.sort(chebyshev.points(ny - 1)))
        return Grid((Axis("x", nx, p.length_x), Axis("y", ny, 2.0, -1.0, "nodes", points=y),
                     Axis("z", nz, p.length_z)))

    @property
    def solver_grid(self) -> Grid:
        return self.make_grid(*self.params.resolution)

    def data_grid(self, resolution):
        if resolution is None:
            return self.solver_grid
        sizes = [resolution] * 3 if isinstance(resolution, int) else list(resolution)
        problem = decimation_problem(self.params.resolution, sizes)
        if problem:
            raise UserError(problem)
        problem = grid_problem(ChannelGrid(*sizes, self.params.length_x, self.params.length_z), self.params.re_tau)
        if problem:
            raise UserError(f"the data grid {sizes}: {problem}")
        return self.make_grid(*sizes)

    @property
    def times(self) -> np.ndarray:
        p = self.params
        return p.spin_up + p.snapshot_interval * np.arange(round(p.t_end / p.snapshot_interval) + 1)

    def recipe(self, n, seed, resolution):
        """The generation recipe; without ``les`` when no closure makes the data (a DNS spun up on the solver grid)."""
        recipe = super().recipe(n, seed, resolution)
        if self.params.reference_model is None and self.params.spin_up_coarse == 0:
            recipe["params"].pop("les", None)
        return recipe

    @property
    def reference_label(self) -> str:
        """What the reference data are, for dataset attributes and every table and figure title."""
        p = self.params
        grid = "x".join(map(str, p.resolution))
        if p.reference_model is None:
            return f"filtered DNS {grid}"
        return (f"STAND-IN for filtered DNS: {p.reference_model.upper()} wall-resolved LES {grid}, "
                "filtered (no DNS was run)")

    def check_data(self, data) -> None:
        """The held-out groups are the test split (the mean profile leaves them out)."""
        if data.n_test != self.params.held_out_groups:
            raise UserError(f"data.n_test = {data.n_test}, but problem.held_out_groups = "
                            f"{self.params.held_out_groups}: the test groups are the groups held out of the mean "
                            "profile; set both alike", field="data.n_test")

    def time_step(self, grid: Grid) -> float:
        """``params.dt`` on the solver grid, scaled by the x-grid ratio on coarser grids, within the stability limit."""
        dt = self.params.dt * self.params.resolution[0] / grid.shape[0]
        return min(dt, 0.8 * stable_time_step(self.channel_grid(grid), self.params.re_tau))

    # ------------------------------------------------------------------ solver
    def space(self, grid: Grid, device) -> SpectralChannel:
        return SpectralChannel(self.channel_grid(grid), device, DTYPES[self.params.dtype])

    def closure(self, name: str, space: SpectralChannel) -> ChannelClosure:
        les, nu = self.params.les, self.viscosity
        models = {"smagorinsky": lambda: van_driest_smagorinsky(space, self.params.re_tau, les.smagorinsky_cs,
                                                                les.van_driest_a),
                  "dsm": lambda: ChannelDynamicSmagorinsky(space, les.test_filter_ratio),
                  "wale": lambda: channel_wale(space, les.wale_cw)}
        if name not in models:
            raise UserError(f"channel closure '{name}' unknown; expected one of {sorted(models)}")
        return ChannelClosure(models[name](), space, nu)

    def equation(self, grid: Grid, device, closure: str | None = None) -> ChannelKMM:
        sp = self.space(grid, device)
        pi = 1.0 if self.params.forcing == "pressure_gradient" else 0.0
        return ChannelKMM(sp, self.viscosity, pi, None if closure is None else self.closure(closure, sp))

    def sample_inputs(self, n, seed, first_index, device):
        """Reichardt's mean profile plus random solenoidal low-mode fluctuations, ``(n, 3, nx, ny, nz)``."""
        grid = self.solver_grid
        eq = self.equation(grid, "cpu")
        sp, g = eq.space, eq.space.grid
        inner = slice(1, g.n)
        y = sp.y[inner].double()
        low = ((sp.kx.abs() <= 2 * math.pi / g.lx * 4) & (sp.kz <= 2 * math.pi / g.lz * 4)).double()[:, 0][:, None]
        out = []
        for i in range(n):
            gen = torch.Generator().manual_seed(sample_seed(seed, first_index + i, "channel_3d"))
            v, eta = (torch.randn((1, g.nx, g.n - 1, g.nz), generator=gen, dtype=torch.float64) for _ in range(2))
            v = sp.forward(v * ((1 - y**2) ** 2)[:, None]) * eq.modes * low
            eta = sp.forward(eta * (1 - y**2)[:, None]) * eq.modes * low
            mean = torch.zeros(1, 2, g.n - 1, dtype=torch.float64)
            mean[0, 0] = torch.as_tensor(reichardt((1 - np.abs(g.y[inner])) * self.params.re_tau))
            u = eq.velocity((v, eta, torch.zeros_like(mean)))
            scale = self.params.perturbation / u.pow(2).mean().sqrt().clamp_min(1e-300)
            out.append(eq.velocity((v * scale, eta * scale, mean)))
        return self.to_ascending(torch.cat(out)).to(device=device, dtype=DTYPES[self.params.dtype])

    @staticmethod
    def to_ascending(u: torch.Tensor) -> torch.Tensor:
        """Solver order (``y`` from +1 down) <-> stored order (``y`` ascending): flip the ``y`` axis."""
        return torch.flip(u, dims=(-2,))

    def simulate(self, inputs, grid, *, t0=0.0, times=None, closure: str | None = None):
        """The reference run on the solver grid (DNS, or the ``reference_model`` LES), LES on another grid
        (no model unless ``closure`` names one); inputs ``(n, 3, nx, ny, nz)`` -> ``(n, T, 3, nx, ny, nz)``
        in the dtype of ``inputs``."""
        if grid == self.solver_grid:
            if closure is not None:
                raise UserError(f"an SGS closure runs on an LES grid, not the solver grid {grid.shape}")
            closure = self.params.reference_model
        eq = self.equation(grid, inputs.device, closure)
        dt = self.time_step(grid)
        state = eq.state_from_velocity(self.to_ascending(inputs.to(eq.space.dtype)))
        after = None
        if self.params.forcing == "flow_rate":
            after = ConstantFlowRate(eq, self.params.bulk_velocity, dt)
        message = lambda a, b, h: (  # noqa: E731
            f"channel_3d: the flow stopped being finite between t = {a:g} and {b:g} (dt = {h:.3g}); lower problem.dt")
        out = march(eq, LowStorageIMEXRK3(), state, t0=t0, times=self.times if times is None else times, dt=dt,
                    after_step=after, check=finite_check(message),
                    observe=lambda s: self.to_ascending(eq.velocity(s)))
        return out.to(inputs.dtype)

    def reference_solution(self, inputs):
        """Spin-up (its first ``spin_up_coarse`` on ``spin_up_resolution``, then prolonged), then the
        snapshots of `times` on the solver grid: ``(n, T, 3, nx, ny, nz)``."""
        p, solver = self.params, self.solver_grid
        t0 = 0.0
        if p.spin_up_coarse > 0:
            coarse = self.make_grid(*p.spin_up_resolution)
            state = self.restrict(inputs, solver, coarse)
            state = self.simulate(state, coarse, times=[p.spin_up_coarse], closure=p.reference_model or "wale")
            inputs, t0 = self.prolong(state[:, -1], coarse, solver), p.spin_up_coarse
        return self.simulate(inputs, solver, t0=t0)

    def prolong(self, u, grid, target):
        """Velocities ``(..., 3, *grid.shape)`` on a finer ``target``: Fourier zero padding in x, z (the
        Nyquist modes dropped), Chebyshev interpolation in y (stored, ascending order)."""
        (mx, my, mz), (nx, ny, nz) = grid.shape, target.shape
        flip = slice(None, None, -1)
        y = torch.as_tensor(chebyshev.interpolation_matrix(my - 1, chebyshev.points(ny - 1))[flip, flip].copy(),
                            dtype=torch.float64)
        u = torch.einsum("ij,...xjz->...xiz", y, u.double())
        u_hat = torch.fft.rfftn(u, dim=(-3, -1), norm="forward")
        fine = u_hat.new_zeros((*u_hat.shape[:-3], nx, ny, nz // 2 + 1))
        ix = torch.fft.fftfreq(mx, 1.0 / mx).long()
        keep = ix.abs() < mx / 2
        kz_keep = (mz + 1) // 2
        fine[..., ix[keep] % nx, :, :kz_keep] = u_hat[..., keep, :, :kz_keep]
        return torch.fft.irfftn(fine, s=(nx, nz), dim=(-3, -1), norm="forward")

    def assemble(self, n, seed, parts, *, resolution=None):
        """The groups as fluctuations about the mean profile of the groups not held out, the profile
        (``u_mean(y)`` ...) beside them, labelled with `reference_label`."""
        ds = super().assemble(n, seed, parts, resolution=resolution)
        kept = n - self.params.held_out_groups
        if kept < 1:
            raise UserError(f"{n} groups leave none for the mean profile with held_out_groups = "
                            f"{self.params.held_out_groups}", field="problem.held_out_groups")
        for name in self.outputs:
            mean = ds[name].isel(sample=slice(0, kept)).mean(("sample", "time", "x", "z"))
            spec = self.fields[name]
            ds[f"{name}_mean"] = xr.Variable(("y",), mean.values.astype(np.float64), FieldSpec(
                f"{name}_mean", spec.units, f"mean {spec.long_name} over x, z, time and the first {kept} "
                "groups").attrs())
            ds[name] = (ds[name] - mean).astype(ds[name].dtype).assign_attrs(
                {**ds[name].attrs, "long_name": f"fluctuation of the {spec.long_name} about {name}_mean"})
        label = self.reference_label
        ds.attrs.update({"title": f"channel_3d: {label} on {'x'.join(map(str, ds[self.outputs[0]].shape[-3:]))}",
                         "reference_label": label,
                         "reference_is_stand_in": int(self.params.reference_model is not None),
                         "target": "fluctuations about the mean profile over x, z, time and the groups not held out "
                                   "(u_mean, v_mean, w_mean); the last held_out_groups groups are the test split",
                         "groups": n, "held_out_groups": self.params.held_out_groups})
        return ds

    def mean_profile(self, data: xr.Dataset) -> torch.Tensor:
        """The stored mean profile ``(3, ny)`` of ``data``."""
        return torch.stack([torch.as_tensor(data[f"{name}_mean"].values, dtype=torch.float64)
                            for name in self.outputs])

    def physical_state(self, stored, data):
        """Fluctuations ``(..., 3, nx, ny, nz)`` plus the stored mean profile: the velocity."""
        return stored + self.mean_profile(data).to(stored)[:, None, :, None]

    def stored_fields(self, state, data):
        return state - self.mean_profile(data).to(state)[:, None, :, None]

    def restrict(self, u, grid, target):
        """Sharp cutoff in x, z to the target's 2/3-rule modes (Fourier truncation), injection in y."""
        if target == grid:
            return u
        (nx, ny, _), (mx, my, mz) = grid.shape, target.shape
        u = u[..., :: (ny - 1) // (my - 1), :]
        u_hat = torch.fft.rfftn(u.double(), dim=(-3, -1), norm="forward")
        coarse = u_hat.new_zeros((*u_hat.shape[:-3], mx, my, mz // 2 + 1))
        ix = torch.fft.fftfreq(mx, 1.0 / mx).long()
        src = torch.where(ix >= 0, ix, ix + nx)
        mask_x = ix.abs() <= (mx - 1) // 3
        kz_keep = (mz - 1) // 3 + 1
        coarse[..., mask_x, :, :kz_keep] = u_hat[..., src[mask_x], :, :kz_keep]
        return torch.fft.irfftn(coarse, s=(mx, mz), dim=(-3, -1), norm="forward").to(u.dtype)

    def solver_statistics(self, outputs, grid):
        """Friction velocity (time mean of the wall shear) and bulk velocity of each trajectory, ``(n,)`` each."""
        weights = torch.as_tensor(chebyshev.quadrature_weights(grid.shape[1] - 1), dtype=torch.float64)
        bulk = 0.5 * outputs[:, :, 0].double().mean(dim=(1, 2, 4)) @ weights
        return {"u_tau": torch.tensor([wall_profiles(self.to_ascending(traj), self.viscosity).u_tau
                                       for traj in outputs], dtype=torch.float64), "bulk_velocity": bulk}
