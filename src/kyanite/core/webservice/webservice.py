"""Webservice: a deployed model answering ``POST <scoring_uri>`` (SDK v1 ``Webservice``).

``Webservice(ws, name)`` returns the service as its own class (LocalWebservice or
AciWebservice) and raises WebserviceException when there is none. The state comes from
the workspace server: ``Transitioning`` while it is prepared and ``init()`` runs, then
``Healthy``, ``Unhealthy`` (not answering; restarted when it crashed) or ``Failed``.

``update(inference_config=...)`` with an InferenceConfig that names no environment (only
``entry_script``/``source_directory``) keeps the environment the service runs in.

``service.run(input_data)`` posts the JSON text (a dict or list is JSON-encoded first)
with the service's key when auth is on and returns the decoded JSON answer; another
status raises WebserviceException with the status and content, as in v1. Connections are
kept alive per thread.
"""

import copy
import datetime
import http.client
import json
import re
import threading
import time
import urllib.parse

from kyanite.core._time import parse_time
from kyanite.core.webservice._errors import WsNotFound, WsUserError, ws_errors
from kyanite.exceptions import NotFoundException, WebserviceException

__all__ = ["Webservice", "WebserviceDeploymentConfiguration"]

_SUBCLASSES = {}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class WebserviceDeploymentConfiguration(object):
    """Base of the deployment configurations; ``_config()`` is what the server gets."""
    _compute_type = None

    def __init__(self, tags=None, properties=None, description=None, auth_enabled=False, token_auth_enabled=False,
                 primary_key=None, secondary_key=None, port=None, cpu_cores=None, memory_gb=None):
        self.tags = tags
        self.properties = properties
        self.description = description
        self.auth_enabled = bool(auth_enabled)
        self.token_auth_enabled = bool(token_auth_enabled)
        self.primary_key = primary_key
        self.secondary_key = secondary_key
        self.port = port
        self.cpu_cores = cpu_cores
        self.memory_gb = memory_gb
        self.validate_configuration()

    def validate_configuration(self):
        if self.port is not None and (not isinstance(self.port, int) or not 0 < self.port < 65536):
            raise WsUserError("port must be a TCP port number (1-65535), got %r." % (self.port,))
        for what in ("cpu_cores", "memory_gb"):
            v = getattr(self, what)
            if v is not None and (not isinstance(v, (int, float)) or v <= 0):
                raise WsUserError("%s must be a positive number, got %r." % (what, v))
        if (self.primary_key or self.secondary_key) and not self.auth_enabled:
            raise WsUserError("primary_key/secondary_key need auth_enabled=True.")

    def _config(self):
        cfg = {"authEnabled": self.auth_enabled, "tokenAuthEnabled": self.token_auth_enabled}
        for key, value in (("port", self.port), ("cpuCores", self.cpu_cores), ("memoryGb", self.memory_gb),
                           ("primaryKey", self.primary_key), ("secondaryKey", self.secondary_key)):
            if value is not None:
                cfg[key] = value
        return cfg


