"""``kyanite server start|stop|status``: the workspace server of a local workspace."""

import ipaddress
import os
import sys
import threading
import time

from kyanite.cli import _table, _workspace
from kyanite.core import _server
from kyanite import settings as env_settings
from kyanite.exceptions import KyaniteException, UserErrorException
from kyanite.runtime._http import Client

EXIT_NOT_RUNNING = 3  # `server status` when stopped, as service managers do


def register(sub):
    p = sub.add_parser("server", help="start, stop or inspect the workspace server",
                       description="The workspace server of a local workspace: the one owner of its "
                                   "database and files. The SDK starts it on demand; these commands "
                                   "manage it by hand.")
    ssub = p.add_subparsers(dest="server_command", metavar="COMMAND", required=True)

    s = ssub.add_parser("start", help="start the server (detached unless --foreground)",
                        description="Start the workspace server, detached, unless one already runs. "
                                    "--host and --port are stored in the workspace settings and kept "
                                    "for later starts.")
    _path_arg(s)
    s.add_argument("--host", help="address to listen on (default 127.0.0.1; 0.0.0.0 for every interface)")
    s.add_argument("--port", type=int, help="port to listen on (0: any free port)")
    s.add_argument("--foreground", action="store_true", help="run in this terminal until Ctrl-C")
    s.set_defaults(func=start)

    s = ssub.add_parser("stop", help="stop the server", description="Stop the workspace server. Runs "
                        "in progress keep running and report to the server when it is back.")
    _path_arg(s)
    s.set_defaults(func=stop)

    s = ssub.add_parser("status", help="is the server running, where, and how busy",
                        description="Show whether the workspace server runs, its pid and URL and the "
                                    "number of active and queued runs. Exits 0 when it runs, %d when "
                                    "it does not." % EXIT_NOT_RUNNING)
    _path_arg(s)
    s.set_defaults(func=status)


def _path_arg(p):
    p.add_argument("--path", metavar="DIR", help="the workspace folder (default: search the current "
                                                   "folder and its parents)")


# -- start ---------------------------------------------------------------------------------
def start(args):
    found = _workspace.find_local(args.path)
    layout = found.layout
    settings = layout.settings()
    wanted = dict(settings)
    if args.host is not None:
        if not args.host.strip():
            raise UserErrorException("--host must not be empty.")
        wanted["host"] = args.host.strip()
    if args.port is not None:
        if not 0 <= args.port <= 65535:
            raise UserErrorException("--port must be between 0 and 65535, got %d." % args.port)
        wanted["port"] = args.port or None  # 0 / None: any free port, recorded at start
    changed = (wanted.get("host"), wanted.get("port")) != (settings.get("host"), settings.get("port"))

    url = _server.running_url(layout)
    if url:
        info = layout.server_info() or {}
        if changed:
            raise UserErrorException(
                "The server of %s already runs at %s (pid %s). Stop it with `kyanite server stop`, "
                "then start it again with the new --host/--port." % (found.folder, url, info.get("pid")))
        print("The workspace server already runs at %s (pid %s)." % (url, info.get("pid")))
        return 0
    if changed:
        layout.write_settings(wanted)
    host = wanted.get("host") or "127.0.0.1"
    if not _is_loopback(host):
        print("warning: the server will listen on %s, so other machines can reach it; the workspace "
              "token (%s) is the only guard. Keep it private and use this on trusted networks only."
              % (host, layout.token_path), file=sys.stderr)
    if args.foreground:
        return _foreground(layout)
    url = _server.ensure_server(layout, quiet=True)
    info = layout.server_info() or {}
    print("Started the workspace server of %s" % found.folder)
    for line in _table.fields([("URL", url), ("Pid", info.get("pid")),
                               ("Listening", "%s:%s" % (info.get("host"), info.get("port"))),
                               ("Log", layout.log_path)], indent="  "):
        print(line)
    print("Stop it with: kyanite server stop")
    return 0


def _is_loopback(host):
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _foreground(layout):
    from kyanite.server.__main__ import main as serve

    def announce(pid):
        deadline = time.time() + 60
        while time.time() < deadline:
            info = layout.server_info()
            if info and info.get("pid") == pid and _server.healthy(info["url"], timeout=1.0):
                print("Serving the workspace %s at %s (pid %d). Ctrl-C stops it." % (
                    os.path.dirname(layout.root), info["url"], pid), flush=True)
                return
            time.sleep(0.1)

    threading.Thread(target=announce, args=(os.getpid(),), daemon=True).start()
    try:
        serve(["--workspace-dir", layout.root])
    except SystemExit as exc:  # the server exits with a message when it cannot listen
        if isinstance(exc.code, str):
            raise UserErrorException(exc.code)
        return exc.code or 0
    except KeyboardInterrupt:
        pass
    print("The workspace server stopped.")
    return 0


# -- stop ----------------------------------------------------------------------------------
def stop(args):
    found = _workspace.find_local(args.path)
    layout = found.layout
    info = layout.server_info() or {}
    url = _server.running_url(layout)
    active = _counts(url, layout.token())[0] if url else 0
    if not _server.stop_server(layout):
        print("The workspace server of %s is not running." % found.folder)
        return 0
    print("Stopped the workspace server of %s (pid %s)." % (found.folder, info.get("pid")))
    if isinstance(active, int) and active:
        print("%d run(s) still executing keep going and report in when the server is back "
              "(`kyanite server start`)." % active)
    return 0


# -- status --------------------------------------------------------------------------------
def status(args):
    found = _workspace.find(args.path)
    if found.layout is None:
        return _remote_status(found)
    layout = found.layout
    url = _server.running_url(layout)
    name = layout.settings().get("name")
    if not url:
        for line in _table.fields([("Workspace", "%s (%s)" % (name, found.folder)),
                                   ("Server", "stopped")]):
            print(line)
        print("Start it with: kyanite server start")
        return EXIT_NOT_RUNNING
    info = layout.server_info() or {}
    active, queued = _counts(url, layout.token())
    for line in _table.fields([
            ("Workspace", "%s (%s)" % (name, found.folder)),
            ("Server", "running, pid %s" % info.get("pid")),
            ("URL", url),
            ("Listening", "%s:%s" % (info.get("host"), info.get("port"))),
            ("Runs", "%s active, %s queued" % (active, queued)),
            ("Log", layout.log_path)]):
        print(line)
    return 0


def _counts(url, token):
    """(active, queued) runs over every compute target; ('?', '?') when it cannot tell."""
    try:
        computes = Client(url, token, retry_seconds=0, timeout=10).get("/api/computes")["computes"]
    except KyaniteException:
        return "?", "?"
    return (sum(c.get("status", {}).get("running", 0) for c in computes),
            sum(c.get("status", {}).get("queued", 0) for c in computes))


def _remote_status(found):
    url = found.remote_url
    token = found.config.get("token") or env_settings.get("KYANITE_TOKEN")
    up = _server.healthy(url)
    pairs = [("Workspace", "%s (remote, from %s)" % (found.config.get("workspace_name"), found.config_path)),
             ("Server", "running" if up else "not reachable"), ("URL", url)]
    if up and token:
        pairs.append(("Runs", "%s active, %s queued" % _counts(url, token)))
    for line in _table.fields(pairs):
        print(line)
    return 0 if up else EXIT_NOT_RUNNING
