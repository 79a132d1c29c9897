"""The Keras MNIST walkthrough: train, tune, register, deploy and score, end to end.

    python examples/keras-mnist/walkthrough.py [--epochs 6] [--sweep-children 8]
        [--sweep-epochs 3] [--train-limit N] [--workspace DIR] [--data-folder DIR]

The journey of the Azure ML SDK v1 tutorial "train Keras models at scale", on the embedded
default workspace (a server on 127.0.0.1 that the SDK starts on demand). The same steps,
cell by cell, are in walkthrough.ipynb next to this file.

 1. create or reuse a workspace (default: ./workspace next to this file);
 2. serve the MNIST files on 127.0.0.1, make a FileDataset of their URLs, register it;
 3. create or reuse a local cluster of 2 nodes;
 4. the environment from conda_dependencies.yml (built with uv on first use, then cached);
 5. the training run of keras_mnist.py, its output streamed; metrics, files, the model;
 6. a HyperDrive sweep over batch size, layer sizes and learning rate (Bandit policy);
 7. register the better model (the sweep's best child or the main run);
 8. deploy it with keys; score 30 test images through the SDK and over raw HTTP;
 9. the accuracy on the whole 10,000-image test set, through the endpoint;
10. where to look next.

The MNIST files come from ../shared/data/mnist (relative to the repository) or
KYANITE_MNIST_DIR. The service keeps running when this script ends; stop everything with
`kyanite server stop --path <workspace>`.
"""

import argparse
import json
import os
import random
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from utils import load_mnist, serve_folder  # noqa: E402

from kyanite.core import Dataset, Environment, Experiment, Model, ScriptRunConfig, Workspace  # noqa: E402
from kyanite.core.compute import AmlCompute, ComputeTarget  # noqa: E402
from kyanite.core.compute_target import ComputeTargetException  # noqa: E402
from kyanite.core.model import InferenceConfig  # noqa: E402
from kyanite.core.webservice import LocalWebservice  # noqa: E402
from kyanite.train.hyperdrive import (  # noqa: E402
    BanditPolicy, HyperDriveConfig, PrimaryMetricGoal, RandomParameterSampling, choice, loguniform)

MNIST_FILES = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
               "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"]

# The tutorial's settings: batch 50, 300/100 neurons, learning rate 0.001 (RMSprop). Measured
# on 49 trainings from different seeds (the test set after each epoch, 2 CPU cores, 1.5-2 s an
# epoch): after 6 epochs all 49 reached >= 97.5% (lowest 97.55%, median 97.93%); after 4 or 5,
# 3 and 4 of 49 fell short; after 3, 9 of 49. RMSprop at a constant learning rate wobbles by a
# few tenths of a percent from epoch to epoch, so no epoch count is certain: 8 epochs missed
# once in 37 tries (97.48%). 6 is the smallest count that held every time.
EPOCHS = 6
TARGET_ACCURACY = 0.975
SERVICE_NAME = "keras-mnist-svc"

T0 = time.time()


def step(number, title):
    print("\n[%s] == %s. %s" % (clock(), number, title), flush=True)


