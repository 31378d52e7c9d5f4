"""Tensorized spectral weights (TFNO; Kossaifi et al., "Multi-Grid Tensorized Fourier Neural
Operator for High-Resolution PDEs", TMLR 2024).

The complex spectral weight ``W`` of shape ``(in, out, 2 m_1, ..., m_d)`` -- or, for the paper's
joint form, ``(layers, in, out, 2 m_1, ..., m_d)`` shared by all Fourier layers -- is kept in
low-rank form:

* Tucker: ``W = G x_1 U_1 x_2 U_2 ...``, core ``G`` of shape ``(r_1, ..., r_N)``, factors ``U_n``
  of shape ``(S_n, r_n)``;
* CP: ``W = sum_r lambda_r u_r^(1) o u_r^(2) o ...``, weights ``(R,)``, factors ``(S_n, R)``;
* TT (tensor train): ``W[i_1, ..., i_N] = G_1[i_1] G_2[i_2] ... G_N[i_N]``, cores
  ``(r_{n-1}, S_n, r_n)``, ``r_0 = r_N = 1``.

A float ``rank`` is the fraction of the dense tensor's parameters to keep, with the same rules as
tensorly (so counts match neuraloperator's at equal rank): Tucker ranks ``round(c S_n)`` with ``c``
solving ``c^N prod(S) + c sum(S^2) = rank prod(S)``; CP rank ``round(rank prod(S) / sum(S))``; TT
ranks proportional to the mean of neighbouring mode sizes, from the quadratic in the common factor.

Forward, ``implementation="factorized"`` (default) never forms the dense ``(in, out, *K)`` weight:
the input spectrum is contracted with the input-channel factor first, then mixed mode by mode
with a kernel built from the other factors -- ``(r_in, out, *K)`` for Tucker and TT, a
``(R, *K)`` scaling for CP -- so the per-sample cost is ``r_in out`` (Tucker, TT) or
``R (in + out)`` (CP) complex products per mode instead of ``in out``. ``"reconstructed"`` builds
the dense weight and applies it (for comparison and checks).

Factors are complex, stored as real pairs (trailing axis of 2) so optimisers and
``weights_only`` checkpoints see real tensors. Initialisation (as neuraloperator): entries of the
reconstructed tensor have standard deviation ``init_std`` (default ``sqrt(2 / (in + out))``), each
factor drawn with the standard deviation that gives it.
"""

from __future__ import annotations

import functools
import math
import string
from abc import abstractmethod
from typing import ClassVar

import torch
from scipy.optimize import brentq
from torch import nn

from pdesolve.errors import UserError
from pdesolve.nn.spectral_conv import SpectralConvBase, mode_matmul

LETTERS = string.ascii_letters


def _complex_normal(shape: tuple[int, ...], std: float) -> nn.Parameter:
    """A real-pair parameter whose complex view has i.i.d. entries with ``E|z|^2 = std^2``."""
    return nn.Parameter(torch.randn(*shape, 2) * (std / math.sqrt(2.0)))


class FactorizedWeight(nn.Module):
    """A complex tensor of shape ``shape`` in low-rank form.

    ``shape`` is ``(in, out, *K)``, or ``(layers, in, out, *K)`` when ``layered``; `parts` gives
    the factors of the ``(in, out, *K)`` tensor of one layer, on which `contract` and
    `reconstruct` act.

    Args:
        shape: the dense tensor's shape.
        rank: fraction of the dense tensor's parameters (float) or explicit rank(s) (int / list).
        layered: whether the first mode indexes layers.
        init_std: standard deviation of the reconstructed entries.
    """

    kind: ClassVar[str]
    leading_parts: ClassVar[int]  # parts before the per-mode factors in `parts`
    mode_axis: ClassVar[int]  # axis of each per-mode factor that runs over that mode

    def __init__(self, shape: tuple[int, ...], rank: float | int | list[int], layered: bool, init_std: float):
        super().__init__()
        self.shape = tuple(int(s) for s in shape)
        self.layered = layered
        self.rank = self.validate_rank(self.shape, rank)

    @classmethod
    @abstractmethod
    def validate_rank(cls, shape: tuple[int, ...], rank) -> tuple[int, ...]:
        """The integer rank(s) for ``rank`` (fraction of parameters or explicit)."""

    def n_parameters(self) -> int:
        """Real parameters (two per complex entry)."""
        return sum(p.numel() for p in self.parameters())

    def n_dense_parameters(self) -> int:
        """Real parameters of the dense tensor it stands for."""
        return 2 * math.prod(self.shape)

    @abstractmethod
    def parts(self, layer: int | None = None) -> list[torch.Tensor]:
        """Complex factors of the ``(in, out, *K)`` tensor (of ``layer`` when ``layered``)."""

    @classmethod
    def select(cls, parts: list[torch.Tensor], rows: list[torch.Tensor | None]) -> list[torch.Tensor]:
        """``parts`` restricted to ``rows`` on the mode axes (see `SpectralConvBase.weight_rows`)."""
        head, modes = parts[:cls.leading_parts], parts[cls.leading_parts:]
        return [*head, *(_select_axis(f, r, cls.mode_axis) for f, r in zip(modes, rows, strict=True))]

    @staticmethod
    @abstractmethod
    def reconstruct(parts: list[torch.Tensor]) -> torch.Tensor:
        """The dense complex tensor ``(in, out, *K)``."""

    @staticmethod
    @abstractmethod
    def contract(x: torch.Tensor, parts: list[torch.Tensor]) -> torch.Tensor:
        """``(b, in, *K) -> (b, out, *K)`` from the factors, without forming the dense tensor."""

    def extra_repr(self) -> str:
        return f"shape={self.shape}, rank={self.rank}, layered={self.layered}"


