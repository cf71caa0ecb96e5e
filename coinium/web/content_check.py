"""The NFT content-hash check: does the metadata hash (BLAKE3) to the hash the chain committed?

A ``data:`` URI (RFC 2397) carries its content in the record itself, so the node checks it on
every token page. Any other URI points off the chain: the node never fetches it (it may be
offline, and a page must not make it request arbitrary addresses), so the page offers to hash a
file the visitor uploads instead, as ``coinium verifynft`` does, streaming and capped.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from urllib.parse import unquote_to_bytes

from aiohttp import BodyPartReader, web
from blake3 import blake3

MAX_UPLOAD = 32 * 1024 * 1024  # hashed as it arrives: memory stays one chunk
CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Verdict:
    source: str  # "data URI" or the uploaded file's name
    size: int
    digest: str  # hex
    matches: bool


def data_uri_content(uri: str) -> bytes | None:
    """The bytes a ``data:`` URI holds; None for any other URI or a malformed one."""
    if uri[:5].lower() != "data:" or "," not in uri:  # a scheme is case-insensitive
        return None
    header, _, payload = uri[5:].partition(",")
    if header.endswith(";base64"):
        try:
            return base64.b64decode(unquote_to_bytes(payload), validate=True)
        except (binascii.Error, ValueError):
            return None
    return unquote_to_bytes(payload)


def check_data_uri(uri: str, committed: str) -> Verdict | None:
    content = data_uri_content(uri)
    if content is None:
        return None
    digest = blake3(content).hexdigest()
    return Verdict("data URI", len(content), digest, digest == committed)


class UploadTooLarge(Exception):
    pass


async def hash_upload(part: BodyPartReader, committed: str) -> Verdict:
    """Hash an uploaded file part as it arrives; `UploadTooLarge` past `MAX_UPLOAD` bytes."""
    hasher = blake3()
    size = 0
    while chunk := await part.read_chunk(CHUNK):
        size += len(chunk)
        if size > MAX_UPLOAD:
            raise UploadTooLarge
        hasher.update(chunk)
    digest = hasher.hexdigest()
    return Verdict(part.filename or "upload", size, digest, digest == committed)


async def read_check_form(request: web.Request) -> tuple[str | None, BodyPartReader | None]:
    """The form's CSRF token (it comes first) and its file part, unread."""
    if not request.content_type.startswith("multipart/"):
        return None, None
    reader = await request.multipart()
    token = None
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):
            return token, None
        if part.name == "csrf_token" and token is None:
            token = (await part.read_chunk(256)).decode(errors="replace")
            await part.release()  # a token is short: the rest, if any, is skipped unread
        elif part.name == "file":
            return token, part
        else:
            await part.release()
    return token, None
