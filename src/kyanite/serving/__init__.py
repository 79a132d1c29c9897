"""The scoring server of deployments: runs a user's ``score.py`` (``init()`` once,
``run(raw)`` per request) behind HTTP in the deployment's environment.

Standard library only and Python 3.6 compatible: :mod:`kyanite.serving.server` is placed
into every scoring environment next to the in-script runtime (see :mod:`kyanite.serving.shim`,
which assembles that folder). The workspace server's deployment manager
(:mod:`kyanite.server.deployments`) starts, watches and stops these processes.
"""
