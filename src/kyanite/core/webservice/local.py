"""LocalWebservice (SDK v1 ``azureml.core.webservice.local``): a service on this machine.

v1 ran it in local Docker; kyanite runs it like every deployment, as a scoring process in
a uv environment managed by the workspace server. Beyond v1, ``deploy_configuration``
takes ``auth_enabled`` (keys as for an AciWebservice).
"""

from kyanite.core.webservice.webservice import Webservice, WebserviceDeploymentConfiguration
from kyanite.exceptions import WebserviceException

__all__ = ["LocalWebservice", "LocalWebserviceDeploymentConfiguration"]


class LocalWebserviceDeploymentConfiguration(WebserviceDeploymentConfiguration):
    _compute_type = "Local"

    def __init__(self, port=None, auth_enabled=False, primary_key=None, secondary_key=None, tags=None,
                 properties=None, description=None):
        WebserviceDeploymentConfiguration.__init__(
            self, tags=tags, properties=properties, description=description, auth_enabled=auth_enabled,
            primary_key=primary_key, secondary_key=secondary_key, port=port)


class LocalWebservice(Webservice):
    _webservice_type = "Local"

    @staticmethod
    def deploy_configuration(port=None, auth_enabled=False, primary_key=None, secondary_key=None, tags=None,
                             properties=None, description=None):
        """``port``: the port to serve on (None: a free one, kept across updates and restarts)."""
        return LocalWebserviceDeploymentConfiguration(port=port, auth_enabled=auth_enabled, primary_key=primary_key,
                                                      secondary_key=secondary_key, tags=tags, properties=properties,
                                                      description=description)

    def update(self, models=None, image_config=None, deployment_config=None, wait=False, inference_config=None,
               port=None):
        """Deploy new models / a new inference configuration / another port (a new
        generation of the scoring process, on the same port unless told otherwise).
        An ``inference_config`` without an environment (say only ``entry_script='score2.py'``)
        keeps the service's environment. ``wait=True`` waits until it is Healthy."""
        config = {}
        if deployment_config is not None:
            config.update(deployment_config._config())
        if port is not None:
            config["port"] = port
        self._update(models=models, inference_config=inference_config, config=config)
        if wait:
            self.wait_for_deployment()
        return self

    def reload(self, wait=False):
        """Start the scoring process again with the entry script's folder as it is now (or,
        for a service this object deployed from an entry script alone, as v1's samples do,
        that script as it is now)."""
        inf = self._record.get("inference") or {}
        from kyanite.core.model import InferenceConfig
        env = self._deployed_environment()
        if inf.get("sourceDirectory"):
            cfg = InferenceConfig(entry_script=inf["entryScript"], source_directory=inf["sourceDirectory"],
                                  environment=env)
        elif self._entry_script_path:
            cfg = InferenceConfig(entry_script=self._entry_script_path, environment=env)
        else:
            raise WebserviceException(
                "reload() cannot find service %s's entry script: it was deployed without a source_directory "
                "from another LocalWebservice object; call service.update(inference_config=InferenceConfig("
                "entry_script=..., source_directory=...))." % self.name)
        self._update(inference_config=cfg)
        if wait:
            self.wait_for_deployment()
        return self


Webservice._register("Local", LocalWebservice)
