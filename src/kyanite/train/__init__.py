"""Training helpers with the shape of ``azureml.train``: ``kyanite.train.hyperdrive`` holds the
hyperparameter sweep classes."""
