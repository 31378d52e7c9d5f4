"""INSR time integrators, one per problem: the networks, the fit of the initial state, and the
sub-problems solved at every time step with their per-iteration losses.

Every loss draws fresh uniform samples from the generator it is given, so each optimiser
iteration sees new points (no mesh). Terms of the previous state(s) are evaluated by frozen copies
(`Fields.previous`) and detached. Each loss returns a dict with the term ``"main"`` -- the one the
plateau schedule watches -- plus soft boundary penalties (weight 1, as in the authors' code).

The losses follow the authors' code (github.com/honglin-c/INSR-PDE, ``advection/model.py``,
``fluid/model.py``, ``elasticity/model.py``); see docs/backends/insr.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from pdesolve.numerics.point_derivatives import divergence, gradient, jacobian, laplacian
from pdesolve.problems.advection_1d import Advection1D
from pdesolve.problems.elastodynamics_2d import Elastodynamics2D
from pdesolve.problems.euler_2d import Euler2D

WALL_BAND = 1e-4  # half-width of the band around a wall where boundary samples are drawn
Losses = dict[str, torch.Tensor]


@dataclass
class Fields:
    """The networks being optimised (``current``) and frozen copies of earlier states (``previous``)."""

    current: nn.ModuleDict
    previous: dict[str, nn.Module]

    def copy(self, alias: str, network: str) -> None:
        """Load the current weights of ``network`` into the frozen copy ``alias``."""
        self.previous[alias].load_state_dict(self.current[network].state_dict())


@dataclass
class Stage:
    """One optimisation sub-problem.

    Attributes:
        name: label in logs and metrics (``advect``, ``pressure``, ...).
        trainable: the networks whose weights this stage optimises.
        loss: ``(fields, generator) -> losses`` on fresh samples.
        snapshot: ``(alias, network)`` copies made before the stage starts.
    """

    name: str
    trainable: tuple[str, ...]
    loss: Callable[[Fields, torch.Generator], Losses]
    snapshot: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class PaperSettings:
    """The authors' script settings for an example (the defaults of `INSROptions`)."""

    hidden_layers: int
    width: int
    samples: int
    lr: float
    initial_samples: int | None = None  # null: as ``samples``


# ------------------------------------------------------------------------------ sampling
def uniform(n: int, lo: float, hi: float, dim: int, gen: torch.Generator, device) -> torch.Tensor:
    """``n`` uniform points in ``[lo, hi]^dim``: ``(n, dim)``."""
    return lo + (hi - lo) * torch.rand(n, dim, generator=gen, device=device)


def near_walls(
    n: int, axis: int, lo: float, hi: float, dim: int, gen: torch.Generator, device
) -> torch.Tensor:
    """``n // 2`` points within `WALL_BAND` of each wall normal to ``axis`` of ``[lo, hi]^dim``
    (other coordinates uniform): ``(2 (n // 2), dim)``."""
    half = n // 2
    points = uniform(2 * half, lo, hi, dim, gen, device)
    walls = torch.cat([torch.full((half,), lo, device=device), torch.full((half,), hi, device=device)])
    scale = WALL_BAND * (hi - lo) / 2
    points[:, axis] = walls + scale * (2 * torch.rand(2 * half, generator=gen, device=device) - 1)
    return points


def cell_centres(n: int, lo: float, hi: float, dim: int, device) -> torch.Tensor:
    """The centres of an ``n^dim`` grid of cells over ``[lo, hi]^dim``: ``(n^dim, dim)``."""
    c = lo + (torch.arange(n, device=device, dtype=torch.float32) + 0.5) * (hi - lo) / n
    return torch.stack(torch.meshgrid(*[c] * dim, indexing="ij"), -1).reshape(-1, dim)


# ------------------------------------------------------------------------------- schemes
class Scheme:
    """How INSR integrates one problem.

    Class attributes:
        problem_type: the problem class it integrates.
        networks: name -> ``(in_features, out_features)`` of each SIREN.
        previous: alias of a frozen copy -> ``(network, lag)``: at the start of step ``k`` the copy
            holds the network's weights of step ``max(k - lag, 0)``.
    """

    problem_type: ClassVar[type]
    networks: ClassVar[dict[str, tuple[int, int]]]
    previous: ClassVar[dict[str, tuple[str, int]]]

    def __init__(self, problem, samples: int, initial_samples: int):
        self.problem = problem
        self.samples = samples
        self.initial_samples = initial_samples

    @staticmethod
    def paper(problem) -> PaperSettings:
        """The authors' settings for ``problem``."""
        raise NotImplementedError

    def initial_stages(self) -> list[Stage]:
        """Fit of the initial state (time step 0)."""
        raise NotImplementedError

    def step_stages(self, step: int) -> list[Stage]:
        """The sub-problems of time step ``step >= 1``, in order."""
        raise NotImplementedError

    @staticmethod
    def outputs(networks: dict[str, Callable], points: torch.Tensor) -> dict[str, torch.Tensor]:
        """Output fields at ``points`` ``(N, d)``, each ``(N,)``; ``networks`` maps names to callables."""
        raise NotImplementedError


