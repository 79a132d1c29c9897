"""The Keras MNIST walkthrough on the embedded default workspace.

    python examples/keras-mnist/walkthrough.py [--epochs 20] [--data-folder DIR]

Creates (or reuses) a workspace next to this file, a local cluster, an environment from
conda_dependencies.yml; submits the training run and streams its output; prints the
metrics and files; downloads the model.
"""

import argparse
import os
import sys
import time

from kyanite.core import Environment, Experiment, ScriptRunConfig, Workspace
from kyanite.core.compute import AmlCompute, ComputeTarget
from kyanite.core.compute_target import ComputeTargetException

HERE = os.path.dirname(os.path.abspath(__file__))


def default_data_folder():
    for cand in (os.environ.get("KYANITE_MNIST_DIR"),
                 os.path.join(HERE, "..", "..", "..", "shared", "data", "mnist"),
                 os.path.join(HERE, "data")):
        if cand and os.path.exists(os.path.join(cand, "train-images-idx3-ubyte.gz")):
            return os.path.abspath(cand)
    sys.exit("MNIST files not found: pass --data-folder DIR (the four IDX .gz files) or set KYANITE_MNIST_DIR.")


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--data-folder", default=None)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--workspace", default=os.path.join(HERE, "workspace"))
    args = p.parse_args()
    data = args.data_folder or default_data_folder()
    t0 = time.time()

    print("== 1. Workspace")
    os.makedirs(args.workspace, exist_ok=True)
    ws = Workspace.create(name="keras-mnist-demo", path=args.workspace, exist_ok=True)

    print("\n== 2. Compute target")
    try:
        target = ComputeTarget(workspace=ws, name="cpu-cluster")
        print("Found existing compute target cpu-cluster")
    except ComputeTargetException:
        target = ComputeTarget.create(ws, "cpu-cluster",
                                      AmlCompute.provisioning_configuration(vm_size="cpu", max_nodes=2))
    target.wait_for_completion(show_output=True)

    print("\n== 3. Environment")
    env = Environment.from_conda_specification(name="keras-env",
                                                file_path=os.path.join(HERE, "conda_dependencies.yml"))
    env.register(ws)
    print("Environment keras-env version %s" % env.version)

    print("\n== 4. Training run (the environment is built on first use, then cached)")
    src = ScriptRunConfig(source_directory=HERE, script="keras_mnist.py",
                          arguments=["--data-folder", data, "--batch-size", 50, "--first-layer-neurons", 300,
                                     "--second-layer-neurons", 100, "--learning-rate", 0.001,
                                     "--epochs", args.epochs],
                          compute_target=target, environment=env)
    run = Experiment(workspace=ws, name="keras-mnist").submit(src)
    run.wait_for_completion(show_output=True)

    print("\n== 5. Results")
    metrics = run.get_metrics()
    for name, value in metrics.items():
        print("  %-22s %s" % (name, value if not isinstance(value, list) else ", ".join("%.4f" % v for v in value)))
    print("Files:", ", ".join(run.get_file_names()))
    out = os.path.join(args.workspace, "model.keras")
    run.download_file(name="outputs/model/model.keras", output_file_path=out)
    print("Model downloaded to %s" % out)
    print("\nTest accuracy: %.4f after %d epochs" % (metrics["Final test accuracy"], args.epochs))
    print("\nDone in %.0f s. Next: `kyanite run list` and `kyanite run show %s` in %s; server at %s"
          % (time.time() - t0, run.id, args.workspace, ws.server_url))


if __name__ == "__main__":
    main()
