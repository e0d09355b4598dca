"""Methods from outside csslab: a file (``path/to/mine.py:Mine``), a module (``package.module:Mine``) or a plugin, a
package declaring entry points in the group ``csslab.methods`` (``name = "module:Class"``):
docs/getting-started.md#a-method-of-your-own walks a user through them.

A reference loads to a ``Method`` subclass checked as ``register`` checks a built-in, or fails with one line that
names what is wrong (the file and line of an error in the user's code). A file is read once and executed from
those bytes, so the digest a run records (``method_source``) is of the code that ran.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import importlib
import inspect
import re
import sys
import traceback
import types
from importlib import metadata
from pathlib import Path

from csslab.methods.base import Method

GROUP = "csslab.methods"  # the entry-point group of plugins
_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*")  # a CLI word: --method lwf-mc
_loaded: dict[tuple[Path, str], types.ModuleType] = {}  # (file, digest) -> module: a file runs once per content


def is_reference(name: str) -> bool:
    """Whether ``name`` is a ``file.py:Class`` or ``module:Class`` reference rather than a registry name."""
    return isinstance(name, str) and ":" in name


def _is_file(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target or target.startswith(("~", "."))


def _digest(data: bytes) -> str:
    return hashlib.blake2b(data, digest_size=8).hexdigest()


def _where(error: BaseException, files=()) -> str:
    """' (FILE, line N)': where ``error`` was raised in the user's code; the innermost frame in ``files`` (or, none
    given, outside Python's import machinery)."""
    if isinstance(error, SyntaxError) and error.filename:
        return f" ({error.filename}, line {error.lineno})"
    frames = [f for f in traceback.extract_tb(error.__traceback__)
              if (str(Path(f.filename)) in files if files else not f.filename.startswith("<"))]
    return f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""


def _failure(what: str, error: BaseException, files=()) -> ValueError:
    """``what``: the error's type and first line, and where in the user's code it was raised."""
    text = error.msg if isinstance(error, SyntaxError) else (str(error).strip().splitlines() or [""])[0]
    return ValueError(f"{what}: {type(error).__name__}{': ' + text if text else ''}{_where(error, files)}")


def _load_file(ref: str, target: str) -> tuple[types.ModuleType, str]:
    path = Path(target).expanduser().resolve()
    if not path.is_file():
        what = "a directory" if path.is_dir() else "no such file"
        raise ValueError(f"cannot load method {ref!r}: {path} is {what}; expected a Python file, e.g. "
                         "path/to/mine.py:Mine")
    source = path.read_bytes()
    digest = _digest(source)
    if (path, digest) in _loaded:
        return _loaded[(path, digest)], digest
    name = f"csslab_user_{re.sub(r'[^0-9a-zA-Z_]', '_', path.stem)}_{digest}"
    module = types.ModuleType(name)
    module.__file__ = str(path)
    sys.modules[name] = module  # dataclasses and typing.get_type_hints look the class's module up there
    sys.path.insert(0, str(path.parent))  # as `python mine.py` would: the file may import its neighbours
    try:
        exec(compile(source, str(path), "exec"), module.__dict__)  # noqa: S102 (the user's own method, by their ask)
    except BaseException as error:  # its syntax, imports or top-level code: one line naming file and line
        del sys.modules[name]
        if isinstance(error, KeyboardInterrupt):
            raise
        raise _failure(f"cannot load method {ref!r}", error, (str(path),)) from None
    finally:
        sys.path.remove(str(path.parent))
    _loaded[(path, digest)] = module
    return module, digest


def _load_module(ref: str, target: str) -> tuple[types.ModuleType, str]:
    try:
        module = importlib.import_module(target)
    except ModuleNotFoundError as error:
        if error.name and (target == error.name or target.startswith(f"{error.name}.")):  # not one it imports
            raise ValueError(f"cannot load method {ref!r}: no module named {error.name!r} (is its package "
                             "installed, or its folder on PYTHONPATH?)") from None
        raise _failure(f"cannot load method {ref!r}", error) from None
    except Exception as error:  # noqa: BLE001 (the user's module: whatever it raises is one line)
        raise _failure(f"cannot load method {ref!r}", error) from None
    source = Path(module.__file__) if getattr(module, "__file__", None) else None
    return module, _digest(source.read_bytes()) if source and source.is_file() else ""


