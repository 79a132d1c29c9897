"""Write the v1-style compatibility notebooks of this folder (run it after editing a cell:
``python tests/compat/notebooks/make_notebooks.py``).

Each notebook follows one area of the SDK v1 sample notebooks with kyanite's import prefix:
the v1 preamble cells, then the area's calls, each cell asserting what it must produce.
A cell's ``metadata.kyanite_compat.expect`` lists strings its printed output must contain;
tests/compat/test_v1_notebooks.py runs the notebooks cell by cell and checks both.
"""

import copy
import os
import textwrap

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))


def cell(source, *expect):
    c = nbformat.v4.new_code_cell(textwrap.dedent(source).strip("\n"))
    if expect:
        c.metadata["kyanite_compat"] = {"expect": list(expect)}
    return c


def md(text):
    return nbformat.v4.new_markdown_cell(textwrap.dedent(text).strip("\n"))


PREAMBLE = [
    cell("""
        import kyanite.core
        print("SDK version:", kyanite.core.VERSION)
    """, "SDK version: "),
    cell("""
        from kyanite.telemetry import set_diagnostics_collection
        set_diagnostics_collection(send_diagnostics=True)
    """),
    cell("""
        from kyanite.core import Workspace
        Workspace.create(name='compat', path='.', exist_ok=True, show_output=False).write_config()
        ws = Workspace.from_config()
        print(ws.name, ws.resource_group, ws.location, ws.subscription_id, sep='\\n')
    """, "compat\n", "local\nlocal"),
]

#: the scikit-learn environment every run here uses (one uv build, then cached)
SKLEARN_ENV = cell("""
    from kyanite.core import Environment
    from kyanite.core.conda_dependencies import CondaDependencies
    env = Environment('sklearn-env')
    env.python.conda_dependencies = CondaDependencies.create(
        conda_packages=['scikit-learn', 'numpy'], pip_packages=['azureml-defaults', 'joblib'])
    print(env.python.conda_dependencies.conda_packages, env.python.conda_dependencies.pip_packages)
""", "['scikit-learn', 'numpy'] ['azureml-defaults', 'joblib']")

TRAIN_PY = cell("""
    %%writefile train/train.py
    import argparse
    import os

    import joblib
    import numpy as np
    from sklearn.datasets import load_digits
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split

    from kyanite.core import Run

    parser = argparse.ArgumentParser()
    parser.add_argument('--C', type=float, default=1.0)
    args = parser.parse_args()

    run = Run.get_context()
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0)
    clf = LogisticRegression(C=args.C, max_iter=500).fit(X_train, y_train)
    acc = float(np.mean(clf.predict(X_test) == y_test))
    run.log('C', args.C)
    run.log('accuracy', acc)
    print('test accuracy:', acc)
    os.makedirs('outputs', exist_ok=True)
    joblib.dump(clf, 'outputs/model.pkl')
""", "Writing train/train.py")

NOTEBOOKS = {}

NOTEBOOKS["train-local"] = [md("# Train a scikit-learn model on local compute")] + PREAMBLE + [
    SKLEARN_ENV,
    cell("""
        import os
        os.makedirs('train', exist_ok=True)
    """),
    TRAIN_PY,
    cell("""
        from kyanite.core import Experiment, ScriptRunConfig
        src = ScriptRunConfig(source_directory='train', script='train.py', arguments=['--C', 0.5],
                              compute_target='local', environment=env)
        run = Experiment(workspace=ws, name='train-local').submit(src)
        run.wait_for_completion(show_output=True)
        assert run.get_status() == 'Completed'
    """, "test accuracy:"),
    cell("""
        metrics = run.get_metrics()
        print(sorted(metrics))
        assert metrics['C'] == 0.5 and metrics['accuracy'] > 0.9
    """, "['C', 'accuracy']"),
    cell("""
        names = run.get_file_names()
        print(names)
        assert 'outputs/model.pkl' in names
    """, "outputs/model.pkl"),
    cell("""
        import joblib
        from sklearn.datasets import load_digits
        run.download_file(name='outputs/model.pkl', output_file_path='model.pkl')
        X, y = load_digits(return_X_y=True)
        clf = joblib.load('model.pkl')
        print('downloaded model accuracy > 0.9:', (clf.predict(X / 16.0) == y).mean() > 0.9)
    """, "downloaded model accuracy > 0.9: True"),
    cell("""
        model = run.register_model(model_name='sklearn-digits', model_path='outputs/model.pkl',
                                   tags={'area': 'digits'}, properties={'accuracy': metrics['accuracy']})
        print(model.name, model.id, model.version, sep='\\t')
        assert model.run_id == run.id and model.tags == {'area': 'digits'}
    """, "sklearn-digits\tsklearn-digits:1\t1"),
]

