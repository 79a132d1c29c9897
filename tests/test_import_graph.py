"""kyanite's packages import each other in one direction only.

The module import graph is read from the source with ``ast`` (every ``import`` statement,
at module level or inside a function), so these checks need no import of kyanite:

- no import cycle spans two packages (``kyanite.core``, ``kyanite.runtime``, ...): a
  cycle inside one package is allowed;
- the server side (``kyanite.store``, ``kyanite.compute``, ``kyanite.server``) never
  reaches the in-script run (``kyanite.runtime.run``), through any chain of imports;
- what is copied into run environments (``RUNTIME_FILES``) imports only those files,
  so the in-script run never imports the SDK.
"""

import ast
import os
import sys

from kyanite_testing import REPO

from kyanite.runtime.host import RUNTIME_FILES

SRC = os.path.join(str(REPO), "src")


def module_files(root=SRC):
    """``{module name: path}`` for every module of the kyanite package (migrations aside)."""
    mods = {}
    for dirpath, _dirs, files in os.walk(os.path.join(root, "kyanite")):
        if "migrations" in dirpath:
            continue
        for f in files:
            if f.endswith(".py"):
                path = os.path.join(dirpath, f)
                name = os.path.relpath(path, root)[:-3].replace(os.sep, ".")
                if name.endswith(".__init__"):
                    name = name[:-len(".__init__")]
                mods[name] = path
    return mods


def import_graph(mods):
    """``{module: set of kyanite modules it imports}``; ``from a import b`` counts as an
    import of ``a.b`` when that is a module, else of ``a``."""
    def resolve(name):
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name or None

    graph = {}
    for mod, path in mods.items():
        with open(path) as f:
            tree = ast.parse(f.read(), path)
        pkg = mod if path.endswith("__init__.py") else mod.rpartition(".")[0]
        deps = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                deps.update(resolve(a.name) for a in node.names if a.name.startswith("kyanite"))
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    parts = pkg.split(".")[:len(pkg.split(".")) - node.level + 1]
                    base = ".".join(parts + ([base] if base else []))
                if base.startswith("kyanite"):
                    for a in node.names:
                        full = base + "." + a.name
                        deps.add(full if full in mods else resolve(base))
        deps.discard(None)
        deps.discard(mod)
        graph[mod] = deps
    return graph


def cycles(graph):
    """The strongly connected components of more than one module (Tarjan), each sorted."""
    index, low, stack, on_stack, out, counter = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 10000))
    try:
        for v in sorted(graph):
            if v not in index:
                visit(v)
    finally:
        sys.setrecursionlimit(limit)
    return out


def package_of(mod):
    """``kyanite.core.compute.compute`` -> ``kyanite.core``; a top-level module is its own."""
    return ".".join(mod.split(".")[:2])


def reachable(graph, start):
    seen, todo = set(), [start]
    while todo:
        for w in graph[todo.pop()]:
            if w not in seen:
                seen.add(w)
                todo.append(w)
    return seen


GRAPH = import_graph(module_files())


def test_graph_is_read():
    assert "kyanite.runtime.run" in GRAPH["kyanite.core.run"]
    assert "kyanite.core.run" in GRAPH["kyanite.core"]


def test_no_import_cycle_crosses_packages():
    crossing = [(sorted(set(package_of(m) for m in comp)), comp) for comp in cycles(GRAPH)
                if len(set(package_of(m) for m in comp)) > 1]
    assert crossing == [], "import cycles across packages: %s" % crossing


def test_server_side_never_reaches_the_in_script_run():
    for mod in sorted(GRAPH):
        if package_of(mod) in ("kyanite.store", "kyanite.compute", "kyanite.server"):
            assert "kyanite.runtime.run" not in reachable(GRAPH, mod), (
                "%s imports kyanite.runtime.run (directly or through other modules)" % mod)


def test_run_environment_files_import_only_each_other():
    shipped = set(f[:-3].replace("/", ".") for f in RUNTIME_FILES)
    shipped = set("kyanite" if m == "__init__" else "kyanite." + m[:-len(".__init__")]
                  if m.endswith(".__init__") else "kyanite." + m for m in shipped)
    for mod in sorted(shipped):
        outside = GRAPH[mod] - shipped
        assert not outside, "%s is copied into run environments but imports %s" % (mod, sorted(outside))
