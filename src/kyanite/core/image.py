"""SDK v1's images (``azureml.core.image``): kyanite builds no container images.

A model is served straight from the registry: ``Model.deploy(ws, name, [model],
InferenceConfig(entry_script='score.py', environment=env), deployment_config)`` (the
flow v1 recommended too). ``Image``, ``ContainerImage`` and their configuration
methods raise a :class:`~kyanite.exceptions.UserErrorException` saying so.
"""

from kyanite.exceptions import UserErrorException

__all__ = ["Image", "ContainerImage"]

_MESSAGE = ("kyanite builds no container images (%s): deploy the model itself with "
            "Model.deploy(ws, name, [model], InferenceConfig(entry_script='score.py', environment=env), "
            "deployment_config), which serves it from the registry.")


def _refuse(what):
    raise UserErrorException(_MESSAGE % what)


class Image(object):
    """Refused: see the module docstring."""

    def __init__(self, *args, **kwargs):
        _refuse(type(self).__name__ + "(...)")

    @staticmethod
    def create(*args, **kwargs):
        _refuse("Image.create")

    @staticmethod
    def list(*args, **kwargs):
        _refuse("Image.list")

    @staticmethod
    def image_configuration(*args, **kwargs):
        _refuse("image_configuration")


class ContainerImage(Image):
    """Refused: see the module docstring."""

    @staticmethod
    def image_configuration(*args, **kwargs):
        _refuse("ContainerImage.image_configuration")
