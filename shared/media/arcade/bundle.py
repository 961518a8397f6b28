"""The Godot web release bundle: the only door from an uploaded zip to stored release files.

`validate_bundle(zip_bytes, manifest_json)` returns a `ValidatedBundle` or raises
`AppError` (INVALID, or TOO_LARGE for an honestly declared size over a cap); it stores
nothing, so a refused bundle leaves nothing behind. A bundle it accepts keeps these promises:
- it is a real, unencrypted zip (not ZIP64) of at most MAX_ENTRIES entries, stored or deflated
  only (bounded decompression), with no symlink or other special entry;
- every file name passes the manifest's `path_problem` (relative, no `..`, no backslash or
  drive letter, an allowed extension), no two names are equal ignoring case, and no file
  name is also a parent folder of another;
- sizes are checked from the central directory BEFORE anything is inflated (per-entry and
  overall compression ratio, per-file and total caps, compressed sizes that add up to no
  more than the archive) and again while streaming: bytes are counted as they are inflated
  and a file stops at its declared size, so a lying header can never expand memory;
- the zip's files are exactly the manifest's files, with the same sizes and SHA-256.
`ValidatedBundle.contents()` yields each file's bytes one at a time for storage, re-checking
its hash, so at most one file (<= MAX_FILE_BYTES) is held at once.
"""

from __future__ import annotations

import hashlib
import io
import stat
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from shared.engine.errors import AppError, ErrorKind
from shared.media.arcade.headers import content_type
from shared.media.arcade.manifest import ReleaseManifest, parse_manifest, path_problem

MIB: Final = 1024 * 1024
MAX_BUNDLE_BYTES: Final = 256 * MIB  # the archive itself
MAX_FILE_BYTES: Final = 64 * MIB  # one inflated file
MAX_TOTAL_BYTES: Final = 256 * MIB  # all inflated files together
MAX_ENTRIES: Final = 2000  # files and folder entries
MAX_ENTRY_RATIO: Final = 100  # inflated / compressed, per entry
MAX_TOTAL_RATIO: Final = 50  # inflated total / archive size
RATIO_FLOOR_BYTES: Final = MIB  # below this an entry or bundle is too small to be a bomb
CHUNK_BYTES: Final = MIB

_EOCD: Final = b"PK\x05\x06"
_UNREADABLE: Final = (
    zipfile.BadZipFile,
    zipfile.LargeZipFile,
    zlib.error,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    struct.error,
    IndexError,
    KeyError,
)


@dataclass(frozen=True)
class BundleFile:
    path: str
    size: int
    sha256: str
    content_type: str


@dataclass(frozen=True)
class ValidatedBundle:
    manifest: ReleaseManifest
    files: tuple[BundleFile, ...]
    _zip_bytes: bytes

    @property
    def total_bytes(self) -> int:
        return sum(item.size for item in self.files)

    def contents(self) -> Iterator[tuple[BundleFile, bytes]]:
        """Each file with its bytes, one at a time, in manifest order."""
        with zipfile.ZipFile(io.BytesIO(self._zip_bytes)) as archive:
            for item in self.files:
                data, digest = _inflate(archive, archive.getinfo(item.path))
                if digest != item.sha256:  # immutable bytes: a mismatch is a bug, not a client
                    raise RuntimeError(f"{item.path} changed after validation")
                yield item, data


def _invalid(message: str) -> AppError:
    return AppError(ErrorKind.INVALID, f"bundle: {message}")


def _declared_entries(zip_bytes: bytes) -> None:
    """Refuse ZIP64 and oversized central directories before zipfile builds one object each."""
    at = zip_bytes.rfind(_EOCD, max(0, len(zip_bytes) - 22 - 0xFFFF))
    if at < 0 or at + 22 > len(zip_bytes):
        raise _invalid("is not a zip archive")
    _, _, _, entries, cd_size, cd_offset, _ = struct.unpack("<HHHHIIH", zip_bytes[at + 4 : at + 22])
    if entries == 0xFFFF or cd_size == 0xFFFFFFFF or cd_offset == 0xFFFFFFFF:
        raise _invalid("ZIP64 archives are not accepted")
    if entries > MAX_ENTRIES:
        raise _invalid(f"has more than {MAX_ENTRIES} entries")


def _open(zip_bytes: bytes) -> zipfile.ZipFile:
    if len(zip_bytes) > MAX_BUNDLE_BYTES:
        raise AppError(ErrorKind.TOO_LARGE, f"bundle: is larger than {MAX_BUNDLE_BYTES} bytes")
    _declared_entries(zip_bytes)
    try:
        archive = zipfile.ZipFile(io.BytesIO(zip_bytes))
    except _UNREADABLE as exc:
        raise _invalid(f"is not a readable zip archive ({exc})") from None
    if len(archive.infolist()) > MAX_ENTRIES:
        raise _invalid(f"has more than {MAX_ENTRIES} entries")
    return archive


