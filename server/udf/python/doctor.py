"""`tilesmith doctor`'s Python side: which modules each UDF imports that this interpreter cannot.

Reads `{"udfs": [{"name", "files": [...], "local": [...]}]}` as JSON on stdin and prints
`{"python", "udfs": [{"name", "missing": [...], "fallback": [...], "errors": [...]}]}`. Imports
are read with `ast` (nothing is executed): `import a.b` and `from a import b` at any depth,
skipping relative imports, the standard library, the UDF's own modules and the packages
tilesmith provides (fused, tilesmith). A module found only in tilesmith's fallback folder
(mercantile) is reported as `fallback`, not missing.
"""
import ast
import importlib.util
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
FALLBACK = os.path.join(HERE, "fallback")
PROVIDED = {"fused", "tilesmith"}


def imports_of(path):
    with open(path, "rb") as fh:
        tree = ast.parse(fh.read(), filename=path)
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.add(node.module.split(".")[0])
    return out


def importable(name, path):
    saved = sys.path
    sys.path = path
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
    finally:
        sys.path = saved


def main():
    req = json.load(sys.stdin)
    stdlib = set(getattr(sys, "stdlib_module_names", ())) | set(sys.builtin_module_names)
    base = [p for p in sys.path if os.path.abspath(p or ".") != HERE]
    out = []
    for u in req["udfs"]:
        names, errors = set(), []
        for f in u["files"]:
            try:
                names |= imports_of(f)
            except (SyntaxError, ValueError, OSError) as e:
                errors.append(f"{os.path.basename(f)}: {type(e).__name__}: {e}")
        names -= stdlib | PROVIDED | set(u.get("local") or [])
        missing, fallback = [], []
        for n in sorted(names):
            if importable(n, base):
                continue
            (fallback if importable(n, [FALLBACK]) else missing).append(n)
        out.append({"name": u["name"], "missing": missing, "fallback": fallback, "errors": errors})
    print(json.dumps({"python": sys.executable, "version": sys.version.split()[0], "udfs": out}))


if __name__ == "__main__":
    main()
