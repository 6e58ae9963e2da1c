"""The release this code is: a copy of ``[project] version`` in pyproject.toml, which is the one place it is set.

The Lambda asset ships ``lambdas/`` without pyproject.toml, so the runtime cannot read it there; this copy travels
with the code, and tests/test_version.py fails when the two differ (docs/release.md: bump both, in one commit).
"""

__version__ = "0.5.0"
