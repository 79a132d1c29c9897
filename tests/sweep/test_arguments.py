"""kyanite.sweep.arguments: sampled values in a child run's command line."""

from kyanite.sweep.arguments import child_arguments


def test_sampled_values_go_into_the_arguments():
    args = child_arguments(["--epochs", "3", "--lr", "0.001", "--seed=1"],
                           {"--lr": 0.25, "--seed": 7, "batch_size": 64, "--flag": True}, resume_from="/x/outputs")
    assert args == ["--epochs", "3", "--lr", "0.25", "--seed=7", "--batch_size", "64", "--flag", "True",
                    "--resume-from", "/x/outputs"]
