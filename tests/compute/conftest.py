"""The Ray cluster of the test session: one single-node head on 127.0.0.1.

Started once, on first use, by ``kyanite.compute.ray_head.LocalRayHead`` (fresh temp
dir, free ports, usage statistics off) with 2 CPUs and a custom resource
``kyanite_test: 4`` whatever the machine has, so the tests see the same cluster
everywhere. It is stopped by the pids it started when the session ends, also after
failures or an interrupt (``ray stop`` is never used: it would end every Ray process of
the machine). Tests that need it are skipped when Ray is not installed.
"""

import atexit

import pytest

RAY_CPUS = 2


@pytest.fixture(scope="session")
def ray_cluster():
    pytest.importorskip("ray.job_submission", reason="Ray is not installed: pip install 'kyanite[ray]'")
    from kyanite.compute.ray_head import LocalRayHead
    head = LocalRayHead.start(num_cpus=RAY_CPUS, resources={"kyanite_test": 4})
    stopped = []

    def stop():
        if not stopped:
            stopped.append(True)
            head.stop()

    atexit.register(stop)  # also when the session is interrupted before teardown
    try:
        yield head
    finally:
        stop()


@pytest.fixture(scope="session")
def ray_jobs(ray_cluster):
    """Ray's own job client for the session cluster (to check what kyanite did)."""
    from ray.job_submission import JobSubmissionClient
    return JobSubmissionClient(ray_cluster.address)