def _mse(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    return torch.mean((a - b) ** 2)


class AdvectionMidpoint(Scheme):
    """Implicit midpoint rule for ``u_t + a u_x = 0`` (``advection/model.py``)::

    main = mean_x [ ((u(x) - u_n(x)) / dt + a (u_x(x) + u_n,x(x)) / 2)^2 ],  x ~ U(-L/2, L/2)
    bc   = mean_xb [ u(xb)^2 ],  max(N / 100, 10) points within 1e-4 L/2 of the walls
    """

    problem_type = Advection1D
    networks = {"u": (1, 1)}
    previous = {"u_prev": ("u", 1)}

    @staticmethod
    def paper(problem) -> PaperSettings:
        return PaperSettings(hidden_layers=2, width=20, samples=5000, lr=1e-4)

    def _points(self, n, gen, device):
        lo, hi = self.problem.domain
        return uniform(n, lo, hi, 1, gen, device)

    def initial_stages(self):
        def loss(f: Fields, gen):
            x = self._points(self.initial_samples, gen, _device(f))
            return {"main": _mse(f.current["u"](x), self.problem.initial(x))}

        return [Stage("initial", ("u",), loss)]

    def step_stages(self, step):
        p = self.problem.params
        lo, hi = self.problem.domain

        def loss(f: Fields, gen):
            device = _device(f)
            n = self.samples
            x = self._points(n, gen, device).requires_grad_(True)
            xb = near_walls(max(n // 100, 10), 0, lo, hi, 1, gen, device)
            u_all = f.current["u"](torch.cat([x, xb]))  # one pass for the interior and the walls
            u, u_prev = u_all[:n], f.previous["u_prev"](x)
            ux, ux_prev = gradient(u, x), gradient(u_prev, x).detach()
            residual = (u - u_prev.detach()) / p.dt + p.velocity * (ux + ux_prev) / 2
            return {"main": torch.mean(residual**2), "bc": torch.mean(u_all[n:] ** 2)}

        return [Stage("advect", ("u",), loss)]

    @staticmethod
    def outputs(networks, points):
        return {"u": networks["u"](points)[:, 0]}


class EulerSplitting(Scheme):
    """Operator splitting for incompressible Euler (``fluid/model.py``), three sub-problems::

        advect    u(x) ~ u_n(clamp(x - dt u_n(x), -1, 1))        + no-penetration penalty
        pressure  lap p(x) ~ div u(x)   (div u detached)          + dp/dn = 0 penalty
        project   u(x) ~ u*(x) - grad p(x)  (u* = advected u, grad p detached) + no-penetration

    ``dt`` is absorbed into ``p``. Penalties use N / 100 points per wall pair.
    """

    problem_type = Euler2D
    networks = {"velocity": (2, 2), "pressure": (2, 1)}
    previous = {"velocity_prev": ("velocity", 1)}

    @staticmethod
    def paper(problem) -> PaperSettings:
        return PaperSettings(hidden_layers=3, width=32, samples=128**2, lr=1e-4)

    def _wall_samples(self) -> int:
        """Points per pair of walls: 1% of the samples (at least 2), even."""
        return max(self.samples // 100 // 2 * 2, 2)

    def _velocity_and_walls(
        self, f: Fields, x: torch.Tensor, gen, device
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The velocity at ``x`` and the no-penetration penalty ``mean u_x^2`` on the x-walls plus
        ``mean u_y^2`` on the y-walls (one network pass for all points)."""
        n, m = x.shape[0], self._wall_samples()
        walls = torch.cat(
            [x, near_walls(m, 0, -1.0, 1.0, 2, gen, device), near_walls(m, 1, -1.0, 1.0, 2, gen, device)]
        )
        uv = f.current["velocity"](walls)
        bc = torch.mean(uv[n : n + m, 0] ** 2) + torch.mean(uv[n + m :, 1] ** 2)
        return uv[:n], bc

    def initial_stages(self):
        def loss(f: Fields, gen):
            x = uniform(self.initial_samples, -1.0, 1.0, 2, gen, _device(f))
            return {"main": _mse(f.current["velocity"](x), self.problem.initial(x))}

        return [Stage("initial", ("velocity",), loss)]

    def step_stages(self, step):
        dt = self.problem.params.dt

        def advect(f: Fields, gen):
            device = _device(f)
            x = uniform(self.samples, -1.0, 1.0, 2, gen, device)
            with torch.no_grad():
                prev = f.previous["velocity_prev"]
                target = prev((x - dt * prev(x)).clamp(-1.0, 1.0))
            uv, bc = self._velocity_and_walls(f, x, gen, device)
            return {"main": _mse(uv, target), "bc": bc}

        def pressure(f: Fields, gen):
            device = _device(f)
            x = uniform(self.samples, -1.0, 1.0, 2, gen, device).requires_grad_(True)
            div_u = divergence(f.current["velocity"](x), x).detach()
            main = _mse(div_u, laplacian(f.current["pressure"](x), x))
            m = self._wall_samples()
            walls = torch.cat(
                [near_walls(m, 0, -1.0, 1.0, 2, gen, device), near_walls(m, 1, -1.0, 1.0, 2, gen, device)]
            ).requires_grad_(True)
            grad_p = gradient(f.current["pressure"](walls), walls)
            bc = torch.mean(grad_p[:m, 0] ** 2) + torch.mean(grad_p[m:, 1] ** 2)
            return {"main": main, "bc": bc}

        def project(f: Fields, gen):
            device = _device(f)
            x = uniform(self.samples, -1.0, 1.0, 2, gen, device).requires_grad_(True)
            grad_p = gradient(f.current["pressure"](x), x).detach()
            with torch.no_grad():
                target = f.previous["velocity_prev"](x) - grad_p
            uv, bc = self._velocity_and_walls(f, x.detach(), gen, device)
            return {"main": _mse(uv, target), "bc": bc}

        return [
            Stage("advect", ("velocity",), advect),
            Stage("pressure", ("pressure",), pressure),
            Stage("project", ("velocity",), project, snapshot=(("velocity_prev", "velocity"),)),
        ]

    @staticmethod
    def outputs(networks, points):
        uv = networks["velocity"](points)
        return {"u": uv[:, 0], "v": uv[:, 1]}


class IncrementalPotential(Scheme):
    """Implicit Euler as the minimisation of the incremental potential (``elasticity/model.py``):
    ``q = X + d(X)``; the potential (`Elastodynamics2D.potential`) is summed over N random points
    plus the centres of a sqrt(N) x sqrt(N) grid, and over sqrt(N) random plus sqrt(N) grid points
    of each constrained edge. The initial state is a fit of ``d = 0``."""

    problem_type = Elastodynamics2D
    networks = {"displacement": (2, 2)}
    previous = {"displacement_n": ("displacement", 1), "displacement_n-1": ("displacement", 2)}

    @staticmethod
    def paper(problem) -> PaperSettings:
        return PaperSettings(
            hidden_layers=3, width=68, samples=100**2, lr=problem.scene.lr, initial_samples=500**2
        )

    @staticmethod
    def _points(n: int, gen, device) -> torch.Tensor:
        side = max(int(round(math.sqrt(n))), 1)
        return torch.cat([uniform(n, -1.0, 1.0, 2, gen, device), cell_centres(side, -1.0, 1.0, 2, device)])

    @staticmethod
    def _edge(n: int, x: float, gen, device) -> torch.Tensor:
        side = max(int(round(math.sqrt(n))), 1)
        y = torch.cat([uniform(side, -1.0, 1.0, 1, gen, device), cell_centres(side, -1.0, 1.0, 1, device)])
        return torch.cat([torch.full_like(y, x), y], dim=1)

    def initial_stages(self):
        def loss(f: Fields, gen):
            x = self._points(self.initial_samples, gen, _device(f))
            return {"main": torch.mean(f.current["displacement"](x) ** 2)}

        return [Stage("initial", ("displacement",), loss)]

    def step_stages(self, step):
        def loss(f: Fields, gen):
            device = _device(f)
            x = self._points(self.samples, gen, device).requires_grad_(True)
            d = f.current["displacement"]
            q = x + d(x)
            with torch.no_grad():
                q_prev = x + f.previous["displacement_n"](x)
                q_prev2 = x + f.previous["displacement_n-1"](x)
            singular_values = torch.linalg.svdvals(jacobian(q, x))
            left = d(self._edge(self.samples, -1.0, gen, device))
            right = d(self._edge(self.samples, 1.0, gen, device))
            return {"main": self.problem.potential(step, q, q_prev, q_prev2, singular_values, left, right)}

        return [Stage("deform", ("displacement",), loss)]

    @staticmethod
    def outputs(networks, points):
        d = networks["displacement"](points)
        return {"displacement_x": d[:, 0], "displacement_y": d[:, 1]}


def _device(f: Fields) -> torch.device:
    return next(iter(f.current.parameters())).device


SCHEMES: dict[str, type[Scheme]] = {
    s.problem_type.name: s for s in (AdvectionMidpoint, EulerSplitting, IncrementalPotential)
}
