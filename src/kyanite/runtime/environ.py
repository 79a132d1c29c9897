"""Which environment variables reach a run host, a run's script and a scoring process.

A server started from a notebook kernel has that kernel's variables (for example
``MPLBACKEND=module://matplotlib_inline.backend_inline``, which makes ``import
matplotlib.pyplot`` fail anywhere else) and maybe secrets of the person who started it. No
script gets them: each process starts from an allow-list, kept here and nowhere else.

- ``host_environment(source)``: what the server (or an executor) gives a run host, which
  builds environments and talks to the server: ``script_environment``'s base plus the
  whole ``PATH``, ``PYTHONPATH`` (so it imports kyanite as the server does) and the
  settings of the tools it runs: ``KYANITE_*``, ``UV_*``, ``PIP_*``, ``XDG_*`` (uv's cache
  location).
- ``script_environment(source, python=None, keep=())``: what a script (or a scoring
  process) starts from, before the run adds its own variables (``KYANITE_RUN_ID``... and
  the environment definition's ``environment_variables``):

  * ``PATH``: the folder of the environment's ``python`` (when given), then
    ``SYSTEM_PATH``;
  * ``HOME``, ``USER``, ``LOGNAME``, ``LANG``, ``LANGUAGE``, ``LC_*``, ``TMPDIR``, ``TZ``
    when set;
  * ``KYANITE_*`` (the server address, the run's token, the run's own variables);
  * proxies (``HTTP_PROXY``, ``HTTPS_PROXY``, ``NO_PROXY``, ``ALL_PROXY``, either case) and
    the CA bundle (``SSL_CERT_FILE``, ``SSL_CERT_DIR``, ``REQUESTS_CA_BUNDLE``): a script
    behind a proxy reaches what the host reaches;
  * the GPU selection (``CUDA_VISIBLE_DEVICES``, ``NVIDIA_VISIBLE_DEVICES``,
    ``ROCR_VISIBLE_DEVICES``, ``HIP_VISIBLE_DEVICES``): which devices a process may use is
    the machine's decision;
  * ``RAY_ADDRESS`` (set by Ray for a job's processes): a script on a Ray target may use the
    cluster itself;
  * the names in ``keep`` (a Ray target's ``env_vars``, which reach the host as
    ``TARGET_ENV_NAMES``).

  Nothing else: not ``PYTHONPATH``, ``LD_LIBRARY_PATH``, ``MPLBACKEND`` or any other
  variable of the process that started the server. A script that needs one sets it in its
  environment's ``environment_variables``.

Standard library only.
"""

import os

__all__ = ["SYSTEM_PATH", "TARGET_ENV_NAMES", "host_environment", "script_environment", "target_env_names"]

#: The system folders a script's PATH ends with.
SYSTEM_PATH = os.pathsep.join(("/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"))

#: The host's variable naming (comma separated) the compute target's env_vars, which a
#: script keeps.
TARGET_ENV_NAMES = "KYANITE_TARGET_ENV_NAMES"

_NAMES = ("HOME", "USER", "LOGNAME", "LANG", "LANGUAGE", "TMPDIR", "TZ",
          "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY",
          "http_proxy", "https_proxy", "no_proxy", "all_proxy",
          "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE",
          "CUDA_VISIBLE_DEVICES", "NVIDIA_VISIBLE_DEVICES", "ROCR_VISIBLE_DEVICES", "HIP_VISIBLE_DEVICES",
          "RAY_ADDRESS")
_PREFIXES = ("LC_", "KYANITE_")
_HOST_NAMES = ("PATH", "PYTHONPATH")
_HOST_PREFIXES = ("UV_", "PIP_", "XDG_")


def _base(source, prefixes, names):
    return dict((k, v) for k, v in source.items() if k in names or k.startswith(prefixes))


def script_environment(source, python=None, keep=()):
    """The variables of ``source`` (a mapping, e.g. ``os.environ``) a script or scoring
    process may start with (see the module's list), with ``PATH`` set to ``python``'s
    folder, then ``SYSTEM_PATH``. A new dict."""
    env = _base(source, _PREFIXES, _NAMES + tuple(keep))
    bin_dir = os.path.dirname(python) if python else None
    env["PATH"] = bin_dir + os.pathsep + SYSTEM_PATH if bin_dir else SYSTEM_PATH
    return env


def host_environment(source):
    """The variables of ``source`` a run host starts with: the script's base (without its
    PATH), the whole ``PATH`` and ``PYTHONPATH``, and ``UV_*``, ``PIP_*``, ``XDG_*``. A new
    dict."""
    return _base(source, _PREFIXES + _HOST_PREFIXES, _NAMES + _HOST_NAMES)


def target_env_names(source):
    """The names a host was told to pass on to its script (``TARGET_ENV_NAMES``)."""
    return tuple(n for n in (source.get(TARGET_ENV_NAMES) or "").split(",") if n)
