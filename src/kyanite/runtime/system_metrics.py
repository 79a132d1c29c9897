"""System metrics of a running script: CPU, memory and GPU, sampled by the run host.

Standard library only, Python 3.6+ (``psutil`` and ``pynvml`` are used when importable).

Every ``KYANITE_SYSTEM_METRICS_INTERVAL`` seconds (default 5; 0 turns it off) a daemon
thread of the run host records, into the run's metrics spool (so they ship with the points
``run.log`` writes):

- ``system/cpu_percent``: CPU time of the script's whole process tree over the interval,
  in percent of one core (200 = two busy cores);
- ``system/memory_mb``: resident memory of the tree, in MiB;
- ``system/gpu<N>/utilization`` (percent) and ``system/gpu<N>/memory_mb`` (MiB used on the
  device, by any process), for each GPU the run sees, ``N`` counting them as the script
  does (``cuda:N``: the devices of its ``CUDA_VISIBLE_DEVICES``, in that order; all of them
  when it is unset). GPUs need ``pynvml`` (``nvidia-ml-py``) and a driver: otherwise there
  are none, silently.

The tree is read through ``psutil`` when importable, else ``/proc``; elsewhere (no psutil,
no ``/proc``) CPU and memory are skipped and the log says so once.

``start_for_run(run_id, spool, pids, env, log)`` is what the host calls; ``stop()`` ends the
thread. ``SystemSampler.sample()`` takes one sample (returns ``{name: value}``).
"""

import os
import threading
import time

PREFIX = "system/"


def _clock_ticks():
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


