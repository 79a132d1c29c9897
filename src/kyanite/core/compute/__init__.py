"""Compute targets (SDK v1 ``azureml.core.compute``)."""

from kyanite.core.compute.compute import (
    AmlCompute, AmlComputeProvisioningConfiguration, ComputeTarget, ComputeTargetStatus,
)
from kyanite.core.compute.ray_compute import RayCompute, RayComputeAttachConfiguration, RayComputeStatus

__all__ = ["ComputeTarget", "AmlCompute", "AmlComputeProvisioningConfiguration", "ComputeTargetStatus",
           "RayCompute", "RayComputeAttachConfiguration", "RayComputeStatus"]