def _method_classes(module) -> list[str]:
    return [n for n, v in vars(module).items() if isinstance(v, type) and issubclass(v, Method) and v is not Method
            and v.__module__ == module.__name__]


def check_method(cls, what: str, builtins=()) -> type[Method]:
    """``cls`` if it is a method csslab can run as a built-in (as ``register`` checks one), else a one-line
    ValueError that starts with ``what``; ``builtins``: names it may not take."""
    if not (isinstance(cls, type) and issubclass(cls, Method)):
        raise ValueError(f"{what}: {cls!r} is not a subclass of csslab.methods.Method")
    if inspect.isabstract(cls):
        raise ValueError(f"{what}: {cls.__name__} is abstract (define {', '.join(sorted(cls.__abstractmethods__))})")
    if not (isinstance(cls.Params, type) and dataclasses.is_dataclass(cls.Params)):
        raise ValueError(f"{what}: its Params {cls.Params!r} must be a dataclass (fields with defaults, e.g. "
                         "lam: float = 10.0)")
    if not isinstance(cls.name, str) or not _NAME_RE.fullmatch(cls.name) or cls.name == Method.name:
        raise ValueError(f"{what}: invalid name {cls.name!r} of {cls.__name__}: set name = '...' to lowercase "
                         "letters, digits and hyphens, e.g. 'lwf-mc'")
    if cls.name in builtins:
        raise ValueError(f"{what}: name {cls.name!r} of {cls.__name__} is a built-in method's: choose another")
    return cls


def load_reference(ref: str, builtins=()) -> tuple[type[Method], str]:
    """The class ``ref`` names (``path/to/file.py:Class`` or ``package.module:Class``) and the digest of its source
    file ('' when it has none); every failure is a one-line ValueError naming the reference."""
    target, _, attr = ref.rpartition(":")
    if not target or not attr.isidentifier():
        raise ValueError(f"invalid method reference {ref!r}: expected path/to/file.py:Class or package.module:Class")
    module, digest = (_load_file if _is_file(target) else _load_module)(ref, target)
    if not hasattr(module, attr):
        found = _method_classes(module)
        there = f"its methods: {', '.join(found)}" if found else "it defines no Method subclass"
        raise ValueError(f"cannot load method {ref!r}: no class {attr!r} in {module.__file__ or target} ({there})")
    return check_method(getattr(module, attr), f"invalid method {ref!r}", builtins), digest


def plugins() -> dict[str, metadata.EntryPoint]:
    """The entry points of group ``csslab.methods`` of every installed distribution, by name (first one wins)."""
    return dict(_plugins(tuple(sys.path)))


@functools.lru_cache(maxsize=4)
def _plugins(path: tuple) -> dict[str, metadata.EntryPoint]:  # a scan of sys.path: once per process and path
    found: dict[str, metadata.EntryPoint] = {}
    for entry in metadata.entry_points(group=GROUP):
        found.setdefault(entry.name, entry)
    return found


def plugin_origin(entry: metadata.EntryPoint) -> str:
    dist = getattr(entry, "dist", None)
    package = f"{dist.metadata['Name']} {dist.version}" if dist is not None else "unknown distribution"
    return f"plugin {package} ({entry.value})"


def load_plugin(entry: metadata.EntryPoint, builtins=()) -> tuple[type[Method], str]:
    """The class a plugin's entry point names and its version (``DIST VERSION``, with its file's digest)."""
    what = f"plugin method {entry.name!r} of {plugin_origin(entry)}"
    try:
        cls = entry.load()
    except Exception as error:  # noqa: BLE001 (an installed package's failure must not break the built-ins)
        raise _failure(f"cannot load {what}", error) from None
    check_method(cls, f"invalid {what}", builtins)
    if cls.name != entry.name:
        raise ValueError(f"invalid {what}: its class's name is {cls.name!r}; the entry point's name must be it")
    source = Path(inspect.getsourcefile(cls) or "")
    digest = _digest(source.read_bytes()) if source.is_file() else ""
    return cls, plugin_origin(entry).split(" (")[0].removeprefix("plugin ") + (f" file {digest}" if digest else "")
