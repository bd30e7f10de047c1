"""The direct metric: platform profiles, their calibration (platforms.calibrate, which runs
models and so is imported only where used), latency estimates and measurement."""
from .estimate import LatencyEstimate, estimate
from .profile import Profile, builtin_profiles, load_profile

__all__ = ["LatencyEstimate", "Profile", "builtin_profiles", "estimate", "load_profile"]
