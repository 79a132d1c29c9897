"""Track a Keras training with one line: ``model.fit(..., callbacks=[kyanite.keras.RunCallback()])``.

``RunCallback`` logs every epoch's metrics (``loss``, ``accuracy``, ``val_loss``, ...) to
the current run (``Run.get_context()``), optionally renamed (``names={'val_accuracy':
'Accuracy'}``) and every ``log_every_n_batches`` batches as well. Works with Keras 3 and
with the Keras 2 era (``keras`` 2.x or ``tf.keras``): it imports whichever is installed.
Standard library otherwise, Python 3.6 compatible: it is placed into run environments.
"""

from kyanite.runtime.run import Run

try:  # Keras 3, or standalone Keras 2
    from keras.callbacks import Callback as _Callback
except ImportError:  # only TensorFlow's bundled Keras
    from tensorflow.keras.callbacks import Callback as _Callback

__all__ = ["RunCallback"]


class RunCallback(_Callback):
    def __init__(self, run=None, names=None, log_every_n_batches=0):
        super(RunCallback, self).__init__()
        self.run = run or Run.get_context()
        self.names = dict(names or {})
        self.every = int(log_every_n_batches or 0)

    def _log(self, logs, prefix=""):
        for key, value in (logs or {}).items():
            try:
                value = float(value)
            except (TypeError, ValueError):
                continue
            self.run.log(self.names.get(key, prefix + key), value)

    def on_epoch_end(self, epoch, logs=None):
        self._log(logs)

    def on_train_batch_end(self, batch, logs=None):
        if self.every and (batch + 1) % self.every == 0:
            self._log(logs, prefix="batch_")
