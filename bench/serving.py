#!/usr/bin/env python
"""Model serving: single-image requests over HTTP against a deployed Keras MNIST model.

    python bench/serving.py [--seconds S] [--concurrency 1,8] [--skip-mlflow] [--keep] [--check]
                            [--keep-env]

In a fresh workspace (the environment cache is ``KYANITE_CACHE_DIR``, default
``~/.cache/kyanite-bench``, so the Keras environment is built once): a short training run
of ``examples/keras-mnist/keras_mnist.py`` (1 epoch, 5,000 images) in the environment of
``examples/keras-mnist/conda_dependencies.yml``; ``run.register_model('keras-mnist',
'outputs/model')`` (the name ``examples/keras-mnist/score.py`` loads); ``Model.deploy`` with
that ``score.py`` and ``LocalWebservice.deploy_configuration(auth_enabled=True)``.

Load: client processes (one per connection, HTTP/1.1 keep-alive, ``http.client``) each
POST one MNIST test image (``{"data": [[784 floats]]}``, cycling over 100 images, the key
in ``Authorization``) back to back for ``--seconds`` after 20 warm-up requests; latency
is per request (send -> whole answer read), requests/s is all answers / the window.

Baselines, same invocation:

- in-process ``model.predict`` on one image (what ``score.run`` calls), and the whole
  ``score.run(raw)`` (JSON parse + predict + argmax), in the service environment's own
  interpreter (a subprocess), no HTTP;
- MLflow ``mlflow models serve --env-manager local`` on the same ``model.keras`` (saved with
  ``mlflow.keras.save_model``), same load. MLflow is not part of the Keras environment, so
  it runs with that environment's interpreter and the benchmark interpreter's
  site-packages appended to ``PYTHONPATH``; if it cannot load or serve within a minute
  its rows are skipped with the reason. Non-200 answers are counted ("errors"), not timed
  and not in requests/s; at a concurrency where it answers nothing its row says "all" and
  the ratio target is judged on the concurrencies it served.

Targets: p50 under 3 ms, and at least 2x MLflow's requests/s (at each concurrency).
Exit status 0 when the benchmark ran (``--check`` exits 1 when a target is missed).
"""

import argparse
import http.client
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import sysconfig
import textwrap
import time
import urllib.parse

import _common as C

TARGET_P50_S = 0.003
TARGET_RATIO = 2.0
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EXAMPLE = os.path.join(REPO, "examples", "keras-mnist")

PREDICT_SCRIPT = textwrap.dedent('''\
    import json, os, sys, time
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import numpy as np, keras
    model_file, bodies_file, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    bodies = json.load(open(bodies_file))
    model = keras.models.load_model(model_file)
    xs = [np.asarray(json.loads(b)["data"], dtype="float32").reshape(-1, 784) for b in bodies]
    def score_run(raw):  # examples/keras-mnist/score.py run()
        data = np.asarray(json.loads(raw)["data"], dtype="float32").reshape(-1, 784)
        return np.argmax(model.predict(data, batch_size=1000, verbose=0), axis=1).tolist()
    for i in range(20):
        model.predict(xs[i % len(xs)], verbose=0); score_run(bodies[i % len(bodies)])
    out = {}
    for name, fn, args in (("predict", lambda x: model.predict(x, batch_size=1000, verbose=0), xs),
                           ("score_run", score_run, bodies)):
        lat = []
        for i in range(n):
            t0 = time.perf_counter()
            fn(args[i % len(args)])
            lat.append(time.perf_counter() - t0)
        out[name] = lat
    print("BENCH-PREDICT " + json.dumps(out))
''')

MLFLOW_SAVE = textwrap.dedent('''\
    import os, sys
    os.environ.setdefault("KERAS_BACKEND", "jax")
    import keras, mlflow, mlflow.keras
    # compile=False: the inference graph only (loaded with its training state, MLflow's
    # scoring threads hit an uninitialised optimizer/metric variable)
    mlflow.keras.save_model(keras.models.load_model(sys.argv[1], compile=False), sys.argv[2])
    print("saved with MLflow", mlflow.__version__)
''')


