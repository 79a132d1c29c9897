"""Distributed runs inside the run host: start a run's processes with their rank variables.

The run definition's ``distributed`` section (written by ``ScriptRunConfig`` from a
PyTorch/Mpi/TensorflowConfiguration) says how many processes a run has:
``nodeCount x processCountPerNode``. ``plan()`` turns it into one ``Member`` per process
with the environment that framework expects (see :mod:`kyanite.core.runconfig_distributed`
for the variables); ``ProcessGroup`` starts them in the run's working folder and

- streams each process's output to ``user_logs/std_log_process_<rank>.txt`` on the
  server, and rank 0's output to the driver log as well (so ``wait_for_completion(
  show_output=True)`` shows rank 0, as for a one-process run);
- lets every rank log metrics into the one run: they share the run id and the metric
  spool file (each point is one atomic append);
- stops the others when one process fails (exit code not 0) so a collective operation
  cannot hang the run, and reports the first failure with that rank's last lines in the
  driver log (prefixed ``[rank N]``);
- ends every process tree on cancel or timeout (the host's ``_end_tree``).

Every process of a run starts on the node of its run host, grouped into ``nodeCount``
node groups with their own ``NODE_RANK`` and ``LOCAL_RANK``; ``MASTER_ADDR`` is that node
(``KYANITE_NODE_IP`` when set, else 127.0.0.1). On Ray, a run over several nodes plans
on every node with the same ``master_addr`` and ports and keeps its own node's members
(:mod:`kyanite.runtime.ray_spread`). Standard library only.
"""

import json
import os
import signal
import socket
import subprocess
import threading
import time

from kyanite import settings

PROCESS_LOG = "user_logs/std_log_process_%d.txt"


class Member(object):
    def __init__(self, rank, env):
        self.rank = rank
        self.env = env

    def __repr__(self):
        return "Member(rank=%d)" % self.rank


def free_ports(n, host="127.0.0.1"):
    socks, ports = [], []
    try:
        for _ in range(n):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.bind((host, 0))
            socks.append(s)
            ports.append(s.getsockname()[1])
    finally:
        for s in socks:
            s.close()
    return ports


