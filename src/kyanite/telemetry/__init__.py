"""SDK v1's ``azureml.telemetry``: kyanite sends no telemetry, so
``set_diagnostics_collection`` accepts its arguments and does nothing."""

__all__ = ["set_diagnostics_collection", "get_diagnostics_collection_info"]


def set_diagnostics_collection(send_diagnostics=True, verbosity=None, reset=False, path=None):
    """No-op (kyanite collects no diagnostics); returns None."""
    return None


def get_diagnostics_collection_info(component_name=None, path=None):
    """kyanite collects no diagnostics: ``{"send_diagnostics": False}``."""
    return {"send_diagnostics": False}
