"""One atomic writer: no module of the package but ``edgepose/io.py`` writes a file directly.

The scan reads every module with ``ast`` and finds the calls that create or change a file by name: ``open`` in a
write mode, ``torch.save`` / ``np.save*`` / ``onnx.save`` / ``.save``, ``cv2.imwrite``, ``cv2.VideoWriter``,
``.write_text`` / ``.write_bytes``, ``.tofile``, ``json.dump`` / ``pickle.dump``, ``shutil.copy*``,
``torch.onnx.export`` to a file, ``savefig``, ``touch``. Such a call is allowed only when it writes into a
temporary that ``edgepose.io`` handed out: the ``as`` name of ``with atomic_path(..)``, ``PendingPath(..).tmp``,
the file a callback of ``atomic_write`` receives, or a parameter that every caller in the module fills with one
of those (``export/onnx.py`` passes its temporary down to the exporter). Anything else fails here with the file,
line and call, so ``grep`` finds one writer. Renames write no new content (keeping a damaged checkpoint aside is
one); a hand-rolled ``os.replace(tmp, path)`` is caught at the write of ``tmp``.

``ALLOWED`` counts the direct writes left in modules other engineers are moving onto ``edgepose.io`` this
session; it only shrinks (an entry with fewer writes left fails). ORT's quantiser, which writes intermediate
models by name into ``export/quantize.py``'s scratch folder, is a library call, not one of the primitives above.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "edgepose"
# none left: every write of the package goes through edgepose.io (a new entry needs a reason written here)
ALLOWED: dict[str, int] = {}

WRITE_ATTRS = {"save", "save_model", "savez", "savez_compressed", "savetxt", "imwrite", "VideoWriter", "write_text",
               "write_bytes", "tofile", "savefig", "touch", "urlretrieve", "to_csv"}  # fmt: skip
SHUTIL_WRITES = {"copy", "copy2", "copyfile", "copytree", "copyfileobj"}
MODE_CHARS = set("rwaxbtU+")
IO_TEMPORARIES = {"atomic_path", "PendingPath"}


def _name(func: ast.expr) -> str:
    """``"torch.onnx.export"`` for ``torch.onnx.export``, ``"open"`` for ``open``, ``".save"`` for ``x().save``."""
    parts = []
    while isinstance(func, ast.Attribute):
        parts.append(func.attr)
        func = func.value
    parts.append(func.id if isinstance(func, ast.Name) else "")
    return ".".join(reversed(parts))


def _mode(node: ast.expr | None) -> str | None:
    """A literal file mode (``"wb"``), or None."""
    ok = isinstance(node, ast.Constant) and isinstance(node.value, str) and set(node.value) <= MODE_CHARS
    return node.value if ok else None  # type: ignore[union-attr]


def _opens_for_writing(call: ast.Call, name: str) -> bool:
    """``open(p, "w")``, ``Path.open("a")``, ``gzip.open(p, "wb")``, ``ZipFile(p, "w")``; a builtin ``open``
    whose mode is not a literal counts too (it cannot be shown to read)."""
    kw = {k.arg: k.value for k in call.keywords}
    if "mode" in kw:
        mode = _mode(kw["mode"])
        return mode is None or bool(set(mode) & set("wax+"))
    if name == "open" and len(call.args) > 1:
        mode = _mode(call.args[1])
        return mode is None or bool(set(mode) & set("wax+"))
    return any(bool(set(m) & set("wax+")) for m in map(_mode, call.args[:2]) if m)


def _writes(call: ast.Call) -> bool:
    """Whether ``call`` creates or changes a file by name (read-only opens and in-memory dumps are not writes)."""
    name = _name(call.func)
    module, last = name.split(".")[0], name.rsplit(".", 1)[-1]
    if last in ("open", "ZipFile") and name != "os.open":
        return _opens_for_writing(call, name)
    if name == "os.open":
        flags = {n.attr for n in ast.walk(call) if isinstance(n, ast.Attribute)}
        return bool(flags & {"O_WRONLY", "O_RDWR", "O_CREAT", "O_APPEND"}) and "os.devnull" not in ast.unparse(call)
    if last in ("dump", "safe_dump") and module in ("json", "pickle", "marshal", "yaml"):  # yaml's: a string
        return module != "yaml" or len(call.args) > 1 or any(k.arg == "stream" for k in call.keywords)
    if name.endswith("onnx.export"):  # the dynamo exporter without a file returns a program
        return len(call.args) > 2 or any(k.arg == "f" for k in call.keywords)
    if module == "shutil":
        return last in SHUTIL_WRITES
    return "." in name and last in WRITE_ATTRS and module not in ("json", "yaml")  # methods, module functions


def _refers_to(node: ast.AST, temps: set[str]) -> bool:
    """Whether ``node`` is, or holds, one of the expressions ``temps`` (by source text)."""
    return any(isinstance(sub, ast.expr) and ast.unparse(sub) in temps for sub in ast.walk(node))


class _Scan(ast.NodeVisitor):
    """Direct writes of one module, given the parameters known to receive io temporaries."""

    def __init__(self, temp_params: dict[str, set[str]]) -> None:
        self.temp_params = temp_params
        self.scopes: list[set[str]] = [set()]
        self.found: list[ast.Call] = []
        self.calls: list[tuple[ast.Call, set[str]]] = []  # every call, with the temporaries in scope
        self.callbacks: set[str] = set()  # functions passed to atomic_write by name

    def temps(self) -> set[str]:
        return set().union(*self.scopes)

    def _function(self, node: ast.AST, params: set[str]) -> None:
        self.scopes.append(params)
        self.generic_visit(node)
        self.scopes.pop()

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._function(node, set(self.temp_params.get(node.name, set())))

    visit_AsyncFunctionDef = visit_FunctionDef

    def visit_With(self, node: ast.With) -> None:
        for item in node.items:
            call, target = item.context_expr, item.optional_vars
            io_temp = isinstance(call, ast.Call) and _name(call.func).rsplit(".", 1)[-1] in IO_TEMPORARIES
            if target is not None and (io_temp or _refers_to(call, self.temps())):  # open(tmp, "wb") as fh
                self.scopes[-1].add(ast.unparse(target))
        self.generic_visit(node)

    def visit_Assign(self, node: ast.Assign) -> None:
        value = node.value
        for target in node.targets:
            if isinstance(value, ast.Call) and _name(value.func).rsplit(".", 1)[-1] == "PendingPath":
                self.scopes[-1].add(f"{ast.unparse(target)}.tmp")
            elif _refers_to(value, self.temps()):  # sink = Wrapper(fh)
                self.scopes[-1].add(ast.unparse(target))
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        skip = None
        if _name(node.func).rsplit(".", 1)[-1] == "atomic_write" and len(node.args) > 1:
            callback = node.args[1]
            if isinstance(callback, ast.Lambda) and callback.args.args:
                self._function(callback, {callback.args.args[0].arg})  # lambda fh: torch.save(obj, fh)
                skip = callback
            elif isinstance(callback, ast.Name):
                self.callbacks.add(callback.id)
        self.calls.append((node, self.temps()))
        if _writes(node) and not any(_refers_to(a, self.temps()) for a in (*node.args, *node.keywords)):
            self.found.append(node)
        for child in ast.iter_child_nodes(node):
            if child is not skip:
                self.visit(child)


def _parameters(fn: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    return [a.arg for a in (*fn.args.posonlyargs, *fn.args.args)]


def _argument(call: ast.Call, index: int, param: str) -> ast.expr | None:
    if index < len(call.args):
        return call.args[index]
    return next((k.value for k in call.keywords if k.arg == param), None)


def direct_writes(source: str) -> list[str]:
    """``"line: call"`` of each direct write of ``source``, after following io temporaries into parameters:
    a callback's file, and a parameter that every call in the module fills with a temporary."""
    tree = ast.parse(source)
    functions = {n.name: n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
    temp_params: dict[str, set[str]] = {}
    while True:  # grows until it holds (each round can only add parameters)
        scan = _Scan({k: set(v) for k, v in temp_params.items()})
        scan.visit(tree)
        grown: dict[str, set[str]] = {}
        for name, fn in functions.items():
            params = _parameters(fn)
            if name in scan.callbacks and params:
                grown.setdefault(name, set()).add(params[0])
            sites = [(c, temps) for c, temps in scan.calls if _name(c.func) == name]
            for index, param in enumerate(params):
                given = [(_argument(c, index, param), temps) for c, temps in sites]
                if sites and all(arg is not None and _refers_to(arg, temps) for arg, temps in given):
                    grown.setdefault(name, set()).add(param)
        if grown == temp_params:
            return [f"{c.lineno}: {ast.unparse(c)[:100]}" for c in scan.found]
        temp_params = grown


def _package_writes() -> dict[str, list[str]]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE).as_posix()
        if rel != "io.py" and (writes := direct_writes(path.read_text(encoding="utf-8"))):
            found[rel] = writes
    return found


