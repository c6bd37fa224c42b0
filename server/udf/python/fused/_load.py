"""fused.load for UDFs kept on disk: by name, by GitHub tree URL, or by path.

Fused downloads UDFs from GitHub or its catalog; tilesmith finds the same folders on the UDF
path instead: the served folder first, then every `--udf-path DIR` (TILESMITH_UDF_PATH, joined
with os.pathsep). A GitHub URL such as
`https://github.com/fusedio/udfs/tree/3991434/public/common/` is mapped to its path inside the
repository (the commit is ignored): `DIR/public/common`, then `DIR/common`.
"""
import builtins
import json
import os
import re
import sys
import threading
import types

_GITHUB = re.compile(r"^https?://(?:www\.)?github\.com/[^/]+/[^/]+/(?:tree|blob)/[^/]+/(?P<path>.*?)/?$")
_RAW = re.compile(r"^https?://raw\.githubusercontent\.com/[^/]+/[^/]+/[^/]+/(?P<path>.*?)/?$")
_lock = threading.RLock()
_loaded = {}  # (entry, signature) -> LoadedUdf


class UdfNotFound(FileNotFoundError):
    pass


def udf_path():
    """The folders searched, in order (the served folder is always the first)."""
    raw = os.environ.get("TILESMITH_UDF_PATH", "")
    return [os.path.abspath(p) for p in raw.split(os.pathsep) if p]


def _entry_of(folder):
    """The .py file a UDF folder is served from: meta.json `source` / `entrypoint` file, then
    Name.py, main.py, or the folder's only .py file."""
    name = os.path.basename(folder.rstrip(os.sep))
    meta_path = os.path.join(folder, "meta.json")
    entrypoint = None
    if os.path.isfile(meta_path):
        try:
            with open(meta_path, encoding="utf-8") as fh:
                meta = json.load(fh)
        except (OSError, ValueError):
            meta = {}
        step = (((meta.get("job_config") or {}).get("steps") or [{}])[0] or {}).get("udf") or meta
        for key in ("source", "entrypoint_file"):
            src = step.get(key) if isinstance(step, dict) else None
            if isinstance(src, str) and src.endswith(".py") and os.path.isfile(os.path.join(folder, os.path.basename(src))):
                return os.path.join(folder, os.path.basename(src)), step.get("entrypoint")
        entrypoint = step.get("entrypoint") if isinstance(step, dict) else None
    for cand in (name + ".py", "main.py"):
        if os.path.isfile(os.path.join(folder, cand)):
            return os.path.join(folder, cand), entrypoint
    pys = [f for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("_") and f != "utils.py"]
    if len(pys) == 1:
        return os.path.join(folder, pys[0]), entrypoint
    raise UdfNotFound(f"{name}: no UDF file in this folder (looked for {name}.py, main.py or meta.json's source)")


def _candidates(ref):
    """Paths (relative to each UDF path folder, or absolute) that `ref` may name."""
    m = _GITHUB.match(ref) or _RAW.match(ref)
    if m:
        parts = [p for p in m.group("path").split("/") if p]
        if parts and parts[-1].endswith(".py"):
            parts = parts[:-1]
        out = ["/".join(parts[i:]) for i in range(len(parts))]
        return out, True
    if ref.startswith(("http://", "https://")):
        raise NotImplementedError(
            f"fused.load({ref!r}): tilesmith loads UDFs from disk only; it maps GitHub tree URLs "
            "(https://github.com/OWNER/REPO/tree/REF/PATH) onto the UDF path, not other URLs")
    # "user@example.com/Name" or "team/Name" in Fused's catalog: the last part is the folder.
    return [ref, ref.rsplit("/", 1)[-1]], False


def resolve(ref):
    """The UDF folder (or single .py file) `ref` names; raises UdfNotFound saying where it looked."""
    if not isinstance(ref, str) or not ref.strip():
        raise TypeError(f"fused.load needs a UDF name, a GitHub URL or a path, got {type(ref).__name__}")
    ref = ref.strip()
    if not ref.startswith(("http://", "https://")):
        p = os.path.abspath(os.path.expanduser(ref))
        if os.path.isdir(p) or (os.path.isfile(p) and p.endswith(".py")):
            return p
    rels, from_url = _candidates(ref)
    roots = udf_path()
    for root in roots:
        for rel in rels:
            for variant in (rel, rel + ".py") if not from_url else (rel,):
                p = os.path.join(root, variant)
                if (os.path.isdir(p) and not os.path.basename(p).startswith(".")) or (os.path.isfile(p) and p.endswith(".py")):
                    return p
    # A copy of Fused's collection keeps UDFs one level down (public/Name, community/Name):
    # a bare name finds them there too, and (names copied between systems) in any letter case.
    wanted = rels[-1].lower() if rels else ""
    for root in roots:
        for sub in ["", *sorted(_subfolders(root))]:
            base = os.path.join(root, sub) if sub else root
            try:
                for e in sorted(os.listdir(base)):
                    if e.lower() in (wanted, wanted + ".py") and not e.startswith("."):
                        return os.path.join(base, e)
            except OSError:
                continue
    where = ", ".join(roots) or "(no UDF path set)"
    raise UdfNotFound(
        f"fused.load({ref!r}): no UDF folder {' or '.join(dict.fromkeys(rels))} in the UDF path ({where}); "
        "copy the UDF's folder there or add its parent with --udf-path")


def _subfolders(root):
    try:
        return [e for e in os.listdir(root) if not e.startswith((".", "_")) and os.path.isdir(os.path.join(root, e))]
    except OSError:
        return []


def _signature(paths):
    out = []
    for p in paths:
        try:
            st = os.stat(p)
            out.append((p, st.st_mtime_ns, st.st_size))
        except OSError:
            out.append((p, None, None))
    return tuple(out)


