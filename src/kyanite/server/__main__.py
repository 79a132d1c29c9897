"""``python -m kyanite.server --workspace-dir DIR``: run the workspace server in the foreground.

Binds ``--host`` (default 127.0.0.1) on ``--port``; without one it reuses the port in the
workspace settings, else takes a free one and records it there, so hosts of running runs
find a restarted server at the same address. Writes ``server.json`` once listening and
removes it on exit.

One server per workspace: before it binds or writes anything it takes the workspace lock
(``kyanite.server.workspace_lock``) for its whole life. When another server holds it, it
exits with code ``EXIT_ALREADY_RUNNING`` (75) and a message naming that server's pid and
url, leaving ``server.json`` alone.
"""

import argparse
import os
import socket
import sys
from typing import Any


def main(argv: Any = None) -> None:
    p = argparse.ArgumentParser(prog="python -m kyanite.server")
    p.add_argument("--workspace-dir", required=True, help="the workspace's .kyanite folder")
    p.add_argument("--host", default=None)
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--database-url", default=None)
    args = p.parse_args(argv)

    import uvicorn

    from kyanite.server.app import configure_logging, create_app
    from kyanite.server import workspace_lock
    from kyanite.server.layout import WorkspaceLayout

    layout = WorkspaceLayout(args.workspace_dir)
    if not layout.exists():
        sys.exit("No kyanite workspace at %s (run `kyanite init` first)." % args.workspace_dir)
    try:
        lock = workspace_lock.acquire(layout)  # held until this process exits
    except workspace_lock.AlreadyRunning as exc:
        print(str(exc), file=sys.stderr)
        raise SystemExit(workspace_lock.EXIT_ALREADY_RUNNING)
    settings = layout.settings()
    host = args.host or settings.get("host") or "127.0.0.1"
    port = args.port if args.port is not None else (settings.get("port") or 0)
    # IPPROTO_TCP: asyncio only sets TCP_NODELAY on accepted sockets of a TCP-protocol listener;
    # without it every reply on a kept-alive connection waits ~40 ms for a delayed ACK.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sys.exit("Cannot listen on %s:%s (%s). Stop whatever uses it, or give --port." % (host, port, exc))
    sock.listen(2048)
    port = sock.getsockname()[1]
    if settings.get("port") != port or settings.get("host") != host:
        settings.update(port=port, host=host)
        layout.write_settings(settings)
    if args.database_url:
        settings["database_url"] = args.database_url
        layout.write_settings(settings)
    url_host = "127.0.0.1" if host in ("0.0.0.0", "") else host
    url = "http://%s:%d" % (url_host, port)
    lock.record(url=url)
    configure_logging()
    app = create_app(layout, url, database_url=args.database_url)
    info = {"pid": os.getpid(), "url": url, "port": port, "host": host}
    layout.write_server_info(info)
    try:
        config = uvicorn.Config(app, log_level="warning", access_log=False, timeout_keep_alive=30)
        _serve(app, config, [sock])
    finally:
        cur = layout.server_info()
        if cur and cur.get("pid") == os.getpid():
            os.unlink(layout.server_path)
        lock.release()


def _serve(app: Any, config: Any, sockets: Any) -> None:
    """Run uvicorn until SIGTERM/SIGINT. On the signal the long-polls are woken first:
    uvicorn waits for in-flight requests before it stops, and a follower's poll would
    otherwise hold the shutdown for its whole timeout."""
    import uvicorn

    class Server(uvicorn.Server):
        def handle_exit(self, sig: Any, frame: Any) -> None:
            app.state.k.notifier.close()
            super(Server, self).handle_exit(sig, frame)
    Server(config).run(sockets=sockets)


if __name__ == "__main__":
    main()
