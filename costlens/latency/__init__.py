"""The latency model, pure: platform profiles (their format and built-in files), kernel
classes, the roofline time of one op and the estimate of a whole analysis. Nothing here runs
torch; measuring a device to make a profile is costlens.measure's job."""
from .classes import KernelClass
from .estimate import LatencyEstimate, estimate
from .profile import Profile, builtin_profiles, load_profile
from .roofline import Bound

__all__ = ["Bound", "KernelClass", "LatencyEstimate", "Profile", "builtin_profiles", "estimate",
           "load_profile"]