NOTEBOOKS["logging-api"] = [md("# The logging API")] + PREAMBLE + [
    cell("""
        from kyanite.core import Experiment
        exp = Experiment(workspace=ws, name='logging-api')
        run = exp.start_logging()
        print(run.get_status())
    """, "Running"),
    cell("""
        run.log('alpha', 0.5)
        run.log('message', 'hello world')
        for i in range(3):
            run.log('loss', 1.0 / (i + 1))
        run.log_list('accuracies', [0.5, 0.7, 0.9])
        run.log_row('per_epoch', epoch=1, loss=0.3)
        run.log_row('per_epoch', epoch=2, loss=0.2)
        run.log_table('results', {'k': [1, 2, 3], 'score': [0.1, 0.2, 0.3]})
    """),
    cell("""
        import struct, zlib
        def tiny_png(path):
            def chunk(kind, data):
                return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data))
            raw = b''.join(b'\\x00' + bytes([x * 60 % 256 for x in range(4)]) for _ in range(4))
            with open(path, 'wb') as f:
                f.write(b'\\x89PNG\\r\\n\\x1a\\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 4, 4, 8, 0, 0, 0, 0))
                        + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))
        tiny_png('gradient.png')
        run.log_image('gradient', path='gradient.png', description='a 4x4 gradient')
    """),
    cell("""
        run.tag('team', 'vision')
        run.set_tags({'stage': 'dev'})
        run.add_properties({'dataset': 'digits'})
        print(run.get_tags(), run.get_properties())
        assert run.get_tags()['team'] == 'vision' and run.get_properties()['dataset'] == 'digits'
    """, "'team': 'vision'", "'dataset': 'digits'"),
    cell("""
        child = run.child_run(name='child-1')
        child.log('child_metric', 1)
        child.complete()
        children = list(run.get_children())
        print(len(children), children[0].get_metrics())
        assert children[0].id == child.id
    """, "1 {'child_metric': 1"),
    cell("""
        run.complete()
        metrics = run.get_metrics()
        for name in sorted(metrics):
            print(name, metrics[name])
        assert run.get_status() == 'Completed'
        assert metrics['alpha'] == 0.5 and metrics['message'] == 'hello world'
        assert metrics['loss'] == [1.0, 0.5, 1.0 / 3]
        assert metrics['accuracies'] == [0.5, 0.7, 0.9]
        assert metrics['per_epoch'] == {'epoch': [1, 2], 'loss': [0.3, 0.2]}
        assert metrics['results'] == {'k': [1, 2, 3], 'score': [0.1, 0.2, 0.3]}
        assert metrics['gradient'] in run.get_file_names()  # the image, kept with the run
    """, "alpha 0.5", "message hello world"),
    cell("""
        other = exp.start_logging()
        other.tag('team', 'speech')
        other.add_properties({'dataset': 'audio'})
        other.complete()
        by_tag = [r.id for r in exp.get_runs(tags={'team': 'vision'})]
        by_prop = [r.id for r in exp.get_runs(properties={'dataset': 'audio'})]
        by_key = [r.id for r in exp.get_runs(tags='team')]
        print(len(by_tag), len(by_prop), len(by_key))
        assert by_tag == [run.id] and by_prop == [other.id] and by_key == [other.id, run.id]
    """, "1 1 2"),
]

