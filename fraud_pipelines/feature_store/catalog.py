"""The metadata catalog: small JSON documents (feature groups, feature views, training dataset
versions, statistics) stored next to the Delta tables under the store's root.

The root is a local folder or an object-store URI (`s3://bucket/prefix`, `gs://...`); files are
read and written through `pyarrow.fs`, so nothing here assumes a local disk. Each document is its
own file, written whole, so processes that write different documents never collide; on a local
disk a write is an atomic rename and `create` is exclusive (a hard link that fails if the name
exists). On object stores a single PUT is atomic but `create` is check-then-write.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlparse

import pyarrow.fs as pafs

from .errors import FeatureStoreError, InvalidInputError

#: delta-rs storage option names understood when building a pyarrow S3 filesystem.
_S3_OPTIONS = {
    "AWS_ACCESS_KEY_ID": "access_key",
    "AWS_SECRET_ACCESS_KEY": "secret_key",
    "AWS_SESSION_TOKEN": "session_token",
    "AWS_REGION": "region",
    "AWS_ENDPOINT_URL": "endpoint_override",
}


def is_local_uri(uri: str) -> bool:
    """True when `uri` is a plain path or a `file://` URI (DuckDB can then read files directly)."""
    scheme = urlparse(uri).scheme
    return scheme in ("", "file") or (len(scheme) == 1 and os.name == "nt")


def normalize_root(root: str | os.PathLike[str]) -> str:
    """A local root becomes an absolute path without trailing slash; a URI is kept as given."""
    text = os.fspath(root)
    if not text:
        raise InvalidInputError("the feature store root is empty; give a folder or an s3:// URI")
    if urlparse(text).scheme == "file":
        return os.path.abspath(urlparse(text).path)
    if is_local_uri(text):
        return os.path.abspath(os.path.expanduser(text))
    return text.rstrip("/")


def filesystem_for(
    root: str, storage_options: Mapping[str, str] | None = None
) -> tuple[pafs.FileSystem, str]:
    """The pyarrow filesystem and base path for `root`, honouring S3 keys in `storage_options`."""
    if is_local_uri(root):
        return pafs.LocalFileSystem(), root
    parsed = urlparse(root)
    options = {k.upper(): v for k, v in (storage_options or {}).items()}
    if parsed.scheme in ("s3", "s3a") and any(k in options for k in _S3_OPTIONS):
        kwargs = {arg: options[key] for key, arg in _S3_OPTIONS.items() if key in options}
        return pafs.S3FileSystem(**kwargs), f"{parsed.netloc}{parsed.path}".rstrip("/")
    filesystem, path = pafs.FileSystem.from_uri(root)
    return filesystem, path.rstrip("/")


class Catalog:
    """JSON documents addressed by slash-separated keys such as `feature_groups/tx/v1.json`."""

    def __init__(self, filesystem: pafs.FileSystem, base_path: str) -> None:
        self._fs = filesystem
        self._base = base_path.rstrip("/")
        self._local = isinstance(filesystem, pafs.LocalFileSystem)

    def _path(self, key: str) -> str:
        if key.startswith("/") or ".." in key.split("/"):
            raise InvalidInputError(f"catalog key {key!r} must be relative and stay inside the catalog")
        return f"{self._base}/{key}"

    def read(self, key: str) -> dict[str, Any] | None:
        """The document at `key`, or None when there is none."""
        path = self._path(key)
        try:
            with self._fs.open_input_stream(path) as stream:
                data = stream.read()
        except FileNotFoundError:
            return None
        except OSError as exc:  # object stores report a missing key as a generic OSError
            if self._fs.get_file_info(path).type == pafs.FileType.NotFound:
                return None
            raise FeatureStoreError(f"cannot read catalog document {path}: {exc}") from exc
        try:
            return json.loads(data)
        except json.JSONDecodeError as exc:
            raise FeatureStoreError(f"catalog document {path} is not valid JSON: {exc}") from exc

    def write(self, key: str, document: Mapping[str, Any]) -> None:
        """Store `document` at `key`, replacing any previous one in a single step."""
        path = self._path(key)
        payload = _dumps(document)
        if not self._local:
            self._put(path, payload)
            return
        tmp = self._write_temp(path, payload)
        os.replace(tmp, path)

    def create(self, key: str, document: Mapping[str, Any]) -> bool:
        """Store `document` only if `key` is free; False (and nothing written) when it exists."""
        path = self._path(key)
        payload = _dumps(document)
        if not self._local:
            if self._fs.get_file_info(path).type != pafs.FileType.NotFound:
                return False
            self._put(path, payload)
            return True
        tmp = self._write_temp(path, payload)
        try:
            os.link(tmp, path)
        except FileExistsError:
            return False
        except OSError:  # a filesystem without hard links: exclusive create, then fill
            try:
                handle = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                return False
            with os.fdopen(handle, "wb") as out:
                out.write(payload)
        finally:
            os.unlink(tmp)
        return True

    def list(self, prefix: str) -> list[str]:
        """Keys of the documents directly under the folder `prefix`, sorted."""
        folder = self._path(prefix.rstrip("/"))
        selector = pafs.FileSelector(folder, allow_not_found=True, recursive=False)
        infos = self._fs.get_file_info(selector)
        names = sorted(i.base_name for i in infos if i.type == pafs.FileType.File)
        return [f"{prefix.rstrip('/')}/{n}" for n in names if n.endswith(".json")]

    def folders(self, prefix: str) -> list[str]:
        """Names of the folders directly under `prefix`, sorted."""
        selector = pafs.FileSelector(self._path(prefix.rstrip("/")), allow_not_found=True, recursive=False)
        return sorted(i.base_name for i in self._fs.get_file_info(selector) if i.type == pafs.FileType.Directory)

    def _put(self, path: str, payload: bytes) -> None:
        self._fs.create_dir(path.rsplit("/", 1)[0], recursive=True)
        with self._fs.open_output_stream(path) as stream:
            stream.write(payload)

    def _write_temp(self, path: str, payload: bytes) -> str:
        folder = path.rsplit("/", 1)[0]
        os.makedirs(folder, exist_ok=True)
        tmp = f"{folder}/.{os.path.basename(path)}.{uuid.uuid4().hex}.tmp"
        with open(tmp, "wb") as handle:
            handle.write(payload)
        return tmp


def _dumps(document: Mapping[str, Any]) -> bytes:
    try:
        return json.dumps(document, indent=2, sort_keys=True, allow_nan=False).encode()
    except (TypeError, ValueError) as exc:
        raise FeatureStoreError(f"catalog document is not plain JSON: {exc}") from exc