def test_only_edgepose_io_writes_files() -> None:
    found = _package_writes()
    unexpected = {p: w for p, w in found.items() if len(w) > ALLOWED.get(p, 0)}
    assert unexpected == {}, "write through edgepose.io (atomic_write*, atomic_path, PendingPath)"


def test_the_allow_list_holds_only_direct_writers() -> None:
    found = _package_writes()
    stale = {p: n for p, n in ALLOWED.items() if len(found.get(p, [])) < n}
    assert stale == {}, "these write through edgepose.io now: lower or remove their ALLOWED entry"


@pytest.mark.parametrize(
    ("source", "flagged"),
    [
        ("open(p, 'w').write(x)", 1),
        ("with open(p, mode='ab') as fh: fh.write(x)", 1),
        ("open(p).read(); open(p, 'rb').read(); Path(p).open().read()", 0),
        ("Path(p).open('w')", 1),
        ("Path(p).write_text(s); Path(p).write_bytes(b)", 2),
        ("cv2.imwrite(str(p), img); buf.tofile(str(p)); np.savez_compressed(p, a=a)", 3),
        ("torch.save(obj, p); onnx.save(m, p); json.dump(d, fh); s = json.dumps(d)", 3),
        ("yaml.safe_dump(d); yaml.safe_dump(d, fh)", 1),
        ("shutil.copy(a, b); shutil.copyfile(a, b); shutil.rmtree(d); s.replace('a', 'b')", 2),
        ("fd = os.open(os.devnull, os.O_WRONLY); fd = os.open(p, os.O_WRONLY | os.O_CREAT)", 1),
        ("w = cv2.VideoWriter(str(p), fourcc, 25, (w, h))", 1),
        ("torch.onnx.export(m, (x,), input_names=['image'])", 0),
        ("torch.onnx.export(m, (x,), p, input_names=['image'])", 1),
        ("with atomic_path(p) as tmp:\n    onnx.save(m, str(tmp))\n    onnx.save(m, other)", 1),
        ("atomic_write(p, lambda fh: torch.save(obj, fh))", 0),
        (
            "def f(p):\n    def write(fh):\n        sink = Rec(fh)\n        torch.save(obj, sink)\n"
            "    atomic_write(p, write, fsync=True)",
            0,
        ),
        ("pending = PendingPath(p, '.mp4')\ncv2.VideoWriter(str(pending.tmp), f, 25, s)", 0),
        ("def put(m, tmp):\n    onnx.save(m, tmp)\nwith atomic_path(p) as t:\n    put(m, str(t))", 0),
        ("def put(m, tmp):\n    onnx.save(m, tmp)\nwith atomic_path(p) as t:\n    put(m, str(t))\nput(m, p)", 1),
    ],
)
def test_the_scan_tells_direct_writes_from_io_temporaries(source: str, flagged: int) -> None:
    assert len(direct_writes(source)) == flagged, direct_writes(source)
