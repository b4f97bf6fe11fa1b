"""The syntax and import check ``pi-edge build`` runs before componentize-py, inside the guest's own CPython.

An actor's Python is judged by the Python it will run on (the one
componentize-py bundles, newer than the host's), and nothing of it runs: it is
only parsed and compiled.  Syntax: every error the compiler reports, not only
the parser's.  Imports: what ``app`` imports when it is loaded (module level,
following the actor's own modules) must be a module of the actor, of its
bindings (``wit_world`` ...) or of the standard library, and a name taken from
the actor's or the bindings' modules must be defined there.  Where a module's
names cannot be known without running it (``__getattr__``, ``import *``,
``globals()``), its names are not judged: componentize-py will.
"""

import ast
import sys

import wit_world

PYTHON = "Python %d.%d.%d" % sys.version_info[:3]
STANDARD = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)
DYNAMIC = frozenset({"__getattr__", "globals", "exec", "setattr", "vars", "__dict__"})
MAX_PROBLEMS = 20
ENTRY = "app"


class Module:
    def __init__(self, name, path, tree, own, package, text=None):
        self.name = name
        self.path = path
        self._tree = tree
        self._text = text  # the bindings' modules are parsed only when an import names one
        self.own = own
        self.package = package  # the package relative imports start from
        self._names = None
        self._known = False

    @property
    def tree(self):
        if self._tree is None and self._text is not None:
            try:
                self._tree = ast.parse(self._text, self.path)
            except SyntaxError:
                pass
            self._text = None
        return self._tree

    def names(self):
        """Names bound at module level, or None when they cannot be known without running it."""
        if not self._known:
            tree = self.tree
            self._names, self._known = (_bound(tree) if tree is not None else None), True
        return self._names


def _module_name(path):
    parts = path.removesuffix(".pyi").removesuffix(".py").split("/")
    if parts[-1] == "__init__":
        name = ".".join(parts[:-1])
        return name, name
    name = ".".join(parts)
    return name, name.rpartition(".")[0]


