"""A directory of precomputed products (results, predictions, spectra, range curves...), no pickle.

Built once (``python -m initlab.ui.results.build DIR``, at image build) and loaded by every server process
at start, so that the first students of a lecture are served as fast as the last ones.

Layout of ``DIR``::

    manifest.json        {"format", "code_version", "versions", "created", "entries": [...]}
    <id>.npz             the entry's arrays (numpy, loaded with allow_pickle=False)
    <id>.<n>.parquet     the entry's tables (pandas DataFrames)

Each entry of the manifest has its ``kind`` (see :mod:`initlab.ui.results.products`), its ``key`` -- the
canonical JSON of its arguments (a scenario as ``dataclasses.asdict``, sorted keys) -- and ``value``,
the JSON tree of the value: plain JSON for None, booleans, finite numbers and strings, and tagged
nodes ``{"$float": hex}`` (a non-finite float by its 8 bytes: NaN keeps its sign), ``{"$array": name}`` (an array of the entry's .npz), ``{"$scalar": name}`` (a numpy scalar, stored as a
0-d array), ``{"$frame": file, ...}`` (a parquet table), ``{"$tuple": [...]}``, ``{"$list": [...]}``,
``{"$dict": {...}}`` and ``{"$type": name, "fields": {...}}`` for the dataclasses and named tuples of
:data:`TYPES`, an allow-list: loading never constructs any other type and never runs code from the
files (``np.load(allow_pickle=False)``; parquet and JSON hold data only).

Staleness: :func:`code_version` hashes every source file of the ``initlab`` package with the store
format and the numpy, pandas and pyarrow versions. :func:`load` refuses a directory built by other
code (it returns None and logs why: the app then computes as usual, "cold"); the build command
rebuilds it. Loaded values equal the computed ones bit for bit and are read-only (arrays not
writable, ``Result.layers`` a :class:`~initlab.signal.network.ReadOnlyFrame`), since they are shared.

numpy, pandas (and pyarrow, through pandas' parquet) only: no streamlit.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import math
import os
import shutil
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from initlab.signal import lsuv
from initlab.signal import network
from initlab.teaching import ranges
from initlab.signal import spectra
from initlab.numerics import stats
from initlab.theory import meanfield as theory
from initlab.training import engine as training
from initlab.training.scenario import TrainScenario
from initlab.signal.scenario import Scenario

__all__ = ["FORMAT", "MANIFEST", "Store", "StoreError", "TYPES", "canonical_key", "code_version", "load",
           "read_manifest", "save", "versions"]

FORMAT = 1  # bump when the layout or the encoding changes
MANIFEST = "manifest.json"
PACKAGE = Path(__file__).resolve().parents[2]  # initlab/: the code a store was built from
log = logging.getLogger("initlab")

# The only types a store may construct (besides None, bool, int, float, str, tuple, list, dict, numpy
# arrays and scalars and DataFrames). A new product type is one line here.
TYPES: dict[str, type] = {f"{t.__module__}.{t.__qualname__}": t for t in (
    Scenario,
    network.Result,
    stats.Histograms,
    stats.Moments,
    lsuv.LsuvReport,
    theory.Prediction,
    theory.PhaseDiagram,
    theory.DepthScaleCurve,
    spectra.JacobianSpectra,
    ranges.RangePlan,
    ranges.EntryPlan,
    TrainScenario,
    training.TrainResult,
    training.TrainData,
)}


class StoreError(ValueError):
    """A store directory that cannot be read or written as asked (the message says why)."""


# ------------------------------------------------------------------------------------------- versions


def _sources(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)


def code_version(package: Path = PACKAGE) -> str:
    """What the stored values depend on: a SHA-256 of the package's source files and of the app's
    entry point beside it (``app.py``: the charts a store lists are the pages'), paths and bytes, with
    the store format and the numpy / pandas / pyarrow / Python versions (first 16 hex digits)."""
    h = hashlib.sha256()
    h.update(json.dumps(versions(), sort_keys=True).encode())
    files = [(p.relative_to(package).as_posix(), p) for p in _sources(package)]
    app = package.parent / "app.py"
    if app.is_file():
        files.append(("../app.py", app))
    for rel, p in files:
        h.update(rel.encode() + b"\0")
        h.update(p.read_bytes() + b"\0")
    return h.hexdigest()[:16]


def versions() -> dict[str, Any]:
    """The store format and the versions of the libraries that compute and encode the values."""
    import pyarrow

    return {"format": FORMAT, "numpy": np.__version__, "pandas": pd.__version__, "pyarrow": pyarrow.__version__,
            "python": f"{sys.version_info.major}.{sys.version_info.minor}"}


# ----------------------------------------------------------------------------------------------- keys


def _key_json(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"$type": _type_name(value), "fields": {k: _key_json(v) for k, v in dataclasses.asdict(value).items()}}
    if isinstance(value, (tuple, list)):
        return [_key_json(v) for v in value]
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    raise StoreError(f"a key holds only scenarios, names and numbers, not {type(value).__name__}")


def canonical_key(kind: str, args: tuple[Hashable, ...]) -> str:
    """The canonical JSON of ``kind`` and its arguments: the on-disk name of an entry."""
    return json.dumps([kind, _key_json(list(args))], sort_keys=True, separators=(",", ":"), allow_nan=False)


def _args_from_key(node: Any) -> Any:
    """The arguments (hashable: tuples, scenarios) back from a key's JSON."""
    if isinstance(node, list):
        return tuple(_args_from_key(v) for v in node)
    if isinstance(node, dict):
        cls = _allowed(node.get("$type"))
        return cls(**{k: _args_from_key(v) for k, v in node["fields"].items()})
    return node


def _entry_id(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:20]


# ------------------------------------------------------------------------------------------- encoding


def _type_name(value: Any) -> str:
    name = f"{type(value).__module__}.{type(value).__qualname__}"
    if TYPES.get(name) is not type(value):
        raise StoreError(f"{name} is not a type the store may hold (add it to initlab.ui.results.store.TYPES)")
    return name


def _allowed(name: Any) -> type:
    cls = TYPES.get(name) if isinstance(name, str) else None
    if cls is None:
        raise StoreError(f"refusing to construct {name!r}: not one of the store's types")
    return cls


class _Writer:
    """Collects one entry's arrays and tables while its value is turned into a JSON tree."""

    def __init__(self, entry_id: str) -> None:
        self.id = entry_id
        self.arrays: dict[str, np.ndarray] = {}
        self.frames: dict[str, pd.DataFrame] = {}

    def array(self, a: np.ndarray) -> str:
        if a.dtype.hasobject or a.dtype.kind not in "biufcUSMm":
            raise StoreError(f"arrays of dtype {a.dtype} cannot be stored without pickle")
        name = f"a{len(self.arrays)}"
        self.arrays[name] = a
        return name

    def encode(self, value: Any) -> Any:
        if value is None or isinstance(value, (bool, str)):
            return value
        if type(value) is int:
            return value
        if type(value) is float:  # non-finite ones by their bits: JSON has no NaN (nor its sign)
            return value if math.isfinite(value) else {"$float": struct.pack(">d", value).hex()}
        if isinstance(value, np.ndarray):
            return {"$array": self.array(value)}
        if isinstance(value, np.generic):
            return {"$scalar": self.array(np.asarray(value))}
        if isinstance(value, pd.DataFrame):
            return self.frame(value)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            name = _type_name(value)
            return {"$type": name, "fields": {f.name: self.encode(getattr(value, f.name))
                                              for f in dataclasses.fields(value)}}
        if isinstance(value, tuple) and hasattr(value, "_fields"):  # a NamedTuple
            name = _type_name(value)
            return {"$type": name, "fields": {k: self.encode(v) for k, v in zip(value._fields, value)}}
        if isinstance(value, tuple):
            return {"$tuple": [self.encode(v) for v in value]}
        if isinstance(value, list):
            return {"$list": [self.encode(v) for v in value]}
        if isinstance(value, dict) and all(isinstance(k, str) for k in value):
            return {"$dict": {k: self.encode(v) for k, v in value.items()}}
        raise StoreError(f"cannot store a {type(value).__name__}")

    def frame(self, df: pd.DataFrame) -> dict[str, Any]:
        if not all(isinstance(c, str) for c in df.columns):
            raise StoreError("only tables with string column names can be stored")
        plain = pd.DataFrame(df, copy=True)  # a plain DataFrame (also for a ReadOnlyFrame)
        attrs = self.encode(dict(df.attrs))
        plain.attrs = {}  # parquet would try to write them as JSON; they are in the tree instead
        name = f"{self.id}.{len(self.frames)}.parquet"
        self.frames[name] = plain
        return {"$frame": name, "read_only": isinstance(df, network.ReadOnlyFrame), "attrs": attrs}


class _Reader:
    """Rebuilds one entry's value from its JSON tree, its arrays and its tables (read-only)."""

    def __init__(self, directory: Path, arrays: dict[str, np.ndarray]) -> None:
        self.dir = directory
        self.arrays = arrays

    def decode(self, node: Any) -> Any:
        if node is None or isinstance(node, (bool, int, float, str)):
            return node
        if isinstance(node, list):
            raise StoreError("untagged list in a stored value")
        if not isinstance(node, dict) or len(node) == 0:
            raise StoreError(f"malformed node {node!r:.80}")
        if "$float" in node:
            raw = bytes.fromhex(node["$float"])
            if len(raw) != 8:
                raise StoreError("bad $float")
            return struct.unpack(">d", raw)[0]
        if "$array" in node:
            return self._array(node["$array"])
        if "$scalar" in node:
            return self._array(node["$scalar"])[()]
        if "$frame" in node:
            return self._frame(node)
        if "$tuple" in node:
            return tuple(self.decode(v) for v in node["$tuple"])
        if "$list" in node:
            return [self.decode(v) for v in node["$list"]]
        if "$dict" in node:
            return {str(k): self.decode(v) for k, v in node["$dict"].items()}
        if "$type" in node:
            cls = _allowed(node["$type"])
            fields = {str(k): self.decode(v) for k, v in node["fields"].items()}
            return cls(**fields)
        raise StoreError(f"unknown node {sorted(node)!r:.80}")

    def _array(self, name: Any) -> np.ndarray:
        try:
            a = self.arrays[name]
        except (KeyError, TypeError):
            raise StoreError(f"array {name!r} missing") from None
        a.setflags(write=False)
        return a

    def _frame(self, node: dict[str, Any]) -> pd.DataFrame:
        name = node["$frame"]
        if not isinstance(name, str) or Path(name).name != name or not name.endswith(".parquet"):
            raise StoreError(f"bad table file name {name!r:.80}")
        df = pd.read_parquet(self.dir / name, engine="pyarrow")
        if node.get("read_only"):
            df = network.read_only_frame(df)
        df.attrs = self.decode(node.get("attrs", {"$dict": {}}))
        return df


# ------------------------------------------------------------------------------------------- the store


class Store:
    """Loaded products: ``get(kind, args)`` is a dict lookup (None-valued products are stored too)."""

    MISSING: Any = object()

    def __init__(self, directory: Path | None, version: str, values: dict[tuple[str, tuple[Hashable, ...]], Any],
                 figures: list[tuple[str, tuple[Hashable, ...]]] | None = None) -> None:
        self.directory = directory
        self.version = version
        self._values = values
        self.figures = figures or []  # (builder name, arguments) of the charts the preset pages draw

    def get(self, kind: str, args: tuple[Hashable, ...]) -> Any:
        """The stored value of ``kind(*args)``, or :attr:`MISSING`."""
        try:
            return self._values.get((kind, args), Store.MISSING)
        except TypeError:  # unhashable arguments: never stored
            return Store.MISSING

    def __contains__(self, item: tuple[str, tuple[Hashable, ...]]) -> bool:
        return self.get(*item) is not Store.MISSING

    def __len__(self) -> int:
        return len(self._values)

    def keys(self) -> list[tuple[str, tuple[Hashable, ...]]]:
        return list(self._values)


def save(directory: str | Path, items: Iterable[tuple[str, tuple[Hashable, ...], Any]],
         version: str | None = None, figures: Iterable[tuple[str, tuple[Hashable, ...]]] = ()) -> Path:
    """Write ``(kind, args, value)`` items as a store at ``directory``, replacing what was there.

    ``figures`` are the ``(builder name, arguments)`` of charts a server should build at start from
    the stored values (see :mod:`initlab.ui.results.build`); their arguments are stored like keys.
    Written next to ``directory`` first and then moved in place, so a reader sees the old store or
    the new one.
    """
    directory = Path(directory).resolve()
    directory.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{directory.name}.new-", dir=directory.parent))
    try:
        entries = []
        seen: set[str] = set()
        for kind, args, value in items:
            key = canonical_key(kind, args)
            if key in seen:
                raise StoreError(f"duplicate entry {key:.120}")
            seen.add(key)
            eid = _entry_id(key)
            w = _Writer(eid)
            tree = w.encode(value)
            if w.arrays:
                with open(tmp / f"{eid}.npz", "wb") as f:
                    np.savez(f, allow_pickle=False, **w.arrays)
            for name, df in w.frames.items():
                df.to_parquet(tmp / name, engine="pyarrow")  # a RangeIndex as metadata, another as a column
            entries.append({"kind": kind, "key": key, "id": eid, "arrays": bool(w.arrays), "value": tree})
        figs = [json.loads(canonical_key(name, args)) for name, args in figures]
        manifest = {"format": FORMAT, "code_version": version or code_version(), "versions": versions(),
                    "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "entries": entries,
                    "figures": figs}
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=1, allow_nan=False))
        os.chmod(tmp, 0o755)
        old = None
        if directory.exists():
            old = directory.with_name(f".{directory.name}.old-{os.getpid()}")
            os.rename(directory, old)
        os.rename(tmp, directory)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return directory


