from kyanite.core import Experiment, ScriptRunConfig


def test_submit_logs_metrics_and_keeps_outputs(ws, make_script, current_env):
    src = make_script("""
        import sys
        from kyanite.core import Run
        run = Run.get_context()
        print("args", sys.argv[1:])
        for i in range(3):
            run.log("Accuracy", 0.5 + i / 10)
        run.log("Loss", 0.25)
        open("outputs/model.txt", "w").write("weights")
    """)
    run = Experiment(ws, "smoke").submit(ScriptRunConfig(
        source_directory=str(src), script="train.py", arguments=["--epochs", 3, "--lr", 0.001],
        environment=current_env))
    details = run.wait_for_completion()
    assert details["status"] == "Completed"
    assert run.get_metrics() == {"Accuracy": [0.5, 0.6, 0.7], "Loss": 0.25}
    assert "outputs/model.txt" in run.get_file_names()
    assert details["runDefinition"]["arguments"] == ["--epochs", "3", "--lr", "0.001"]
