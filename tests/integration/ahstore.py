"""Read an amihead store directly, read-only, for tests that score a whole
fleet: `amihead query` answers one meter per process, which for 20,000
meters under ASan takes longer than the collection itself. This reads the
on-disk contract of docs/storage.md (column families `meters` and `reads`,
keys big endian, read record version 1, fields little endian) through the
RocksDB C API (librocksdb, the library the head-end links) with ctypes.

It decodes only what the fleet tests compare (source, presence, quality,
import/export totals) and refuses records that are not version 1 / 242
bytes, like store_rec_decode does."""
import ctypes
import ctypes.util
import struct

REC_LEN = 242
HAS_IMP_TOTAL = 1 << 0
HAS_EXP_TOTAL = 1 << 2
SOURCES = ("live", "backfill", "released")


def _lib():
    name = ctypes.util.find_library("rocksdb") or "librocksdb.so"
    lib = ctypes.CDLL(name)
    vp, cp, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_size_t
    errp = ctypes.POINTER(ctypes.c_char_p)
    sigs = {
        "rocksdb_options_create": ([], vp),
        "rocksdb_options_destroy": ([vp], None),
        "rocksdb_list_column_families": ([vp, cp, ctypes.POINTER(sz), errp],
                                         ctypes.POINTER(ctypes.c_char_p)),
        "rocksdb_list_column_families_destroy": ([ctypes.POINTER(ctypes.c_char_p), sz],
                                                 None),
        "rocksdb_open_for_read_only_column_families": (
            [vp, cp, ctypes.c_int, ctypes.POINTER(ctypes.c_char_p),
             ctypes.POINTER(vp), ctypes.POINTER(vp), ctypes.c_ubyte, errp], vp),
        "rocksdb_close": ([vp], None),
        "rocksdb_column_family_handle_destroy": ([vp], None),
        "rocksdb_readoptions_create": ([], vp),
        "rocksdb_readoptions_destroy": ([vp], None),
        "rocksdb_create_iterator_cf": ([vp, vp, vp], vp),
        "rocksdb_iter_destroy": ([vp], None),
        "rocksdb_iter_seek_to_first": ([vp], None),
        "rocksdb_iter_valid": ([vp], ctypes.c_ubyte),
        "rocksdb_iter_next": ([vp], None),
        "rocksdb_iter_key": ([vp, ctypes.POINTER(sz)], ctypes.c_void_p),
        "rocksdb_iter_value": ([vp, ctypes.POINTER(sz)], ctypes.c_void_p),
        "rocksdb_iter_get_error": ([vp, errp], None),
    }
    for fn, (args, res) in sigs.items():
        f = getattr(lib, fn)
        f.argtypes = args
        f.restype = res
    return lib


class StoreError(Exception):
    pass


