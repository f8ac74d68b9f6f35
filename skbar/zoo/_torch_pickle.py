"""Reading a PyTorch state dict saved in torch's legacy (non-zip) format, without torch.

Files written by ``torch.save(..., _use_new_zipfile_serialization=False)`` (and by every
torch before 1.6) are a concatenation of

1. a pickle of the magic number ``0x1950a86a20f9469cfc6c``,
2. a pickle of the protocol version ``1001``,
3. a pickle of a small ``sys_info`` dict (byte order, type sizes),
4. the pickle of the object itself, in which each storage is a *persistent id*
   ``("storage", StorageType, key, location, numel, view_metadata)`` and each tensor a
   call to ``torch._utils._rebuild_tensor_v2(storage, offset, size, stride, ...)``,
5. a pickle of the list of storage keys, in the order their bytes follow,
6. for each key: its element count as a little-endian int64, then its raw bytes.

Unpickling runs whatever callables the file names, so :class:`_RestrictedUnpickler`
resolves only the handful of names a state dict needs, each to a numpy stand-in, and
refuses every other global. Tensor views are bounds-checked against their storage
before any strided read, may not hold more elements than their storage (a stride of 0
would let a few bytes become gigabytes), and all of them together may not take more than
:data:`MAX_EXPANSION` times the file's size.

References
----------
torch/serialization.py, ``_legacy_load``; torch/csrc/serialization.cpp,
``THPStorage_readFileRaw``.
"""

import collections
import io
import math
import pickle
import struct

import numpy as np

_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
_PROTOCOL_VERSION = 1001

#: The arrays read from a file may take at most this many times the file's size (plus
#: 1 MiB): a state dict holds each weight once, so anything larger is a crafted file.
MAX_EXPANSION = 4

# torch's legacy storage classes and the numpy dtype of their elements (byte order
# is applied from the file's sys_info).
_STORAGE_DTYPES = {
    "DoubleStorage": "f8",
    "FloatStorage": "f4",
    "HalfStorage": "f2",
    "LongStorage": "i8",
    "IntStorage": "i4",
    "ShortStorage": "i2",
    "CharStorage": "i1",
    "ByteStorage": "u1",
    "BoolStorage": "?",
}


class _StandIn:
    """Base of the objects the unpickler builds in place of torch's.

    Pickle's BUILD opcode would otherwise let a file overwrite their attributes (a dtype,
    a size) after they were checked; none of them has state to restore.
    """

    def __setstate__(self, state):
        raise pickle.UnpicklingError(f"Refusing to set the state of a {type(self).__name__}.")


class _StorageType(_StandIn):
    """Stands in for ``torch.FloatStorage`` and friends: only the element type matters."""

    def __init__(self, name):
        self.name = name
        self.dtype = np.dtype(_STORAGE_DTYPES[name])


class _Storage(_StandIn):
    """A storage announced by the pickle; its bytes arrive after the pickle ends."""

    def __init__(self, dtype, numel):
        self.dtype = dtype
        self.numel = numel
        self.data = None


class _StorageView(_StandIn):
    """A slice ``[offset, offset + numel)`` of a root storage (rare in state dicts)."""

    def __init__(self, root, offset, numel):
        self.root = root
        self.offset = offset
        self.numel = numel


class _TensorRef(_StandIn):
    """What ``_rebuild_tensor_v2`` returns: a strided view, materialised later."""

    def __init__(self, storage, offset, size, stride):
        self.storage = storage
        self.offset = offset
        self.size = tuple(size)
        self.stride = tuple(stride)

    @property
    def numel(self):
        return math.prod(self.size)  # Python integers: no overflow on crafted sizes

    @property
    def storage_dtype(self):
        return self._root_offset_limit()[0].dtype

    def _root_offset_limit(self):
        storage, offset = self.storage, self.offset
        if isinstance(storage, _StorageView):
            return storage.root, offset + storage.offset, storage.offset + storage.numel
        return storage, offset, storage.numel

    def check_bounds(self):
        """Raise ValueError unless the view lies inside its storage and is no larger."""
        _, offset, limit = self._root_offset_limit()
        if 0 in self.size:
            return
        if self.numel > limit - offset:
            raise ValueError(
                f"A tensor of shape {self.size} ({self.numel} elements) views a storage of "
                f"{limit - offset} elements; a weights file never repeats values so. "
                "Corrupt or crafted file?")
        # as_strided reads whatever memory the strides point at: check the last element
        # reached lies inside the storage before trusting numbers from the file.
        last = offset + sum((n - 1) * s for n, s in zip(self.size, self.stride))
        if last >= limit:
            raise ValueError("Tensor view reaches outside its storage; corrupt file?")

    def to_numpy(self):
        storage, offset, _ = self._root_offset_limit()
        if 0 in self.size:
            return np.empty(self.size, dtype=storage.dtype.newbyteorder("="))
        self.check_bounds()
        base = storage.data
        itemsize = base.itemsize
        view = np.lib.stride_tricks.as_strided(
            base[offset:], shape=self.size, strides=[s * itemsize for s in self.stride],
            writeable=False,
        )
        return np.array(view, dtype=base.dtype.newbyteorder("="))


def _non_negative_ints(values, what):
    if not (isinstance(values, tuple) and all(isinstance(v, int) and v >= 0 for v in values)):
        raise pickle.UnpicklingError(f"Bad tensor {what} {values!r}.")
    return values


