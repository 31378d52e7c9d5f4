"""Numerical building blocks shared by the reference solvers, with no PDE inside: spectral operators
and vector calculus on periodic grids, filters, SGS kernels, random fields, FEM / meshing / Krylov
pieces, and the equation protocols, time steppers and the one `march` of `time_steppers`. The PDEs
themselves live with their problems (`pdesolve.problems`)."""