NOTEBOOKS["manage-runs"] = [md("# Managing runs")] + PREAMBLE + [
    cell("""
        import os
        from kyanite.core import Environment, Experiment, Run, ScriptRunConfig
        exp = Experiment(workspace=ws, name='manage-runs')
        env = Environment.get(ws, 'AzureML-Minimal')
        os.makedirs('scripts', exist_ok=True)
        with open('scripts/hello.py', 'w') as f:
            f.write("from kyanite.core import Run\\nprint('hello from the run')\\nRun.get_context().log('x', 1)\\n")
        with open('scripts/slow.py', 'w') as f:
            f.write("import time\\ntime.sleep(120)\\n")
        print(env.name)
    """, "AzureML-Minimal"),
    cell("""
        run = exp.submit(ScriptRunConfig(source_directory='scripts', script='hello.py', environment=env))
        run.display_name = 'first-run'
        run.wait_for_completion(show_output=True)
        details = run.get_details()
        print(details['status'], details['runId'] == run.id, run.display_name)
        assert details['target'] == 'local'
    """, "hello from the run", "Completed True first-run"),
    cell("""
        slow = exp.submit(ScriptRunConfig(source_directory='scripts', script='slow.py', environment=env))
        slow.cancel()
        slow.wait_for_completion(raise_on_error=False)
        print(slow.get_status())
    """, "Canceled"),
    cell("""
        failed = exp.start_logging()
        failed.fail(error_details='it went wrong')
        done = exp.start_logging()
        done.complete()
        print(failed.get_status(), done.get_status())
    """, "Failed Completed"),
    cell("""
        parent = exp.start_logging()
        children = parent.create_children(count=3)
        for i, c in enumerate(children):
            c.log('index', i)
            c.complete()
        parent.complete()
        print(len(list(parent.get_children())), [c.get_status() for c in children])
    """, "3 ['Completed', 'Completed', 'Completed']"),
    cell("""
        all_runs = list(Run.list(exp))
        completed = list(Run.list(exp, status='Completed'))
        interactive = list(Run.list(exp, type='interactive'))
        with_children = list(Run.list(exp, include_children=True))
        print(len(all_runs), len(completed), len(interactive), len(with_children))
        assert all_runs[-1].id == run.id  # newest first
    """, "5 3 3 8"),
    cell("""
        import zipfile
        path = run.restore_snapshot(path='snapshot')
        print(sorted(zipfile.ZipFile(path).namelist()))
    """, "['hello.py', 'slow.py']"),
    cell("""
        logs = run.get_all_logs(destination='run-logs')
        print([os.path.relpath(p, 'run-logs') for p in logs])
        assert any('hello from the run' in open(p).read() for p in logs)
    """, "user_logs/std_log.txt"),
]

NOTEBOOKS["environments"] = [md("# Using environments")] + PREAMBLE + [
    cell("""
        from kyanite.core import Environment
        from kyanite.core.conda_dependencies import CondaDependencies
        curated = Environment.get(workspace=ws, name='AzureML-Minimal')
        print(curated.name, curated.version)
    """, "AzureML-Minimal 1"),
    cell("""
        envs = Environment.list(workspace=ws)
        for name in envs:
            if name.startswith('AzureML'):
                print(name)
    """, "AzureML-Minimal\n", "AzureML-sklearn-1.5-py311-cpu"),
    cell("""
        myenv = Environment(name='myenv')
        myenv.python.conda_dependencies = CondaDependencies.create(
            conda_packages=['scikit-learn', 'numpy'], pip_packages=['azureml-defaults', 'joblib'])
        myenv.docker.enabled = True
        myenv.docker.base_image = 'mcr.microsoft.com/azureml/openmpi3.1.2-ubuntu18.04'
        myenv.docker.shm_size = '1g'
        myenv.docker.base_image_registry.address = 'myregistry.azurecr.io'
        myenv.environment_variables = {'MY_SETTING': 'on'}
        myenv.register(workspace=ws)
        print(myenv.name, myenv.version)
    """, "myenv 1"),
    cell("""
        myenv.python.conda_dependencies.add_pip_package('threadpoolctl')
        myenv.register(workspace=ws)
        print(myenv.version)
    """, "2"),
    cell("""
        first = Environment.get(workspace=ws, name='myenv', version='1')
        latest = Environment.get(workspace=ws, name='myenv')
        print(first.version, first.python.conda_dependencies.pip_packages)
        print(latest.version, latest.python.conda_dependencies.pip_packages)
        print(first.docker.enabled, first.docker.base_image, first.docker.shm_size,
              first.docker.base_image_registry.address, first.environment_variables)
        assert 'myenv' in Environment.list(ws) and ws.environments['myenv'].version == '2'
    """, "1 ['azureml-defaults', 'joblib']", "2 ['azureml-defaults', 'joblib', 'threadpoolctl']",
         "True mcr.microsoft.com/azureml/openmpi3.1.2-ubuntu18.04 1g myregistry.azurecr.io {'MY_SETTING': 'on'}"),
    cell("""
        import os
        from kyanite.core import Experiment, ScriptRunConfig
        os.makedirs('envcheck', exist_ok=True)
        with open('envcheck/check.py', 'w') as f:
            f.write("import os, sklearn\\nprint('sklearn', sklearn.__version__, os.environ['MY_SETTING'])\\n")
        run = Experiment(ws, 'environments').submit(
            ScriptRunConfig(source_directory='envcheck', script='check.py', environment=first))
        run.wait_for_completion(show_output=True)
    """, "sklearn 1.", " on\n", "Docker settings do not apply"),
    cell("""
        myenv.save_to_directory(path='saved-env', overwrite=True)
        print(sorted(os.listdir('saved-env')))
        loaded = Environment.load_from_directory(path='saved-env')
        print(loaded.name, loaded.version, loaded.python.conda_dependencies.pip_packages, loaded.docker.shm_size)
    """, "['azureml_environment.json', 'conda_dependencies.yml']",
         "myenv 2 ['azureml-defaults', 'joblib', 'threadpoolctl'] 1g"),
    cell("""
        first.build_local(workspace=ws)
        build = first.build(workspace=ws)
        build.wait_for_completion(show_output=True)
        print(build.status)
    """, "Succeeded"),
    md("Bad input gets a clear error."),
    cell("""
        try:
            Environment.get(workspace=ws, name='AzureML-Tutorial')
            raise AssertionError('an unknown curated name must fail')
        except Exception as e:
            message = str(e)
        print(message)
        assert all(name in message for name in envs if name.startswith('AzureML-'))
    """, "'AzureML-Tutorial' does not exist", "AzureML-Minimal"),
    cell("""
        gpu_env = Environment('gpu-env')
        gpu_env.python.conda_dependencies = CondaDependencies.create(
            conda_packages=['cudatoolkit=10.1', 'scikit-learn'])
        try:
            Experiment(ws, 'environments').submit(
                ScriptRunConfig(source_directory='envcheck', script='check.py', environment=gpu_env))
            raise AssertionError('cudatoolkit must be refused')
        except Exception as e:
            message = str(e)
        print(message)
    """, "'cudatoolkit' has no PyPI form", "CUDA comes with the GPU wheels"),
]