def _check_entry(info: zipfile.ZipInfo) -> bool:
    """Refuse an unsafe entry from its central-directory record; True for a folder entry."""
    name = info.filename
    if info.flag_bits & 0x1:
        raise _invalid(f"{name!r} is encrypted")
    kind = stat.S_IFMT(info.external_attr >> 16)
    if kind == stat.S_IFLNK:
        raise _invalid(f"{name!r} is a symbolic link")
    if kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        raise _invalid(f"{name!r} is not a regular file")
    if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
        raise _invalid(f"{name!r} uses a compression method other than stored or deflate")
    folder = name.endswith("/")
    if kind == stat.S_IFDIR and not folder:
        raise _invalid(f"{name!r} is a folder without a trailing '/'")
    problem = path_problem(name[:-1], folder=True) if folder else path_problem(name)
    if problem:
        raise _invalid(f"{name!r} {problem}")
    if folder and info.file_size:
        raise _invalid(f"{name!r} is a folder entry with content")
    if info.file_size > RATIO_FLOOR_BYTES and info.file_size > MAX_ENTRY_RATIO * max(
        info.compress_size, 1
    ):
        raise _invalid(f"{name!r} expands more than {MAX_ENTRY_RATIO}x (a zip bomb)")
    if info.file_size > MAX_FILE_BYTES:
        raise AppError(
            ErrorKind.TOO_LARGE, f"bundle: {name!r} is larger than {MAX_FILE_BYTES} bytes"
        )
    return folder


def _check_archive(zip_bytes: bytes, infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
    """The file entries by name, after every check the central directory allows."""
    files: dict[str, zipfile.ZipInfo] = {}
    folded: set[str] = set()
    for info in infos:
        if _check_entry(info):
            continue
        if info.filename.casefold() in folded:
            raise _invalid(f"{info.filename!r} appears twice")
        folded.add(info.filename.casefold())
        files[info.filename] = info
    for name in files:
        parts = name.casefold().split("/")
        for depth in range(1, len(parts)):
            if "/".join(parts[:depth]) in folded:
                raise _invalid(f"{name!r} sits under a name that is a file")
    inflated = sum(info.file_size for info in files.values())
    compressed = sum(info.compress_size for info in infos)
    if compressed > len(zip_bytes):
        raise _invalid("entries overlap (their compressed sizes exceed the archive)")
    if inflated > RATIO_FLOOR_BYTES and inflated > MAX_TOTAL_RATIO * len(zip_bytes):
        raise _invalid(f"expands more than {MAX_TOTAL_RATIO}x overall (a zip bomb)")
    if inflated > MAX_TOTAL_BYTES:
        raise AppError(ErrorKind.TOO_LARGE, f"bundle: expands past {MAX_TOTAL_BYTES} bytes")
    return files


def _inflate(
    archive: zipfile.ZipFile, info: zipfile.ZipInfo, *, keep: bool = True
) -> tuple[bytes, str]:
    """The entry's bytes and SHA-256, counted while inflating: never past its declared size."""
    limit = min(info.file_size, MAX_FILE_BYTES)
    digest = hashlib.sha256()
    parts: list[bytes] = []
    count = 0
    try:
        with archive.open(info) as stream:
            while chunk := stream.read(CHUNK_BYTES):
                count += len(chunk)
                if count > limit:
                    raise _invalid(f"{info.filename!r} expands past its declared size")
                digest.update(chunk)
                if keep:
                    parts.append(chunk)
    except _UNREADABLE as exc:
        raise _invalid(f"{info.filename!r} cannot be read ({exc})") from None
    if count != info.file_size:
        raise _invalid(f"{info.filename!r} holds {count} bytes, its header says {info.file_size}")
    return b"".join(parts), digest.hexdigest()


def validate_bundle(zip_bytes: bytes, manifest_json: str | bytes) -> ValidatedBundle:
    """The checked bundle, or AppError naming the first fault. Stores nothing."""
    manifest = parse_manifest(manifest_json)
    with _open(zip_bytes) as archive:
        files = _check_archive(zip_bytes, archive.infolist())
        listed = {item.path: item for item in manifest.files}
        for path in sorted(listed.keys() - files.keys()):
            raise _invalid(f"{path!r} is listed in the manifest but not in the zip")
        for path in sorted(files.keys() - listed.keys()):
            raise _invalid(f"{path!r} is in the zip but not listed in the manifest")
        checked: list[BundleFile] = []
        for item in manifest.files:
            info = files[item.path]
            if info.file_size != item.size:
                raise _invalid(
                    f"{item.path!r} is {info.file_size} bytes, the manifest says {item.size}"
                )
            _, digest = _inflate(archive, info, keep=False)
            if digest != item.sha256:
                raise _invalid(f"{item.path!r} does not match its manifest sha256")
            kind = content_type(item.path)
            assert kind is not None  # path_problem refuses any other extension
            checked.append(BundleFile(item.path, item.size, digest, kind))
    return ValidatedBundle(manifest, tuple(checked), zip_bytes)
