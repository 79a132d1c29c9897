"""The scoring script of the keras-mnist service: ``init()`` once, ``run(raw)`` per request.

Request body: ``{"data": [[784 pixel values in 0..1], ...]}`` (one row per image).
Answer: the predicted digit of each image, e.g. ``[7, 2, 1]``.
"""

import json
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kyanite.core.model import Model  # noqa: E402


def init():
    global model
    model_dir = Model.get_model_path("keras-mnist")  # the registered folder outputs/model
    model = keras.models.load_model(os.path.join(model_dir, "model.keras"))
    model.predict(np.zeros((1, 784), "float32"), verbose=0)  # compile before the first request
    print("keras-mnist model loaded from %s" % model_dir)


def run(raw_data):
    data = np.asarray(json.loads(raw_data)["data"], dtype="float32").reshape(-1, 784)
    return np.argmax(model.predict(data, batch_size=1000, verbose=0), axis=1).tolist()
