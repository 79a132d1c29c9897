"""Train a 784-300-100-10 Keras MLP on MNIST, tracked as a kyanite run.

    python keras_mnist.py --data-folder DIR [--batch-size 50] [--first-layer-neurons 300]
        [--second-layer-neurons 100] [--learning-rate 0.001] [--epochs 6] [--train-limit N]

The model and settings of the "train Keras models at scale" tutorial (RMSprop, the test
set as validation data). Keras 3 on the JAX backend. Every epoch's metrics go to the run
through ``kyanite.keras.RunCallback`` (``val_loss`` and ``val_accuracy`` under the
tutorial's names ``Loss`` and ``Accuracy``, the primary metric of the sweep); the final
test figures are logged as ``Final test loss`` / ``Final test accuracy``; the model is
saved to ``./outputs/model/model.keras`` (kept with the run). Outside a run (plain
``python keras_mnist.py``) the metrics are printed instead.
"""

import argparse
import os
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402

from kyanite.core import Run  # noqa: E402
from kyanite.keras import RunCallback  # noqa: E402
from utils import load_mnist  # noqa: E402

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", required=True, help="folder with the four MNIST IDX files")
parser.add_argument("--batch-size", type=int, default=50)
parser.add_argument("--first-layer-neurons", type=int, default=300)
parser.add_argument("--second-layer-neurons", type=int, default=100)
parser.add_argument("--learning-rate", type=float, default=0.001)
parser.add_argument("--epochs", type=int, default=6)
parser.add_argument("--train-limit", type=int, default=0, help="use only the first N training images")
args = parser.parse_args()

t0 = time.time()
x_train, y_train = load_mnist(args.data_folder, "train")
x_test, y_test = load_mnist(args.data_folder, "t10k")
if args.train_limit:
    x_train, y_train = x_train[:args.train_limit], y_train[:args.train_limit]
print("MNIST loaded from %s in %.1fs: train %s, test %s; Keras %s on %s" % (
    args.data_folder, time.time() - t0, x_train.shape, x_test.shape, keras.__version__, keras.backend.backend()),
    flush=True)

run = Run.get_context()

model = keras.Sequential([
    keras.Input(shape=(784,)),
    keras.layers.Dense(args.first_layer_neurons, activation="relu"),
    keras.layers.Dense(args.second_layer_neurons, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=args.learning_rate),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])

t0 = time.time()
model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=2,
          validation_data=(x_test, y_test),
          callbacks=[RunCallback(names={"val_loss": "Loss", "val_accuracy": "Accuracy"})])  # the one line
train_s = time.time() - t0
loss, acc = model.evaluate(x_test, y_test, batch_size=1000, verbose=0)
print("Test loss %.4f, test accuracy %.4f after %d epochs, trained in %.1fs (%.1fs per epoch)" % (
    loss, acc, args.epochs, train_s, train_s / max(1, args.epochs)), flush=True)
run.log("Final test loss", float(loss))
run.log("Final test accuracy", float(acc))
run.log("Training seconds", round(train_s, 2))

os.makedirs("outputs/model", exist_ok=True)
model.save("outputs/model/model.keras")
print("model saved to outputs/model/model.keras")
