"""The package's layout follows the book: a core, one subpackage per chapter, and the course above them.

Checked from every module's import statements, including imports inside functions:
- the core imports nothing but the core;
- a chapter imports the core and itself, never another chapter;
- nothing below the top imports ``recipes``, ``widgets``, ``exercises``, ``course`` or ``doctor``;
- ``lmnotes/__init__`` imports nothing (``import lmnotes`` stays cheap);
- no two modules import each other, directly or through others (no import circles).
"""

from __future__ import annotations

import ast
from pathlib import Path

import lmnotes

PACKAGE = Path(lmnotes.__file__).resolve().parent

CORE = ("checks", "repro", "data", "tokenization", "models", "training", "generation", "adaptation", "baselines",
        "checkpoints", "hub", "viz")
CHAPTERS = ("pretraining", "generative", "prompting", "alignment", "inference")
TOP = ("recipes", "widgets", "exercises", "claims", "course", "doctor")


def module_name(path: Path) -> str:
    parts = ["lmnotes", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in PACKAGE.rglob("*.py")}


def imports_in(source: str, name: str, package: str) -> set[str]:
    """The lmnotes modules that ``source`` (the text of module ``name`` in ``package``) imports,
    anywhere: at module level, inside functions and classes."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            for alias in node.names:  # `from lmnotes import training` imports the module lmnotes.training
                found.add(f"{module}.{alias.name}" if f"{module}.{alias.name}" in MODULES else module)
    return {m for m in found if m.split(".")[0] == "lmnotes" and m != name}


def imports_of(name: str) -> set[str]:
    path = MODULES[name]
    return imports_in(path.read_text(), name, name if path.name == "__init__.py" else name.rpartition(".")[0])


GRAPH = {name: imports_of(name) for name in MODULES}


def layer(name: str) -> tuple[str, str]:
    """("core" | "chapter" | "top" | "root", the first part below lmnotes)."""
    first = name.split(".")[1] if "." in name else ""
    if not first:
        return "root", ""
    for kind, names in (("core", CORE), ("chapter", CHAPTERS), ("top", TOP)):
        if first in names:
            return kind, first
    raise AssertionError(f"{name} belongs to no layer: add its folder to CORE, CHAPTERS or TOP in {__file__}")


def test_every_module_has_a_layer():
    for name in MODULES:
        layer(name)


def wrong_imports(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks a layer rule: the core reaching a chapter or the top, a chapter reaching
    another chapter or the top, the package's root (``import lmnotes``, which must stay cheap) importing
    anything. A package's ``__init__`` runs whenever one of its modules is imported; it belongs to the
    same layer, so these rules cover it too."""
    wrong = []
    for name, imported in sorted(graph.items()):
        kind, part = layer(name)
        for target in sorted(imported):
            target_kind, target_part = layer(target)
            if kind == "top":
                continue
            if kind == "root":
                allowed = False
            elif target_kind == "root":
                allowed = True  # lmnotes itself (__version__) sits below everything
            elif kind == "core":
                allowed = target_kind == "core"
            else:  # a chapter
                allowed = target_kind == "core" or target_part == part
            if not allowed:
                wrong.append(f"{name} ({kind}) imports {target} ({target_kind})")
    return wrong


def test_the_layers_import_only_downwards():
    wrong = wrong_imports(GRAPH)
    assert not wrong, "imports that reach up or sideways:\n" + "\n".join(wrong)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm), and self-loops."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_there_are_no_import_circles():
    # A package's __init__ that imports its own modules is not a circle unless they import it back.
    assert cycles(GRAPH) == []


def test_the_checks_find_what_they_look_for():
    # Each rule must be able to fail: made-up graphs that break it are caught, and real imports,
    # at module level and inside functions, are seen.
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}}) == [["a"]]
    fake = {"lmnotes.training": {"lmnotes.viz"},                          # core -> core: fine
            "lmnotes.generation": {"lmnotes.alignment.ppo"},              # core -> chapter
            "lmnotes.prompting.icl": {"lmnotes.pretraining.finetuning"},  # chapter -> another chapter
            "lmnotes.alignment.dpo": {"lmnotes.alignment.rewards", "lmnotes.recipes.rlhf_toyworld"},  # own chapter ok; top not
            "lmnotes.data.tasks": {"lmnotes.widgets"},                    # core -> top
            "lmnotes": {"lmnotes.training"},                              # the root imports something
            "lmnotes.widgets": {"lmnotes.alignment.ppo", "lmnotes.recipes"}}  # the top may import anything
    assert wrong_imports(fake) == [
        "lmnotes (root) imports lmnotes.training (core)",
        "lmnotes.alignment.dpo (chapter) imports lmnotes.recipes.rlhf_toyworld (top)",
        "lmnotes.data.tasks (core) imports lmnotes.widgets (top)",
        "lmnotes.generation (core) imports lmnotes.alignment.ppo (chapter)",
        "lmnotes.prompting.icl (chapter) imports lmnotes.pretraining.finetuning (chapter)",
    ]
    source = ("from lmnotes import checks\nfrom . import sft\n\n\ndef f():\n    from lmnotes.recipes import rlhf_toyworld\n\n\n"
              "class C:\n    def g(self):\n        import lmnotes.widgets\n")
    assert imports_in(source, "lmnotes.alignment.x", "lmnotes.alignment") == {
        "lmnotes.checks", "lmnotes.alignment.sft", "lmnotes.recipes.rlhf_toyworld", "lmnotes.widgets"}
    assert "lmnotes.training" in GRAPH["lmnotes.viz"]
