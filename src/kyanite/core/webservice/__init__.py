"""Web services (SDK v1 ``azureml.core.webservice``): deployed models behind REST.

``Model.deploy(ws, name, models, inference_config, deployment_config)`` returns a
:class:`LocalWebservice` or :class:`AciWebservice`; both are local deployments run by the
workspace server's deployment manager (a scoring process per service on 127.0.0.1).
``Webservice(ws, name)`` fetches an existing one as the right class; ``Webservice.list(ws)``.
"""

from kyanite.core.webservice.aci import AciServiceDeploymentConfiguration, AciWebservice
from kyanite.core.webservice.local import LocalWebservice, LocalWebserviceDeploymentConfiguration
from kyanite.core.webservice.webservice import Webservice, WebserviceDeploymentConfiguration

__all__ = ["Webservice", "LocalWebservice", "AciWebservice", "WebserviceDeploymentConfiguration",
           "LocalWebserviceDeploymentConfiguration", "AciServiceDeploymentConfiguration"]
