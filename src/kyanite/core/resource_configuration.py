"""SDK v1's ``azureml.core.resource_configuration``: ``ResourceConfiguration(cpu,
memory_in_gb, gpu)``, what a model needs to serve. Accepted by ``Model.register`` and
``run.register_model``; the model's deployment configuration (``cpu_cores``,
``memory_gb``) is what a kyanite service gets. The same class as
``kyanite.core.runconfig.ResourceConfiguration`` (what a run needs), with v1's argument
names and order here."""

from kyanite.core.runconfig_distributed import ResourceConfiguration as _Resources

__all__ = ["ResourceConfiguration"]


class ResourceConfiguration(_Resources):
    """``ResourceConfiguration(cpu=None, memory_in_gb=None, gpu=None)``; ``memory_in_gb``
    is also ``memory_gb``."""

    def __init__(self, cpu=None, memory_in_gb=None, gpu=None, memory_gb=None, resources=None):
        super(ResourceConfiguration, self).__init__(
            cpu=cpu, gpu=gpu, memory_gb=memory_in_gb if memory_in_gb is not None else memory_gb,
            resources=resources)

    @property
    def memory_in_gb(self):
        return self.memory_gb

    def serialize(self):
        """v1's dictionary form: ``{'cpu', 'memoryInGB', 'gpu'}``."""
        return {"cpu": self.cpu, "memoryInGB": self.memory_gb, "gpu": self.gpu}

    @staticmethod
    def deserialize(payload):
        return ResourceConfiguration(payload.get("cpu"), payload.get("memoryInGB"), payload.get("gpu"))
