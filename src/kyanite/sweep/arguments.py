"""How sampled hyperparameters reach a child run's script: as command-line arguments.

``child_arguments(arguments, params, resume_from=None)`` is the only entry point the sweep
controller uses; it never drops or reorders the script's own arguments.
"""

__all__ = ["child_arguments", "format_value", "flag_of"]


def flag_of(name):
    """``--batch-size`` stays as it is; ``batch_size`` becomes ``--batch_size``."""
    return name if name.startswith("-") else "--" + name


def format_value(value):
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, float):
        return repr(value)  # the shortest text that reads back as the same float
    return str(value)


def child_arguments(arguments, params, resume_from=None):
    """``arguments`` with each ``--name value`` set: a flag already present gets the sampled
    value (``--name value`` or ``--name=value``), others are appended in parameter order."""
    args = [str(a) for a in arguments]
    pairs = [(flag_of(k), format_value(v)) for k, v in params.items()]
    if resume_from is not None:
        pairs.append(("--resume-from", str(resume_from)))
    for flag, text in pairs:
        for i, a in enumerate(args):
            if a == flag and i + 1 < len(args):
                args[i + 1] = text
                break
            if a.startswith(flag + "="):
                args[i] = flag + "=" + text
                break
        else:
            args += [flag, text]
    return args