# -- load generation ------------------------------------------------------------------------------
def _worker(url, headers, bodies, warmup, start_at, seconds, queue):
    try:
        u = urllib.parse.urlsplit(url)
        conn = http.client.HTTPConnection(u.hostname, u.port, timeout=30)
        path = u.path or "/"
        lat, errors = [], []

        def one(i):
            t0 = time.perf_counter()
            conn.request("POST", path, body=bodies[i % len(bodies)], headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:  # counted, not timed; the first one is reported
                errors.append("HTTP %d: %s" % (resp.status, data[-300:].decode("utf-8", "replace")))
                return None
            return time.perf_counter() - t0
        for i in range(warmup):
            one(i)
        del errors[:]
        while time.time() < start_at:
            time.sleep(0.001)
        end = start_at + seconds
        i = 0
        while time.time() < end:
            t = one(i)
            if t is not None:
                lat.append(t)
            i += 1
        conn.close()
        queue.put(("ok", (lat, errors)))
    except Exception as exc:
        queue.put(("error", "%s: %s" % (type(exc).__name__, exc)))


def load(url, headers, bodies, concurrency, seconds, warmup=20):
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    start_at = time.time() + 1.0 + 0.1 * concurrency  # after every worker's warm-up
    procs = [ctx.Process(target=_worker, args=(url, headers, bodies, warmup, start_at, seconds, queue))
             for _ in range(concurrency)]
    for p in procs:
        p.start()
    lat, errors, failed = [], [], []
    for _ in procs:
        kind, value = queue.get(timeout=seconds + 120)
        if kind == "ok":
            lat.extend(value[0])
            errors.extend(value[1])
        else:
            failed.append(value)
    for p in procs:
        p.join(10)
    if failed or not lat:
        raise RuntimeError("load on %s failed: %s" % (url, (failed + errors + ["no answer"])[0]))
    return {"n": len(lat), "p50": C.percentile(lat, 50), "p99": C.percentile(lat, 99), "rps": len(lat) / seconds,
            "errors": len(errors), "first_error": errors[0] if errors else None}


# -- helpers --------------------------------------------------------------------------------------
def test_bodies(n=100):
    sys.path.insert(0, EXAMPLE)
    from utils import load_mnist
    x, _y = load_mnist(mnist_dir(), "t10k")
    x = x[:n].reshape(n, -1)
    return [json.dumps({"data": [[round(float(v), 4) for v in row]]}) for row in x], x


def mnist_dir():
    return os.environ.get("KYANITE_MNIST_DIR") or os.path.join(os.path.dirname(REPO), "shared", "data", "mnist")


def mlflow_serve(env_python, model_file, tmp, bodies_x, concurrencies, seconds):
    """MLflow rows, or (None, reason)."""
    try:
        import mlflow
    except ImportError:
        return None, "MLflow is not importable here (pip install -e '.[bench]')"
    env = dict(os.environ)
    site = sysconfig.get_paths()["purelib"]
    env["PYTHONPATH"] = os.pathsep.join(p for p in [env.get("PYTHONPATH"), site] if p)
    env.update({"KERAS_BACKEND": "jax", "MLFLOW_TRACKING_URI": "file://" + os.path.join(tmp, "mlruns")})
    path = os.path.join(tmp, "mlflow-model")
    r = subprocess.run([env_python, "-c", MLFLOW_SAVE, model_file, path], env=env, capture_output=True,
                       text=True, timeout=120)
    if r.returncode != 0:
        return None, "could not save the model with mlflow.keras in the Keras environment: %s" % (
            (r.stderr or r.stdout).strip().splitlines()[-1:] or ["?"])[0]
    # `mlflow models serve` starts `uvicorn` from PATH: make it the Keras environment's one
    shim = os.path.join(tmp, "mlflow-bin")
    os.makedirs(shim, exist_ok=True)
    with open(os.path.join(shim, "uvicorn"), "w") as f:
        f.write('#!/bin/sh\nexec "%s" -m uvicorn "$@"\n' % env_python)
    os.chmod(os.path.join(shim, "uvicorn"), 0o755)
    env["PATH"] = shim + os.pathsep + env.get("PATH", "")
    port = C.free_port()
    log_path = os.path.join(tmp, "mlflow-serve.log")
    log = open(log_path, "w")
    proc = subprocess.Popen([env_python, "-m", "mlflow", "models", "serve", "-m", path, "--env-manager", "local",
                             "-h", "127.0.0.1", "-p", str(port)], env=env, stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        t0 = time.time()
        while True:
            if proc.poll() is not None:
                return None, "mlflow models serve exited %d: %s" % (proc.returncode, _tail(log_path))
            if time.time() - t0 > 60:
                return None, "mlflow models serve did not answer /ping within 60 s: %s" % _tail(log_path)
            try:
                c = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                c.request("GET", "/ping")
                if c.getresponse().status == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        start_s = time.time() - t0
        url = "http://127.0.0.1:%d/invocations" % port
        bodies = [json.dumps({"inputs": [[round(float(v), 4) for v in row]]}) for row in bodies_x]
        headers = {"Content-Type": "application/json"}
        rows = {}
        for c in concurrencies:
            try:
                rows[c] = load(url, headers, bodies, c, seconds)
            except RuntimeError as exc:
                rows[c] = {"n": 0, "p50": None, "p99": None, "rps": 0.0, "errors": None, "first_error": str(exc)}
        return rows, "mlflow %s models serve --env-manager local (its default workers), ready in %.1f s" % (
            mlflow.__version__, start_s)
    except Exception as exc:
        return None, "MLflow load failed: %s" % exc
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(15)
        except (OSError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except OSError:
                pass
        log.close()


def _tail(path, n=3):
    try:
        with open(path) as f:
            return " | ".join(l.strip() for l in f.read().strip().splitlines()[-n:])
    except OSError:
        return ""


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--seconds", type=float, default=5.0, help="load window per concurrency (default 5)")
    p.add_argument("--concurrency", default="1,8", help="client processes, comma-separated (default 1,8)")
    p.add_argument("--predict-n", type=int, default=500, help="in-process predict calls (default 500)")
    p.add_argument("--skip-mlflow", action="store_true")
    C.add_standard_args(p, "a target")
    args = p.parse_args(argv)
    notes = C.start_notes(args)
    concurrencies = [int(c) for c in args.concurrency.split(",") if c.strip()]
    t_all = time.perf_counter()
    bodies, bodies_x = test_bodies()

    from kyanite.core import Environment, Experiment, Model, ScriptRunConfig
    from kyanite.core.model import InferenceConfig
    from kyanite.core.webservice import LocalWebservice
    from kyanite.envs import EnvBuilder
    with C.bench_workspace("bench-serving", keep=args.keep) as (ws, tmp):
        env = Environment.from_conda_specification("bench-keras", os.path.join(EXAMPLE, "conda_dependencies.yml"))
        t0 = time.perf_counter()
        run = Experiment(ws, "serving").submit(ScriptRunConfig(
            source_directory=EXAMPLE, script="keras_mnist.py", environment=env,
            arguments=["--data-folder", mnist_dir(), "--epochs", 1, "--train-limit", 5000]))
        details = run.wait_for_completion(raise_on_error=False)
        train_s = time.perf_counter() - t0
        if details["status"] != "Completed":
            raise SystemExit("bench: the training run ended %s: %s\n%s" % (
                details["status"], details.get("error"), C.driver_log(run)))
        acc = (run.get_metrics() or {}).get("Final test accuracy")
        notes.append("training run (1 epoch, 5,000 images, environment build included if not cached): %.1f s, "
                     "test accuracy %s" % (train_s, acc))
        model = run.register_model(model_name="keras-mnist", model_path="outputs/model")
        env_python = EnvBuilder(os.environ["KYANITE_CACHE_DIR"]).ensure(env._spec(), log=None).python
        model_dir = os.path.join(tmp, "model")
        model.download(model_dir, exist_ok=True)
        model_file = next(os.path.join(r, f) for r, _d, fs in os.walk(model_dir) for f in fs if f.endswith(".keras"))

        t0 = time.perf_counter()
        service = Model.deploy(ws, "bench-mnist-svc", [model],
                               InferenceConfig(entry_script="score.py", source_directory=EXAMPLE, environment=env),
                               LocalWebservice.deploy_configuration(auth_enabled=True))
        try:
            service.wait_for_deployment()
            deploy_s = time.perf_counter() - t0
            if service.state != "Healthy":
                raise SystemExit("bench: the service is %s:\n%s" % (service.state, service.get_logs()))
            notes.append("deployment: Healthy %.1f s after Model.deploy" % deploy_s)
            key = service.get_keys()[0]
            headers = {"Content-Type": "application/json", "Authorization": "Bearer " + key}
            first = service.run(bodies[0])
            kya = {c: load(service.scoring_uri, headers, bodies, c, args.seconds) for c in concurrencies}
        finally:
            try:
                service.delete()
            except Exception as exc:
                sys.stderr.write("bench: could not delete the service: %s\n" % exc)

        bodies_file = os.path.join(tmp, "bodies.json")
        with open(bodies_file, "w") as f:
            json.dump(bodies, f)
        r = subprocess.run([env_python, "-c", PREDICT_SCRIPT, model_file, bodies_file, str(args.predict_n)],
                           capture_output=True, text=True, timeout=300)
        line = next((l for l in r.stdout.splitlines() if l.startswith("BENCH-PREDICT ")), None)
        if r.returncode != 0 or not line:
            raise SystemExit("bench: in-process predict failed:\n%s" % (r.stderr or r.stdout))
        pred = json.loads(line[len("BENCH-PREDICT "):])

        if args.skip_mlflow:
            ml, ml_note = None, "--skip-mlflow"
        else:
            ml, ml_note = mlflow_serve(env_python, model_file, tmp, bodies_x, concurrencies, args.seconds)

    def ms(x):
        return "n/a" if x is None else "%.2f" % (x * 1000)
    print()
    print("Model serving: single MNIST images, Keras 784-300-100-10 MLP on JAX, HTTP keep-alive, "
          "%.0f s per load (same machine, same invocation)" % args.seconds)
    for n in notes:
        print(n)
    print("first answer from the service: %s" % (first,))
    print()
    rows = []
    for c in concurrencies:
        k = kya[c]
        ratio = k["rps"] / ml[c]["rps"] if ml and ml[c]["rps"] else None
        rows.append(["kyanite LocalWebservice (auth)", c, "{:,}".format(k["n"]), k["errors"], ms(k["p50"]),
                     ms(k["p99"]), "{:,.0f}".format(k["rps"]), "%.2fx" % ratio if ratio else "n/a"])
        if ml:
            m = ml[c]
            rows.append(["MLflow models serve", c, "{:,}".format(m["n"]), "all" if m["errors"] is None else m["errors"],
                         ms(m["p50"]), ms(m["p99"]), "{:,.0f}".format(m["rps"]), "1.00x"])
    for name, label in (("predict", "in-process model.predict, 1 image"),
                        ("score_run", "in-process score.run(raw), 1 image")):
        lat = pred[name]
        rows.append([label, 1, "{:,}".format(len(lat)), 0, ms(C.percentile(lat, 50)), ms(C.percentile(lat, 99)),
                     "{:,.0f}".format(len(lat) / sum(lat)), ""])
    print(C.table(["server", "concurrency", "requests", "errors", "p50 ms", "p99 ms", "req/s", "vs MLflow"], rows))
    print("(latency: client send -> answer read; in-process rows: the call alone, no HTTP, in %s)" % env_python)
    print("MLflow: %s" % ml_note)
    for name, res in (("kyanite", kya), ("MLflow", ml or {})):
        for c in concurrencies:
            if c in res and res[c].get("first_error"):
                print("  %s at concurrency %d, first error: %s" % (name, c, res[c]["first_error"][-300:]))
    print("(errors: non-200 answers in the window, not timed and not counted in req/s)")

    p50_1 = kya[concurrencies[0]]["p50"]
    p50_ok = p50_1 < TARGET_P50_S
    ratios = {c: kya[c]["rps"] / ml[c]["rps"] for c in concurrencies if ml and ml[c]["rps"]}
    ml_dead = [c for c in concurrencies if ml and not ml[c]["rps"]]
    ratio_ok = all(r >= TARGET_RATIO for r in ratios.values()) if ratios else None
    print()
    print("SUMMARY serving: p50 %.2f ms at concurrency %d (target < %.0f ms %s); req/s %s; MLflow req/s %s "
          "(target >= %.0fx: %s%s); in-process predict p50 %.2f ms [%.0f s]" % (
              p50_1 * 1000, concurrencies[0], TARGET_P50_S * 1000, "MET" if p50_ok else "MISSED",
              ", ".join("c=%d %.0f" % (c, kya[c]["rps"]) for c in concurrencies),
              ", ".join("c=%d %.0f" % (c, ml[c]["rps"]) for c in concurrencies) if ml else "n/a (skipped: see the MLflow line)",
              TARGET_RATIO, {True: "MET", False: "MISSED", None: "not measured"}[ratio_ok],
              "; MLflow answered no request at c=%s" % ",".join(map(str, ml_dead)) if ml_dead else "",
              C.percentile(pred["predict"], 50) * 1000, time.perf_counter() - t_all))
    return 0 if ((p50_ok and ratio_ok is not False) or not args.check) else 1


if __name__ == "__main__":
    sys.exit(main())