def read_manifest(directory: str | Path) -> dict[str, Any]:
    """The manifest of a store (``StoreError`` if there is none or it is not a store's)."""
    path = Path(directory) / MANIFEST
    try:
        with open(path, "rb") as f:
            manifest = json.loads(f.read())
    except FileNotFoundError:
        raise StoreError(f"no {MANIFEST} in {directory}") from None
    except (OSError, ValueError) as exc:
        raise StoreError(f"cannot read {path}: {exc}") from None
    if not isinstance(manifest, dict) or not isinstance(manifest.get("entries"), list):
        raise StoreError(f"{path} is not a store manifest")
    return manifest


def load(directory: str | Path | None, version: str | None = None,
         on_log: Callable[[int, str], None] | None = None) -> Store | None:
    """The store at ``directory``, or None (and one log line saying why) when there is none, when it
    was built by other code (stale) or when it cannot be read: the caller then computes as usual.

    ``version`` is this code's :func:`code_version` (computed when not given).
    """
    say = on_log or (lambda level, msg: log.log(level, "%s", msg))
    if directory is None or str(directory) == "":
        say(logging.INFO, "no precomputed store (INITLAB_CACHE_DIR is not set): serving cold, computing on demand")
        return None
    directory = Path(directory)
    t0 = time.perf_counter()
    try:
        manifest = read_manifest(directory)
        want = version or code_version()
        have = manifest.get("code_version")
        if manifest.get("format") != FORMAT or have != want:
            say(logging.WARNING, f"precomputed store {directory} is stale (built for code version {have}, format "
                f"{manifest.get('format')}; this code is {want}, format {FORMAT}): ignoring it, serving cold; "
                "rebuild it with: python -m initlab.ui.results.build " + str(directory))
            return None
        values: dict[tuple[str, tuple[Hashable, ...]], Any] = {}
        for e in manifest["entries"]:
            kind, key, eid = e["kind"], e["key"], e["id"]
            if not (isinstance(eid, str) and eid.isalnum()) or eid != _entry_id(key):
                raise StoreError(f"entry id {eid!r:.40} does not match its key")
            k_kind, k_args = json.loads(key)
            if k_kind != kind:
                raise StoreError(f"entry {eid}: kind {kind!r} differs from its key's")
            arrays: dict[str, np.ndarray] = {}
            if e.get("arrays"):
                with np.load(directory / f"{eid}.npz", allow_pickle=False) as z:
                    arrays = {n: z[n] for n in z.files}
            values[(kind, _args_from_key(k_args))] = _Reader(directory, arrays).decode(e["value"])
        figures = [(str(name), _args_from_key(args)) for name, args in manifest.get("figures", [])]
    except Exception as exc:  # noqa: BLE001 - whatever is wrong with the files, the app computes instead
        say(logging.WARNING, f"precomputed store {directory} cannot be used ({type(exc).__name__}: {exc}): "
            "serving cold, computing on demand")
        return None
    dt = time.perf_counter() - t0
    say(logging.INFO, f"precomputed store {directory} loaded: {len(values)} entries in {dt:.2f} s "
        f"(code version {want}, built {manifest.get('created')})")
    return Store(directory, want, values, figures)

