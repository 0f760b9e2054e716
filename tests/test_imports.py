"""No import circles: every minigrpo module can be read after the modules it imports, so the package's imports
form a graph without a cycle. An import inside a function counts too: a circle that only closes at call time still
means two modules that each need the other, and it breaks as soon as someone moves the import to the top."""

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "minigrpo"


def modules(package: Path) -> dict[str, Path]:
    """Every module of the package: minigrpo/lab/loop.py -> minigrpo.lab.loop, a package's __init__.py -> its name."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = path.relative_to(package.parent).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def resolve(importer: str, is_package: bool, node: ast.ImportFrom) -> str:
    """The absolute name ``from <level dots><module> import ...`` names inside ``importer``: one dot is the
    importer's own package (the importer itself where it is a package's __init__), each further dot one package up."""
    if not node.level:
        return node.module
    package = importer.split(".") if is_package else importer.split(".")[:-1]
    base = package[:len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports(name: str, known: dict[str, Path]) -> set[str]:
    """The modules of ``known`` that module ``name`` imports, anywhere in its file. ``from P import x`` imports the
    module P.x where that is a module, else P itself (x is then a name P defines); the packages above a module,
    which Python initializes first, are not counted as its imports."""
    path = known[name]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            source = resolve(name, path.name == "__init__.py", node)
            found |= {f"{source}.{alias.name}" if f"{source}.{alias.name}" in known else source
                      for alias in node.names}
    return {m for m in found if m in known and m != name}


def import_graph(package: Path) -> dict[str, set[str]]:
    """module -> the package's modules it imports."""
    known = modules(package)
    return {name: imports(name, known) for name in known}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle a -> b -> ... -> a through each strongly connected component of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(circle(graph, component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def circle(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest path from the component's first module back to itself, inside the component (breadth first)."""
    start = min(component)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & component):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    raise AssertionError("a strongly connected component always holds a circle")


def test_relative_imports_resolve_as_python_resolves_them():
    def first(code: str) -> ast.ImportFrom:
        return ast.parse(code).body[0]

    assert resolve("minigrpo.lab.experiments.tables", False, first("from .plans import PLANS")) == \
        "minigrpo.lab.experiments.plans"
    assert resolve("minigrpo.lab.experiments.tables", False, first("from . import results")) == \
        "minigrpo.lab.experiments"
    assert resolve("minigrpo.lab.experiments.readme", False, first("from ...task import DATA_DIR")) == \
        "minigrpo.task"
    assert resolve("minigrpo.lab.experiments", True, first("from .sweep import run_plan")) == \
        "minigrpo.lab.experiments.sweep"
    assert resolve("minigrpo.lab", True, first("from ..masked import whiten")) == "minigrpo.masked"
    assert resolve("minigrpo.lab.loop", False, first("from minigrpo.grpo import trainer")) == "minigrpo.grpo"


def test_the_cycle_finder_finds_each_circle_and_nothing_else():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"d"}}) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []  # a diamond is no circle
    assert cycles({"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"c"}}) == [["a", "b", "a"], ["c", "d", "c"]]


def test_a_circle_closed_by_an_import_inside_a_function_is_found(tmp_path):
    """The circle the experiments had: tables imported reproduce's list of sweeps inside a function, and reproduce
    imports tables (and readme, which imports tables) at the top."""
    files = {"__init__.py": "", "lab/__init__.py": "", "lab/experiments/__init__.py": "",
             "lab/experiments/results.py": "RESULTS = 'results.json'\n",
             "lab/experiments/tables.py": "from . import results as res\n\n\ndef estimate():\n"
                                          "    from .reproduce import SWEEPS\n    return SWEEPS\n",
             "lab/experiments/readme.py": "from . import results as res\nfrom . import tables\n",
             "lab/experiments/reproduce.py": "from . import readme, tables\nfrom . import results as res\n"
                                             "SWEEPS = []\n"}
    for name, text in files.items():
        (tmp_path / "minigrpo" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "minigrpo" / name).write_text(text)
    graph = import_graph(tmp_path / "minigrpo")
    assert graph["minigrpo.lab.experiments.reproduce"] == {f"minigrpo.lab.experiments.{m}"
                                                           for m in ("readme", "tables", "results")}
    assert cycles(graph) == [[f"minigrpo.lab.experiments.{m}" for m in ("readme", "tables", "reproduce", "readme")]]
    (tmp_path / "minigrpo" / "lab/experiments/tables.py").write_text("from . import results as res\n")
    assert cycles(import_graph(tmp_path / "minigrpo")) == []


def test_the_package_imports_without_a_circle():
    found = cycles(import_graph(PACKAGE))
    assert not found, "import circles: " + "; ".join(" -> ".join(c) for c in found)
