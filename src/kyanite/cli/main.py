"""The ``kyanite`` command's entry point: the parser and the dispatch.

Exit codes: 0 done; 1 a followed run ended Failed or Canceled; 2 an error (a kyanite
exception, printed as ``error: <message>`` without a traceback; also bad usage);
3 ``server status`` of a stopped server; 130 interrupted. Set ``KYANITE_DEBUG=1`` to
see tracebacks.
"""

import argparse
import os
import sys

from kyanite import settings
from kyanite.exceptions import KyaniteException

EXIT_ERROR = 2


def _version():
    try:
        from importlib.metadata import version
        return version("kyanite")
    except Exception:
        return "unknown"


def build_parser():
    from kyanite.cli import data_cmds, init_cmd, model_cmds, run_cmds, server_cmds, sweep_cmds
    parser = argparse.ArgumentParser(
        prog="kyanite", description="kyanite: a self-hosted machine-learning workspace.",
        epilog="Start with `kyanite init` in your project folder.")
    parser.add_argument("--version", action="version", version="kyanite %s" % _version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    init_cmd.register(sub)
    server_cmds.register(sub)
    run_cmds.register(sub)
    sweep_cmds.register(sub)
    data_cmds.register(sub)
    model_cmds.register(sub)
    return parser


def parse(argv):
    """Parse ``argv``; for ``run submit`` what the command does not know (and everything
    after ``--``) becomes the script's arguments."""
    argv = list(argv)
    tail = []
    if "--" in argv:
        i = argv.index("--")
        argv, tail = argv[:i], argv[i + 1:]
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if getattr(args, "takes_script_args", False):
        args.script_args = extra + tail
    elif extra or tail:
        parser.error("unrecognized arguments: %s" % " ".join(extra + tail))
    return args


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    debug = settings.get("KYANITE_DEBUG")
    try:
        return args.func(args) or 0
    except BrokenPipeError:
        # the reader (e.g. `| head`) went away: stop quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (KyaniteException, OSError) as exc:
        if debug:
            raise
        message = exc.message if isinstance(exc, KyaniteException) else str(exc)
        print("error: %s" % message, file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