class _ProcReader(object):
    """The process tree from ``/proc`` (Linux): ``{(pid, start): cpu seconds}`` and RSS bytes."""

    def __init__(self):
        self.tck = _clock_ticks()
        self.page = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096

    @staticmethod
    def available():
        return os.path.isdir("/proc/self") and os.path.exists("/proc/self/stat")

    def _stat(self, pid):
        with open("/proc/%d/stat" % pid, "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        # fields[0] is field 3 (state): ppid 4, utime 14, stime 15, starttime 22, rss 24
        return int(fields[1]), int(fields[11]) + int(fields[12]), fields[19], int(fields[21])

    def tree(self, roots):
        stats = {}
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                stats[int(name)] = self._stat(int(name))
            except (OSError, ValueError, IndexError):
                continue  # gone meanwhile
        kids = {}
        for pid, st in stats.items():
            kids.setdefault(st[0], []).append(pid)
        cpu, rss, todo, seen = {}, 0, [p for p in roots if p in stats], set()
        while todo:
            pid = todo.pop()
            if pid in seen:
                continue
            seen.add(pid)
            _ppid, ticks, start, pages = stats[pid]
            cpu[(pid, start)] = ticks / self.tck
            rss += pages * self.page
            todo.extend(kids.get(pid, ()))
        return cpu, rss


class _PsutilReader(object):
    def __init__(self, psutil):
        self.psutil = psutil

    def tree(self, roots):
        ps = self.psutil
        procs = []
        for pid in roots:
            try:
                p = ps.Process(pid)
                procs.append(p)
                procs.extend(p.children(recursive=True))
            except ps.Error:
                continue
        cpu, rss, seen = {}, 0, set()
        for p in procs:
            if p.pid in seen:
                continue
            seen.add(p.pid)
            try:
                with p.oneshot():
                    t = p.cpu_times()
                    cpu[(p.pid, p.create_time())] = t.user + t.system
                    rss += p.memory_info().rss
            except ps.Error:
                continue
        return cpu, rss


def _reader(backend=None):
    """The tree reader: ``backend`` "psutil", "proc" or None (psutil if importable)."""
    if backend in (None, "psutil"):
        try:
            import psutil
            return _PsutilReader(psutil)
        except ImportError:
            if backend == "psutil":
                raise
    if _ProcReader.available():
        return _ProcReader()
    return None


def visible_gpus(cuda_visible_devices, count):
    """The devices a process sees, as NVML indices (ints) or UUID prefixes (str), in the
    order it numbers them; ``count`` is how many the machine has."""
    if cuda_visible_devices is None:
        return list(range(count))
    out = []
    for item in cuda_visible_devices.split(","):
        item = item.strip()
        if not item:
            break
        if item.lstrip("-").isdigit():
            i = int(item)
            if i < 0 or i >= count:
                break  # CUDA stops at the first invalid entry
            out.append(i)
        else:
            out.append(item)  # GPU-<uuid> or MIG-<uuid>
    return out


class _Gpus(object):
    """NVML handles of the run's GPUs; ``read()`` -> ``{name: value}``."""

    def __init__(self, cuda_visible_devices):
        import pynvml
        pynvml.nvmlInit()
        self.nvml = pynvml
        count = pynvml.nvmlDeviceGetCount()
        self.handles = []
        for item in visible_gpus(cuda_visible_devices, count):
            try:
                if isinstance(item, int):
                    h = pynvml.nvmlDeviceGetHandleByIndex(item)
                else:
                    h = pynvml.nvmlDeviceGetHandleByUUID(item)
            except Exception:
                break
            self.handles.append(h)

    def read(self):
        out = {}
        for n, h in enumerate(self.handles):
            try:
                out["%sgpu%d/utilization" % (PREFIX, n)] = float(self.nvml.nvmlDeviceGetUtilizationRates(h).gpu)
            except Exception:
                pass
            try:
                out["%sgpu%d/memory_mb" % (PREFIX, n)] = self.nvml.nvmlDeviceGetMemoryInfo(h).used / 1048576.0
            except Exception:
                pass
        return out

    def close(self):
        try:
            self.nvml.nvmlShutdown()
        except Exception:
            pass


def open_gpus(cuda_visible_devices):
    """``_Gpus`` for the run, or None (no pynvml, no driver, no device)."""
    try:
        gpus = _Gpus(cuda_visible_devices)
    except Exception:
        return None
    if not gpus.handles:
        gpus.close()
        return None
    return gpus


class SystemSampler(object):
    """Samples the tree under ``pids`` (a list, or a callable returning one) every
    ``interval`` s in a daemon thread and calls ``emit(name, value)`` per metric.

    ``backend``: "psutil", "proc" or None (psutil if importable); ``gpus``: an
    ``open_gpus`` result or None. ``log(line)`` gets one line when CPU and memory cannot
    be read here."""

    def __init__(self, pids, emit, interval=5.0, gpus=None, backend=None, log=None):
        self._pids = pids if callable(pids) else (lambda: list(pids))
        self.emit, self.interval, self.gpus = emit, float(interval), gpus
        self.reader = _reader(backend)
        if self.reader is None and log is not None:
            log("system metrics: CPU and memory are not sampled here (neither psutil nor /proc)")
        self._prev = {}
        self._t = None
        self._stop = threading.Event()
        self._thread = None
        self.cpu_seconds = 0.0  # CPU time this sampler's thread spent sampling (``time.thread_time``)
        self.samples = 0

    def sample(self):
        """One sample: ``{name: value}``. CPU percent needs a previous sample (the first one
        only sets the baseline, unless processes started since then)."""
        out = {}
        now = time.time()
        if self.reader is not None:
            cpu, rss = self.reader.tree(self._pids())
            if self._t is not None and now > self._t:
                used = sum(max(0.0, v - self._prev.get(k, 0.0)) for k, v in cpu.items())
                out[PREFIX + "cpu_percent"] = 100.0 * used / (now - self._t)
            if cpu:
                out[PREFIX + "memory_mb"] = rss / 1048576.0
            self._prev = cpu
        self._t = now
        if self.gpus is not None:
            out.update(self.gpus.read())
        return out

    def start(self):
        self.sample()  # the baseline
        self._thread = threading.Thread(target=self._loop, name="kyanite-system-metrics", daemon=True)
        self._thread.start()
        return self

    def _loop(self):
        clock = getattr(time, "thread_time", None)
        while not self._stop.wait(self.interval):
            c0 = clock() if clock else 0.0
            try:
                for name, value in sorted(self.sample().items()):
                    self.emit(name, value)
            except Exception:
                pass  # the tree ended meanwhile, a GPU went away: the next sample tries again
            if clock:
                self.cpu_seconds += clock() - c0
            self.samples += 1

    def stop(self):
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self.gpus is not None:
            self.gpus.close()


class _RunSampler(object):
    def __init__(self, sampler, sink):
        self.sampler, self.sink = sampler, sink

    def stop(self):
        self.sampler.stop()
        try:
            os.close(self.sink._fd)
        except OSError:
            pass


def start_for_run(run_id, spool, pids, env, log, interval=None):
    """Start sampling the script's tree into the run's spool; returns an object with
    ``stop()``, or None when ``KYANITE_SYSTEM_METRICS_INTERVAL`` is 0."""
    from kyanite import settings
    from kyanite.runtime._sinks import SpoolSink
    if interval is None:
        interval = settings.get("KYANITE_SYSTEM_METRICS_INTERVAL")
    if not interval or interval <= 0:
        return None
    sink = SpoolSink(spool)
    sampler = SystemSampler(pids, lambda name, value: sink.scalar(run_id, name, value), interval,
                            gpus=open_gpus((env or {}).get("CUDA_VISIBLE_DEVICES")), log=log)
    return _RunSampler(sampler.start(), sink)
