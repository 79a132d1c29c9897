"""Train a 784-300-100-10 Keras MLP on MNIST, tracked as a kyanite run."""

import argparse
import os
import time

import keras
import numpy as np

from kyanite.core import Run
from utils import load_mnist

parser = argparse.ArgumentParser()
parser.add_argument("--data-folder", required=True, help="folder with the MNIST IDX files")
parser.add_argument("--batch-size", type=int, default=50)
parser.add_argument("--first-layer-neurons", type=int, default=300)
parser.add_argument("--second-layer-neurons", type=int, default=100)
parser.add_argument("--learning-rate", type=float, default=0.001)
parser.add_argument("--epochs", type=int, default=20)
parser.add_argument("--train-limit", type=int, default=0, help="use only the first N training images")
args = parser.parse_args()

x_train, y_train = load_mnist(args.data_folder, "train")
x_test, y_test = load_mnist(args.data_folder, "t10k")
if args.train_limit:
    x_train, y_train = x_train[:args.train_limit], y_train[:args.train_limit]
print("train", x_train.shape, "test", x_test.shape, "backend", keras.backend.backend())

run = Run.get_context()
model = keras.Sequential([
    keras.Input(shape=(784,)),
    keras.layers.Dense(args.first_layer_neurons, activation="relu"),
    keras.layers.Dense(args.second_layer_neurons, activation="relu"),
    keras.layers.Dense(10, activation="softmax"),
])
model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=args.learning_rate),
              loss="sparse_categorical_crossentropy", metrics=["accuracy"])


class LogRunMetrics(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        run.log("Loss", logs["val_loss"])
        run.log("Accuracy", logs["val_accuracy"])


t0 = time.time()
model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs, verbose=2,
          validation_data=(x_test, y_test), callbacks=[LogRunMetrics()])
loss, acc = model.evaluate(x_test, y_test, verbose=0)
print("Test loss %.4f, test accuracy %.4f, trained in %.1fs" % (loss, acc, time.time() - t0))
run.log("Final test loss", float(loss))
run.log("Final test accuracy", float(acc))

os.makedirs("outputs/model", exist_ok=True)
model.save("outputs/model/model.keras")
print("model saved in outputs/model/model.keras")
