"""PDDL translation of ALFWorld games and its on-disk cache.

:func:`translate` runs fast-downward's translator (as textworld does) and keeps
what the engine needs (:class:`Translation`); :func:`load_translation` goes
through a persistent cache keyed by a content hash (:func:`translation_key`);
:func:`warm_translation_cache` fills that cache in parallel processes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import sys
import tempfile
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent_gym.alfworld.engine_lock import LOCK
from agent_gym.errors import GameLoadError, require

require("fast_downward", "alfworld")

import fast_downward  # noqa: E402

#: Bump when the on-disk cache format changes.
CACHE_FORMAT = 1


@dataclass(frozen=True)
class Translation:
    """What the engine keeps of the PDDL translator's output (plain data, JSON-able)."""

    sas: str
    action_params: dict[str, list[tuple[str, str]]]  # action -> [(param name without '?', type)]
    types: list[tuple[str, list[str]]]  # (type name, supertype names)
    objects: dict[str, str]  # object name -> type
    init_facts: list[tuple[str, list[str]]]  # (predicate, [object names]) from the problem's :init
    dynamic_predicates: list[str]  # predicates some action effect or axiom can change

    def to_json(self) -> dict[str, Any]:
        return {
            "format": CACHE_FORMAT,
            "sas": self.sas,
            "action_params": self.action_params,
            "types": self.types,
            "objects": self.objects,
            "init_facts": self.init_facts,
            "dynamic_predicates": self.dynamic_predicates,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Translation:
        if data.get("format") != CACHE_FORMAT:
            raise ValueError("stale cache format")
        return cls(
            sas=data["sas"],
            action_params={k: [tuple(p) for p in v] for k, v in data["action_params"].items()},
            types=[(t, list(s)) for t, s in data["types"]],
            objects=dict(data["objects"]),
            init_facts=[(p, list(a)) for p, a in data["init_facts"]],
            dynamic_predicates=list(data["dynamic_predicates"]),
        )


def translate(domain: str, problem: str, source: str = "<game>") -> Translation:
    """Run fast-downward's PDDL translator (as textworld does) and keep what the engine needs.

    Raises :class:`GameLoadError` naming ``source`` on any failure, including the
    translator's ``sys.exit`` calls.
    """
    argv, stdout = sys.argv, sys.stdout
    try:
        with LOCK:
            task, sas = fast_downward.pddl2sas(domain, problem)
    except (Exception, SystemExit) as exc:  # the translator calls sys.exit on bad input
        raise GameLoadError(f"cannot translate the PDDL of ALFWorld game {source}: {describe_error(exc)}") from None
    finally:
        sys.argv, sys.stdout = argv, stdout
    try:
        name2type = {o.name: o.type_name for o in task.objects}
        init_facts: list[tuple[str, list[str]]] = []
        for atom in task.init:
            if isinstance(atom, fast_downward.translate.pddl.conditions.Atom):
                if atom.predicate == "=":
                    continue
                [name2type[a] for a in atom.args]  # same KeyError as stock on unknown objects
                init_facts.append((atom.predicate, list(atom.args)))
            elif isinstance(atom, fast_downward.translate.pddl.f_expression.Assign):
                if atom.fluent.symbol == "total-cost":
                    continue
                name = f"{atom.expression.value}"
                if str.isdigit(name):
                    continue
                [name2type[a] for a in atom.fluent.args]
                init_facts.append((name, list(atom.fluent.args)))
        dynamic: set[str] = set()
        for action in task.actions:
            for effect in action.effects:
                dynamic.add(effect.literal.predicate)
        for axiom in getattr(task, "axioms", ()):
            dynamic.add(axiom.name)
        return Translation(
            sas=sas,
            action_params={a.name: [(p.name.strip("?"), p.type_name) for p in a.parameters] for a in task.actions},
            types=[(t.name, list(t.supertype_names)) for t in task.types],
            objects=name2type,
            init_facts=init_facts,
            dynamic_predicates=sorted(dynamic),
        )
    except (Exception, SystemExit) as exc:
        raise GameLoadError(f"cannot load ALFWorld game {source}: {describe_error(exc)}") from None


def describe_error(exc: BaseException) -> str:
    """One line: the exception type and the first line of its text (TatSu's runs to several; the
    translator's ``sys.exit`` included)."""
    if isinstance(exc, SystemExit):
        return f"the PDDL translator gave up (exit code {exc.code!r})"
    first = next((line.strip() for line in str(exc).splitlines() if line.strip()), "")
    return f"{type(exc).__name__}: {first.rstrip(' :')}" if first else type(exc).__name__


def _versions() -> str:
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for dist in ("fast-downward-textworld", "textworld"):
        try:
            out.append(f"{dist}={version(dist)}")
        except PackageNotFoundError:
            out.append(f"{dist}=?")
    return ",".join(out)


_VERSIONS: str | None = None


def translation_key(domain: str, problem: str) -> str:
    """Content hash naming a game's cache entry (domain + problem + library versions)."""
    global _VERSIONS
    if _VERSIONS is None:
        _VERSIONS = _versions()
    digest = hashlib.sha256()
    for part in (f"agent-gym-alfworld/{CACHE_FORMAT}/{_VERSIONS}", domain, problem):
        digest.update(part.encode("utf-8"))
        digest.update(b"\0")
    return digest.hexdigest()


def _cache_root() -> Path:
    from agent_gym.paths import cache_dir

    return cache_dir("alfworld", "translations")


def _cache_path(domain: str, problem: str) -> Path:
    key = translation_key(domain, problem)
    return _cache_root() / key[:2] / f"{key}.json.gz"


def load_translation(domain: str, problem: str, source: str = "<game>", use_cache: bool = True) -> Translation:
    """:func:`translate` through a persistent on-disk cache (``cache_dir("alfworld", "translations")``).

    A corrupt or stale cache entry is ignored and rewritten; writes are atomic.
    """
    if not use_cache:
        return translate(domain, problem, source)
    try:
        path = _cache_path(domain, problem)
    except OSError:  # unwritable cache dir: just translate
        return translate(domain, problem, source)
    if path.exists():
        try:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                return Translation.from_json(json.load(fh))
        except (OSError, ValueError, KeyError, TypeError, EOFError):
            pass
    result = translate(domain, problem, source)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1) as gz:
                gz.write(json.dumps(result.to_json()).encode("utf-8"))
            os.replace(tmp, path)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    except OSError:
        pass
    return result


