"""The scikit-learn estimator of SDK v1 (``azureml.train.sklearn.SKLearn``).

``SKLearn(source_directory, entry_script=..., script_params=..., compute_target=...,
pip_packages=[...], framework_version=None)`` is an
:class:`~kyanite.train.estimator.Estimator` whose environment adds ``scikit-learn``
(``framework_version='1.5'`` pins ``scikit-learn==1.5.*``; v1 defaulted to 0.20.3, which
has no wheels for the Pythons kyanite runs, so no version means the newest).
``exp.submit(est)`` and ``HyperDriveConfig(estimator=est, ...)`` take it.
"""

from kyanite.train.estimator import MMLBaseEstimator

__all__ = ["SKLearn"]


class SKLearn(MMLBaseEstimator):
    """``SKLearn(source_directory, entry_script, script_params, framework_version, ...)``."""
    FRAMEWORK_PACKAGE = "scikit-learn"
