"""A run's arguments read as typed parameters (kyanite.protocol.arguments)."""

from kyanite.protocol.arguments import parse_arguments, typed


def test_options_values_and_flags():
    assert parse_arguments(["--batch-size", "50", "--lr=0.001", "-x", "1", "--verbose"]) == \
        {"batch_size": 50, "lr": 0.001, "x": 1, "verbose": True}


def test_types_negatives_positionals_and_end_of_options():
    got = parse_arguments(["train.csv", "--shift", "-3", "--eps", "1e-5", "--opt", "adam", "--dry", "--n", 2,
                           "--", "--after", "1"])
    assert got == {"shift": -3, "eps": 1e-5, "opt": "adam", "dry": True, "n": 2}
    assert isinstance(got["shift"], int) and isinstance(got["eps"], float)
    assert parse_arguments(["--a", "1", "--a", "2", "-b=x=y"]) == {"a": 2, "b": "x=y"}
    assert parse_arguments(None) == {} and parse_arguments([]) == {}
    assert typed("3") == 3 and typed("3.5") == 3.5 and typed("1.0.0") == "1.0.0" and typed("nan") == "nan"
