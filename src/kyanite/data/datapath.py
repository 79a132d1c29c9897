"""DataPath: a path inside a datastore (``datastore.path('folder/**')``), as in the SDK v1."""

__all__ = ["DataPath"]


class DataPath(object):
    """``DataPath(datastore, path_on_datastore)``; ``Dataset.File.from_files`` accepts it
    like the pair ``(datastore, path_on_datastore)``."""

    def __init__(self, datastore=None, path_on_datastore=None, name=None):
        self.datastore = datastore
        self.path_on_datastore = (path_on_datastore or "").strip("/")
        self.name = name

    @property
    def datastore_name(self):
        return getattr(self.datastore, "name", None)

    def __repr__(self):
        return "$%s/%s" % (self.datastore_name, self.path_on_datastore)