def plan(dist, base_env, user_env=None, master_addr=None, ports=None):
    """The processes of a distributed run, or ``None`` for a plain one-process run.

    ``dist``: the definition's ``distributed`` section; ``base_env``: the script's
    environment; ``user_env``: the variables the user set on the environment (never
    overridden); ``ports``: ``(MASTER_PORT, JAX coordinator port)`` when chosen elsewhere
    (every node of a run spread over several nodes plans with the same ones)."""
    if not dist:
        return None
    kind = dist.get("type", "PyTorch")
    nodes = max(1, int(dist.get("nodeCount") or 1))
    per_node = max(1, int(dist.get("processCountPerNode") or 1))
    world = nodes * per_node
    user_env = user_env or {}
    addr = master_addr or settings.get("KYANITE_NODE_IP", base_env) or "127.0.0.1"
    master_port, jax_port = ports or free_ports(2, "127.0.0.1" if addr == "127.0.0.1" else "")
    tf_cluster = None
    if kind == "TensorFlow":
        workers = int(dist.get("workerCount") or per_node)
        ps = int(dist.get("parameterServerCount") or 0)
        world = workers + ps
        nodes, per_node = 1, world
        ports = free_ports(world, "127.0.0.1" if addr == "127.0.0.1" else "")
        tf_cluster = {"worker": ["%s:%d" % (addr, p) for p in ports[:workers]]}
        if ps:
            tf_cluster["ps"] = ["%s:%d" % (addr, p) for p in ports[workers:]]
    threads = None
    if "OMP_NUM_THREADS" not in user_env:
        try:
            threads = str(max(1, int(base_env.get("OMP_NUM_THREADS") or os.cpu_count() or 1) // per_node))
        except ValueError:
            threads = None
    members = []
    for rank in range(world):
        node_rank, local_rank = divmod(rank, per_node)
        env = dict(base_env)
        env.update({
            "RANK": str(rank), "WORLD_SIZE": str(world), "LOCAL_RANK": str(local_rank),
            "LOCAL_WORLD_SIZE": str(per_node), "NODE_RANK": str(node_rank), "GROUP_RANK": str(node_rank),
            "MASTER_ADDR": addr, "MASTER_PORT": str(master_port),
            "JAX_COORDINATOR_ADDRESS": "%s:%d" % (addr, jax_port), "JAX_NUM_PROCESSES": str(world),
            "JAX_PROCESS_ID": str(rank), "KYANITE_PROCESS_RANK": str(rank),
            # the SDK v1 names, for scripts written against Azure ML
            "AZUREML_PROCESS_RANK": str(rank), "AZUREML_NODE_COUNT": str(nodes),
        })
        if kind == "PyTorch":
            env["KYANITE_DIST_BACKEND"] = str(dist.get("backend") or "nccl").lower()
        elif kind == "Mpi":
            env.update({
                "OMPI_COMM_WORLD_RANK": str(rank), "OMPI_COMM_WORLD_SIZE": str(world),
                "OMPI_COMM_WORLD_LOCAL_RANK": str(local_rank), "OMPI_COMM_WORLD_LOCAL_SIZE": str(per_node),
                "OMPI_COMM_WORLD_NODE_RANK": str(node_rank), "PMI_RANK": str(rank), "PMI_SIZE": str(world),
            })
        elif kind == "TensorFlow":
            workers = len(tf_cluster["worker"])
            task = {"type": "worker", "index": rank} if rank < workers else {"type": "ps", "index": rank - workers}
            env["TF_CONFIG"] = json.dumps({"cluster": tf_cluster, "task": task})
        if threads is not None:
            for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
                if var not in user_env:
                    env[var] = threads
        for k, v in user_env.items():
            env[k] = str(v)
        members.append(Member(rank, env))
    return members


class ProcessGroup(object):
    """The processes of one distributed run on this node."""

    def __init__(self, members, log, log_factory, grace=5.0):
        self.members = members
        self.log = log                  # the driver log (a LogShipper)
        self.log_factory = log_factory  # name -> a LogShipper for that log
        self.grace = grace
        self.procs = []
        self._readers = []
        self._logs = []
        self.failed_rank = None

    def start(self, cmd, workdir):
        for m in self.members:
            proc = subprocess.Popen(cmd, cwd=workdir, env=m.env, stdin=subprocess.DEVNULL,
                                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
            self.procs.append(proc)
            plog = self.log_factory(PROCESS_LOG % m.rank)
            self._logs.append(plog)
            t = threading.Thread(target=self._pump, args=(proc, plog, m.rank == 0), daemon=True)
            t.start()
            self._readers.append(t)
        self.log.line("started %d processes (ranks %d-%d); each one's output is in %s"
                      % (len(self.procs), self.members[0].rank, self.members[-1].rank,
                         PROCESS_LOG.replace("%d", "<rank>")))
        return self.procs

    def _pump(self, proc, plog, to_driver):
        fd = proc.stdout.fileno()
        while True:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            plog.write(chunk)
            if to_driver:
                self.log.write(chunk)

    def wait(self):
        """Wait for every process; on the first failure stop the rest. Returns the exit
        code of the run: 0, or that of the first process that failed."""
        rc = 0
        while True:
            running = [p for p in self.procs if p.poll() is None]
            if rc == 0:
                for rank, p in enumerate(self.procs):
                    if p.returncode not in (None, 0):
                        rc, self.failed_rank = p.returncode, rank
                        self._report_failure(rank, p.returncode, len(running))
                        if running:
                            threading.Thread(target=self.stop, daemon=True).start()
                        break
            if not running:
                break
            time.sleep(0.05)
        for p in self.procs:  # stray children left in a process's group
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
        for t in self._readers:
            t.join(timeout=10)
        for plog in self._logs:
            try:
                plog.close()
            except Exception:
                pass
        return rc

    def _report_failure(self, rank, code, running):
        reason = "killed by signal %d" % -code if code < 0 else "exited with code %d" % code
        plog = self._logs[rank]
        if rank != 0:
            time.sleep(0.1)  # let the reader thread take in the process's last words
            for line in plog.tail[-10:]:
                self.log.write("[rank %d] %s\n" % (rank, line))
        self.log.line("rank %d %s%s" % (rank, reason, "; stopping the other %d processes" % running if running else ""))

    def stop(self):
        """SIGTERM every process group, SIGKILL what is left after ``grace`` seconds."""
        for p in self.procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)
                except OSError:
                    pass
        deadline = time.time() + self.grace
        while time.time() < deadline and any(p.poll() is None for p in self.procs):
            time.sleep(0.05)
        for p in self.procs:
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except OSError:
                pass
