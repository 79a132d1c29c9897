"""Compute targets (SDK v1 ``azureml.core.compute``)."""

from kyanite.core.compute.compute import (
    AmlCompute, AmlComputeProvisioningConfiguration, ComputeTarget, ComputeTargetStatus,
)

__all__ = ["ComputeTarget", "AmlCompute", "AmlComputeProvisioningConfiguration", "ComputeTargetStatus"]
