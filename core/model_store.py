"""The model store: the built-in model, downloadable catalogue models and the user's own.

Every model a user can pick is known to a :class:`ModelStore` by a short name:

* ``builtin`` — the weights shipped in ``resources/models`` (:func:`core.resources.
  builtin_model_path`); read-only, it may be missing from a build (then listed as not installed);
* catalogue models that are downloaded on request, e.g. ``metatasnet-musdb18``, the authors'
  released MUSDB18 model, and the HTDemucs family's ``htdemucs``, ``htdemucs_ft`` (a bag of four
  networks, one per stem) and ``htdemucs_6s`` (six stems: guitar and piano too), which need the
  optional ``demucs`` package (:mod:`core.families.htdemucs`);
* ``user`` models — checkpoints the user imported (either format) or trained.

Installed models live in one folder (``platformdirs.user_data_dir("stemweave")/models``, or
``$STEMWEAVE_MODELS_DIR``) as native ``.safetensors`` files named ``NAME.safetensors``
(whatever the family: the file's ``format`` metadata says which, :mod:`core.families`); their
description and provenance live in the file's own metadata (``info``), so a file never needs a
sidecar and cannot lose it. Downloads go to a hidden ``.partial`` folder of the store
(``NAME.part`` plus ``NAME.part.json`` describing what it is a part of), are resumed with HTTP
``Range`` requests, checked for size (``Content-Length`` / ``Content-Range``, the catalogue's
size and SHA-256 when known), loaded with :mod:`core.checkpoint` (``weights_only``; nothing but
``argparse.Namespace`` is unpickled), compared with the catalogue's expected configuration, and
only then converted and renamed into place — a partial or rejected file never appears under a
model's final name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import http.client
import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import core.resources
from core import families
from core.checkpoint import is_safetensors, load_model, save_model
from core.config import STEMS, ModelConfig
from core.errors import (
    Cancelled,
    DownloadError,
    ModelLoadError,
    ModelNotFoundError,
    StemweaveError,
)

log = logging.getLogger(__name__)

BUILTIN = "builtin"
#: name of the authors' released MUSDB18 model in the catalogue.
AUTHORS_MODEL = "metatasnet-musdb18"
#: Dropbox's direct-download form of the link in the authors' README: the ``dl=1`` query on
#: ``www.dropbox.com`` answers with a redirect to ``dl.dropboxusercontent.com`` (followed by
#: urllib, ``Range`` header included), whereas the plain link serves an HTML preview page.
AUTHORS_MODEL_URL = "https://www.dropbox.com/s/zw6zgt3edd88v87/best_model.pt?dl=1"
#: the folder of the demucs authors' Hybrid Transformer release files (the ``ROOT_URL`` and
#: ``hybrid_transformer/`` root of the library's ``remote/files.txt``).
DEMUCS_URL = "https://dl.fbaipublicfiles.com/demucs/hybrid_transformer/"
#: six-stem HTDemucs' stems, in its output order.
SIX_STEMS: tuple[str, ...] = ("drums", "bass", "other", "vocals", "guitar", "piano")

ENV_MODELS_DIR = "STEMWEAVE_MODELS_DIR"
#: ``STEMWEAVE_MODEL_URL_<NAME>`` (name upper-cased, other characters as ``_``) overrides a
#: catalogue URL, e.g. ``STEMWEAVE_MODEL_URL_METATASNET_MUSDB18`` for a mirror.
ENV_URL_PREFIX = "STEMWEAVE_MODEL_URL_"

PARTIAL_DIR = ".partial"
SUFFIX = ".safetensors"
_CHUNK = 256 * 1024
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

ProgressCallback = Callable[[int, "int | None"], None]
CancelCallback = Callable[[], bool]


class ModelStoreError(StemweaveError):
    """A store operation the user asked for cannot be done (bad name, read-only model, ...)."""


class DownloadCancelled(DownloadError, Cancelled):
    """The caller cancelled a download; the partial file is kept so it can be resumed."""


class DownloadUnreachable(DownloadError):
    """The server could not be reached (offline, no DNS, refused).

    The message names the command-line way to import a file fetched elsewhere; a GUI names
    its own import button instead, from the attributes.

    Attributes:
        model: the catalogue name.
        url: the address that could not be reached (a file fetched by hand comes from there).
        host: the server's host name.
        reason: what the network layer said.
    """

    def __init__(self, message: str, *, model: str, url: str, host: str, reason: str) -> None:
        super().__init__(message)
        self.model, self.url, self.host, self.reason = model, url, host, reason


@dataclass(frozen=True)
class CatalogueEntry:
    """A model that can be downloaded.

    Attributes:
        name: the name users type.
        url: where the raw file is (either weights format).
        description: one line for lists.
        size_bytes: expected size of the raw file, if known (checked before loading).
        sha256: expected SHA-256 of the raw file (hex), if known.
        expected_config: the configuration the weights must have (compared key by key), or
            ``None`` to accept any valid configuration.
        family: the model family (:data:`core.families.FAMILIES`).
        stems: the stems it separates into, in output order.
        files: for families published as release files: their names under ``url`` (then a
            folder), in the bag's order. Each name ends in ``-`` and the first 8 hex digits of
            the file's SHA-256, checked after the download as the library itself does.
        bag_weights: per file, one weight per stem (a bag of specialised networks).
        approx_size_bytes: the download's size estimated from the network's parameter count
            when the exact size is not published (shown, never checked).
    """

    name: str
    url: str
    description: str
    size_bytes: int | None = None
    sha256: str | None = None
    expected_config: ModelConfig | None = None
    family: str = "metatasnet"
    stems: tuple[str, ...] = STEMS
    files: tuple[str, ...] = ()
    bag_weights: tuple[tuple[float, ...], ...] | None = None
    approx_size_bytes: int | None = None


@dataclass(frozen=True)
class ModelInfo:
    """What the store knows about one model.

    Attributes:
        name: the model's name.
        kind: ``"builtin"``, ``"remote"`` (a catalogue download), ``"user"`` or ``"file"`` (a
            weights file outside the store, described where it is).
        installed: whether its weights are on disk and usable by name.
        path: the native weights file when installed, else ``None``.
        size_bytes: size of the weights file; for a remote model not yet downloaded, the
            catalogue's download size if known.
        description: one line for people (includes a note when something is missing).
        config: the model's configuration (a remote's expected one before download), if known.
        partial_bytes: bytes of an interrupted download waiting to be resumed (0 if none).
        source: where the weights came from (URL, imported file, "trained"), if recorded.
        family: the model family (``"metatasnet"``, ``"htdemucs"``).
        stems: the stems it separates into, in output order (empty if unknown).
        size_estimated: ``size_bytes`` is an estimate (a catalogue model not downloaded yet).
        window_s: the network window its file names (seconds; ``None``: none, the network
            sees each whole engine window; docs/engine.md).
    """

    name: str
    kind: str
    installed: bool
    path: Path | None
    size_bytes: int | None
    description: str
    config: ModelConfig | None
    partial_bytes: int = 0
    source: str = ""
    family: str = "metatasnet"
    stems: tuple[str, ...] = STEMS
    size_estimated: bool = False
    window_s: float | None = None


def builtin_model_path() -> Path:
    """Where the built-in model's weights are (:func:`core.resources.builtin_model_path`)."""
    return core.resources.builtin_model_path()


