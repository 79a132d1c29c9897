"""The compute target config record (kyanite.protocol.compute): what it accepts, what it
refuses and how it names the wrong field."""

import pytest

from kyanite.exceptions import UserErrorException
from kyanite.protocol.compute import MAX_NODES, ComputeConfig, ComputeConfigError, normalize_ray_address


def test_aml_compute_defaults_and_round_trip():
    c = ComputeConfig.from_json({"type": "AmlCompute", "max_nodes": 3})
    assert (c.type, c.executor, c.max_nodes, c.min_nodes, c.vm_size) == ("AmlCompute", "local", 3, 0, "")
    assert c.to_json() == {"type": "AmlCompute", "executor": "local", "max_nodes": 3, "min_nodes": 0,
                           "vm_size": "", "vm_priority": "dedicated", "idle_seconds_before_scaledown": None,
                           "run_as": None, "gpus_per_node": 0}
    assert ComputeConfig.from_json(c.to_json()) == c
    assert ComputeConfig.from_json({"type": "AmlCompute"}).max_nodes == 1
    assert ComputeConfig.from_json({"type": "AmlCompute", "max_nodes": None}).max_nodes == 1
    assert ComputeConfig.from_json({"type": "AmlCompute", "max_nodes": MAX_NODES}).max_nodes == MAX_NODES


def test_what_the_sdk_writes_is_accepted():
    from kyanite.core.compute import AmlCompute, RayCompute
    aml = AmlCompute.provisioning_configuration(vm_size="cpu", max_nodes=4, idle_seconds_before_scaledown=120)
    assert ComputeConfig.from_json(dict(aml.config, type=aml.type)).max_nodes == 4
    ray = RayCompute.attach_configuration(address="127.0.0.1:8265", env_vars={"A": 1}, headers={"X": "y"},
                                          max_concurrent_runs=2, stop_grace_seconds=5)
    c = ComputeConfig.from_json(dict(ray.config, type=ray.type))
    assert (c.executor, c.address, c.max_concurrent_runs, c.env_vars) == ("ray", "http://127.0.0.1:8265", 2, {"A": 1})
    assert "'y'" not in repr(c)  # headers may hold credentials
    assert ComputeConfig.from_json({"type": "local"}).to_json() == {"type": "local", "executor": "local",
                                                                    "run_as": None}


@pytest.mark.parametrize("bad", ["", "a b", "../x", "-x", 5, ["u"], "x" * 40])
def test_a_bad_run_as_is_refused_naming_the_field(bad):
    with pytest.raises(ComputeConfigError) as info:
        ComputeConfig.from_json({"type": "AmlCompute", "run_as": bad})
    assert info.value.field == "run_as" and "an OS user name" in info.value.message
    assert ComputeConfig.from_json({"type": "AmlCompute", "run_as": "kyanite-run"}).run_as == "kyanite-run"


@pytest.mark.parametrize("bad", ["abc", -5, 0, 10 ** 9, [2], 2.5, True, {"n": 1}])
def test_bad_max_nodes_is_refused_naming_the_field(bad):
    with pytest.raises(ComputeConfigError) as info:
        ComputeConfig.from_json({"type": "AmlCompute", "max_nodes": bad})
    assert info.value.field == "max_nodes"
    assert "'max_nodes'" in info.value.message and "1 to %d" % MAX_NODES in info.value.message
    assert isinstance(info.value, UserErrorException) and isinstance(info.value, ValueError)


@pytest.mark.parametrize("data,field,words", [
    ({"type": "AmlCompute", "min_nodes": 3, "max_nodes": 2}, "min_nodes", "must not exceed"),
    ({"type": "AmlCompute", "min_nodes": -1}, "min_nodes", "whole number"),
    ({"type": "AmlCompute", "vm_size": 5}, "vm_size", "a string"),
    ({"type": "AmlCompute", "idle_seconds_before_scaledown": "PT5M"}, "idle_seconds_before_scaledown", "seconds"),
    ({"type": "AmlCompute", "max_node": 2}, "max_node", "Unknown AmlCompute config field"),
    ({"type": "AmlCompute", "executor": "ray"}, "executor", "'local' executor"),
    ({"type": "Kubernetes"}, "type", "Unknown compute target type"),
    ({"max_nodes": 2}, "type", "Unknown compute target type"),
    ({"type": "RayCompute"}, "address", "required"),
    ({"type": "RayCompute", "address": "ray://h:10001"}, "address", "Ray Client address"),
    ({"type": "RayCompute", "address": "h:8265", "max_concurrent_runs": 0}, "max_concurrent_runs", "1 to"),
    ({"type": "RayCompute", "address": "h:8265", "env_vars": {"A": [1]}}, "env_vars", "names to strings"),
    ({"type": "RayCompute", "address": "h:8265", "headers": "token"}, "headers", "header names"),
    ({"type": "RayCompute", "address": "h:8265", "autoscaling": "yes"}, "autoscaling", "true or false"),
    ({"type": "RayCompute", "address": "h:8265", "server_url": "server:7000"}, "server_url", "http(s)://"),
    ({"type": "RayCompute", "address": "h:8265", "stop_grace_seconds": -1}, "stop_grace_seconds", "0 or more"),
    ({"type": "RayCompute", "address": "h:8265", "default_cpus_per_process": 0}, "default_cpus_per_process", "above 0"),
    ("max_nodes=2", "config", "JSON object"),
])
def test_bad_fields_are_named(data, field, words):
    with pytest.raises(ComputeConfigError) as info:
        ComputeConfig.from_json(data)
    assert info.value.field == field and words in info.value.message, info.value.message


def test_ray_addresses():
    assert normalize_ray_address(" 127.0.0.1:8265/ ") == "http://127.0.0.1:8265"
    assert normalize_ray_address("https://head:443") == "https://head:443"
    for bad in ("", None, "ray://head:10001", "ftp://head:21"):
        with pytest.raises(ComputeConfigError):
            normalize_ray_address(bad)
