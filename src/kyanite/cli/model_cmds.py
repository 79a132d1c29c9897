"""``kyanite model list|show|register|download`` and
``kyanite endpoint list|show|logs|invoke|keys|delete``: the model registry and the
deployed services from the shell."""

import contextlib
import json
import os
import sys

from kyanite.cli import _table
from kyanite.cli._workspace import open_workspace
from kyanite.cli.data_cmds import parse_tags
from kyanite.core import Model
from kyanite.core.webservice import Webservice
from kyanite.exceptions import UserErrorException, WebserviceException


def register(sub):
    _register_models(sub)
    _register_endpoints(sub)


def _path_arg(p):
    p.add_argument("--path", metavar="DIR", help="the workspace folder (default: search the current "
                                                   "folder and its parents)")


# ==========================================================================================
# models
# ==========================================================================================
def _register_models(sub):
    p = sub.add_parser("model", help="list, inspect, register and download registered models",
                       description="Models of the workspace found from --path or the current folder.")
    msub = p.add_subparsers(dest="model_command", metavar="COMMAND", required=True)

    s = msub.add_parser("list", help="registered models, newest version first")
    s.add_argument("--name", "-n", metavar="NAME", help="only versions of this model")
    s.add_argument("--latest", action="store_true", help="only the latest version of each model")
    s.add_argument("--json", action="store_true", help="print the model records as JSON")
    _path_arg(s)
    s.set_defaults(func=list_models)

    s = msub.add_parser("show", help="a model version's details")
    s.add_argument("name", metavar="NAME", help="NAME or NAME:VERSION")
    s.add_argument("--version", "-v", metavar="V", type=int, help="version (default: latest)")
    s.add_argument("--json", action="store_true", help="print the model record as JSON")
    _path_arg(s)
    s.set_defaults(func=show_model)

    s = msub.add_parser("register", help="register a local file or folder as the next version of NAME")
    s.add_argument("name", metavar="NAME")
    s.add_argument("model_path", metavar="PATH", help="a file or a folder")
    s.add_argument("--description", "-d", help="a description")
    s.add_argument("--tag", action="append", default=[], metavar="KEY=VALUE", help="a tag (repeatable)")
    s.add_argument("--framework", metavar="NAME", help="model framework (e.g. ScikitLearn, Keras)")
    s.add_argument("--framework-version", metavar="V", help="model framework version")
    _path_arg(s)
    s.set_defaults(func=register_model)

    s = msub.add_parser("download", help="download a model version's file or folder")
    s.add_argument("name", metavar="NAME", help="NAME or NAME:VERSION")
    s.add_argument("--version", "-v", metavar="V", type=int, help="version (default: latest)")
    s.add_argument("--output", "-o", metavar="DIR", default=".", help="target folder (default: .)")
    s.add_argument("--overwrite", action="store_true", help="replace the file or folder if it exists")
    _path_arg(s)
    s.set_defaults(func=download_model)


def _get_model(ws, name, version):
    if version is None and ":" in name:
        return Model(ws, id=name)
    return Model(ws, name, version=version)


def _model_record(m):
    return dict(m._record)


def list_models(args):
    ws = open_workspace(args.path)
    models = Model.list(ws, name=args.name, latest=args.latest)
    if args.json:
        print(json.dumps([_model_record(m) for m in models], indent=2, default=str))
        return 0
    if not models:
        print("No models registered%s. Register one with: kyanite model register NAME PATH" % (
            " named %r" % args.name if args.name else ""))
        return 0
    rows = [[m.name, m.version, m.asset, _table.size(m.size) if m.size is not None else None,
             m.model_framework, _table.local_time(m._record.get("createdTime")),
             ", ".join(m.deployments) or None, m.run_id] for m in models]
    for line in _table.table(["NAME", "VERSION", "ASSET", "SIZE", "FRAMEWORK", "REGISTERED",
                              "DEPLOYED IN", "RUN"], rows):
        print(line)
    return 0


