# Type stub for the Cython extension built from _ext/ckernels.pyx.

import numpy as np
import numpy.typing as npt

SIMD_NAMES: dict[int, str]

class NotAllBytes(TypeError): ...

def simd_detect() -> int: ...
def simd_level() -> int: ...
def simd_set(level: int) -> int: ...
def simd_lanes() -> int: ...
def compress(
    cv: npt.NDArray[np.uint32], m: npt.NDArray[np.uint32], counter: int, b: int, flags: int
) -> list[int]: ...
def pow_search(
    header: bytes, target_be: bytes, start: int, count: int
) -> tuple[bool, int, int]: ...
def merkle_root_list(txids: list[bytes], key: bytes) -> bytes: ...
def keyed_hash64(key: bytes, blocks: list[bytes]) -> list[bytes]: ...
def merkle_root_array(leaves: npt.NDArray[np.uint8], key: bytes) -> bytes: ...
def verify_many(
    public_keys: list[bytes],
    messages: list[bytes],
    signatures: list[bytes],
    threads: int,
    verify_detached_addr: int,
    sign_open_addr: int,
) -> list[bool]: ...


ED25519_RULE: int

def ed25519_verify_one(
    public_key: object, message: object, signature: object, sha512_addr: int, rule: int
) -> bool: ...
def ed25519_verify_batch(
    public_keys: list[object],
    messages: list[object],
    signatures: list[object],
    threads: int,
    sha512_addr: int,
    rule: int,
    msm_mode: int,
) -> list[bool]: ...
