"""The file a student edits, made from nn/'s current source: never a second, hand-kept copy that can go stale.

``skeleton(exercise)`` reads the exercise's nn/ module with ``ast`` and writes, in this order:

* a docstring: the exercise, how to check it, and the module's own docstring (the maths);
* the module's imports, relative ones made absolute (``from .module import Module`` -> ``from nn.module
  import Module``), and an import of every other name of that module the pieces use (``is_positive``...);
* the pieces (classes and functions), as they are in nn/, except that each blank's body is replaced by
  the hint, as a comment, and ``raise NotImplementedError("not written yet: Class.method")``, its
  docstring kept.

``solution=True`` keeps every body: the answer key, identical to nn/'s code.
"""
import ast
import importlib
import inspect
import textwrap

NOT_WRITTEN = "not written yet"


def module_source(exercise):
    """(source text, ast tree) of the exercise's nn/ module."""
    source = inspect.getsource(importlib.import_module(exercise.module))
    return source, ast.parse(source)


def skeleton(exercise, solution=False):
    """The text of the student's file for ``exercise``."""
    source, tree = module_source(exercise)
    lines = source.splitlines(keepends=True)
    top = {node.name: node for node in tree.body if isinstance(node, (ast.ClassDef, ast.FunctionDef))}
    missing = [name for name in exercise.pieces if name not in top]
    if missing:
        raise LookupError(f"exercise {exercise.name}: {exercise.module} has no {', '.join(missing)} any more")
    pieces = [top[name] for name in sorted(exercise.pieces, key=lambda n: top[n].lineno)]
    text = [header(exercise, ast.get_docstring(tree) or "", solution), "\n"]
    text += [absolute_import(node, exercise.module) for node in tree.body if isinstance(node, ast.ImportFrom)]
    text += [ast.get_source_segment(source, node) + "\n" for node in tree.body if isinstance(node, ast.Import)]
    helpers = sorted(used_names(pieces) & (module_names(tree) - set(exercise.pieces)))
    if helpers:
        text.append(f"from {exercise.module} import {', '.join(helpers)}\n")
    for node in pieces:
        text.append("\n\n")
        text.append(piece_text(node, lines, exercise, solution))
    return "".join(text)


def header(exercise, module_doc, solution):
    what = "the answer key: every body written" if solution else f'write the bodies marked "{NOT_WRITTEN}"'
    blanks = ", ".join(exercise.blanks)
    return (f'"""Exercise {exercise.name}: {exercise.asks}.\n\n'
            f"To write: {blanks} ({what}). Then check it:\n\n"
            f"    python -m exercises check {exercise.name}\n\n"
            f"Hint: {exercise.hint}.\n\n"
            f"From {exercise.module.replace('.', '/')}.py, whose docstring says:\n\n"
            + "".join(f"    {line}".rstrip() + "\n" for line in module_doc.splitlines())
            + '"""\n')


def absolute_import(node, module):
    """``from .x import a`` inside nn/ as ``from nn.x import a`` (``from . import a``: ``from nn import a``)."""
    package = module.rsplit(".", 1)[0]
    where = package if node.level else ""
    name = ".".join(part for part in (where, node.module) if part)
    names = ", ".join(alias.name + (f" as {alias.asname}" if alias.asname else "") for alias in node.names)
    return f"from {name} import {names}\n"


def module_names(tree):
    """The names a module defines at its top level (functions, classes, constants)."""
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
    return names


def used_names(nodes):
    return {n.id for node in nodes for n in ast.walk(node) if isinstance(n, ast.Name)}


def piece_text(node, lines, exercise, solution):
    """One class or function's source, each of its blanks' bodies replaced (unless ``solution``)."""
    start = (node.decorator_list[0].lineno if node.decorator_list else node.lineno) - 1
    chunk = lines[start:node.end_lineno]
    if solution:
        return "".join(chunk)
    for function, qualname in reversed(blank_functions(node, exercise)):        # from the bottom: lines stay put
        body = function.body
        keep = body[0].end_lineno if is_docstring(body[0]) else function.body[0].lineno - 1
        indent = " " * body[0].col_offset
        hint = textwrap.wrap(f"Hint: {exercise.hint}.", 100 - len(indent))
        blank = [f"{indent}# {line}\n" for line in hint]
        blank.append(f'{indent}raise NotImplementedError("{NOT_WRITTEN}: {qualname}")\n')
        chunk[keep - start:function.end_lineno - start] = blank
    return "".join(chunk)


def blank_functions(node, exercise):
    """[(function node, "Class.method")] of the exercise's blanks inside the piece ``node``, in source order."""
    found = []
    if isinstance(node, ast.FunctionDef) and node.name in exercise.blanks:
        found.append((node, node.name))
    if isinstance(node, ast.ClassDef):
        for item in node.body:
            qualname = f"{node.name}.{item.name}" if isinstance(item, ast.FunctionDef) else None
            if qualname in exercise.blanks:
                found.append((item, qualname))
    return found


def is_docstring(statement):
    return (isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
            and isinstance(statement.value.value, str))