def _pairs(d):
    return ", ".join("%s=%s" % kv for kv in sorted(d.items())) or None


def show_model(args):
    ws = open_workspace(args.path)
    m = _get_model(ws, args.name, args.version)
    if args.json:
        print(json.dumps(_model_record(m), indent=2, default=str))
        return 0
    versions = sorted(x.version for x in Model.list(ws, name=m.name))
    framework = m.model_framework
    if framework and m.model_framework_version:
        framework += " " + m.model_framework_version
    datasets = ", ".join("%s: %s" % (k, ", ".join(str(x) for x in v)) for k, v in sorted(m.datasets.items()))
    for line in _table.fields([
            ("Name", m.name), ("Version", m.version), ("Versions", ", ".join(str(v) for v in versions)),
            ("Id", m.id), ("Asset", "%s%s" % (m.asset, "/ (folder)" if m.is_folder else "")),
            ("Size", _table.size(m.size) if m.size is not None else None),
            ("Description", m.description), ("Tags", _pairs(m.tags)), ("Properties", _pairs(m.properties)),
            ("Framework", framework), ("Datasets", datasets or None),
            ("Registered", _table.local_time(m._record.get("createdTime"))),
            ("Run", m.run_id), ("Experiment", m.experiment_name),
            ("Deployed in", ", ".join(m.deployments) or None)]):
        print(line)
    return 0


def register_model(args):
    tags = parse_tags(args.tag)
    path = os.path.abspath(args.model_path)
    ws = open_workspace(args.path)
    with contextlib.redirect_stdout(sys.stderr):
        m = Model.register(ws, model_path=path, model_name=args.name, tags=tags or None,
                           description=args.description, model_framework=args.framework,
                           model_framework_version=args.framework_version)
    print("Registered model %r version %d (id %s) from %s." % (m.name, m.version, m.id, path))
    return 0


def download_model(args):
    ws = open_workspace(args.path)
    m = _get_model(ws, args.name, args.version)
    dest = m.download(target_dir=args.output, exist_ok=args.overwrite)
    print(dest)
    print("Downloaded model %s to %s." % (m.id, dest), file=sys.stderr)
    return 0


# ==========================================================================================
# endpoints
# ==========================================================================================
def _register_endpoints(sub):
    p = sub.add_parser("endpoint", help="list, inspect, call and delete deployed services",
                       description="Deployed services (endpoints) of the workspace found from --path or "
                                   "the current folder. Deploy them with Model.deploy in the SDK.")
    esub = p.add_subparsers(dest="endpoint_command", metavar="COMMAND", required=True)

    s = esub.add_parser("list", help="the deployed services")
    s.add_argument("--json", action="store_true", help="print the service records as JSON")
    _path_arg(s)
    s.set_defaults(func=list_endpoints)

    s = esub.add_parser("show", help="a service's state, URIs and models")
    s.add_argument("name", metavar="NAME")
    s.add_argument("--json", action="store_true", help="print the service record as JSON")
    _path_arg(s)
    s.set_defaults(func=show_endpoint)

    s = esub.add_parser("logs", help="print a service's log")
    s.add_argument("name", metavar="NAME")
    s.add_argument("--lines", "-n", type=int, default=5000, metavar="N", help="the last N lines (default 5000)")
    _path_arg(s)
    s.set_defaults(func=endpoint_logs)

    s = esub.add_parser("invoke", help="POST a request to a service's scoring route; print the reply")
    s.add_argument("name", metavar="NAME")
    body = s.add_mutually_exclusive_group(required=True)
    body.add_argument("--data", metavar="JSON", help="the request body")
    body.add_argument("--file", metavar="FILE", help="a file holding the request body ('-': stdin)")
    _path_arg(s)
    s.set_defaults(func=invoke)

    s = esub.add_parser("keys", help="print a service's primary and secondary keys")
    s.add_argument("name", metavar="NAME")
    s.add_argument("--json", action="store_true", help="print them as JSON")
    _path_arg(s)
    s.set_defaults(func=keys)

    s = esub.add_parser("delete", help="stop a service and remove it")
    s.add_argument("name", metavar="NAME")
    _path_arg(s)
    s.set_defaults(func=delete_endpoint)