def _select_axis(factor: torch.Tensor, index: torch.Tensor | None, axis: int) -> torch.Tensor:
    return factor if index is None else factor.index_select(axis, index.to(factor.device))


@functools.cache
def _tucker_equations(n_modes: int) -> tuple[str, str]:
    """Einsum equations for a Tucker tensor of ``n_modes`` spatial modes:
    the kernel ``(r_in, out, *K)`` from core, out-factor and mode factors, and the dense tensor."""
    a, c, o, i = "a", "c", "o", "i"
    ranks, modes = LETTERS[4:4 + n_modes], LETTERS[26:26 + n_modes]
    core = a + c + ranks
    mode_factors = ",".join(m + r for m, r in zip(modes, ranks, strict=True))
    kernel = f"{core},{o}{c},{mode_factors}->{a}{o}{modes}"
    dense = f"{core},{i}{a},{o}{c},{mode_factors}->{i}{o}{modes}"
    return kernel, dense


class Tucker(FactorizedWeight):
    """Tucker form: core ``(r_1, ..., r_N)`` and one factor ``(S_n, r_n)`` per mode."""

    kind = "tucker"
    leading_parts, mode_axis = 3, 0  # core, in, out; mode factors (S_n, R_n)

    def __init__(self, shape, rank, layered, init_std):
        super().__init__(shape, rank, layered, init_std)
        std = (init_std / math.sqrt(math.prod(self.rank))) ** (1.0 / (len(self.shape) + 1))
        self.core = _complex_normal(self.rank, std)
        self.factors = nn.ParameterList(
            _complex_normal((s, r), std) for s, r in zip(self.shape, self.rank, strict=True))

    @classmethod
    def validate_rank(cls, shape, rank):
        if isinstance(rank, float):
            total, squares = math.prod(shape), sum(s * s for s in shape)
            c = brentq(lambda c: total * c ** len(shape) + squares * c - rank * total, 0.0, max(rank, 1.0))
            return tuple(max(1, round(s * c)) for s in shape)
        ranks = (rank,) * len(shape) if isinstance(rank, int) else tuple(rank)
        if len(ranks) != len(shape):
            raise UserError(f"a Tucker rank needs {len(shape)} values for a tensor of shape {shape}")
        return tuple(min(r, s) for r, s in zip(ranks, shape, strict=True))

    def parts(self, layer=None):
        core = torch.view_as_complex(self.core)
        factors = [torch.view_as_complex(f) for f in self.factors]
        if self.layered:
            core = torch.tensordot(factors[0][layer], core, dims=([0], [0]))
            factors = factors[1:]
        return [core, *factors]

    @staticmethod
    def reconstruct(parts):
        core, f_in, f_out, *f_modes = parts
        return torch.einsum(_tucker_equations(len(f_modes))[1], core, f_in, f_out, *f_modes)

    @staticmethod
    def contract(x, parts):
        core, f_in, f_out, *f_modes = parts
        kernel = torch.einsum(_tucker_equations(len(f_modes))[0], core, f_out, *f_modes)
        return mode_matmul(torch.einsum("bi...,ia->ba...", x, f_in), kernel)


