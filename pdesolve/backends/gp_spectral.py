"""GP-HM: Gaussian-process collocation with spectral-mixture kernels (Fang, Cooley, Long, Li,
Kirby, Zhe, "Solving High Frequency and Multi-Scale PDEs with Gaussian Processes", ICLR 2024).

The unknowns are the solution values ``U`` on a full tensor grid of collocation points (boundary
included), the parameters of one kernel per axis and two noise precisions. The prior is a GP with
the product kernel ``k(x, x') = prod_j k_j(x_j, x'_j)``, so on the grid its covariance is
``C = K_1 ⊗ ... ⊗ K_d``. Derivatives of ``u`` at the grid points are those of the GP conditional
mean, ``d^a u = (K_1^(a_1) K_1^-1 ⊗ ... ⊗ K_d^(a_d) K_d^-1) vec(U)``, applied axis by axis. Adam
maximises the log joint (the authors' objective, float64)::

    log N(vec U | 0, C)                                        prior, log|C| from the factors
    + lambda_b [ N_b/2 log tau_b - tau_b/2 |U_boundary - g|^2 ]   boundary data, weight lambda_b
    + M/2 log tau_e - tau_e/2 |L[U] - f|^2                       PDE residual at all M grid points

The mixture weights live in the log domain (the paper's Jeffreys prior, which prunes superfluous
frequencies). The solution anywhere is the posterior mean ``K_{*X} K^-1 U``, mode by mode.

Fitting, checkpoints (best = min over checkpoints against the exact solution when the case has
a validation sample), scoring and ``solve`` are those of `pdesolve.backends.collocation`. Use
``train: {optimizer: adam, lr: 0.01, weight_decay: 0, schedule: constant, grad_clip: null}`` to
follow the paper. Details, measured results and limitations: docs/backends/gp-spectral.md.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

import torch
import xarray as xr
from pydantic import Field, PositiveFloat
from torch import nn

from pdesolve.backends.collocation import DTYPE, CollocationOptions, CollocationPDE, CollocationSolver
from pdesolve.data.grid import Grid
from pdesolve.errors import UserError
from pdesolve.models.gp_spectral import GPField
from pdesolve.nn.gp_kernels import KERNELS
from pdesolve.numerics.autodiff import MultiIndex
from pdesolve.numerics.kronecker import (
    SymmetricFactor,
    kron_logdet,
    kron_quad,
    kron_solve,
    mode_product,
    mode_solve,
)


class GPSpectralOptions(CollocationOptions):
    kernel: Literal["stm", "gm", "se", "matern"] = Field(
        "stm", description="stm: GP-HM-StM (Matern-5/2 x cos mixture); gm: GP-HM-GM (Gaussian x cos "
                           "mixture); se, matern: single-kernel baselines GP-SE and GP-Matern")
    components: int = Field(30, ge=1, description="mixture components Q per axis (stm, gm)")
    freq_scale: PositiveFloat | list[PositiveFloat] = Field(
        20.0, description="initial frequencies spread over [0, freq_scale] cycles per unit length "
                                "(one value or one per axis); must exceed the solution's top frequency")
    boundary_weight: float = Field(200.0, gt=0, description="weight lambda_b of the boundary likelihood")
    jitter: float = Field(1e-6, ge=0, description="added to the diagonal of each K_j")
    toeplitz: bool = Field(True, description="build K_j from the 2n-1 distinct lags of the uniform grid")


class GPSpectralSolver(CollocationSolver, name="gp-spectral"):
    """GP-HM collocation solver (field kind): fits one PDE instance, predicts anywhere."""

    Options = GPSpectralOptions
    description = "GP-HM: Gaussian-process collocation with spectral-mixture kernels (Kronecker, float64)"
    paper = "Fang et al., Solving High Frequency and Multi-Scale PDEs with Gaussian Processes, ICLR 2024"
    model: GPField

    @classmethod
    def check_problem(cls, problem, options, *, horizon=1):
        super().check_problem(problem, options, horizon=horizon)
        if isinstance(options.freq_scale, list) and len(options.freq_scale) != problem.ndim:
            raise UserError(f"'{problem.name}' is {problem.ndim}-D: give one freq_scale or {problem.ndim}, "
                            f"got {len(options.freq_scale)}", field="backend.freq_scale")

    # --------------------------------------------------------------------------- setup
    def setup_for(self, problem, grid: Grid) -> dict[str, Any]:
        f = self.options.freq_scale
        scales = f if isinstance(f, list) else [f] * grid.ndim
        return {**super().setup_for(problem, grid), "freq_scales": [float(v) for v in scales]}

    def modules(self) -> nn.Module:
        return self.model

    def build(self, setup: dict[str, Any]) -> None:
        o = self.options
        self.model = GPField(Grid.from_json(setup["grid"]), KERNELS[o.kernel], o.components,
                             setup["freq_scales"], o.toeplitz, dtype=DTYPE)

    # ------------------------------------------------------------------------ the model
    def factors(self) -> list[SymmetricFactor]:
        """Factors of ``K_j + jitter I`` per axis."""
        out = []
        for j in range(self.model.ndim):
            k = self.model.kernel_matrix(j, 0)
            eye = torch.eye(k.shape[0], dtype=k.dtype, device=k.device)
            out.append(SymmetricFactor(k + self.options.jitter * eye))
        return out

    def derivatives(self, factors: list[SymmetricFactor], solved: list[torch.Tensor],
                    terms: list[MultiIndex]) -> dict[MultiIndex, torch.Tensor]:
        """``d^a u`` on the grid for each multi-index ``a``: ``K_j^(a_j) K_j^-1`` along each axis ``j``
        with ``a_j > 0``. ``solved[j]`` is ``U`` solved along axis ``j`` (shared by single-axis terms)."""
        model, out = self.model, {}
        for index in terms:
            axes = [j for j, o in enumerate(index) if o > 0]
            if len(axes) == 1:
                t = solved[axes[0]]
            else:
                t = model.u
                for j in axes:
                    t = mode_solve(factors[j], t, j)
            for j in axes:
                t = mode_product(model.kernel_matrix(j, index[j]), t, j)
            out[index] = t
        return out

    def negative_log_joint(self, pde: CollocationPDE) -> torch.Tensor:
        """``-log p(U, boundary data, PDE residual = 0 | kernels, tau)``, what Adam minimises."""
        model = self.model
        u = model.u
        factors = self.factors()
        solved = [mode_solve(f, u, j) for j, f in enumerate(factors)]
        logdet = kron_logdet([f.logdet() for f in factors], u.shape)
        log_prior = -0.5 * logdet - 0.5 * kron_quad(factors, u, solved)
        gap_b = (u[pde.boundary] - pde.boundary_values).square().sum()
        residual = pde.operator(u, self.derivatives(factors, solved, pde.terms)) - pde.source
        gap_e = residual.square().sum()
        tau_b, tau_e = model.log_tau_boundary, model.log_tau_equation
        log_boundary = 0.5 * pde.boundary_values.numel() * tau_b - 0.5 * tau_b.exp() * gap_b
        log_equation = 0.5 * u.numel() * tau_e - 0.5 * tau_e.exp() * gap_e
        return -(log_prior + self.options.boundary_weight * log_boundary + log_equation)

    def objective(self, pde, generator):
        return self.negative_log_joint(pde)

    @torch.no_grad()
    def predict(self, grid: Grid) -> torch.Tensor:
        """Posterior mean ``K_{*X} K^-1 U`` on ``grid``, mode by mode; shape ``grid.shape``."""
        model = self.model
        weights = kron_solve(self.factors(), model.u)
        for j, axis in enumerate(grid.axes):
            points = torch.as_tensor(axis.coords(), dtype=DTYPE, device=model.u.device)
            weights = mode_product(model.cross_matrix(j, points), weights, j)
        return weights

    # ------------------------------------------------------------------------ reporting
    def spectrum(self) -> dict[str, torch.Tensor]:
        """Learned components per axis: name -> ``(ndim, components)`` (see `StationaryKernel.spectrum`)."""
        per_axis = [k.spectrum() for k in self.model.kernels]
        return {name: torch.stack([s[name] for s in per_axis]).cpu() for name in per_axis[0]}

    def dominant_frequencies(self, top: int = 3) -> list[list[float]]:
        """Per axis, the angular frequencies of the ``top`` heaviest components, heaviest first."""
        s = self.spectrum()
        order = torch.argsort(s["weight"], dim=1, descending=True)[:, :top]
        return torch.gather(s["angular_frequency"], 1, order).tolist()

    def extra_variables(self) -> dict[str, xr.Variable]:
        """The learned spectrum over ``(axis, component)``: ``spectrum_weight``, ``_frequency``,
        ``_angular_frequency`` and ``_log_scale``."""
        meta = {
            "weight": ("1", "mixture weight w_q = exp(log w_q)"),
            "frequency": ("cycles per unit length", "component frequency mu_q"),
            "angular_frequency": ("radians per unit length", "component angular frequency 2 pi mu_q"),
            "log_scale": ("1", "log of the envelope's inverse length-scale parameter"),
        }
        out = {f"spectrum_{k}": xr.Variable(("axis", "component"), v.numpy(),
                                            {"units": meta[k][0], "long_name": meta[k][1]})
               for k, v in self.spectrum().items()}
        out["axis"] = xr.Variable(("axis",), list(self.grid.names), {"long_name": "grid axis of each kernel"})
        return out

    def extra_attrs(self) -> dict[str, object]:
        kernel = self.model.kernels[0]
        return {
            "gp_kernel": f"{kernel.label} ({self.options.kernel}, {kernel.components} component(s) per axis)",
            "dominant_angular_frequencies": json.dumps(self.dominant_frequencies()),
            "collocation_grid": json.dumps(list(self.grid.shape)),
            "noise_precision_boundary": math.exp(float(self.model.log_tau_boundary.detach())),
            "noise_precision_equation": math.exp(float(self.model.log_tau_equation.detach())),
        }
