"""kyanite: a self-hosted machine-learning workspace with the Azure ML SDK v1 shape.

Import the SDK from ``kyanite.core``. This top-level module stays empty of imports so
that the run host and in-script runtime start fast.
"""

__version__ = "0.1.0"
