"""SDK v1's authentication classes (``azureml.core.authentication``), kept so v1
notebooks run unchanged. kyanite authenticates every call with the workspace's token
(``.kyanite/token`` for a local workspace, ``token`` in config.json or ``KYANITE_TOKEN``
for a remote one), so these accept their v1 arguments and do nothing: pass one as
``auth=`` anywhere v1 takes it, and it is ignored.
"""

__all__ = ["AbstractAuthentication", "InteractiveLoginAuthentication", "ServicePrincipalAuthentication",
           "MsiAuthentication", "AzureCliAuthentication", "TokenAuthentication"]


class AbstractAuthentication(object):
    """Accepted where v1 takes ``auth=``; kyanite uses the workspace token instead."""

    def __init__(self, *args, **kwargs):
        self._args = args
        self._kwargs = kwargs

    def get_authentication_header(self):
        """Empty: the workspace token authenticates kyanite's calls."""
        return {}

    def __repr__(self):
        return "%s() (not used: kyanite authenticates with the workspace token)" % type(self).__name__


class InteractiveLoginAuthentication(AbstractAuthentication):
    """``InteractiveLoginAuthentication(force=False, tenant_id=None, cloud=None)``: no login happens."""

    def __init__(self, force=False, tenant_id=None, cloud=None):
        super(InteractiveLoginAuthentication, self).__init__(force=force, tenant_id=tenant_id, cloud=cloud)


class ServicePrincipalAuthentication(AbstractAuthentication):
    """``ServicePrincipalAuthentication(tenant_id, service_principal_id, service_principal_password)``:
    the secret is not kept."""

    def __init__(self, tenant_id=None, service_principal_id=None, service_principal_password=None,
                 cloud="AzureCloud", _enable_caching=True, **kwargs):
        super(ServicePrincipalAuthentication, self).__init__(tenant_id=tenant_id,
                                                             service_principal_id=service_principal_id)


class MsiAuthentication(AbstractAuthentication):
    """``MsiAuthentication(cloud=None, identity_config=None)``."""


class AzureCliAuthentication(AbstractAuthentication):
    """``AzureCliAuthentication(cloud=None)``."""


class TokenAuthentication(AbstractAuthentication):
    """``TokenAuthentication(get_token_for_audience)``."""