@functools.cache
def _cp_equations(n_modes: int) -> tuple[str, str]:
    """Einsum equations for a CP tensor: the per-mode scaling ``(R, *K)`` and the dense tensor."""
    modes = LETTERS[:n_modes]
    scaling = "r," + ",".join(m + "r" for m in modes) + f"->r{modes}"
    dense = "r,Ir,Or," + ",".join(m + "r" for m in modes) + f"->IO{modes}"
    return scaling, dense


class CP(FactorizedWeight):
    """CP form: weights ``(R,)`` and one factor ``(S_n, R)`` per mode."""

    kind = "cp"
    leading_parts, mode_axis = 3, 0  # weights, in, out; mode factors (S_n, R)

    def __init__(self, shape, rank, layered, init_std):
        super().__init__(shape, rank, layered, init_std)
        (r,) = self.rank
        std = (init_std / math.sqrt(r)) ** (1.0 / len(self.shape))
        self.weights = nn.Parameter(torch.stack([torch.ones(r), torch.zeros(r)], dim=-1))
        self.factors = nn.ParameterList(_complex_normal((s, r), std) for s in self.shape)

    @classmethod
    def validate_rank(cls, shape, rank):
        if isinstance(rank, float):
            return (max(1, round(math.prod(shape) * rank / sum(shape))),)
        if not isinstance(rank, int):
            raise UserError(f"a CP rank is one integer, got {rank}")
        return (rank,)

    def parts(self, layer=None):
        weights = torch.view_as_complex(self.weights)
        factors = [torch.view_as_complex(f) for f in self.factors]
        if self.layered:
            weights = weights * factors[0][layer]
            factors = factors[1:]
        return [weights, *factors]

    @staticmethod
    def reconstruct(parts):
        weights, f_in, f_out, *f_modes = parts
        return torch.einsum(_cp_equations(len(f_modes))[1], weights, f_in, f_out, *f_modes)

    @staticmethod
    def contract(x, parts):
        weights, f_in, f_out, *f_modes = parts
        scaling = torch.einsum(_cp_equations(len(f_modes))[0], weights, *f_modes)
        y = torch.einsum("bi...,ir->br...", x, f_in) * scaling
        return torch.einsum("br...,or->bo...", y, f_out)


class TensorTrain(FactorizedWeight):
    """Tensor-train form: cores ``(r_{n-1}, S_n, r_n)`` with ``r_0 = r_N = 1``."""

    kind = "tt"
    leading_parts, mode_axis = 2, 1  # in, out cores; mode cores (r, S_n, r)

    def __init__(self, shape, rank, layered, init_std):
        super().__init__(shape, rank, layered, init_std)
        inner = self.rank[1:-1]
        std = (init_std / math.sqrt(math.prod(inner))) ** (1.0 / len(self.shape))
        self.cores = nn.ParameterList(
            _complex_normal((self.rank[n], s, self.rank[n + 1]), std) for n, s in enumerate(self.shape))

    @classmethod
    def validate_rank(cls, shape, rank):
        n = len(shape)
        if isinstance(rank, float):
            mean = [(shape[k] + shape[k + 1]) / 2 for k in range(n - 1)]
            a = sum(mean[k - 1] * shape[k] * mean[k] for k in range(1, n - 1))
            b = shape[0] * mean[0] + shape[-1] * mean[-1]
            c = -math.prod(shape) * rank
            fraction = (-b + math.sqrt(b * b - 4 * a * c)) / (2 * a)
            return (1, *(max(1, round(m * fraction)) for m in mean), 1)
        ranks = (1, *((rank,) * (n - 1)), 1) if isinstance(rank, int) else tuple(rank)
        if len(ranks) != n + 1 or ranks[0] != 1 or ranks[-1] != 1:
            raise UserError(f"a TT rank needs {n + 1} values starting and ending with 1, got {rank}")
        return ranks

    def parts(self, layer=None):
        cores = [torch.view_as_complex(c) for c in self.cores]
        if self.layered:
            first = torch.tensordot(cores[0][0, layer], cores[1], dims=([0], [0]))
            cores = [first.unsqueeze(0), *cores[2:]]
        return cores

    @staticmethod
    def _tail(g_modes: list[torch.Tensor]) -> torch.Tensor:
        """The spatial cores contracted: ``(r, *K)``."""
        tail = g_modes[-1][..., 0]
        for g in reversed(g_modes[:-1]):
            tail = torch.tensordot(g, tail, dims=([2], [0]))
        return tail

    @staticmethod
    def reconstruct(parts):
        g_in, g_out, *g_modes = parts
        kernel = torch.tensordot(g_out, TensorTrain._tail(g_modes), dims=([2], [0]))  # (r1, out, *K)
        return torch.tensordot(g_in[0], kernel, dims=([1], [0]))

    @staticmethod
    def contract(x, parts):
        g_in, g_out, *g_modes = parts
        kernel = torch.tensordot(g_out, TensorTrain._tail(g_modes), dims=([2], [0]))  # (r1, out, *K)
        return mode_matmul(torch.einsum("bi...,ia->ba...", x, g_in[0]), kernel)