def _auth(svc):
    if svc.token_auth_enabled:
        return "token"
    return "key" if svc.auth_enabled else "none"


def list_endpoints(args):
    ws = open_workspace(args.path)
    services = sorted(Webservice.list(ws), key=lambda s: s.name)
    if args.json:
        print(json.dumps([s.serialize() for s in services], indent=2, default=str))
        return 0
    if not services:
        print("No services deployed. Deploy one with Model.deploy(...) in the SDK.")
        return 0
    rows = [[s.name, s.compute_type, s.state, ", ".join(s._model_ids) or None, _auth(s), s.scoring_uri]
            for s in services]
    for line in _table.table(["NAME", "TYPE", "STATE", "MODELS", "AUTH", "SCORING URI"], rows):
        print(line)
    return 0


def show_endpoint(args):
    ws = open_workspace(args.path)
    s = Webservice(ws, args.name)
    if args.json:
        print(json.dumps(s.serialize(), indent=2, default=str))
        return 0
    rec = s._record
    for line in _table.fields([
            ("Name", s.name), ("Type", s.compute_type), ("State", s.state), ("Error", _error(s.error)),
            ("Scoring URI", s.scoring_uri), ("Swagger URI", s.swagger_uri), ("Auth", _auth(s)),
            ("Models", ", ".join(s._model_ids) or None), ("Environment", s.environment),
            ("CPU cores", s.cpu_cores), ("Memory GB", s.memory_gb),
            ("Description", s.description), ("Tags", _pairs(s.tags)), ("Properties", _pairs(s.properties)),
            ("Created", _table.local_time(rec.get("createdTime"))),
            ("Updated", _table.local_time(rec.get("updatedTime")))]):
        print(line)
    return 0


def _error(err):
    if not err:
        return None
    if isinstance(err, dict):
        return err.get("message") or json.dumps(err)
    return str(err)


def endpoint_logs(args):
    ws = open_workspace(args.path)
    text = Webservice(ws, args.name).get_logs(num_lines=args.lines)
    sys.stdout.write(text if not text or text.endswith("\n") else text + "\n")
    return 0


def invoke(args):
    if args.file is not None:
        if args.file == "-":
            body = sys.stdin.buffer.read()
        else:
            if not os.path.isfile(args.file):
                raise UserErrorException("--file %r is not a file." % args.file)
            with open(args.file, "rb") as f:
                body = f.read()
    else:
        body = args.data.encode("utf-8")
    ws = open_workspace(args.path)
    svc = Webservice(ws, args.name)
    if svc.state != "Healthy":
        print("note: service %s is %s" % (svc.name, svc.state), file=sys.stderr)
    try:
        reply = svc.run(body)
    except WebserviceException as exc:
        status = getattr(exc, "status_code", None)
        if not status:
            raise
        content = exc.message.split("\nContent: ", 1)[-1]
        raise WebserviceException("Service %s answered %s: %s (see `kyanite endpoint logs %s`)" % (
            svc.name, status, content.strip(), svc.name))
    print(json.dumps(reply))
    return 0


def keys(args):
    ws = open_workspace(args.path)
    svc = Webservice(ws, args.name)
    if not svc.auth_enabled:
        raise UserErrorException("Service %s has key authentication off; it has no keys." % svc.name)
    primary, secondary = svc.get_keys()
    if args.json:
        print(json.dumps({"primaryKey": primary, "secondaryKey": secondary}, indent=2))
    else:
        for line in _table.fields([("Primary", primary), ("Secondary", secondary)]):
            print(line)
    return 0


def delete_endpoint(args):
    ws = open_workspace(args.path)
    svc = Webservice(ws, args.name)
    svc.delete()
    print("Deleted service %s." % args.name)
    return 0
