"""The Workspace: where experiments, runs, compute targets and environments live.

A *local* workspace is a folder (``<path>/.kyanite``) served by a workspace server that
the SDK starts on demand on 127.0.0.1 and reuses. A *remote* workspace is a server URL
plus token (``config.json`` with ``server_url``, or ``Workspace.connect``). Either way the
SDK speaks REST only.
"""

import datetime
import json
import os
import uuid
from urllib.parse import urlparse

from kyanite import settings
from kyanite.exceptions import UserErrorException
from kyanite.runtime._http import Client
from kyanite.server.layout import DIRNAME, WorkspaceLayout

CONFIG_NAMES = (os.path.join(DIRNAME, "config.json"), "config.json", os.path.join(".azureml", "config.json"))


class Workspace(object):
    """``Workspace.create(name, path)``, ``Workspace.from_config()`` or ``Workspace.connect(url, token)``."""

    def __init__(self, subscription_id=None, resource_group=None, workspace_name=None, auth=None,
                 _location=None, _disable_service_check=False, _workspace_id=None, sku="basic",
                 tags=None, _cloud="AzureCloud", path=None, _client=None, _layout=None):
        self._layout = _layout
        if _client is None:
            if path is None:
                raise UserErrorException("Use Workspace.create(name, path), Workspace.from_config() or "
                                         "Workspace.connect(url, token).")
            self._layout = WorkspaceLayout.for_path(path)
            if not self._layout.exists():
                raise UserErrorException("No kyanite workspace at %s; create one with Workspace.create(name, "
                                         "path) or `kyanite init`." % path)
            from kyanite.core._server import ensure_server
            _client = Client(ensure_server(self._layout), self._layout.token())
        self._client = _client
        self._info = self._client.get("/api/workspace")  # checks the token now: 401 -> AuthenticationException
        self.name = workspace_name or self._info["name"]
        self._sku = sku
        self._tags = dict(tags or {})

    # -- constructors ------------------------------------------------------------
    @staticmethod
    def create(name, auth=None, subscription_id=None, resource_group=None, location=None,
               create_resource_group=True, sku="basic", tags=None, friendly_name=None,
               storage_account=None, key_vault=None, app_insights=None, container_registry=None,
               exist_ok=True, show_output=True, path=".", **kwargs):
        """Create (or, with exist_ok, open) a local workspace in ``path`` and start its server.
        Writes ``<path>/.kyanite/config.json`` for ``Workspace.from_config()``."""
        layout = WorkspaceLayout.for_path(path)
        if layout.exists():
            if not exist_ok:
                raise UserErrorException("A workspace already exists at %s." % layout.root)
            existing = layout.settings()["name"]
            if existing != name:
                raise UserErrorException("%s already holds workspace %r, not %r." % (layout.root, existing, name))
        layout.create(name)
        ws = Workspace(path=path)
        if show_output:
            print("Workspace %r at %s, server %s" % (ws.name, layout.root, ws.server_url))
        return ws

    @staticmethod
    def from_config(path=None, auth=None, _logger=None, _file_name=None):
        """Find ``config.json`` in ``path`` (or the current folder and its parents) and open it."""
        start = os.path.abspath(path or os.getcwd())
        candidates = []
        if os.path.isfile(start):
            candidates = [start]
        else:
            d = start
            while True:
                names = [_file_name] if _file_name else CONFIG_NAMES
                candidates += [os.path.join(d, n) for n in names]
                parent = os.path.dirname(d)
                if parent == d:
                    break
                d = parent
        for c in candidates:
            if os.path.isfile(c):
                return Workspace._from_config_file(c)
        raise UserErrorException(
            "No workspace config.json found in %s or its parents. Create a workspace with "
            "Workspace.create(name, path='.') or `kyanite init`." % start)

    @staticmethod
    def _from_config_file(config_path):
        with open(config_path) as f:
            try:
                cfg = json.load(f)
            except ValueError as exc:
                raise UserErrorException("%s is not valid JSON: %s" % (config_path, exc))
        if cfg.get("server_url"):
            token = cfg.get("token") or settings.get("KYANITE_TOKEN")
            if not token:
                raise UserErrorException("%s names server %s but no token: add \"token\" or set "
                                         "KYANITE_TOKEN." % (config_path, cfg["server_url"]))
            return Workspace.connect(cfg["server_url"], token, name=cfg.get("workspace_name"))
        ws_dir = cfg.get("workspace_dir") or os.path.dirname(os.path.abspath(config_path))
        if not os.path.isabs(ws_dir):
            ws_dir = os.path.join(os.path.dirname(os.path.abspath(config_path)), ws_dir)
        return Workspace(path=os.path.dirname(ws_dir.rstrip(os.sep)))

    @staticmethod
    def connect(server_url, token, name=None, retry_seconds=30.0):
        """Open a workspace served by a (remote) workspace server. Calls that cannot reach
        it are retried for ``retry_seconds`` (a restart) before ServerNotRunningException."""
        return Workspace(workspace_name=name, _client=Client(server_url, token, retry_seconds=retry_seconds))

    @staticmethod
    def _from_client(client):
        return Workspace(_client=client)

    @staticmethod
    def get(name, auth=None, subscription_id=None, resource_group=None, location=None, cloud="AzureCloud",
            id=None, path=None):
        """The workspace ``name``: the one at ``path``, else the folder ``resource_group``
        (a local workspace's resource group is its folder's name) when it holds one, else
        the one ``from_config()`` finds from the current folder. ``subscription_id``,
        ``location``, ``cloud`` and ``id`` are accepted and not used."""
        if path is None and resource_group and WorkspaceLayout.for_path(resource_group).exists():
            path = resource_group
        ws = Workspace(path=path) if path is not None else Workspace.from_config()
        if ws.name != name:
            raise UserErrorException("The workspace at %s is %r, not %r; pass path= (the folder holding "
                                     ".kyanite) to open another." % (ws.path or ws.server_url, ws.name, name))
        return ws

    def write_config(self, path=None, file_name=None):
        """Write a config.json that ``from_config`` finds: ``<path>/<file_name>`` (default
        ``./.kyanite/config.json``). ``Workspace.from_config(path)`` reads it back (with a
        ``file_name`` other than config.json: ``from_config(<the file>)`` or ``_file_name=``)."""
        path = path or os.path.join(os.getcwd(), DIRNAME)
        os.makedirs(path, exist_ok=True)
        cfg = {"subscription_id": self.subscription_id, "resource_group": self.resource_group,
               "workspace_name": self.name}
        if self._layout:
            cfg["workspace_dir"] = self._layout.root
        else:
            cfg["server_url"] = self._client.base_url
        with open(os.path.join(path, file_name or "config.json"), "w") as f:
            json.dump(cfg, f, indent=2)

    # -- properties ----------------------------------------------------------------
    @property
    def server_url(self):
        return self._client.base_url

    @property
    def path(self):
        return os.path.dirname(self._layout.root) if self._layout else None

    def get_mlflow_tracking_uri(self):
        """The URI for ``mlflow.set_tracking_uri``: this workspace's MLflow tracking API
        (``<server>/mlflow``), which the MLflow client from PyPI talks to unmodified. As in
        SDK v1, the MLflow client then authenticates with no more set-up: this sets
        ``MLFLOW_TRACKING_TOKEN`` in ``os.environ`` to this workspace's token (a run's own
        token inside a run)."""
        if self._client.token:
            os.environ["MLFLOW_TRACKING_TOKEN"] = self._client.token
        return self._client.base_url.rstrip("/") + "/mlflow"

    @property
    def subscription_id(self):
        """Always ``"local"``: a self-hosted workspace has no Azure subscription."""
        return "local"

    @property
    def resource_group(self):
        """A local workspace's folder name (the folder holding ``.kyanite``); for a remote
        one, the server's host name."""
        return (os.path.basename(self.path) or self.path) if self._layout else self._host()

    @property
    def location(self):
        """``"local"`` for a local workspace; for a remote one, the server's host name."""
        return "local" if self._layout else self._host()

    def _host(self):
        return urlparse(self.server_url).hostname or self.server_url

    @property
    def models(self):
        """``{name: Model}``: the newest version of every registered model."""
        from kyanite.core.model import Model
        out = {}
        for m in Model.list(self, latest=True):
            out.setdefault(m.name, m)
        return out

    @property
    def webservices(self):
        """``{name: Webservice}`` of every deployed service."""
        from kyanite.core.webservice import Webservice
        return dict((s.name, s) for s in Webservice.list(self))

    @property
    def datasets(self):
        """``{name: Dataset}``: the newest version of every registered dataset."""
        from kyanite.core.dataset import Dataset
        return Dataset.get_all(self)

    @property
    def experiments(self):
        from kyanite.core.experiment import Experiment
        return dict((e["name"], Experiment(self, e["name"], _create=False))
                    for e in self._client.get("/api/experiments")["experiments"])

    @property
    def compute_targets(self):
        from kyanite.core.compute import ComputeTarget
        return dict((c["name"], ComputeTarget._from_record(self, c))
                    for c in self._client.get("/api/computes")["computes"] if c["name"] != "local")

    @property
    def environments(self):
        from kyanite.core.environment import Environment
        return dict((e["name"], Environment._from_record(e))
                    for e in self._client.get("/api/environments")["environments"])

    @property
    def datastores(self):
        """``{name: Datastore}``, the built-in ``workspaceblobstore`` included."""
        from kyanite.core.datastore import Datastore
        return dict((d.name, d) for d in Datastore.list(self))

    def get_default_datastore(self):
        """The workspace's built-in datastore, ``workspaceblobstore``."""
        from kyanite.core.datastore import Datastore
        return Datastore.get_default(self)

    def get_details(self):
        """The workspace's details, keyed as SDK v1's: id, name, location, friendlyName,
        resourceGroup, creationTime (ISO 8601, None for a remote workspace), sku "Basic",
        workspaceid (stable, derived from the workspace's folder or server), discoveryUrl
        (the server URL), and the Azure resources (storageAccount, keyVault,
        containerRegistry, applicationInsights) as "", since there are none; plus
        serverUrl and workspaceDir."""
        created = None
        if self._layout:
            stamp = self._layout.settings().get("created")
            if stamp:
                created = datetime.datetime.fromtimestamp(stamp, datetime.timezone.utc).isoformat()
        where = self._layout.root if self._layout else self.server_url
        return {
            "id": "/subscriptions/%s/resourceGroups/%s/providers/kyanite/workspaces/%s" % (
                self.subscription_id, self.resource_group, self.name),
            "name": self.name, "type": "kyanite/workspace", "location": self.location,
            "friendlyName": self.name, "description": "", "resourceGroup": self.resource_group,
            "subscriptionId": self.subscription_id, "creationTime": created,
            "workspaceid": str(uuid.uuid5(uuid.NAMESPACE_URL, "kyanite:" + where)),
            "sku": "Basic", "tags": dict(self._tags), "identity": None, "hbiWorkspace": False,
            "provisioningState": "Succeeded", "discoveryUrl": self.server_url,
            "storageAccount": "", "keyVault": "", "containerRegistry": "", "applicationInsights": "",
            "serverUrl": self.server_url, "workspaceDir": self._layout.root if self._layout else None,
        }

    def __repr__(self):
        return "Workspace.create(name=%r, path=%r)" % (self.name, self.path) if self._layout else \
            "Workspace.connect(%r)" % self.server_url

    def __eq__(self, other):
        return isinstance(other, Workspace) and other.server_url == self.server_url

    def __hash__(self):
        return hash(self.server_url)