class Webservice(object):
    """A deployed service. ``Webservice(workspace, name)`` fetches one."""
    _webservice_type = None

    def __new__(cls, workspace=None, name=None, **kwargs):
        if workspace is None or name is None:
            return object.__new__(cls)
        with ws_errors():
            try:
                rec = workspace._client.get("/api/deployments/%s" % name)
            except NotFoundException:
                raise WsNotFound("WebserviceNotFound: no service named %r in this workspace." % name) from None
        sub = _SUBCLASSES.get(rec["computeType"], cls)
        if cls is not Webservice and not issubclass(sub, cls):
            raise WsUserError("Service %r is a %s service, not a %s; open it with Webservice(ws, name)."
                              % (name, rec["computeType"], cls.__name__))
        obj = object.__new__(sub)
        obj._init(workspace, rec)
        return obj

    def __init__(self, workspace=None, name=None, **kwargs):
        pass  # set up by __new__

    @classmethod
    def _register(cls, compute_type, subclass):
        _SUBCLASSES[compute_type] = subclass

    @classmethod
    def _from_record(cls, workspace, rec):
        sub = _SUBCLASSES.get(rec["computeType"], cls)
        obj = object.__new__(sub)
        obj._init(workspace, rec)
        return obj

    def _init(self, workspace, rec):
        self.workspace = workspace
        self._local = threading.local()
        self._keys = None
        self._token = None
        self._log_offset = 0
        self._entry_script_path = None  # the entry script deployed without a source_directory, for reload()
        self._set(rec)

    def _remember_entry_script(self, inference_config):
        if inference_config is not None and inference_config.source_directory is None:
            self._entry_script_path = inference_config._script_path()

    def _set(self, rec):
        self._record = rec
        self.name = rec["name"]
        self.compute_type = rec["computeType"]
        self.state = rec["state"]
        self.scoring_uri = rec.get("scoringUri")
        self.swagger_uri = rec.get("swaggerUri")
        self.port = rec.get("port")
        self.tags = dict(rec.get("tags") or {})
        self.properties = dict(rec.get("properties") or {})
        self.description = rec.get("description")
        self.created_time = parse_time(rec.get("createdTime"))
        self.updated_time = parse_time(rec.get("updatedTime"))
        self.error = rec.get("error")
        self.auth_enabled = rec.get("authEnabled", False)
        self.token_auth_enabled = rec.get("tokenAuthEnabled", False)
        self.cpu_cores = rec.get("cpuCores")
        self.memory_gb = rec.get("memoryGb")
        self.generation = rec.get("generation")
        self.image_id = None
        self.created_by = {}
        self._model_ids = list(rec.get("models") or [])
        return self

    @property
    def _client(self):
        return self.workspace._client

    @property
    def _path(self):
        return "/api/deployments/%s" % self.name

    @property
    def models(self):
        """The deployed models (Model objects)."""
        from kyanite.core.model import Model
        return [Model(self.workspace, id=i) for i in self._model_ids]

    @property
    def environment(self):
        return (self._record.get("environment") or {}).get("name")

    # -- state -----------------------------------------------------------------------------
    def update_deployment_state(self):
        """Fetch the current state and settings."""
        with ws_errors():
            self._set(self._client.get(self._path))
        return self

    update_state = update_deployment_state

    def _log_size(self):
        try:
            resp = self._client.request("GET", self._path + "/logs/raw", params={"offset": 1 << 40}, stream=True)
            try:
                resp.read()
                return int(resp.getheader("X-Log-Total") or 0)
            finally:
                resp.close()
        except Exception:
            return 0

    def wait_for_deployment(self, show_output=False, timeout_sec=None):
        """Wait until the service leaves Transitioning; with ``show_output`` print its log
        (environment build, the scoring process's output) as it comes. Raises
        WebserviceException unless it ends Healthy."""
        deadline = time.time() + timeout_sec if timeout_sec else None
        offset = self._log_offset
        if show_output:
            print("Deploying %s (%s): service.get_logs() shows this log later." % (self.name, self.compute_type))
        partial = b""
        while True:
            with ws_errors():
                rec = self._client.get(self._path + "/wait", params={"state": "Transitioning", "timeout": 2})
            self._set(rec)
            if show_output:
                resp = self._client.request("GET", self._path + "/logs/raw", params={"offset": offset}, stream=True)
                try:
                    data = resp.read()
                    offset = int(resp.getheader("X-Log-Size") or offset + len(data))
                finally:
                    resp.close()
                data = partial + data
                cut = data.rfind(b"\n") + 1
                if cut:
                    print(data[:cut].decode("utf-8", "replace"), end="", flush=True)
                partial = data[cut:]
            if self.state != "Transitioning":
                break
            if deadline is not None and time.time() > deadline:
                raise WebserviceException("wait_for_deployment: service %s is still Transitioning after %s s; "
                                          "see service.get_logs()." % (self.name, timeout_sec))
        self._log_offset = offset
        ok = self.state == "Healthy"
        if show_output:
            if partial:
                print(partial.decode("utf-8", "replace"))
            print("%s service creation operation finished, operation \"%s\"" % (
                self.compute_type, "Succeeded" if ok else "Failed"))
        if not ok:
            err = self.error or {}
            detail = err.get("message") or "(no reason recorded)"
            if err.get("traceback"):
                detail += "\n" + err["traceback"].rstrip()
            raise WebserviceException(
                "Service deployment polling reached non-successful terminal state, current service state: %s\n"
                "Error: %s\nMore information: service.get_logs()." % (self.state, detail),
                state=self.state, error=err)

    # -- scoring ---------------------------------------------------------------------------
    def _auth_header(self, refresh=False):
        if self.token_auth_enabled and not self.auth_enabled:
            if refresh or self._token is None or time.time() > self._token[1]:
                token, refresh_by = self.get_token()
                self._token = (token, time.mktime(refresh_by.timetuple()) if refresh_by else time.time() + 600)
            return "Bearer " + self._token[0]
        if self.auth_enabled:
            if refresh or self._keys is None:
                self._keys = self.get_keys()
            return "Bearer " + self._keys[0]
        return None

    def _connection(self, fresh=False):
        parsed = urllib.parse.urlsplit(self.scoring_uri)
        conn = getattr(self._local, "conn", None)
        if fresh or conn is None or getattr(self._local, "target", None) != (parsed.hostname, parsed.port):
            if conn is not None:
                conn.close()
            conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=300)
            self._local.conn, self._local.target = conn, (parsed.hostname, parsed.port)
        return conn, parsed.path or "/score"

    def _post(self, body, headers):
        for attempt in range(3):
            conn, path = self._connection(fresh=attempt > 0)
            try:
                conn.request("POST", path, body=body, headers=headers)
                resp = conn.getresponse()
                return resp.status, dict(resp.getheaders()), resp.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                continue  # a kept-alive connection the service had closed: the request never ran
            except ConnectionRefusedError:
                if attempt:
                    raise WebserviceException("Cannot reach service %s at %s (state %s); see service.get_logs()."
                                              % (self.name, self.scoring_uri, self.state))
                self.update_deployment_state()  # it may have moved to another port
        raise WebserviceException("Service %s closed the connection; see service.get_logs()." % self.name)

    def run(self, input_data):
        """Score ``input_data`` (a JSON string, bytes, or a dict/list to be JSON-encoded)."""
        if self.scoring_uri is None:
            self.update_deployment_state()
            if self.scoring_uri is None:
                raise WebserviceException("Service %s has no scoring URI yet (state %s)." % (self.name, self.state))
        if isinstance(input_data, (dict, list)):
            body = json.dumps(input_data).encode("utf-8")
        elif isinstance(input_data, str):
            body = input_data.encode("utf-8")
        else:
            body = bytes(input_data)
        headers = {"Content-Type": "application/json"}
        auth = self._auth_header()
        if auth:
            headers["Authorization"] = auth
        status, resp_headers, content = self._post(body, headers)
        if status == 401 and auth:  # a key was rotated meanwhile
            headers["Authorization"] = self._auth_header(refresh=True)
            status, resp_headers, content = self._post(body, headers)
        if status == 200:
            return json.loads(content.decode("utf-8"))
        raise WebserviceException(
            "Received bad response from service. More information can be found by calling `.get_logs()` on the "
            "webservice object.\nResponse Code: %d\nHeaders: %s\nContent: %s" % (
                status, resp_headers, content.decode("utf-8", "replace")), status_code=status)

    # -- keys and tokens ----------------------------------------------------------------------
    def get_keys(self):
        """``(primary_key, secondary_key)``; WebserviceException when auth is off."""
        with ws_errors():
            keys = self._client.get(self._path + "/keys")
        self._keys = (keys["primaryKey"], keys["secondaryKey"])
        return self._keys

    def regen_key(self, key, set_key=None):
        """Make a new ``'Primary'`` or ``'Secondary'`` key (or set it to ``set_key``); the
        other key keeps working."""
        if key not in ("Primary", "Secondary"):
            raise WsUserError("Error, provided key is invalid. Please specify 'Primary' or 'Secondary'.")
        with ws_errors():
            keys = self._client.post(self._path + "/keys/regen", {"key": key, "set_key": set_key})
        self._keys = (keys["primaryKey"], keys["secondaryKey"])

    def get_token(self):
        """``(token, refresh_after)`` for token authentication (``token_auth_enabled=True``)."""
        with ws_errors():
            tok = self._client.post(self._path + "/token")
        return tok["accessToken"], datetime.datetime.fromtimestamp(tok["refreshAfter"], datetime.timezone.utc)

    # -- logs and changes ------------------------------------------------------------------
    def get_logs(self, num_lines=5000, init=False):
        """The service's log: preparation, environment build, the scoring process's output."""
        with ws_errors():
            return self._client.get(self._path + "/logs", params={"num_lines": num_lines}, raw=True).decode(
                "utf-8", "replace")

    def _update(self, models=None, inference_config=None, config=None, tags=None, add_tags=None,
                remove_tags=None, properties=None, description=None):
        body = {}
        if inference_config is not None and inference_config.environment is None:
            inference_config = copy.copy(inference_config)  # only the script changed: keep the environment
            inference_config.environment = self._deployed_environment()
        if models is not None:
            from kyanite.core.model import Model
            body["models"] = [m.id if isinstance(m, Model) else str(m) for m in models]
        if inference_config is not None:
            body["inference"] = inference_config._definition(self.workspace)
            self._entry_script_path = None
            self._remember_entry_script(inference_config)
        if config:
            body["config"] = config
        if tags is not None:
            body["set_tags"] = dict((str(k), str(v)) for k, v in tags.items())
        if add_tags:
            body["add_tags"] = dict((str(k), str(v)) for k, v in add_tags.items())
        if remove_tags:
            body["remove_tags"] = [remove_tags] if isinstance(remove_tags, str) else list(remove_tags)
        if properties:
            body["add_properties"] = dict((str(k), str(v)) for k, v in properties.items())
        if description is not None:
            body["description"] = description
        if not body:
            return self
        offset = self._log_size()
        with ws_errors():
            self._set(self._client.patch(self._path, body))
        self._keys = None
        if self.state == "Transitioning":
            self._log_offset = offset
        return self

    def update(self, *args, **kwargs):
        raise NotImplementedError

    def _deployed_environment(self):
        """The environment the service runs in now, as an Environment (same build spec)."""
        from kyanite.core.environment import Environment
        env_def = (self._record.get("inference") or {}).get("environment") or {}
        env = Environment(env_def.get("name") or "inference-env")
        env._run_definition = lambda: env_def
        return env

    def add_tags(self, tags):
        self._update(add_tags=tags)

    def remove_tags(self, tags):
        self._update(remove_tags=tags)

    def add_properties(self, properties):
        self._update(properties=properties)

    def delete(self):
        """Stop the service and remove it; its port is free when this returns."""
        with ws_errors():
            self._client.delete(self._path)
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None
        self.state = "Deleted"

    def serialize(self):
        return {"name": self.name, "computeType": self.compute_type, "state": self.state,
                "scoringUri": self.scoring_uri, "swaggerUri": self.swagger_uri, "tags": self.tags,
                "properties": self.properties, "description": self.description, "models": self._model_ids,
                "authEnabled": self.auth_enabled, "tokenAuthEnabled": self.token_auth_enabled,
                "createdTime": self._record.get("createdTime"), "updatedTime": self._record.get("updatedTime"),
                "error": self.error}

    # -- workspace-level ---------------------------------------------------------------------
    @staticmethod
    def list(workspace, compute_type=None, image_name=None, image_id=None, model_name=None, model_id=None,
             tags=None, properties=None, image_digest=None):
        """The workspace's services, filtered as in v1 (tags/properties: keys or [key, value])."""
        from kyanite.core.model import _filter
        with ws_errors():
            recs = workspace._client.get("/api/deployments", params={
                "compute_type": compute_type, "model_name": model_name, "model_id": model_id,
                "tags": _filter(tags), "properties": _filter(properties)})["deployments"]
        return [Webservice._from_record(workspace, r) for r in recs]

    @staticmethod
    def check_for_existing(workspace, name=None, image=None):
        try:
            return Webservice(workspace, name)
        except WsNotFound:
            return None

    @staticmethod
    def _deploy(workspace, name, models, inference_config, deployment_config, overwrite=False, show_output=False):
        from kyanite.core.model import Model
        if not isinstance(name, str) or not _NAME.match(name):
            raise WsUserError("Invalid service name %r: use 1-63 letters, digits, '-', '_' or '.', starting with a "
                              "letter or digit." % (name,))
        if inference_config is None:
            raise WsUserError("Model.deploy needs inference_config=InferenceConfig(entry_script=..., "
                              "environment=...).")
        if deployment_config is None:
            from kyanite.core.webservice.aci import AciWebservice
            deployment_config = AciWebservice.deploy_configuration()
        if not isinstance(deployment_config, WebserviceDeploymentConfiguration):
            raise WsUserError("deployment_config must come from LocalWebservice.deploy_configuration() or "
                              "AciWebservice.deploy_configuration(), got %s." % type(deployment_config).__name__)
        ids = []
        for m in models or []:
            ids.append(m.id if isinstance(m, Model) else str(m))
        body = {"name": name, "compute_type": deployment_config._compute_type, "models": ids,
                "inference": inference_config._definition(workspace), "config": deployment_config._config(),
                "tags": deployment_config.tags, "properties": deployment_config.properties,
                "description": deployment_config.description or inference_config.description,
                "overwrite": bool(overwrite)}
        with ws_errors():
            rec = workspace._client.post("/api/deployments", body)
        svc = Webservice._from_record(workspace, rec)
        svc._remember_entry_script(inference_config)
        if show_output:
            svc.wait_for_deployment(show_output=True)
        return svc

    def __repr__(self):
        return "%s(workspace=%r, name=%s, compute_type=%s, state=%s, scoring_uri=%s, tags=%s, properties=%s)" % (
            type(self).__name__, self.workspace, self.name, self.compute_type, self.state, self.scoring_uri,
            self.tags, self.properties)