def default_catalogue() -> dict[str, CatalogueEntry]:
    """The models Stemweave knows how to download."""
    entry = CatalogueEntry(
        name=AUTHORS_MODEL,
        url=AUTHORS_MODEL_URL,
        description="Meta-TasNet trained on MUSDB18 by the paper's authors (their best_model.pt)",
        size_bytes=None,  # not published; Content-Length / Content-Range are still checked
        sha256=None,  # not published and not fetchable here; supported when known
        expected_config=ModelConfig(),
    )
    # Release files as listed in the demucs library's remote/files.txt and its htdemucs*.yaml
    # bags. Sizes are not published: estimated from the parameter count (41.5 M parameters
    # stored in half precision; 26.9 M for the six-stem network, by the same estimate).
    one = 84_000_000
    ht = CatalogueEntry(
        name="htdemucs", url=DEMUCS_URL, family="htdemucs",
        description="Hybrid Transformer Demucs (v4) by its authors: 4 stems, ~9 dB SDR on "
                    "MUSDB18-HQ",
        files=("955717e8-8726e21a.th",), approx_size_bytes=one)
    ft = CatalogueEntry(
        name="htdemucs_ft", url=DEMUCS_URL, family="htdemucs",
        description="HTDemucs fine-tuned: a bag of four networks, one per stem (best 4-stem "
                    "quality, 4x the time)",
        files=("f7e0c4bc-ba3fe64a.th", "d12395a8-e57c48e6.th", "92cfc3b6-ef3bcb9c.th",
               "04573f0d-f3cf25b2.th"),
        bag_weights=tuple(tuple(1.0 if i == j else 0.0 for j in range(4)) for i in range(4)),
        approx_size_bytes=4 * one)
    six = CatalogueEntry(
        name="htdemucs_6s", url=DEMUCS_URL, family="htdemucs", stems=SIX_STEMS,
        description="HTDemucs with 6 stems: drums, bass, other, vocals, guitar, piano "
                    "(piano is experimental)",
        files=("5c90dfd2-34c22ccb.th",), approx_size_bytes=55_000_000)
    return {e.name: e for e in (entry, ht, ft, six)}


def resolve_model(name_or_path: str | os.PathLike[str] | None = None,
                  store: ModelStore | None = None) -> Path:
    """The weights file for a model name, a path or the default: the one model resolver.

    The command line (``separate --model``), the GUI (Settings ▸ Model), training (``--init``)
    and evaluation (``--model``) all call this, so a name means the same model everywhere.

    Args:
        name_or_path: ``None`` for the default model (the built-in one when present, else the
            first installed catalogue model), an existing file, ``builtin``, a catalogue name or
            the name of an installed user model.
        store: the model store to look in (default: the user's, :func:`default_models_dir`).

    Returns:
        a file :func:`core.checkpoint.load_model` accepts.

    Raises:
        ModelNotFoundError: nothing usable; the message says what to run.
    """
    return (ModelStore() if store is None else store).resolve(name_or_path)