FACTORIZATIONS: dict[str, type[FactorizedWeight]] = {c.kind: c for c in (Tucker, CP, TensorTrain)}


def _contract_factorized(weight: FactorizedWeight, x: torch.Tensor, parts: list[torch.Tensor]):
    return weight.contract(x, parts)


def _contract_reconstructed(weight: FactorizedWeight, x: torch.Tensor, parts: list[torch.Tensor]):
    return mode_matmul(x, weight.reconstruct(parts))


IMPLEMENTATIONS = {"factorized": _contract_factorized, "reconstructed": _contract_reconstructed}


class FactorizedSpectralConv(SpectralConvBase):
    """Fourier layer whose spectral weight is a Tucker, CP or TT tensor.

    ``(b, in, *s) -> (b, out, *s)``. With ``layers=L`` one factorized tensor of shape
    ``(L, in, out, *mode_shape)`` serves ``L`` Fourier layers (the paper's joint factorization):
    ``conv[l](x)`` (or ``conv(x, layer=l)``) is layer ``l``.

    Args:
        in_channels, out_channels: channel counts.
        modes: retained modes per spatial axis (on the last axis, of the half-spectrum).
        factorization: ``"tucker"``, ``"cp"`` or ``"tt"``.
        rank: fraction of the dense parameters to keep (float), or explicit rank(s).
        implementation: ``"factorized"`` (contract with the factors) or ``"reconstructed"``.
        layers: ``None`` for a layer's own weight; ``L`` for one weight shared by ``L`` layers.
        init_std: standard deviation of the reconstructed weight (default ``sqrt(2 / (in + out))``).
    """

    def __init__(self, in_channels: int, out_channels: int, modes: tuple[int, ...],
                 factorization: str = "tucker", rank: float | int | list[int] = 0.1,
                 implementation: str = "factorized", layers: int | None = None,
                 init_std: float | None = None):
        super().__init__(in_channels, out_channels, modes)
        if factorization not in FACTORIZATIONS:
            raise UserError(f"unknown factorization '{factorization}' "
                            f"(expected one of: {', '.join(FACTORIZATIONS)})")
        if implementation not in IMPLEMENTATIONS:
            raise UserError(f"unknown implementation '{implementation}' "
                            f"(expected one of: {', '.join(IMPLEMENTATIONS)})")
        self.factorization = factorization
        self.implementation = implementation
        self.layers = layers
        shape = (in_channels, out_channels, *self.mode_shape)
        if layers is not None:
            shape = (layers, *shape)
        std = init_std if init_std is not None else math.sqrt(2.0 / (in_channels + out_channels))
        self.weight = FACTORIZATIONS[factorization](shape, rank, layers is not None, std)
        self._contract = IMPLEMENTATIONS[implementation]

    def contract(self, x_hat, rows, layer: int | None = None):
        """Apply the weight (of ``layer`` for a joint weight) to the retained modes."""
        if (layer is None) != (self.layers is None):
            raise ValueError("a joint factorized weight needs a layer index; a per-layer one takes none")
        parts = self.weight.select(self.weight.parts(layer), rows)
        return self._contract(self.weight, x_hat, parts)

    def __len__(self) -> int:
        return self.layers or 1

    def __getitem__(self, layer: int):
        """Layer ``layer`` of a joint weight as a callable ``x -> conv(x, layer=layer)``."""
        if self.layers is None or not 0 <= layer < self.layers:
            raise IndexError(f"layer {layer} of a spectral weight shared by {self.layers} layers")
        return functools.partial(self, layer=layer)

    def dense_weight(self, layer: int | None = None) -> torch.Tensor:
        """The reconstructed complex weight ``(in, out, *mode_shape)`` (for checks and export)."""
        return self.weight.reconstruct(self.weight.parts(layer))

    def n_spectral_parameters(self) -> int:
        """Real parameters of the factorized weight."""
        return self.weight.n_parameters()

    def extra_repr(self) -> str:
        joint = f", joint over {self.layers} layers" if self.layers else ""
        return f"{super().extra_repr()}, {self.factorization}{joint}, {self.implementation}"
