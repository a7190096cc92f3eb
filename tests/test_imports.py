"""The import structure: no circles, and nothing imports back up into the trainer.

Layers, from the bottom: ``nn/`` and ``datasets/`` (import neither ``gan`` nor
``dcgan``), ``gan/`` (the plumbing; never imports ``dcgan``; ``--layers DIR`` reads a folder of
``exercises/``, which use gan's command line), ``examples/``
(never import ``dcgan``: they are built from the same parts), and on top
``dcgan.py`` and ``benchmarks/`` (which time the trainer itself).
The graph is read from the source with ``ast``; nothing is imported.
"""
import ast
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("nn", "datasets", "gan", "exercises", "examples", "benchmarks")


def project_modules():
    """{dotted module name: file path} for dcgan.py and every .py file in the project's packages."""
    modules = {"dcgan": os.path.join(ROOT, "dcgan.py")}
    for package in PACKAGES:
        for name in sorted(os.listdir(os.path.join(ROOT, package))):
            if name.endswith(".py"):
                dotted = package if name == "__init__.py" else f"{package}.{name[:-3]}"
                modules[dotted] = os.path.join(ROOT, package, name)
    return modules


def imports_of(dotted, path, modules):
    """The project modules ``dotted`` imports anywhere in its file (function bodies too)."""
    package = dotted if path.endswith("__init__.py") else dotted.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(open(path).read(), path)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            # "from pkg import sub" imports the submodule pkg.sub when there is one
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in node.names]
        else:
            continue
        found.update(n for n in names if n in modules and n != dotted)
    return found


def import_graph():
    modules = project_modules()
    return {m: imports_of(m, path, modules) for m, path in modules.items()}


def find_cycle(graph):
    """One import circle as a list of modules, or None."""
    state = {}                                   # module -> "open" while on the DFS path, "done" after

    def visit(m, path):
        state[m] = "open"
        for n in sorted(graph[m]):
            if state.get(n) == "open":
                return path[path.index(n):] + [n]
            if n not in state:
                cycle = visit(n, path + [n])
                if cycle:
                    return cycle
        state[m] = "done"
        return None

    for m in sorted(graph):
        if m not in state:
            cycle = visit(m, [m])
            if cycle:
                return cycle
    return None


def test_no_import_cycles():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def test_nothing_imports_back_up():
    graph = import_graph()
    below = {"nn": ("gan", "exercises", "dcgan", "examples", "benchmarks"),
             "datasets": ("gan", "exercises", "dcgan", "examples", "benchmarks"),
             "gan": ("dcgan", "examples", "benchmarks"), "exercises": ("dcgan", "examples", "benchmarks"),
             "examples": ("dcgan", "benchmarks")}
    wrong = [f"{m} imports {n}" for m, targets in graph.items() for n in targets
             for layer, forbidden in below.items()
             if m.split(".")[0] == layer and n.split(".")[0] in forbidden]
    assert not wrong, "; ".join(sorted(wrong))


def test_the_checker_sees_a_planted_cycle_and_an_upward_import():
    """The checks can fail: a graph with a circle, and the real graph with one planted upward import."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    graph = import_graph()
    assert "gan.models" in graph["dcgan"] and "nn.backend" in graph["gan.cli"]     # it reads real imports
    graph["gan.quality"].add("dcgan")
    assert find_cycle(graph) is not None