def model_stems(path: str | os.PathLike[str]) -> tuple[str, ...]:
    """The stem names a weights file separates into, in its order, read cheaply (the header of
    a native file of any family; the authors' format is always their four MUSDB18 stems).

    Raises:
        ModelLoadError: a native file whose header cannot be read.
    """
    return families.read_header(path).stems


def default_models_dir() -> Path:
    """``$STEMWEAVE_MODELS_DIR`` if set, else the per-user data folder's ``models``."""
    env = os.environ.get(ENV_MODELS_DIR)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("stemweave", appauthor=False)) / "models"


def url_env_var(name: str) -> str:
    """The environment variable that overrides catalogue model ``name``'s URL."""
    return ENV_URL_PREFIX + re.sub(r"[^A-Z0-9]", "_", name.upper())


def _read_metadata(path: Path) -> dict[str, str]:
    """The string metadata of a safetensors file (header only; tensors are not read)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        return dict(f.metadata() or {})


def _describe_native(path: Path) -> tuple[families.Header | None, dict[str, Any], str]:
    """Header (family, stems, config), ``info`` dict and an error note ('' if fine) of a
    native file, cheaply."""
    try:
        header = families.read_header(path)
        meta = header.meta
        info = json.loads(meta["info"]) if "info" in meta else {}
        note = ""
        if header.family == "htdemucs" and not _demucs_available():
            note = htdemucs_hint()
        return header, info if isinstance(info, dict) else {}, note
    except Exception as exc:  # listing must survive any damaged file
        text = str(exc).splitlines()[0][:160] if str(exc) else repr(exc)
        if text.startswith(f"{path.name}: "):
            text = text[len(path.name) + 2:]
        return None, {}, text if "Stemweave" in text else f"unreadable ({text})"


def _window(path: Path, header: families.Header | None) -> float | None:
    """The network window a native Meta-TasNet file names (``None``: none or unreadable)."""
    from core.checkpoint import network_window

    if header is None or header.family != "metatasnet":
        return None
    try:
        return network_window(path.name, header.meta)
    except ModelLoadError:
        return None


def _demucs_available() -> bool:
    from core.families.htdemucs import demucs_available

    return demucs_available()


def htdemucs_hint() -> str:
    """How to get the optional package HTDemucs models need."""
    from core.families.htdemucs import INSTALL_HINT

    return INSTALL_HINT


def _native_info(name: str, kind: str, path: Path, description: str,
                 partial: int = 0) -> ModelInfo:
    """:class:`ModelInfo` of an installed native file (``description`` as a fallback)."""
    header, meta, err = _describe_native(path)
    desc = str(meta.get("description") or description)
    return ModelInfo(name, kind, header is not None, path, path.stat().st_size,
                     desc + (f" — {err}" if err else ""),
                     header.config if header is not None else None, partial,
                     str(meta.get("source", "")),
                     family=header.family if header is not None else "?",
                     stems=header.stems if header is not None else (),
                     window_s=_window(path, header))


def file_info(path: str | os.PathLike[str]) -> ModelInfo:
    """:class:`ModelInfo` of a weights file outside the store (kind ``file``; a training run's
    checkpoint, say), described where it is: family, stems, configuration, network window."""
    p = Path(path)
    return _native_info(p.name, "file", p, "Weights file")


#: configuration fields that only matter while training; a released model may differ in them.
TRAINING_ONLY_FIELDS = frozenset({"dropout"})


def config_differences(actual: ModelConfig, expected: ModelConfig) -> list[str]:
    """``key=actual (expected ...)`` for every architecture field that differs.

    Fields in :data:`TRAINING_ONLY_FIELDS` are not compared: they change neither the weights'
    shapes nor inference.
    """
    a, e = actual.to_dict(), expected.to_dict()
    return [f"{k}={a.get(k)!r} (expected {e[k]!r})" for k in e
            if k not in TRAINING_ONLY_FIELDS and a.get(k) != e[k]]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _parse_content_range(value: str) -> tuple[int, int, int | None]:
    """``bytes START-END/TOTAL`` -> (start, end, total or None for ``*``)."""
    m = re.fullmatch(r"\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*", value or "")
    if not m:
        raise ValueError(f"malformed Content-Range {value!r}")
    total = None if m.group(3) == "*" else int(m.group(3))
    return int(m.group(1)), int(m.group(2)), total


class _Interrupted(Exception):
    """The connection ended before the announced body did (resumable)."""


class ModelStore:
    """The user's models: list, resolve, download, import and remove.

    Args:
        root: the folder of installed models (default: :func:`default_models_dir`). It is
            created on the first write only.
        catalogue: downloadable models by name (default: :func:`default_catalogue`); a URL can
            also be overridden with ``STEMWEAVE_MODEL_URL_<NAME>``.
        timeout_s: socket timeout of each HTTP request.
        retries: how many times a broken download is resumed automatically within one call.
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        catalogue: Mapping[str, CatalogueEntry] | None = None,
        timeout_s: float = 30.0,
        retries: int = 3,
    ) -> None:
        self.root = Path(root).expanduser() if root is not None else default_models_dir()
        self.catalogue: dict[str, CatalogueEntry] = dict(
            default_catalogue() if catalogue is None else catalogue
        )
        self.timeout_s = timeout_s
        self.retries = retries
        self._busy: set[str] = set()
        self._busy_lock = threading.Lock()

    # ------------------------------------------------------------------ paths and listing
    @property
    def partial_dir(self) -> Path:
        """Hidden folder holding interrupted downloads."""
        return self.root / PARTIAL_DIR

    def model_path(self, name: str) -> Path:
        """Where model ``name`` is (or would be) stored; ``builtin`` lives in the resources."""
        if name == BUILTIN:
            return builtin_model_path()
        return self.root / f"{name}{SUFFIX}"

    def _part_paths(self, name: str) -> tuple[Path, Path]:
        part = self.partial_dir / f"{name}.part"
        return part, part.with_name(part.name + ".json")

    def _entry_parts(self, entry: CatalogueEntry) -> list[Path]:
        """The partial-download files of a catalogue entry (one per release file)."""
        keys = [f"{entry.name}.{f}" for f in entry.files] if entry.files else [entry.name]
        return [self._part_paths(k)[0] for k in keys]

    def url_for(self, name: str) -> str:
        """The URL model ``name`` is downloaded from (environment override first)."""
        entry = self._entry(name)
        return os.environ.get(url_env_var(name)) or entry.url

    def _entry(self, name: str) -> CatalogueEntry:
        try:
            return self.catalogue[name]
        except KeyError:
            raise ModelNotFoundError(
                f"'{name}' is not a downloadable model (known: {', '.join(self.catalogue)})"
            ) from None

    def _user_names(self) -> list[str]:
        if not self.root.is_dir():
            return []
        names = []
        for p in sorted(self.root.glob(f"*{SUFFIX}")):
            name = p.name[: -len(SUFFIX)]
            if name.startswith(".") or not p.is_file():
                continue
            if name == BUILTIN or name in self.catalogue:
                continue
            names.append(name)
        return names

    def list(self) -> list[ModelInfo]:
        """Every model: built-in first, then the catalogue, then user models by name."""
        names = [BUILTIN, *self.catalogue, *self._user_names()]
        return [self.info(n) for n in names]

    def info(self, name: str) -> ModelInfo:
        """What is known about model ``name``.

        Raises:
            ModelNotFoundError: no such model.
        """
        if name == BUILTIN:
            path = builtin_model_path()
            if not path.is_file():
                return ModelInfo(
                    BUILTIN, "builtin", False, None, None,
                    "Built-in model — not included in this build yet; download "
                    f"'{AUTHORS_MODEL}' or import a checkpoint instead", None)
            return _native_info(BUILTIN, "builtin", path, "Built-in model shipped with Stemweave")
        path = self.model_path(name)
        if name in self.catalogue:
            entry = self.catalogue[name]
            partial = sum(p.stat().st_size for p in self._entry_parts(entry) if p.is_file())
            if path.is_file():
                return _native_info(name, "remote", path, entry.description, partial)
            desc = entry.description
            if entry.family == "htdemucs" and not _demucs_available():
                desc += f" — {htdemucs_hint()}"
            size = entry.size_bytes or entry.approx_size_bytes
            return ModelInfo(name, "remote", False, None, size, desc, entry.expected_config,
                             partial, self.url_for(name), family=entry.family,
                             stems=entry.stems,
                             size_estimated=entry.size_bytes is None and size is not None)
        if _NAME_RE.match(name) and path.is_file():
            info = _native_info(name, "user", path, "User model")
            if info.description == "User model":
                _, meta, _ = _describe_native(path)
                info = dataclasses.replace(
                    info, description=f"User model ({meta.get('source', '?')})")
            return info
        known = [BUILTIN, *self.catalogue, *self._user_names()]
        raise ModelNotFoundError(f"No model named '{name}' (known: {', '.join(known)})")

    # ------------------------------------------------------------------ resolve
    def resolve(self, name_or_path: str | os.PathLike[str] | None = None) -> Path:
        """The weights file to load for a name, a path or the default.

        Args:
            name_or_path: ``None`` for the default model (the built-in one when present, else
                the first installed catalogue model), an existing file, or a model name.

        Returns:
            a file :func:`core.load_model` accepts.

        Raises:
            ModelNotFoundError: nothing usable; the message says what to run.
        """
        if name_or_path is None:
            if builtin_model_path().is_file():
                return builtin_model_path()
            for name in self.catalogue:
                if self.model_path(name).is_file():
                    return self.model_path(name)
            users = self._user_names()
            hint = f" or pick one of yours ({', '.join(users)})" if users else ""
            raise ModelNotFoundError(
                "No model is installed: run `stemweave models download "
                f"{AUTHORS_MODEL if AUTHORS_MODEL in self.catalogue else 'NAME'}`"
                f", import one with `stemweave models import PATH`{hint}, or name a weights "
                "file (--model PATH)")
        text = os.fspath(name_or_path)
        candidate = Path(text).expanduser()
        if candidate.is_file():
            return candidate
        looks_like_path = (os.sep in text or (os.altsep and os.altsep in text)
                           or text.endswith((".pt", ".pth", SUFFIX)))
        if looks_like_path or not _NAME_RE.match(text):
            raise ModelNotFoundError(f"Model file not found: {candidate}")
        info = self.info(text)
        if info.installed and info.path is not None:
            return info.path
        if info.kind == "remote" and info.path is None:
            raise ModelNotFoundError(
                f"Model '{text}' is not downloaded yet: run `stemweave models download {text}`")
        raise ModelNotFoundError(f"Model '{text}' is not usable: {info.description}")

    # ------------------------------------------------------------------ import / save / remove
    def _check_new_name(self, name: str, allow_remote: bool = True) -> None:
        if not _NAME_RE.match(name):
            raise ModelStoreError(
                f"Invalid model name '{name}': use letters, digits, '.', '_' or '-' "
                "(at most 64, starting with a letter or digit)")
        if name == BUILTIN:
            raise ModelStoreError("'builtin' is reserved for the model shipped with Stemweave")
        if name in self.catalogue and not allow_remote:
            raise ModelStoreError(f"'{name}' is reserved for a downloadable model")
        if self.model_path(name).exists():
            raise ModelStoreError(
                f"A model named '{name}' already exists; choose another name with --name "
                f"or remove it first (`stemweave models remove {name}`)")

    def import_(self, path: str | os.PathLike[str] | list[str | os.PathLike[str]],
                name: str | None = None, description: str | None = None) -> ModelInfo:
        """Validate a checkpoint (native, the authors' Meta-TasNet ``.pt``, a demucs ``.th``
        release file) and store it natively.

        Every key and shape is checked against the model its configuration describes, and
        nothing but ``argparse.Namespace`` (Meta-TasNet) or the HTDemucs class and
        ``Fraction`` (demucs) is unpickled. Importing under a catalogue name (e.g. files
        fetched with a browser on another machine) installs that catalogue model, after checking
        its expected configuration, stems and checksums when the catalogue has them; a
        catalogue bag (``htdemucs_ft``) takes its release files together, in any order.

        Args:
            path: the checkpoint file, or several release files of one catalogue bag.
            name: the name to store it under (default: the file's stem, cleaned up).
            description: one line shown in lists.

        Returns:
            the stored model's info.

        Raises:
            ModelNotFoundError: the file does not exist.
            ModelLoadError: unreadable, unsafe or not fitting the model.
            ModelStoreError: bad or taken name.
        """
        paths = [Path(p).expanduser() for p in (path if isinstance(path, list) else [path])]
        for p in paths:
            if not p.is_file():
                raise ModelNotFoundError(f"Model file not found: {p}")
        src = paths[0]
        if len(paths) > 1 or (name in self.catalogue and self.catalogue[name].files):
            return self._import_release(paths, name, description)
        if name is None:
            name = re.sub(r"[^A-Za-z0-9._-]+", "-", src.stem).strip("-.") or "model"
            if name.lower().endswith(".safetensors"):
                name = name[: -len(".safetensors")]
        self._check_new_name(name)
        model = families.read_any(src)
        kind, source = "user", str(src.resolve())
        if name in self.catalogue:
            entry = self.catalogue[name]
            if model.family != entry.family:
                raise ModelLoadError(f"{src.name}: a {model.family} model, not '{name}' "
                                     f"({entry.family})")
            self._check_expected_config(entry, model.module.config, src.name)
            if entry.sha256 and not is_safetensors(src):
                digest = _sha256(src)
                if digest != entry.sha256.lower():
                    raise ModelLoadError(
                        f"{src.name}: SHA-256 {digest} does not match the published "
                        f"{entry.sha256} of '{name}'")
            kind, description = "remote", description or entry.description
        info = {"name": name, "kind": kind, "source": source,
                "description": description or f"Imported from {src.name}",
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self._write(model, name, info)
        log.info("imported %s as '%s'", src, name)
        return self.info(name)

    def _import_release(self, paths: list[Path], name: str | None,
                        description: str | None) -> ModelInfo:
        """Install catalogue model ``name`` from its release files downloaded elsewhere."""
        if name is None or name not in self.catalogue or not self.catalogue[name].files:
            bags = [n for n, e in self.catalogue.items() if e.files]
            raise ModelStoreError("several files make one model only for a catalogue name "
                                  f"given with --name ({', '.join(bags)})")
        entry = self.catalogue[name]
        self._check_new_name(name)
        by_sig = {}
        for p in paths:
            match = [f for f in entry.files if p.name.startswith(f.split("-")[0])]
            if not match:
                raise ModelLoadError(f"{p.name}: not one of the release files of '{name}' "
                                     f"({', '.join(entry.files)})")
            by_sig[match[0]] = p
        missing = [f for f in entry.files if f not in by_sig]
        if missing:
            raise ModelLoadError(f"'{name}' needs {len(entry.files)} files; missing "
                                 f"{', '.join(missing)}")
        ordered = [by_sig[f] for f in entry.files]
        fam = self._release_model(entry, ordered, [p.name for p in ordered])
        info = {"name": name, "kind": "remote",
                "source": ", ".join(str(p.resolve()) for p in ordered),
                "description": description or entry.description,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self._write(fam, name, info)
        log.info("imported %s as '%s'", ", ".join(map(str, ordered)), name)
        return self.info(name)

    @staticmethod
    def _release_model(entry: CatalogueEntry, files: list[Path],
                       labels: list[str]) -> families.SeparationModel:
        """Check the release files' checksums, read them as the entry's bag, check stems.

        Raises:
            ModelLoadError: a checksum, the content or the stems do not match.
        """
        from core.families import htdemucs

        for path, label, fname in zip(files, labels, entry.files):
            want = Path(fname).stem.rsplit("-", 1)[-1].lower()
            digest = _sha256(path)
            if not digest.startswith(want):
                raise ModelLoadError(f"{label}: SHA-256 {digest[:16]}… does not match the "
                                     f"published {want} of {fname} ('{entry.name}')")
        fam = htdemucs.from_release_files(files, entry.bag_weights)
        if tuple(fam.stems) != tuple(entry.stems):
            raise ModelLoadError(f"'{entry.name}' separates into {', '.join(entry.stems)}, the "
                                 f"file into {', '.join(fam.stems)}")
        return fam

    def save(self, model: Any, name: str, description: str = "",
             source: str = "trained") -> ModelInfo:
        """Store an in-memory model (e.g. just trained) as user model ``name``."""
        self._check_new_name(name, allow_remote=False)
        info = {"name": name, "kind": "user", "source": source,
                "description": description or f"User model ({source})",
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        self._write(model, name, info)
        return self.info(name)

    def _write(self, model: Any, name: str, info: dict[str, str]) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            families.save(model, self.model_path(name), extra=info)
        except OSError as exc:
            raise ModelStoreError(
                f"Could not write model '{name}' into {self.root}: {exc}") from exc

    def remove(self, name: str) -> None:
        """Delete an installed model (and any interrupted download of it).

        Raises:
            ModelStoreError: ``builtin`` (it ships with Stemweave) or the file cannot be deleted.
            ModelNotFoundError: no such model, or nothing of it on disk.
        """
        if name == BUILTIN:
            raise ModelStoreError(
                "The built-in model ships with Stemweave and cannot be removed")
        info = self.info(name)
        removed = False
        try:
            entry = self.catalogue.get(name)
            parts = [x for part in (self._entry_parts(entry) if entry else [])
                     for x in (part, part.with_name(part.name + ".json"))]
            for p in (self.model_path(name), *self._part_paths(name), *parts):
                if p.is_file():
                    p.unlink()
                    removed = True
        except OSError as exc:
            raise ModelStoreError(f"Could not remove model '{name}': {exc}") from exc
        if not removed:
            raise ModelNotFoundError(f"Model '{name}' is not installed ({info.kind})")
        log.info("removed model '%s'", name)

    # ------------------------------------------------------------------ download
    @staticmethod
    def _check_expected_config(entry: CatalogueEntry, config: ModelConfig, source: str) -> None:
        if entry.expected_config is None:
            return
        diffs = config_differences(config, entry.expected_config)
        if diffs:
            raise ModelLoadError(
                f"{source}: not the expected '{entry.name}' model; configuration differs: "
                + ", ".join(diffs))

    def download(
        self,
        name: str,
        progress: ProgressCallback | None = None,
        cancel: CancelCallback | None = None,
        *,
        force: bool = False,
    ) -> Path:
        """Download, validate, convert and install catalogue model ``name``.

        An interrupted transfer (dropped connection, cancel, crash) leaves ``NAME.part`` in the
        store's hidden ``.partial`` folder and is resumed with an HTTP ``Range`` request, here
        (up to ``retries`` times) or by the next call.

        Args:
            name: a catalogue name.
            progress: called with (bytes so far, total bytes or None) after every chunk.
            cancel: polled between chunks; returning True stops with :class:`DownloadCancelled`
                (the partial file is kept for a later resume).
            force: download again even when the model is already installed (otherwise its
                path is returned at once).

        Returns:
            the installed native weights file.

        Raises:
            ModelNotFoundError: not a catalogue name.
            DownloadError: offline, server error, wrong size/hash/content or invalid weights
                (nothing is left under the models folder except a resumable partial file when
                the transfer itself broke).
            DownloadCancelled: ``cancel`` returned True.
        """
        entry = self._entry(name)
        if not force and self.info(name).installed:
            log.info("'%s' is already installed", name)
            return self.model_path(name)
        if entry.family == "htdemucs" and not _demucs_available():
            raise DownloadError(f"'{name}': {htdemucs_hint()}")
        with self._busy_lock:
            if name in self._busy:
                raise DownloadError(f"'{name}' is already being downloaded")
            self._busy.add(name)
        try:
            if entry.files:
                return self._install_release(entry, self._fetch_files(entry, progress, cancel))
            part = self._fetch(entry, progress, cancel)
            return self._install(entry, part)
        except OSError as exc:  # the models folder, not the network (already translated)
            raise DownloadError(
                f"Could not write '{name}' into the models folder {self.root}: {exc}") from exc
        finally:
            with self._busy_lock:
                self._busy.discard(name)
            with contextlib.suppress(OSError):
                self.partial_dir.rmdir()  # only when no other download left data there

    def _fetch_files(self, entry: CatalogueEntry, progress: ProgressCallback | None,
                     cancel: CancelCallback | None) -> list[Path]:
        """Fetch every release file of ``entry`` (each resumable on its own); progress counts
        the bytes of all files."""
        base = self.url_for(entry.name)
        base = base if base.endswith("/") else base + "/"
        one = dataclasses.replace(entry, size_bytes=None, sha256=None)
        parts = []
        done_before = 0
        for fname in entry.files:
            def report(done: int, total: int | None, before: int = done_before) -> None:
                if progress is not None:
                    progress(before + done, None if total is None else before + total)

            part = self._fetch(one, report, cancel, key=f"{entry.name}.{fname}",
                               url=base + fname)
            parts.append(part)
            done_before += part.stat().st_size
        return parts

    def _install_release(self, entry: CatalogueEntry, parts: list[Path]) -> Path:
        """Check the downloaded release files, convert them to one native file, install it."""
        metas = [self._part_paths(f"{entry.name}.{f}")[1] for f in entry.files]
        try:
            fam = self._release_model(entry, parts, list(entry.files))
        except ModelLoadError as exc:
            for part, meta in zip(parts, metas):
                part.unlink(missing_ok=True)
                meta.unlink(missing_ok=True)
            raise DownloadError(f"Download of '{entry.name}' rejected: {exc}") from exc
        info = {"name": entry.name, "kind": "remote", "source": self.url_for(entry.name),
                "description": entry.description, "files": ", ".join(entry.files),
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        target = self.model_path(entry.name)
        self.root.mkdir(parents=True, exist_ok=True)
        families.save(fam, target, extra=info)
        for part, meta in zip(parts, metas):
            part.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
        log.info("installed '%s' at %s", entry.name, target)
        return target

    def _fetch(self, entry: CatalogueEntry, progress: ProgressCallback | None,
               cancel: CancelCallback | None, *, key: str | None = None,
               url: str | None = None) -> Path:
        """Bring the raw file into ``.partial/KEY.part`` completely; return its path (``key``
        defaults to the entry's name, ``url`` to its URL)."""
        url = url or self.url_for(entry.name)
        part, meta_path = self._part_paths(key or entry.name)
        self.partial_dir.mkdir(parents=True, exist_ok=True)
        meta: dict[str, Any] = {}
        if part.is_file() and meta_path.is_file():
            with contextlib.suppress(OSError, ValueError):
                meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if not isinstance(meta, dict) or meta.get("url") != url:
            if part.exists():
                log.info("discarding a partial download of %s from another source", entry.name)
            meta = {"url": url, "total": None, "validator": None}
            part.unlink(missing_ok=True)
        attempts = 0
        while True:
            try:
                self._transfer(entry, url, part, meta_path, meta, progress, cancel)
                return part
            except _Interrupted as exc:
                attempts += 1
                if attempts > self.retries:
                    raise DownloadError(
                        f"Download of '{entry.name}' was interrupted ({exc}); run the download "
                        "again to resume it") from exc
                log.warning("download of %s interrupted (%s); resuming", entry.name, exc)
                time.sleep(min(0.2 * attempts, 2.0))

    def _transfer(self, entry: CatalogueEntry, url: str, part: Path, meta_path: Path,
                  meta: dict[str, Any], progress: ProgressCallback | None,
                  cancel: CancelCallback | None) -> None:
        """One HTTP request continuing ``part``; raises :class:`_Interrupted` when resumable."""
        offset = part.stat().st_size if part.is_file() else 0
        total: int | None = meta.get("total")
        if total is not None and offset == total:
            return  # complete from an earlier call; validated by the caller
        if total is not None and offset > total:
            part.unlink()
            offset = 0
        headers = {"User-Agent": "stemweave-model-download/1", "Accept-Encoding": "identity"}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if meta.get("validator"):
                headers["If-Range"] = meta["validator"]
        try:
            request = urllib.request.Request(url, headers=headers)
        except ValueError as exc:  # malformed URL, e.g. a mistyped override
            raise DownloadError(f"Invalid download address for '{entry.name}': {url!r}") from exc
        host = urllib.parse.urlsplit(url).netloc or url
        try:
            response = urllib.request.urlopen(request, timeout=self.timeout_s)
        except ValueError as exc:  # malformed URL, e.g. a mistyped override
            raise DownloadError(f"Invalid download address for '{entry.name}': {url!r} "
                                f"({exc})") from exc
        except urllib.error.HTTPError as exc:
            if exc.code == 416 and offset:
                # our part is as long as (or longer than) the file: start again cleanly
                part.unlink(missing_ok=True)
                meta.update(total=None, validator=None)
                raise _Interrupted("server refused the resume range") from exc
            raise DownloadError(
                f"The server for '{entry.name}' answered {exc.code} {exc.reason} ({url})"
            ) from exc
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise DownloadUnreachable(
                f"Could not reach {host} ({reason}) — check your connection; you can also "
                "download the file with a browser and place it by hand with "
                f"`stemweave models import PATH --name {entry.name}`",
                model=entry.name, url=url, host=host, reason=str(reason)) from exc
        with response:
            status = response.status
            ctype = response.headers.get("Content-Type", "")
            if ctype.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml"):
                part.unlink(missing_ok=True)
                meta_path.unlink(missing_ok=True)
                raise DownloadError(
                    f"The server for '{entry.name}' returned a web page instead of the model "
                    f"file ({url}); the link may have moved")
            length_header = response.headers.get("Content-Length")
            try:
                length = int(length_header) if length_header is not None else None
            except ValueError:
                length = None
            if status == 206:
                try:
                    start, end, range_total = _parse_content_range(
                        response.headers.get("Content-Range", ""))
                except ValueError as exc:
                    raise self._bad_download(entry, part, meta_path, str(exc)) from exc
                if start != offset:
                    raise self._bad_download(
                        entry, part, meta_path,
                        f"asked to resume at byte {offset} but got bytes from {start}")
                if length is not None and length != end - start + 1:
                    raise self._bad_download(
                        entry, part, meta_path,
                        f"Content-Length {length} disagrees with Content-Range {start}-{end}")
                new_total = range_total if range_total is not None else (
                    total if total is not None else None)
                if total is not None and new_total is not None and new_total != total:
                    raise self._bad_download(
                        entry, part, meta_path,
                        f"file size changed on the server ({total} -> {new_total} bytes)")
                total = new_total
                mode = "ab"
            elif status == 200:
                if offset:
                    log.info("server ignored the resume range for %s; starting over", entry.name)
                offset = 0
                total = length
                mode = "wb"
            else:
                raise DownloadError(
                    f"The server for '{entry.name}' answered {status} {response.reason} ({url})")
            if entry.size_bytes is not None and total is not None and total != entry.size_bytes:
                raise self._bad_download(
                    entry, part, meta_path,
                    f"server announces {total} bytes, the catalogue expects {entry.size_bytes}")
            validator = response.headers.get("ETag")
            if not validator or validator.startswith("W/"):
                validator = response.headers.get("Last-Modified")
            meta.update(total=total, validator=validator)
            meta_path.write_text(json.dumps(meta), encoding="utf-8")
            done = offset
            overflow = False
            if progress:
                progress(done, total)
            with open(part, mode) as out:
                while True:
                    if cancel is not None and cancel():
                        raise DownloadCancelled(
                            f"Download of '{entry.name}' cancelled; it resumes where it stopped "
                            "next time")
                    try:
                        chunk = response.read(_CHUNK if total is None
                                              else min(_CHUNK, max(total - done, 1)))
                    except (OSError, http.client.HTTPException) as exc:
                        raise _Interrupted(f"{type(exc).__name__}: {exc}") from exc
                    if not chunk:
                        break
                    if total is not None and done + len(chunk) > total:
                        overflow = True
                        break
                    out.write(chunk)
                    done += len(chunk)
                    if progress:
                        progress(done, total)
                    if total is not None and done == total:
                        break
        if overflow:  # checked once the file is closed, so that it can be deleted everywhere
            raise self._bad_download(entry, part, meta_path,
                                     f"server sent more than the announced {total} bytes")
        if total is None:
            meta["total"] = done
            meta_path.write_text(json.dumps(meta), encoding="utf-8")
        elif done < total:
            raise _Interrupted(f"connection closed after {done} of {total} bytes")

    def _bad_download(self, entry: CatalogueEntry, part: Path, meta_path: Path,
                      why: str) -> DownloadError:
        """Drop the partial file and build the error for content that cannot be trusted."""
        part.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
        return DownloadError(f"Download of '{entry.name}' rejected: {why}")

    def _install(self, entry: CatalogueEntry, part: Path) -> Path:
        """Check the complete raw file, convert it and rename it into place."""
        _, meta_path = self._part_paths(entry.name)
        size = part.stat().st_size
        if entry.size_bytes is not None and size != entry.size_bytes:
            raise self._bad_download(entry, part, meta_path,
                                     f"got {size} bytes, expected {entry.size_bytes}")
        digest = _sha256(part)
        if entry.sha256 and digest != entry.sha256.lower():
            raise self._bad_download(entry, part, meta_path,
                                     f"SHA-256 {digest} does not match {entry.sha256}")
        try:
            model = load_model(part)
            self._check_expected_config(entry, model.config, f"downloaded '{entry.name}'")
        except ModelLoadError as exc:
            raise self._bad_download(entry, part, meta_path,
                                     f"not a valid model file: {exc}") from exc
        info = {"name": entry.name, "kind": "remote", "source": self.url_for(entry.name),
                "description": entry.description, "sha256": digest,
                "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        target = self.model_path(entry.name)
        self.root.mkdir(parents=True, exist_ok=True)
        save_model(model, target, extra=info)
        part.unlink(missing_ok=True)
        meta_path.unlink(missing_ok=True)
        log.info("installed '%s' at %s (%d bytes downloaded)", entry.name, target, size)
        return target


__all__ = [
    "AUTHORS_MODEL",
    "AUTHORS_MODEL_URL",
    "BUILTIN",
    "CatalogueEntry",
    "DownloadCancelled",
    "DownloadUnreachable",
    "ModelInfo",
    "ModelStore",
    "ModelStoreError",
    "default_catalogue",
    "default_models_dir",
    "file_info",
    "model_stems",
    "resolve_model",
    "url_env_var",
]
