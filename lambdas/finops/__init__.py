"""FinOps Operate: the runtime package shared by every Lambda in the bundle."""

from finops._version import __version__

__all__ = ["__version__"]
