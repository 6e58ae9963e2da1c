"""The run engine every acting capability shares: targets -> fan-out -> per-target worker -> aggregate -> digest.

A capability is a pure ``plan`` over a fresh read of one target and an ``apply`` that carries the plan out
(:class:`finops.engine.model.Capability`). On AWS, a Step Functions state machine runs ``engine_start``, a
Distributed Map over the capability's worker and ``engine_aggregate``; locally, :mod:`finops.engine.local` calls the
same functions with the same inputs and outputs.
"""