def _bound(tree):
    """The module's names, or None when only running it could tell them."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and node.id in DYNAMIC:
            return None
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name in DYNAMIC:
            return None
        if isinstance(node, ast.ImportFrom) and any(a.name == "*" for a in node.names):
            return None
        if isinstance(node, ast.Global):
            names.update(node.names)
    for node in _module_level(tree.body, everything=True):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                names.add(alias.asname or alias.name.split(".")[0])
        elif getattr(ast, "TypeAlias", None) is not None and isinstance(node, ast.TypeAlias):
            names.add(node.name.id)
        for child in ast.walk(node) if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                             ast.ClassDef, ast.Lambda)) else ():
            if isinstance(child, ast.Name) and isinstance(child.ctx, ast.Store):
                names.add(child.id)
            elif isinstance(child, (ast.MatchAs, ast.MatchStar)) and child.name:
                names.add(child.name)
    return names


def _catches_import_errors(handler):
    kind = handler.type
    kinds = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    return kind is None or any(isinstance(k, ast.Name) and k.id in (
        "ImportError", "ModuleNotFoundError", "Exception", "BaseException") for k in kinds)


def _module_level(body, everything=False):
    """Statements that run when the module is imported (``everything``: also those in class bodies and
    in try blocks that catch import errors, for names)."""
    for node in body:
        yield node
        if isinstance(node, ast.If):
            yield from _module_level(node.body, everything)
            yield from _module_level(node.orelse, everything)
        elif isinstance(node, (ast.With, ast.AsyncWith, ast.For, ast.AsyncFor, ast.While)):
            yield from _module_level(node.body, everything)
            yield from _module_level(getattr(node, "orelse", []), everything)
        elif isinstance(node, ast.ClassDef) and not everything:
            yield from _module_level(node.body, everything)
        elif isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            if everything or not any(_catches_import_errors(h) for h in node.handlers):
                yield from _module_level(node.body, everything)
            for handler in node.handlers:
                yield from _module_level(handler.body, everything)
            yield from _module_level(node.orelse, everything)
            yield from _module_level(node.finalbody, everything)
        elif isinstance(node, ast.Match):
            for case in node.cases:
                yield from _module_level(case.body, everything)


def _syntax(path, exc, text):
    where = f"{path}:{exc.lineno}" if exc.lineno else path
    line = f"{where}: {type(exc).__name__}: {exc.msg} ({PYTHON}, the actors' Python)"
    code = exc.text
    if not code and exc.lineno and 0 < exc.lineno <= len(text.splitlines()):  # the compiler's own errors
        code = text.splitlines()[exc.lineno - 1]
    if code and code.strip():
        line += f": {code.strip()[:80]}"
    return line


class Checker:
    def __init__(self, files):
        self.modules = {}
        self.problems = []
        for path, text, own in files:
            name, package = _module_name(path)
            if not own:
                self.modules[name] = Module(name, path, None, own, package, text)
                continue
            tree = None
            try:
                tree = ast.parse(text, path)
                compile(tree, path, "exec", dont_inherit=True)  # what the compiler refuses beyond the parser
            except SyntaxError as exc:
                self.problems.append(_syntax(path, exc, text))
                tree = None
            except ValueError as exc:  # a NUL byte in the source
                self.problems.append(f"{path}: SyntaxError: {exc}")
                tree = None
            self.modules[name] = Module(name, path, tree, own, package)

    def resolve(self, name):
        """The module, True for one of the standard library, or None if there is none of that name."""
        if name in self.modules:
            return self.modules[name]
        if name.split(".")[0] in STANDARD and name.split(".")[0] not in self.modules:
            return True
        return None

    def imports(self):
        done, queue = set(), [ENTRY]
        while queue:
            module = self.modules.get(queue.pop())
            if module is None or module.name in done or not module.own or module.tree is None:
                continue
            done.add(module.name)
            for node in _module_level(module.tree.body):
                if isinstance(node, ast.Import):
                    for alias in node.names:
                        queue.extend(self._import(module, node, alias.name))
                elif isinstance(node, ast.ImportFrom):
                    queue.extend(self._import_from(module, node))
        entry = self.modules.get(ENTRY)
        if entry is not None and entry.names() is not None and "Handler" not in entry.names():
            self.problems.append(f"{entry.path}:1: the actor defines no class Handler: componentize-py needs one "
                                 "with a handle(self, msg) method (see the actor 'pi-edge new' makes)")

    def _import(self, module, node, name):
        parts = name.split(".")
        for i in range(1, len(parts) + 1):
            prefix = ".".join(parts[:i])
            if self.resolve(prefix) is None:
                self._missing(module, node, prefix)
                return
            yield prefix

    def _import_from(self, module, node):
        base = node.module or ""
        if node.level:
            package = module.package.split(".") if module.package else []
            if not package or node.level - 1 >= len(package):
                self.problems.append(f"{module.path}:{node.lineno}: ImportError: attempted relative import with "
                                     f"no known parent package ({module.path} is not inside a package of the "
                                     "actor's folder: import its neighbours by name, e.g. 'import helper')")
                return
            package = package[:len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        found = list(self._import(module, node, base))
        if self.resolve(base) is None:
            return
        yield from found
        target = self.modules.get(base)
        for alias in node.names:
            if alias.name == "*":
                continue
            sub = f"{base}.{alias.name}"
            if sub in self.modules:
                yield sub
                continue
            if target is None or target.names() is None:
                continue  # the standard library's names, or names only running the module could tell
            if alias.name not in target.names():
                self.problems.append(f"{module.path}:{node.lineno}: ImportError: cannot import name "
                                     f"{alias.name!r} from {base!r}")

    def _missing(self, module, node, name):
        hint = (" (it is neither a module in the actor's folder nor part of the actors' standard library; "
                "a package from PyPI must be copied into the folder)") if "." not in name else ""
        self.problems.append(f"{module.path}:{node.lineno}: ModuleNotFoundError: No module named {name!r}{hint}")


class WitWorld(wit_world.WitWorld):
    def check(self, files):
        checker = Checker(files)
        if not checker.problems:  # imports of a module that does not parse cannot be judged
            checker.imports()
        problems = checker.problems
        if len(problems) > MAX_PROBLEMS:
            problems = [*problems[:MAX_PROBLEMS], f"... and {len(problems) - MAX_PROBLEMS} more"]
        return problems
