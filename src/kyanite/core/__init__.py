"""The kyanite SDK, with the shape of ``azureml.core`` (Azure ML SDK v1).

``VERSION`` is the installed kyanite version (``azureml.core.VERSION``)."""

from kyanite import __version__ as VERSION

from kyanite.core.compute import ComputeTarget
from kyanite.core.conda_dependencies import CondaDependencies
from kyanite.core.dataset import Dataset
from kyanite.core.datastore import Datastore
from kyanite.core.environment import Environment
from kyanite.core.experiment import Experiment
from kyanite.core.model import Model
from kyanite.core.runconfig import RunConfiguration
from kyanite.core.script_run_config import ScriptRunConfig
from kyanite.core.workspace import Workspace
from kyanite.core.run import Run
from kyanite.protocol.states import RunStatus

__all__ = ["Workspace", "Experiment", "Run", "RunStatus", "ScriptRunConfig", "RunConfiguration",
           "Environment", "CondaDependencies", "ComputeTarget", "Dataset", "Datastore",
           "Model", "VERSION"]
