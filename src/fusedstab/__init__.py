"""fusedstab: fused gyro + video stabilization."""
__version__ = "0.1.0"
