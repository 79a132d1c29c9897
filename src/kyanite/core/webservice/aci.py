"""AciWebservice (SDK v1 ``azureml.core.webservice.aci``): kept so notebooks written for
Azure Container Instances deploy unchanged. kyanite runs the service locally like a
LocalWebservice: ``cpu_cores`` caps the math libraries' threads (OMP/MKL/OpenBLAS),
``memory_gb`` is recorded, ``auth_enabled`` gives two keys, ``token_auth_enabled`` makes
``service.get_token()`` hand out bearer tokens valid for an hour. ``ssl_enabled`` is
refused: the service speaks plain HTTP on 127.0.0.1; put a TLS proxy in front of it.
"""

from kyanite.core.webservice._errors import WsUserError
from kyanite.core.webservice.webservice import Webservice, WebserviceDeploymentConfiguration

__all__ = ["AciWebservice", "AciServiceDeploymentConfiguration"]


class AciServiceDeploymentConfiguration(WebserviceDeploymentConfiguration):
    _compute_type = "ACI"

    def __init__(self, cpu_cores=None, memory_gb=None, tags=None, properties=None, description=None,
                 location=None, auth_enabled=None, ssl_enabled=None, enable_app_insights=None,
                 ssl_cert_pem_file=None, ssl_key_pem_file=None, ssl_cname=None, dns_name_label=None,
                 primary_key=None, secondary_key=None, collect_model_data=None, cmk_vault_base_url=None,
                 cmk_key_name=None, cmk_key_version=None, vnet_name=None, subnet_name=None,
                 token_auth_enabled=None, port=None, cpu_cores_limit=None, memory_gb_limit=None):
        if ssl_enabled:
            raise WsUserError("ssl_enabled is not supported: kyanite services speak plain HTTP on 127.0.0.1; "
                              "put a TLS-terminating proxy in front of the scoring URI.")
        self.location = location
        self.dns_name_label = dns_name_label
        self.enable_app_insights = enable_app_insights
        self.collect_model_data = collect_model_data
        WebserviceDeploymentConfiguration.__init__(
            self, tags=tags, properties=properties, description=description, auth_enabled=bool(auth_enabled),
            token_auth_enabled=bool(token_auth_enabled), primary_key=primary_key, secondary_key=secondary_key,
            port=port, cpu_cores=cpu_cores, memory_gb=memory_gb)


class AciWebservice(Webservice):
    _webservice_type = "ACI"

    @staticmethod
    def deploy_configuration(cpu_cores=None, memory_gb=None, tags=None, properties=None, description=None,
                             location=None, auth_enabled=None, ssl_enabled=None, enable_app_insights=None,
                             ssl_cert_pem_file=None, ssl_key_pem_file=None, ssl_cname=None, dns_name_label=None,
                             primary_key=None, secondary_key=None, collect_model_data=None,
                             cmk_vault_base_url=None, cmk_key_name=None, cmk_key_version=None, vnet_name=None,
                             subnet_name=None, token_auth_enabled=None, port=None, cpu_cores_limit=None,
                             memory_gb_limit=None):
        return AciServiceDeploymentConfiguration(
            cpu_cores=cpu_cores, memory_gb=memory_gb, tags=tags, properties=properties, description=description,
            location=location, auth_enabled=auth_enabled, ssl_enabled=ssl_enabled,
            enable_app_insights=enable_app_insights, dns_name_label=dns_name_label, primary_key=primary_key,
            secondary_key=secondary_key, collect_model_data=collect_model_data,
            token_auth_enabled=token_auth_enabled, port=port)

    def update(self, image=None, tags=None, properties=None, description=None, auth_enabled=None,
               ssl_enabled=None, ssl_cert_pem_file=None, ssl_key_pem_file=None, ssl_cname=None,
               enable_app_insights=None, models=None, inference_config=None, token_auth_enabled=None):
        """Change the service. ``tags`` replaces the tags, ``properties`` adds; new ``models``,
        ``inference_config`` or auth settings deploy a new generation (then call
        ``wait_for_deployment()``)."""
        if ssl_enabled:
            raise WsUserError("ssl_enabled is not supported by kyanite services.")
        config = {}
        if auth_enabled is not None:
            config["authEnabled"] = bool(auth_enabled)
        if token_auth_enabled is not None:
            config["tokenAuthEnabled"] = bool(token_auth_enabled)
        self._update(models=models, inference_config=inference_config, config=config, tags=tags,
                     properties=properties, description=description)
        return self


Webservice._register("ACI", AciWebservice)
