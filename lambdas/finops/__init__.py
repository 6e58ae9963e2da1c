"""FinOps Operate: the runtime package shared by every Lambda in the bundle."""
