# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""The transaction decoder's fast path in C (coinium/core/transaction.py): `read_many`.

It is `_read_many_python` of transaction.py, which stays the readable reference and the path
the python kernel backend takes; tests decode random and mangled bytes with both and compare
the objects (every field, the encoding and the txid) or the refusal. Like the reference it knows
the layouts of the two built-in kinds and returns None for anything unusual (truncation, an
unknown version or kind, an amount out of range, a long memo), and the caller then decodes with
`Transaction.read`, which raises the precise DecodeError. Each object is built as the reference
builds it: a bare instance whose slots are set through their descriptors (no field checks: the
ranges checked here are those of the checks), its encoding a slice of the input, its txid the
BLAKE3 of that slice (coinium_blake3_chunk: a transaction is at most one chunk).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.long cimport PyLong_FromUnsignedLongLong
from cpython.object cimport Py_TYPE, PyTypeObject
from libc.stdint cimport uint8_t, uint16_t, uint32_t, uint64_t

cdef extern from "blake3_kernels.h" nogil:
    int coinium_blake3_chunk(const uint8_t *data, size_t length, uint8_t *out)

# Set once by `configure` (transaction.py, at import).
cdef object _cls = None
cdef tuple _descriptors = ()
cdef object _transfer_kind = None
cdef object _coinbase_kind = None
cdef int _transfer_byte = -1
cdef int _coinbase_byte = -1
cdef int _version = -1
cdef uint64_t _max_money = 0
cdef Py_ssize_t _max_memo = 0
cdef Py_ssize_t _max_extra = 0
cdef Py_ssize_t _signature_size = 0
cdef bytes _empty = b""


def configure(cls, descriptors, transfer_kind, coinbase_kind, int transfer_byte,
              int coinbase_byte, int version, max_money, Py_ssize_t max_memo,
              Py_ssize_t max_extra, Py_ssize_t signature_size):
    """The class, its slot descriptors (kind, recipient, amount, nonce, fee, sender, payload,
    signature, raw, txid) and the constants the reference reads from the kinds' modules."""
    global _cls, _descriptors, _transfer_kind, _coinbase_kind, _transfer_byte, _coinbase_byte
    global _version, _max_money, _max_memo, _max_extra, _signature_size
    if len(descriptors) != 10:
        raise ValueError("ten slot descriptors")
    _cls, _descriptors = cls, tuple(descriptors)
    _transfer_kind, _coinbase_kind = transfer_kind, coinbase_kind
    _transfer_byte, _coinbase_byte, _version = transfer_byte, coinbase_byte, version
    _max_money, _max_memo, _max_extra = max_money, max_memo, max_extra
    _signature_size = signature_size


cdef inline uint64_t _u64(const uint8_t *p) noexcept nogil:
    cdef uint64_t v = 0
    cdef int i
    for i in range(7, -1, -1):
        v = (v << 8) | p[i]
    return v


cdef inline uint32_t _u32(const uint8_t *p) noexcept nogil:
    return p[0] | (<uint32_t>p[1] << 8) | (<uint32_t>p[2] << 16) | (<uint32_t>p[3] << 24)


cdef inline uint16_t _u16(const uint8_t *p) noexcept nogil:
    return <uint16_t>(p[0] | (p[1] << 8))


cdef inline int _set(object descriptor, object tx, object value) except -1:
    # The slot's member descriptor sets it, as the reference's `descriptor.__set__` does (the
    # frozen dataclass refuses plain attribute assignment).
    return (<PyTypeObject *>Py_TYPE(descriptor)).tp_descr_set(descriptor, tx, value)


cdef inline bytes _slice(const uint8_t *base, Py_ssize_t start, Py_ssize_t end):
    return PyBytes_FromStringAndSize(<const char *>base + start, end - start)


def read_many(bytes data not None, Py_ssize_t offset, Py_ssize_t count):
    """``count`` transactions back to back in ``data`` from ``offset``: (transactions, end
    offset), or None if any of them is not a canonical encoding (decode it with `read` then)."""
    if _cls is None:
        raise RuntimeError("tx_fast.configure was not called")
    cdef const uint8_t *base = <const uint8_t *>PyBytes_AS_STRING(data)
    cdef Py_ssize_t size = PyBytes_GET_SIZE(data)
    cdef Py_ssize_t pos = offset, end, memo_end, extra_size, memo_size, n
    cdef uint64_t fee, amount, nonce
    cdef uint8_t digest[32]
    cdef list txs = []
    cdef object tx, raw
    (d_kind, d_recipient, d_amount, d_nonce, d_fee, d_sender, d_payload, d_signature, d_raw,
     d_txid) = _descriptors
    if offset < 0:
        return None
    for n in range(count):
        if pos + 80 <= size and base[pos + 1] == _transfer_byte:
            memo_size = _u16(base + pos + 78)
            memo_end = pos + 80 + memo_size
            end = memo_end + _signature_size
            fee = _u64(base + pos + 42)
            amount = _u64(base + pos + 70)
            if base[pos] != _version or fee > _max_money or amount > _max_money \
                    or memo_size > _max_memo or end > size:
                return None
            nonce = _u64(base + pos + 34)
            tx = _cls.__new__(_cls)
            _set(d_kind, tx, _transfer_kind)
            _set(d_sender, tx, _slice(base, pos + 2, pos + 34))
            _set(d_nonce, tx, PyLong_FromUnsignedLongLong(nonce))
            _set(d_fee, tx, PyLong_FromUnsignedLongLong(fee))
            _set(d_recipient, tx, _slice(base, pos + 50, pos + 70))
            _set(d_payload, tx, _slice(base, pos + 80, memo_end))
            _set(d_signature, tx, _slice(base, memo_end, end))
        elif pos + 36 <= size and base[pos + 1] == _coinbase_byte:
            extra_size = _u16(base + pos + 34)
            end = pos + 36 + extra_size
            amount = _u64(base + pos + 26)
            if base[pos] != _version or amount > _max_money or extra_size > _max_extra \
                    or end > size:
                return None
            tx = _cls.__new__(_cls)
            _set(d_kind, tx, _coinbase_kind)
            _set(d_sender, tx, _empty)
            _set(d_nonce, tx, PyLong_FromUnsignedLongLong(_u32(base + pos + 2)))
            _set(d_fee, tx, 0)
            _set(d_recipient, tx, _slice(base, pos + 6, pos + 26))
            _set(d_payload, tx, _slice(base, pos + 36, end))
            _set(d_signature, tx, _empty)
        else:
            return None
        _set(d_amount, tx, PyLong_FromUnsignedLongLong(amount))
        raw = _slice(base, pos, end)
        _set(d_raw, tx, raw)
        if coinium_blake3_chunk(base + pos, end - pos, digest) != 0:
            return None  # longer than a chunk: not a layout this path knows
        _set(d_txid, tx, PyBytes_FromStringAndSize(<const char *>digest, 32))
        txs.append(tx)
        pos = end
    return txs, pos


def blake3_chunk(bytes data not None):
    """BLAKE3-256 of at most 1,024 bytes (tests compare it with the blake3 package)."""
    cdef uint8_t digest[32]
    if coinium_blake3_chunk(<const uint8_t *>PyBytes_AS_STRING(data), PyBytes_GET_SIZE(data),
                            digest) != 0:
        raise ValueError("more than one chunk (1,024 bytes)")
    return PyBytes_FromStringAndSize(<const char *>digest, 32)