class Store:
    """A read-only view of the store at path: it sees what was committed
    when it opened (docs/storage.md), so tests open it after the run."""

    def __init__(self, path):
        self.lib = lib = _lib()
        self.opts = lib.rocksdb_options_create()
        err = ctypes.c_char_p()
        n = ctypes.c_size_t()
        names = lib.rocksdb_list_column_families(self.opts, path.encode(), ctypes.byref(n),
                                                 ctypes.byref(err))
        if err.value:
            raise StoreError(f"{path}: {err.value.decode()}")
        self.cf_names = [names[i].decode() for i in range(n.value)]
        lib.rocksdb_list_column_families_destroy(names, n.value)
        k = len(self.cf_names)
        c_names = (ctypes.c_char_p * k)(*[s.encode() for s in self.cf_names])
        cf_opts = (ctypes.c_void_p * k)(*([self.opts] * k))
        self.handles = (ctypes.c_void_p * k)()
        self.db = lib.rocksdb_open_for_read_only_column_families(
            self.opts, path.encode(), k, c_names, cf_opts, self.handles, 0,
            ctypes.byref(err))
        if err.value or not self.db:
            raise StoreError(f"{path}: {(err.value or b'open failed').decode()}")
        self.ropts = lib.rocksdb_readoptions_create()

    def close(self):
        if self.db:
            for i in range(len(self.cf_names)):
                self.lib.rocksdb_column_family_handle_destroy(self.handles[i])
            self.lib.rocksdb_close(self.db)
            self.lib.rocksdb_readoptions_destroy(self.ropts)
            self.lib.rocksdb_options_destroy(self.opts)
            self.db = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def _each(self, cf):
        lib = self.lib
        h = self.handles[self.cf_names.index(cf)]
        it = lib.rocksdb_create_iterator_cf(self.db, self.ropts, h)
        kl, vl = ctypes.c_size_t(), ctypes.c_size_t()
        kref, vref = ctypes.byref(kl), ctypes.byref(vl)
        at = ctypes.string_at
        try:
            lib.rocksdb_iter_seek_to_first(it)
            valid, nxt = lib.rocksdb_iter_valid, lib.rocksdb_iter_next
            key, val = lib.rocksdb_iter_key, lib.rocksdb_iter_value
            while valid(it):
                kp = key(it, kref)
                vp = val(it, vref)
                yield at(kp, kl.value), at(vp, vl.value)
                nxt(it)
            err = ctypes.c_char_p()
            lib.rocksdb_iter_get_error(it, ctypes.byref(err))
            if err.value:
                raise StoreError(err.value.decode())
        finally:
            lib.rocksdb_iter_destroy(it)

    def meter_ids(self):
        """{meter index: meter id} from the `meters` family's 'n' keys."""
        out = {}
        for k, v in self._each("meters"):
            if k[:1] == b"n" and len(k) == 5:
                out[struct.unpack(">I", k[1:])[0]] = v.decode()
        return out

    def reads(self):
        """Every stored read as {meter id: {interval end: (source, quality,
        present, imp_total, exp_total)}} (energies in 0.01 kWh secondary)."""
        ids = self.meter_ids()
        out = {}
        unpack_key = struct.Struct(">IQ").unpack
        head = struct.Struct("<BBII").unpack_from
        energy = struct.Struct("<q").unpack_from
        cur_idx, cur = None, None
        for k, v in self._each("reads"):
            if len(k) != 12:
                raise StoreError(f"read key of {len(k)} bytes")
            idx, end = unpack_key(k)
            if len(v) != REC_LEN:
                raise StoreError(f"meter {idx} {end}: record of {len(v)} bytes")
            ver, src, present, quality = head(v, 0)
            if ver != 1 or src > 2:
                raise StoreError(f"meter {idx} {end}: version {ver} source {src}")
            if idx != cur_idx:
                cur_idx = idx
                cur = out.setdefault(ids.get(idx, f"#{idx}"), {})
            cur[end] = (SOURCES[src], quality, present, energy(v, 34)[0],
                        energy(v, 74)[0])
        return out

    def outbox(self):
        """Every outbox message as (seq, topic, body bytes) in sequence order
        (docs/storage.md: key u64 BE = first sequence of the row; a row is a
        chunk (0xFF, count u32 BE, count x (length u32 BE, message)) or, in
        a schema 1 store, one message; a message: version 1, published ms
        u64 BE, topic length u16 BE, topic, body)."""
        out = []
        for k, v in self._each("outbox"):
            if len(k) != 8:
                raise StoreError(f"outbox key {k.hex()}")
            for seq, m in outbox_row(struct.unpack(">Q", k)[0], v):
                if len(m) < 11 or m[0] != 1:
                    raise StoreError(f"outbox message {seq}: {m[:11].hex()}")
                tlen = struct.unpack_from(">H", m, 9)[0]
                out.append((seq, m[11:11 + tlen].decode(), m[11 + tlen:]))
        return out


def outbox_row(first, v):
    """The (seq, message bytes) of one outbox row (see Store.outbox)."""
    if not v or v[0] != 0xFF:
        return [(first, v)]
    n, at, out = struct.unpack_from(">I", v, 1)[0], 5, []
    for i in range(n):
        ln = struct.unpack_from(">I", v, at)[0]
        out.append((first + i, v[at + 4:at + 4 + ln]))
        at += 4 + ln
    if at != len(v):
        raise StoreError(f"outbox chunk {first}: {len(v) - at} bytes left over")
    return out
