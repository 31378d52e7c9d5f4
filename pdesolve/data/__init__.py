"""Data models: grids, meshes, field metadata, netCDF I/O and the xarray <-> torch bridge."""

from pdesolve.data.fields import FieldSpec
from pdesolve.data.grid import Axis, Grid
from pdesolve.data.mesh import Mesh
from pdesolve.data.netcdf import read_netcdf, write_netcdf

__all__ = ["Axis", "FieldSpec", "Grid", "Mesh", "read_netcdf", "write_netcdf"]
