"""The sweep logic stands alone: the package and the server's sweep controller load
without the SDK (``kyanite.core``, ``kyanite.train``) or the in-script runtime's Run."""

import subprocess
import sys

import pytest

FORBIDDEN = ("kyanite.core", "kyanite.train", "kyanite.runtime.run")


@pytest.mark.parametrize("module", ["kyanite.sweep", "kyanite.server.sweeps", "kyanite.server.routes.sweeps"])
def test_importing_does_not_load_the_sdk(module):
    code = ("import sys, %s\n"
            "bad = sorted(m for m in sys.modules if m.startswith(%r))\n"
            "print('\\n'.join(bad))" % (module, FORBIDDEN))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", "%s imports %s" % (module, out.stdout.split())


def test_the_controller_samples_without_the_sdk():
    code = ("import sys\n"
            "from kyanite.server import sweeps\n"
            "from kyanite.sweep import GridParameterSampling, check_spec, choice\n"
            "spec = check_spec({'sampling': GridParameterSampling({'--a': choice(1, 2)}).to_json(),\n"
            "                   'primaryMetricName': 'acc', 'primaryMetricGoal': 'maximize'})\n"
            "spec['seed'] = 1\n"
            "assert sweeps._SweepState(spec).sampler.sample(1, []) == {'--a': 2}\n"
            "print('\\n'.join(sorted(m for m in sys.modules if m.startswith(%r))))" % (FORBIDDEN,))
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", "the sweep controller loaded %s" % out.stdout.split()