def clock():
    s = int(time.time() - T0)
    return "%d:%02d" % (s // 60, s % 60)


def say(text):
    print("[%s] %s" % (clock(), text), flush=True)


def find_mnist(folder=None):
    repo = os.path.dirname(os.path.dirname(HERE))
    for cand in (folder, os.environ.get("KYANITE_MNIST_DIR"), os.path.join(repo, "..", "shared", "data", "mnist"),
                 os.path.join(repo, "shared", "data", "mnist")):
        if cand and all(os.path.exists(os.path.join(cand, f)) for f in MNIST_FILES):
            return os.path.abspath(cand)
    sys.exit("The MNIST files are not found: pass --data-folder DIR (the four IDX .gz files) "
             "or set KYANITE_MNIST_DIR.")


def epochs(n):
    return "%d epoch%s" % (n, "" if n == 1 else "s")


def fmt_metric(value):
    if isinstance(value, list):
        return ", ".join("%.4f" % v if isinstance(v, float) else str(v) for v in value)
    return "%.4f" % value if isinstance(value, float) else str(value)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workspace", default=os.path.join(HERE, "workspace"), help="the workspace folder")
    p.add_argument("--data-folder", default=None, help="the MNIST IDX files (default: ../shared/data/mnist)")
    p.add_argument("--epochs", type=int, default=EPOCHS, help="epochs of the main training run")
    p.add_argument("--train-limit", type=int, default=0, help="train on the first N images only (quick tries)")
    p.add_argument("--sweep-children", type=int, default=8, help="child runs of the sweep")
    p.add_argument("--sweep-concurrency", type=int, default=2, help="children at a time")
    p.add_argument("--sweep-epochs", type=int, default=3, help="epochs of each child run")
    args = p.parse_args(argv)
    data_folder = find_mnist(args.data_folder)
    limit = ["--train-limit", args.train_limit] if args.train_limit else []

    # ------------------------------------------------------------------------------------------
    step(1, "Workspace")
    os.makedirs(args.workspace, exist_ok=True)
    ws = Workspace.create(name="keras-mnist-demo", path=args.workspace, exist_ok=True, show_output=False)
    say("workspace %s in %s, server %s" % (ws.name, args.workspace, ws.server_url))

    # ------------------------------------------------------------------------------------------
    step(2, "Dataset: the MNIST files served on 127.0.0.1, registered as a FileDataset")
    port_file = os.path.join(args.workspace, "mnist-http-port")  # the same URLs next time: the node cache hits
    port = int(open(port_file).read()) if os.path.exists(port_file) else 0
    http_server, base_url = serve_folder(data_folder, port=port)
    with open(port_file, "w") as f:
        f.write(str(http_server.server_address[1]))
    say("serving %s at %s" % (data_folder, base_url))
    dataset = Dataset.File.from_files(path=[base_url + name for name in MNIST_FILES])
    dataset = dataset.register(workspace=ws, name="mnist-dataset", description="MNIST training and test files",
                               create_new_version=True)
    say("registered dataset %s version %s (id %s)" % (dataset.name, dataset.version, dataset.id))

    # ------------------------------------------------------------------------------------------
    step(3, "Compute target: a local cluster of 2 nodes")
    try:
        target = ComputeTarget(workspace=ws, name="cpu-cluster")
        say("found existing compute target cpu-cluster")
    except ComputeTargetException:
        config = AmlCompute.provisioning_configuration(vm_size="cpu", max_nodes=2)
        target = ComputeTarget.create(ws, "cpu-cluster", config)
    target.wait_for_completion(show_output=True)

    # ------------------------------------------------------------------------------------------
    step(4, "Environment from conda_dependencies.yml")
    env = Environment.from_conda_specification(name="keras-env",
                                                file_path=os.path.join(HERE, "conda_dependencies.yml"))
    env.register(ws)
    say("environment keras-env version %s: %s (built with uv when the first run needs it, then cached)"
        % (env.version, ", ".join(env.python.conda_dependencies.pip_packages)))

    # ------------------------------------------------------------------------------------------
    step(5, "Training run: batch 50, 300/100 neurons, learning rate 0.001, %s" % epochs(args.epochs))
    src = ScriptRunConfig(source_directory=HERE, script="keras_mnist.py",
                          arguments=["--data-folder", dataset.as_named_input("mnist").as_mount(),
                                     "--batch-size", 50, "--first-layer-neurons", 300,
                                     "--second-layer-neurons", 100, "--learning-rate", 0.001,
                                     "--epochs", args.epochs] + limit,
                          compute_target=target, environment=env)
    exp = Experiment(workspace=ws, name="keras-mnist")
    run = exp.submit(src)
    run.wait_for_completion(show_output=True)

    metrics = run.get_metrics()
    say("metrics of run %s:" % run.id)
    for name in sorted(metrics):
        print("    %-20s %s" % (name, fmt_metric(metrics[name])))
    say("files: %s" % ", ".join(run.get_file_names()))
    local_model = os.path.join(args.workspace, "downloads", run.id, "model.keras")
    run.download_file(name="outputs/model/model.keras", output_file_path=local_model)
    say("model downloaded to %s" % local_model)
    main_accuracy = metrics["Final test accuracy"]
    print("\n    Test accuracy of the tutorial's settings after %s: %.2f%% (target >= %.1f%%: %s)" % (
        epochs(args.epochs), 100 * main_accuracy, 100 * TARGET_ACCURACY,
        "met" if main_accuracy >= TARGET_ACCURACY else "MISSED"), flush=True)

    # ------------------------------------------------------------------------------------------
    step(6, "HyperDrive sweep: %d children, %d at a time, %s each"
         % (args.sweep_children, args.sweep_concurrency, epochs(args.sweep_epochs)))
    # The tutorial sampled the learning rate from loguniform(-6, -1), e^-6 .. e^-1 = 0.0025 .. 0.37:
    # with RMSprop nearly all of that range diverges. e^-10 .. e^-3 = 0.000045 .. 0.05 holds good
    # rates around 0.001 and, at its top, a few bad ones for the Bandit policy to stop early.
    sampling = RandomParameterSampling({
        "--batch-size": choice(25, 50, 100),
        "--first-layer-neurons": choice(50, 100, 300, 500),
        "--second-layer-neurons": choice(50, 100, 200),
        "--learning-rate": loguniform(-10, -3),
    })
    policy = BanditPolicy(evaluation_interval=2, slack_factor=0.1)
    sweep_src = ScriptRunConfig(source_directory=HERE, script="keras_mnist.py",
                                arguments=["--data-folder", dataset.as_named_input("mnist").as_mount(),
                                           "--epochs", args.sweep_epochs] + limit,
                                compute_target=target, environment=env)
    hd_config = HyperDriveConfig(run_config=sweep_src, hyperparameter_sampling=sampling, policy=policy,
                                 primary_metric_name="Accuracy", primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                                 max_total_runs=args.sweep_children, max_concurrent_runs=args.sweep_concurrency)
    hd_run = exp.submit(hd_config)
    hd_run.wait_for_completion(show_output=True)

    say("children by best Accuracy:")
    for child in hd_run.get_children_sorted_by_primary_metric():
        hp = json.loads(child["hyperparameters"])
        best = child["best_primary_metric"]
        print("    %-42s %-9s %s  batch %-3s layers %3s/%-3s lr %.5f" % (
            child["run_id"], child["status"], "%.4f" % best if best is not None else "  n/a ",
            hp["--batch-size"], hp["--first-layer-neurons"], hp["--second-layer-neurons"], hp["--learning-rate"]))
    best_run = hd_run.get_best_run_by_primary_metric(include_failed=False, include_canceled=False)
    best_hp = json.loads(hd_run.get_hyperparameters()[best_run.id])
    best_accuracy = best_run.get_metrics()["Final test accuracy"]
    say("best child %s: test accuracy %.2f%% after %s with %s"
        % (best_run.id, 100 * best_accuracy, epochs(args.sweep_epochs), best_hp))

    # ------------------------------------------------------------------------------------------
    step(7, "Register the better model")
    # Both models were scored on the same 10,000 test images at the end of their training:
    # the higher "Final test accuracy" wins.
    if best_accuracy > main_accuracy:
        chosen, why = best_run, ("the sweep's best child (%.2f%% after %s) beats the main run (%.2f%% after %s)"
                                 % (100 * best_accuracy, epochs(args.sweep_epochs), 100 * main_accuracy,
                                    epochs(args.epochs)))
    else:
        chosen, why = run, ("the main run (%.2f%% after %s) beats the sweep's best child (%.2f%% after %s)"
                            % (100 * main_accuracy, epochs(args.epochs), 100 * best_accuracy,
                               epochs(args.sweep_epochs)))
        if args.sweep_epochs < args.epochs:
            why += ": the children train for fewer epochs, to keep the sweep short; retrain the best " \
                   "child's settings for longer to use them"
    chosen_accuracy = max(best_accuracy, main_accuracy)
    model = chosen.register_model(model_name="keras-mnist", model_path="outputs/model",
                                  tags={"framework": "keras", "accuracy": "%.4f" % chosen_accuracy},
                                  model_framework=Model.Framework.KERAS, model_framework_version="3.15.1",
                                  description="784-300-100-10 MLP on MNIST", datasets=[("training", dataset)])
    say("registered model %s version %s from run %s: %s" % (model.name, model.version, chosen.id, why))

    # ------------------------------------------------------------------------------------------
    step(8, "Deploy it with keys and score 30 random test images")
    inference_config = InferenceConfig(entry_script="score.py", source_directory=HERE, environment=env)
    deployment_config = LocalWebservice.deploy_configuration(auth_enabled=True,
                                                             tags={"data": "mnist", "method": "keras"},
                                                             description="Predict MNIST digits with Keras")
    service = Model.deploy(ws, SERVICE_NAME, [model], inference_config, deployment_config, overwrite=True)
    service.wait_for_deployment(show_output=True)
    say("service %s is %s at %s" % (service.name, service.state, service.scoring_uri))

    x_test, y_test = load_mnist(data_folder, "t10k")
    picks = random.Random().sample(range(len(y_test)), 30)
    body = json.dumps({"data": x_test[picks].tolist()})
    predicted = service.run(input_data=body)
    actual = [int(y_test[i]) for i in picks]
    print("    predicted %s" % " ".join(str(d) for d in predicted))
    print("    actual    %s" % " ".join(str(d) for d in actual))
    print("    %d of 30 right through service.run()" % sum(p == a for p, a in zip(predicted, actual)))

    key, _secondary = service.get_keys()
    request = urllib.request.Request(service.scoring_uri, data=body.encode("utf-8"), method="POST", headers={
        "Content-Type": "application/json", "Authorization": "Bearer " + key})
    with urllib.request.urlopen(request, timeout=60) as resp:
        raw_answer = json.loads(resp.read())
    print("    POST %s with the primary key: HTTP %d, the same %d answers: %s" % (
        service.scoring_uri, resp.status, len(raw_answer), raw_answer == predicted))
    try:
        urllib.request.urlopen(urllib.request.Request(service.scoring_uri, data=body.encode("utf-8"),
                                                      headers={"Content-Type": "application/json"}), timeout=60)
        print("    without a key: accepted (auth is off?)")
    except urllib.error.HTTPError as exc:
        print("    without a key: HTTP %d" % exc.code)

    # ------------------------------------------------------------------------------------------
    step(9, "Accuracy on the whole test set, through the endpoint")
    batch, right, t = 1000, 0, time.time()
    for start in range(0, len(y_test), batch):
        answer = service.run(input_data=json.dumps({"data": x_test[start:start + batch].tolist()}))
        right += sum(int(p == a) for p, a in zip(answer, y_test[start:start + batch].tolist()))
        print("    scored %5d of %d images, %d right so far" % (start + len(answer), len(y_test), right), flush=True)
    endpoint_accuracy = right / float(len(y_test))
    say("test-set accuracy through %s: %.2f%% (%d of %d, %d requests of %d images, %.1f s)" % (
        service.name, 100 * endpoint_accuracy, right, len(y_test), (len(y_test) + batch - 1) // batch, batch,
        time.time() - t))

    # ------------------------------------------------------------------------------------------
    step(10, "Where to look next")
    where = os.path.relpath(args.workspace)
    if where.startswith(".."):
        where = os.path.abspath(args.workspace)
    print("""    Studio (runs, metric charts, the sweep, models, endpoints):  %s
        sign in with the workspace token: %s
    Command line (from this folder; inside the workspace folder --path is not needed):
        kyanite run list --path %s
        kyanite run show %s --path %s
        kyanite run logs %s --path %s
        kyanite sweep show %s --path %s
        kyanite sweep best %s --path %s
        kyanite run download %s --prefix outputs/ --path %s
        kyanite server status --path %s
        kyanite server stop --path %s
    The service %s keeps answering at %s (keys: service.get_keys());
    remove it with Webservice(ws, "%s").delete().""" % (
        ws.server_url, os.path.join(where, ".kyanite", "token"), where, run.id, where, run.id, where,
        hd_run.id, where, hd_run.id, where, run.id, where, where, where, service.name, service.scoring_uri,
        service.name))

    print("\nSummary: main run %.2f%% after %s (target >= %.1f%%: %s), sweep best %.2f%% (%d children x %s), "
          "endpoint %.2f%% on %d images; registered %s:%s from %s; %s in total."
          % (100 * main_accuracy, epochs(args.epochs), 100 * TARGET_ACCURACY,
             "met" if main_accuracy >= TARGET_ACCURACY else "missed", 100 * best_accuracy, args.sweep_children,
             epochs(args.sweep_epochs), 100 * endpoint_accuracy, len(y_test), model.name, model.version,
             "the main run" if chosen is run else "the sweep's best child", clock()), flush=True)
    http_server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