NOTEBOOKS["deploy-local"] = [md("# Deploy a model locally")] + PREAMBLE + [
    cell("""
        import joblib
        from sklearn.datasets import load_digits
        from sklearn.linear_model import LogisticRegression
        X, y = load_digits(return_X_y=True)
        X = X / 16.0
        joblib.dump(LogisticRegression(max_iter=500).fit(X[:1200], y[:1200]), 'sklearn_digits.pkl')
    """),
    cell("""
        from kyanite.core import Model
        model = Model.register(workspace=ws, model_path='sklearn_digits.pkl', model_name='digits-local',
                               tags={'data': 'digits'}, description='logistic regression on digits')
        print(model.name, model.version, model.description)
    """, "digits-local 1 logistic regression on digits"),
    SKLEARN_ENV,
    cell("""
        %%writefile score.py
        import json

        import joblib
        import numpy as np

        from kyanite.core.model import Model

        def init():
            global model
            model = joblib.load(Model.get_model_path(model_name='digits-local'))
            print('model loaded')

        def run(raw_data):
            data = np.array(json.loads(raw_data)['data'])
            return model.predict(data).tolist()
    """, "Writing score.py"),
    cell("""
        import socket
        from kyanite.core.model import InferenceConfig
        from kyanite.core.webservice import LocalWebservice, Webservice
        with socket.socket() as s:  # v1's samples take a fixed port such as 6789
            s.bind(('127.0.0.1', 0))
            port = s.getsockname()[1]
        inference_config = InferenceConfig(entry_script='score.py', environment=env)
        deployment_config = LocalWebservice.deploy_configuration(port=port)
        service = Model.deploy(ws, 'digits-svc', [model], inference_config, deployment_config)
        service.wait_for_deployment(show_output=True)
        print(service.state, service.port == port)
    """, "Healthy True"),
    cell("""
        import json
        sample = X[1500:1505]
        result = service.run(input_data=bytes(json.dumps({'data': sample.tolist()}), encoding='utf-8'))
        print(result)
        assert len(result) == 5 and sum(int(a == b) for a, b in zip(result, y[1500:1505])) >= 4
    """),
    cell("""
        print('model loaded' in service.get_logs())
    """, "True"),
    cell("""
        with open('score.py') as f:
            text = f.read()
        with open('score.py', 'w') as f:
            f.write(text.replace('return model.predict(data).tolist()',
                                 "return {'reloaded': model.predict(data).tolist()}"))
        service.reload()
        service.wait_for_deployment()
        print(sorted(service.run(json.dumps({'data': sample.tolist()}))))
    """, "['reloaded']"),
    cell("""
        import os
        os.makedirs('service', exist_ok=True)
    """),
    cell("""
        %%writefile service/score2.py
        import json
        import os

        import joblib
        import numpy as np

        def init():
            global model
            model = joblib.load(os.path.join(os.getenv('AZUREML_MODEL_DIR'), 'sklearn_digits.pkl'))

        def run(raw_data):
            data = np.array(json.loads(raw_data)['data'])
            return {'predictions': model.predict(data).tolist(), 'entry': 'score2'}
    """, "Writing service/score2.py"),
    cell("""
        service.update(models=[model], inference_config=InferenceConfig(
            entry_script='score2.py', source_directory='service', environment=env))
        service.wait_for_deployment()
        print(service.run(json.dumps({'data': sample.tolist()}))['entry'], service.port == port)
    """, "score2 True"),
    cell("""
        print([s.name for s in Webservice.list(ws)])
        service.delete()
        print([s.name for s in Webservice.list(ws)])
    """, "['digits-svc']\n[]"),
]