def _warm_one(path: str) -> tuple[str, str | None]:
    """Translate one game into the disk cache (worker side); returns (path, error or None)."""
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
        if not _cache_path(data["pddl_domain"], data["pddl_problem"]).exists():
            load_translation(data["pddl_domain"], data["pddl_problem"], path)
        return path, None
    except (Exception, SystemExit) as exc:  # reported, never raised: one bad game must not stop the rest
        return path, describe_error(exc)


def warm_translation_cache(
    game_files: Iterable[str | os.PathLike], workers: int | None = None, progress: bool = True
) -> dict[str, str]:
    """Translate games into the on-disk cache with ``workers`` processes (default: all CPUs).

    Translation (~1-2 s per game) is what makes the first play of a game slow;
    this does it up front, in parallel. Games already cached are skipped.
    Returns ``{path: error}`` for games that could not be translated.
    """
    import concurrent.futures as cf
    import multiprocessing as mp

    from tqdm import tqdm

    todo = []
    for f in game_files:
        try:
            with open(f, encoding="utf-8") as fh:
                data = json.load(fh)
            if not _cache_path(data["pddl_domain"], data["pddl_problem"]).exists():
                todo.append(str(f))
        except (OSError, ValueError, KeyError, TypeError):
            todo.append(str(f))  # let the worker report the error
    errors: dict[str, str] = {}
    if not todo:
        return errors
    workers = max(1, min(workers or os.cpu_count() or 1, len(todo)))
    bar = tqdm(total=len(todo), desc="translating ALFWorld games", unit="game", disable=not progress)
    try:
        if workers == 1:
            results: Iterable[tuple[str, str | None]] = map(_warm_one, todo)
            for path, err in results:
                if err:
                    errors[path] = err
                bar.update(1)
        else:
            # fork is fast (no re-import) but unsafe once other threads run (e.g. torch's)
            method = "fork" if "fork" in mp.get_all_start_methods() and threading.active_count() == 1 else "spawn"
            ctx = mp.get_context(method)
            with cf.ProcessPoolExecutor(workers, mp_context=ctx) as pool:
                for path, err in pool.map(_warm_one, todo, chunksize=1):
                    if err:
                        errors[path] = err
                    bar.update(1)
    finally:
        bar.close()
    return errors
