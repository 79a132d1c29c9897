"""The ``kyanite`` command: workspaces, the workspace server and runs from a shell.

``kyanite init``, ``kyanite server start|stop|status`` and
``kyanite run submit|list|show|logs|cancel|download``; see ``kyanite --help``.
Everything goes through the public SDK (``kyanite.core``) and the workspace server's
REST API, like a notebook would. Standard library only besides kyanite itself.
"""