def _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad=False,
                       backward_hooks=None, metadata=None):
    """Stands in for ``torch._utils._rebuild_tensor_v2``; checks what it is handed."""
    if not isinstance(storage, (_Storage, _StorageView)):
        raise pickle.UnpicklingError("_rebuild_tensor_v2 expects a storage.")
    (storage_offset,) = _non_negative_ints((storage_offset,), "offset")
    size, stride = _non_negative_ints(size, "size"), _non_negative_ints(stride, "stride")
    if len(size) != len(stride):
        raise pickle.UnpicklingError("Tensor size and stride differ in length.")
    return _TensorRef(storage, storage_offset, size, stride)


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that knows only the names a legacy state dict uses."""

    def __init__(self, file, byte_order="<"):
        super().__init__(file)
        self.byte_order = byte_order
        self.storages = {}

    def find_class(self, module, name):
        if module == "collections" and name == "OrderedDict":
            return collections.OrderedDict
        if module == "torch._utils" and name == "_rebuild_tensor_v2":
            return _rebuild_tensor_v2
        if module == "torch" and name in _STORAGE_DTYPES:
            return _StorageType(name)
        raise pickle.UnpicklingError(
            f"Refusing to load {module}.{name}: not part of a plain PyTorch state dict."
        )

    def persistent_load(self, saved_id):
        if not (isinstance(saved_id, tuple) and len(saved_id) == 6):
            raise pickle.UnpicklingError(f"Unexpected persistent id {saved_id!r}.")
        typename, storage_type, key, _location, numel, view_metadata = saved_id
        if isinstance(typename, bytes):
            typename = typename.decode("ascii")
        if typename != "storage" or not isinstance(storage_type, _StorageType):
            raise pickle.UnpicklingError(f"Unexpected persistent id {saved_id!r}.")
        if not isinstance(numel, int) or numel < 0:
            raise pickle.UnpicklingError(f"Bad storage size {numel!r}.")
        key = str(key)
        storage = self.storages.get(key)
        if storage is None:
            dtype = storage_type.dtype.newbyteorder(self.byte_order)
            storage = self.storages[key] = _Storage(dtype, numel)
        if view_metadata is None:
            return storage
        if not (isinstance(view_metadata, tuple) and len(view_metadata) == 3):
            raise pickle.UnpicklingError(f"Bad storage view {view_metadata!r}.")
        offset, view_numel = _non_negative_ints(view_metadata[1:], "storage view")
        if offset + view_numel > storage.numel:
            raise pickle.UnpicklingError("Storage view reaches outside its storage.")
        return _StorageView(storage, offset, view_numel)


class _PlainUnpickler(pickle.Unpickler):
    """For the header pickles, which hold only numbers, strings and dicts."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"Unexpected global {module}.{name} in the file header.")


def load_legacy_state_dict(path):
    """Read a state dict saved by ``torch.save`` in the legacy format, as numpy arrays.

    Parameters
    ----------
    path : str or os.PathLike
        The ``.pth`` file.

    Returns
    -------
    state_dict : collections.OrderedDict of str to numpy.ndarray
        Parameter and buffer names, in file order, each with a C-contiguous array in
        native byte order.

    Raises
    ------
    ValueError
        If the file is not a legacy torch file, is truncated, or holds anything other
        than a dict of names to tensors.
    pickle.UnpicklingError
        If the file names a Python object outside the short allow-list.
    """
    with open(path, "rb") as f:
        data = f.read()
    stream = io.BytesIO(data)
    if _PlainUnpickler(stream).load() != _MAGIC_NUMBER:
        raise ValueError(f"{path} is not a legacy PyTorch file (bad magic number).")
    protocol = _PlainUnpickler(stream).load()
    if protocol != _PROTOCOL_VERSION:
        raise ValueError(f"{path}: unsupported legacy protocol version {protocol!r}.")
    sys_info = _PlainUnpickler(stream).load()
    byte_order = "<" if sys_info.get("little_endian", True) else ">"

    unpickler = _RestrictedUnpickler(stream, byte_order)
    tensors = unpickler.load()
    if not isinstance(tensors, dict) or not all(
            isinstance(k, str) and isinstance(v, _TensorRef) for k, v in tensors.items()):
        raise ValueError(f"{path} does not hold a state dict (a dict of names to tensors).")
    keys = _PlainUnpickler(stream).load()
    if not isinstance(keys, list):
        raise ValueError(f"{path}: expected the list of storage keys after the pickle.")

    offset = stream.tell()
    for key in keys:
        storage = unpickler.storages.get(str(key))
        if storage is None:
            raise ValueError(f"{path}: storage {key!r} is not referenced by the pickle.")
        if offset + 8 > len(data):
            raise ValueError(f"{path} is truncated.")
        # The element count is written in the saving machine's byte order too.
        (numel,) = struct.unpack(byte_order + "q", data[offset:offset + 8])
        nbytes = numel * storage.dtype.itemsize
        offset += 8
        if numel != storage.numel or offset + nbytes > len(data):
            raise ValueError(f"{path}: storage {key!r} has the wrong size; corrupt file?")
        storage.data = np.frombuffer(data, dtype=storage.dtype, count=numel, offset=offset)
        offset += nbytes
    missing = [k for k, s in unpickler.storages.items() if s.data is None]
    if missing:
        raise ValueError(f"{path}: no bytes for storages {missing[:3]}; corrupt file?")
    for ref in tensors.values():
        ref.check_bounds()
    wanted = sum(ref.numel * ref.storage_dtype.itemsize for ref in tensors.values())
    if wanted > MAX_EXPANSION * len(data) + 2**20:
        raise ValueError(
            f"{path}: its tensors would take {wanted:,} bytes from a file of {len(data):,}; "
            f"at most {MAX_EXPANSION} times the file's size is read. Corrupt or crafted file?")
    return collections.OrderedDict((key, ref.to_numpy()) for key, ref in tensors.items())
