"""The in-script runtime, standard library only (Python 3.6+), and the run host.

``kyanite.runtime.run`` and its helpers are copied into every run environment, so
``from kyanite.core import Run`` works there whatever the environment holds. The run host
(``python -m kyanite.runtime.host``) runs under kyanite's own interpreter.
"""