class LoadedUdf:
    """What fused.load returns: the UDF module's names as attributes (`common.foo()`), its
    helper modules (`.utils`), and the UDF function itself (`fused.run(loaded, **params)` or
    `loaded(**params)`)."""

    def __init__(self, name, entry, module, func, local):
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "entry", entry)
        object.__setattr__(self, "module", module)
        object.__setattr__(self, "_func", func)
        object.__setattr__(self, "_local", local)

    @property
    def entrypoint(self):
        return getattr(self._func, "__name__", None)

    @property
    def code(self):
        with open(self.entry, encoding="utf-8") as fh:
            return fh.read()

    @property
    def utils(self):
        if "utils" in self.module.__dict__ and isinstance(self.module.__dict__["utils"], types.ModuleType):
            return self.module.__dict__["utils"]
        if "utils" in self._local:
            return self._local["utils"]
        # Newer Fused UDFs keep their helpers in the main file: `.utils` is the module itself.
        return self.module

    def __getattr__(self, attr):
        if attr.startswith("__"):
            raise AttributeError(attr)
        try:
            return getattr(self.module, attr)
        except AttributeError:
            mod = self._local.get(attr)
            if mod is not None:
                return mod
            raise AttributeError(f"UDF {self.name!r} ({os.path.basename(self.entry)}) has no attribute {attr!r}") from None

    def __dir__(self):
        return sorted(set(self.module.__dict__) | {"utils", "name", "entry", "code", "entrypoint"})

    def __call__(self, *args, **kwargs):
        if self._func is None:
            raise TypeError(f"UDF {self.name!r} has no UDF function to run (no @fused.udf and no `udf`)")
        return self._func(*args, **kwargs)

    def __repr__(self):
        return f"<fused UDF {self.name!r} from {self.entry}>"


def _find_func(module, entrypoint):
    ns = module.__dict__
    marked = [v for v in ns.values() if callable(v) and getattr(v, "__tilesmith_udf__", None) is not None
              and getattr(v, "__module__", None) == module.__name__]
    wanted = entrypoint or "udf"
    for v in marked:
        if getattr(v, "__name__", None) == wanted:
            return v
    if marked:
        return marked[0]
    fn = ns.get(wanted)
    return fn if callable(fn) else None


def _module_names(folder):
    out = set()
    try:
        for e in os.listdir(folder):
            if e.endswith(".py"):
                out.add(e[:-3])
            elif os.path.isfile(os.path.join(folder, e, "__init__.py")):
                out.add(e)
    except OSError:
        pass
    return out


def load(ref):
    """Loads the UDF `ref` names (see `resolve`) into its own module, once per file version."""
    target = resolve(ref)
    if os.path.isdir(target):
        folder = target
        entry, entrypoint = _entry_of(folder)
    else:
        folder, entry, entrypoint = os.path.dirname(target), target, None
    files = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".py") or f == "meta.json")
    key = (entry, _signature(files))
    with _lock:
        got = _loaded.get(key)
        if got is not None:
            return got
        name = os.path.basename(folder) if os.path.isdir(target) else os.path.basename(entry)[:-3]
        got = _exec(name, folder, entry, entrypoint)
        _loaded[key] = got
        return got


class _Scope:
    """The import context of one loaded UDF: its folder first on sys.path and its own helper
    modules (utils …) in sys.modules, swapped in around its code and swapped out afterwards,
    so the caller's modules of the same names are untouched either way."""

    def __init__(self, folder):
        self.folder = folder
        self.names = _module_names(folder)
        self.local = {}
        self._depth = 0

    def __enter__(self):
        if self._depth == 0:
            self._saved = {n: sys.modules.pop(n) for n in list(sys.modules) if n.split(".")[0] in self.names}
            self._path = list(sys.path)
            sys.modules.update(self.local)
            sys.path.insert(0, self.folder)
        self._depth += 1
        return self

    def __exit__(self, *exc):
        self._depth -= 1
        if self._depth == 0:
            for n in list(sys.modules):
                if n.split(".")[0] in self.names:
                    mod = sys.modules.pop(n)
                    self.local.setdefault(n, mod)
            sys.modules.update(self._saved)
            sys.path[:] = self._path
        return False

    def importer(self):
        """An `__import__` for the loaded UDF's modules: imports of its own helper names made at
        call time (`from utils import x` inside a function) resolve in this scope."""
        real = builtins.__import__
        names = self.names

        def scoped_import(name, globals=None, locals=None, fromlist=(), level=0):
            if level == 0 and name.split(".")[0] in names:
                with self:
                    return real(name, globals, locals, fromlist, level)
            return real(name, globals, locals, fromlist, level)

        return scoped_import


def _scope_module(mod, scope):
    """Gives the loaded UDF's main module the scoped `__import__` (before its code runs: since
    Python 3.10 functions keep the builtins they were created with). Its helper modules'
    functions import with the normal machinery."""
    b = dict(builtins.__dict__)
    b["__import__"] = scope.importer()
    mod.__dict__["__builtins__"] = b


def _exec(name, folder, entry, entrypoint):
    import fused

    scope = _Scope(folder)
    modname = "tilesmith_loaded_" + re.sub(r"\W", "_", f"{name}_{abs(hash(entry))}")
    module = types.ModuleType(modname)
    module.__file__ = entry
    module.__dict__["fused"] = fused
    _scope_module(module, scope)
    with scope:
        sys.modules[modname] = module
        with open(entry, "rb") as fh:
            code = compile(fh.read(), entry, "exec")
        exec(code, module.__dict__)
    return LoadedUdf(name, entry, module, _find_func(module, entrypoint), scope.local)
