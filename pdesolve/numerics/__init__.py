"""Numerical building blocks shared by the reference solvers: spectral operators on periodic
grids, Gaussian random fields and time steppers. Pure torch, same code on CPU and GPU."""