NOTEBOOKS["hyperdrive"] = [md("# Tune a scikit-learn model with HyperDrive")] + PREAMBLE + [
    SKLEARN_ENV,
    cell("""
        import os
        os.makedirs('train', exist_ok=True)
    """),
    TRAIN_PY,
    cell("""
        from kyanite.core import Experiment, ScriptRunConfig
        from kyanite.train.hyperdrive import (BanditPolicy, GridParameterSampling, HyperDriveConfig,
                                              PrimaryMetricGoal, RandomParameterSampling, choice)
        exp = Experiment(workspace=ws, name='sklearn-sweep')
        src = ScriptRunConfig(source_directory='train', script='train.py', compute_target='local', environment=env)
        ps = RandomParameterSampling({'--C': choice(0.001, 0.1, 10.0)})
        hd = HyperDriveConfig(run_config=src, hyperparameter_sampling=ps,
                              policy=BanditPolicy(evaluation_interval=1, slack_factor=0.2),
                              primary_metric_name='accuracy', primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                              max_total_runs=3, max_concurrent_runs=2)
        hd_run = exp.submit(hd)
        hd_run.wait_for_completion(show_output=True)
        print(hd_run.get_status())
    """, "Completed"),
    cell("""
        best = hd_run.get_best_run_by_primary_metric()
        ranked = hd_run.get_children_sorted_by_primary_metric()
        print(len(ranked), ranked[0]['run_id'] == best.id, sorted(ranked[0]))
        scores = [r['best_primary_metric'] for r in ranked]
        assert scores == sorted(scores, reverse=True)
        assert best.get_metrics()['accuracy'] == scores[0]
        arguments = best.get_details()['runDefinition']['arguments']
        print(arguments)
        assert arguments[arguments.index('--C') + 1] == str(best.get_metrics()['C'])
    """, "3 True ['best_primary_metric', 'hyperparameters', 'run_id', 'status']"),
    cell("""
        model = best.register_model(model_name='digits-best', model_path='outputs/model.pkl')
        print(model.name, model.version)
    """, "digits-best 1"),
    cell("""
        from kyanite.train.estimator import Estimator
        est = Estimator(source_directory='train', entry_script='train.py', compute_target='local',
                        environment_definition=env)
        grid = GridParameterSampling({'--C': choice(0.1, 1.0)})
        hd2 = HyperDriveConfig(estimator=est, hyperparameter_sampling=grid, policy=None,
                               primary_metric_name='accuracy', primary_metric_goal=PrimaryMetricGoal.MAXIMIZE,
                               max_total_runs=4, max_concurrent_runs=2)
        grid_run = exp.submit(hd2)
        grid_run.wait_for_completion()
        import json
        tried = sorted(json.loads(hp)['--C'] for hp in grid_run.get_hyperparameters().values())
        print(grid_run.get_status(), tried)
    """, "Completed [0.1, 1.0]"),
    cell("""
        from kyanite.train.sklearn import SKLearn
        sk = SKLearn(source_directory='train', entry_script='train.py', script_params={'--C': 2.0},
                     compute_target='local', pip_packages=['numpy', 'joblib'])
        sk_run = exp.submit(sk)
        sk_run.wait_for_completion(show_output=True)
        print(sk_run.get_metrics()['C'])
    """, "test accuracy:", "2.0"),
]


def main():
    for name, cells in NOTEBOOKS.items():
        nb = nbformat.v4.new_notebook(cells=copy.deepcopy(cells))
        nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
        nb.metadata["language_info"] = {"name": "python"}
        for i, c in enumerate(nb.cells):
            c["id"] = "%s-%02d" % (name, i)
        nbformat.validate(nb)
        with open(os.path.join(HERE, name + ".ipynb"), "w") as f:
            nbformat.write(nb, f)


if __name__ == "__main__":
    main()
