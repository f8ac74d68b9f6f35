"""The Open Inference Protocol (v2) on the wire: tensors to request bodies and back.

Pure functions over bytes and numpy arrays, no transport, so that every way a server
can answer wrongly is tested without one. Both encodings of the protocol are here:
JSON tensors, and the binary tensor extension, where a JSON header of
``Inference-Header-Content-Length`` bytes is followed by the raw little-endian tensor
data.

References
----------
.. [1] KServe, "Open Inference Protocol (v2)", REST/HTTP API.
.. [2] Triton Inference Server, "Binary Tensor Data Extension" and "Classification
   Extension".
"""

import json
import struct

import numpy as np

from ._base import OracleError

HEADER_LENGTH = "Inference-Header-Content-Length"

_DTYPES = {
    "BOOL": np.dtype(bool),
    "UINT8": np.dtype("<u1"), "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"), "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"), "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"), "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"), "FP32": np.dtype("<f4"), "FP64": np.dtype("<f8"),
    "BYTES": np.dtype(object),
}


def numpy_dtype(datatype):
    """The numpy dtype of a v2 datatype name (``"FP32"`` -> float32)."""
    try:
        return _DTYPES[datatype]
    except KeyError:
        raise OracleError(f"Unknown v2 tensor datatype {datatype!r}.") from None


def v2_datatype(dtype):
    """The v2 datatype name of a numeric numpy dtype (float32 -> ``"FP32"``)."""
    dtype = np.dtype(dtype)
    for name, candidate in _DTYPES.items():
        if name != "BYTES" and candidate.kind == dtype.kind and candidate.itemsize == dtype.itemsize:
            return name
    raise ValueError(f"No v2 datatype for numpy dtype {dtype}.")


def parse_metadata(payload, model_name, redact=None):
    """The first input's name, shape and datatype, and the outputs, from model metadata.

    Parameters
    ----------
    payload : bytes
        The body of ``GET /v2/models/{name}``.
    model_name : str
        For error messages.
    redact : callable, optional
        ``redact(text, limit=...)`` removes secrets from the part of the answer an
        error message quotes, before it is cut short.

    Returns
    -------
    dict
        ``input_name``, ``input_shape`` (a list where dynamic sizes are None),
        ``input_datatype``, and ``outputs``, a list of ``{"name", "datatype", "shape"}``.
    """
    meta = _loads(payload, f"the metadata of model {model_name!r}", redact)
    try:
        first = meta["inputs"][0]
        outputs = [
            {"name": o["name"], "datatype": o.get("datatype"),
             "shape": _dims(o.get("shape") or [])}
            for o in meta.get("outputs") or []
        ]
        return {
            "input_name": first["name"],
            "input_shape": _dims(first["shape"]),
            "input_datatype": first.get("datatype", "FP32"),
            "outputs": outputs,
        }
    except (KeyError, IndexError, TypeError) as exc:
        raise OracleError(
            f"The metadata of model {model_name!r} does not describe its inputs as the v2 "
            f"protocol does (missing {exc}); pass input_shape, or check the model name."
        ) from None


def _dims(shape):
    # The protocol writes a dynamic size as -1; skbar's canvas helpers expect None.
    return [int(d) if isinstance(d, int) and d >= 0 else None for d in shape]


def encode_request(name, x, binary=False, outputs=None):
    """The body and headers of ``POST /v2/models/{name}/infer`` for one input tensor.

    Parameters
    ----------
    name : str
        The model's input name.
    x : ndarray
        The input batch, already in the model's layout and dtype.
    binary : bool
        Use the binary tensor extension for the input, and ask for binary outputs.
    outputs : list of dict, optional
        Requested outputs (``{"name", "parameters"}``), e.g. for the classification
        extension; all outputs, in the server's default encoding, when None.

    Returns
    -------
    body : bytes
    headers : dict
    """
    tensor = {"name": name, "shape": list(x.shape), "datatype": v2_datatype(x.dtype)}
    request = {"inputs": [tensor]}
    if outputs:
        request["outputs"] = outputs
    if not binary:
        # tolist() turns float32 into the Python float of exactly the same value, and
        # json writes floats with repr, so the server reads back the very same float32.
        tensor["data"] = x.ravel().tolist()
        return json.dumps(request, separators=(",", ":")).encode(), {
            "Content-Type": "application/json"}
    raw = np.ascontiguousarray(x, dtype=x.dtype.newbyteorder("<")).tobytes()
    tensor["parameters"] = {"binary_data_size": len(raw)}
    request["parameters"] = {"binary_data_output": True}
    header = json.dumps(request, separators=(",", ":")).encode()
    return header + raw, {
        "Content-Type": "application/octet-stream",
        HEADER_LENGTH: str(len(header)),
    }


def decode_response(content, headers, n, redact=None):
    """The output tensors of an inference answer, by name, in the server's order.

    Parameters
    ----------
    content : bytes
        The response body.
    headers : mapping
        The response headers (case-insensitive keys); ``Inference-Header-Content-Length``
        marks a binary answer.
    n : int
        The batch size sent: every output must have ``n`` rows.
    redact : callable, optional
        As for :func:`parse_metadata`.

    Returns
    -------
    dict of str to ndarray

    Raises
    ------
    OracleError
        If the body is not a v2 inference response, or a tensor's data does not
        match its declared shape or has the wrong batch size.
    """
    json_length = headers.get(HEADER_LENGTH)
    if json_length is not None:
        try:
            json_length = int(json_length)
        except ValueError:
            raise OracleError(f"Bad {HEADER_LENGTH} header {json_length!r}.") from None
        header, raw = content[:json_length], content[json_length:]
    else:
        header, raw = content, b""
    answer = _loads(header, "the inference response", redact)
    tensors = answer.get("outputs") if isinstance(answer, dict) else None
    if not isinstance(tensors, list) or not tensors:
        raise OracleError(
            "The inference response has no 'outputs' list; "
            f"it starts {_preview(header, redact)}."
        )
    outputs = {}
    offset = 0
    for tensor in tensors:
        try:
            name, shape, datatype = tensor["name"], tensor["shape"], tensor["datatype"]
            shape = tuple(int(d) for d in shape)
        except (KeyError, TypeError, ValueError):
            raise OracleError(
                f"An output tensor lacks a name, shape or datatype: {_preview(tensor, redact)}."
            ) from None
        size = int(np.prod(shape))
        parameters = tensor.get("parameters") or {}
        if "data" in tensor and tensor["data"] is not None:
            array = _from_json(tensor["data"], datatype, name)
        elif "binary_data_size" in parameters:
            nbytes = int(parameters["binary_data_size"])
            chunk = raw[offset:offset + nbytes]
            offset += nbytes
            if len(chunk) != nbytes:
                raise OracleError(
                    f"Output {name!r} announces {nbytes} bytes of binary data but the "
                    f"response holds only {len(chunk)}."
                )
            array = _from_binary(chunk, datatype, name)
        else:
            raise OracleError(f"Output {name!r} carries no data.")
        if array.size != size:
            raise OracleError(
                f"Output {name!r} declares shape {list(shape)} ({size} values) but "
                f"carries {array.size} values."
            )
        array = array.reshape(shape)
        if array.ndim == 0 or array.shape[0] != n:
            raise OracleError(
                f"Output {name!r} has shape {list(shape)} for a batch of {n} images; "
                f"expected {n} rows."
            )
        outputs[name] = array
    return outputs


def _from_json(data, datatype, name):
    dtype = numpy_dtype(datatype)
    try:
        if datatype == "BYTES":
            flat = list(_flatten(data))
            return np.array([s if isinstance(s, str) else str(s) for s in flat], dtype=object)
        return np.asarray(data, dtype=dtype).ravel()
    except (TypeError, ValueError) as exc:
        raise OracleError(f"Output {name!r} is not a {datatype} tensor: {exc}.") from None


def _flatten(data):
    # JSON tensors may be nested lists (the protocol allows "row-major nested arrays").
    if isinstance(data, list):
        for item in data:
            yield from _flatten(item)
    else:
        yield data


def _from_binary(chunk, datatype, name):
    if datatype != "BYTES":
        dtype = numpy_dtype(datatype)
        if len(chunk) % dtype.itemsize:
            raise OracleError(f"Output {name!r}: {len(chunk)} bytes is not a whole number "
                              f"of {datatype} values.")
        return np.frombuffer(chunk, dtype=dtype)
    # BYTES: each element is a 4-byte little-endian length, then that many bytes.
    items, pos = [], 0
    while pos < len(chunk):
        if pos + 4 > len(chunk):
            raise OracleError(f"Output {name!r}: truncated BYTES element.")
        (length,) = struct.unpack_from("<I", chunk, pos)
        pos += 4
        items.append(chunk[pos:pos + length].decode("utf-8", errors="replace"))
        pos += length
    return np.array(items, dtype=object)


def _loads(payload, what, redact=None):
    try:
        return json.loads(payload)
    except (ValueError, UnicodeDecodeError) as exc:
        error = exc
    # Raised outside the except block: the JSON error holds the whole answer (its
    # ``doc``), unredacted, and would travel on as the new error's __context__.
    raise OracleError(
        f"The server answered malformed JSON for {what} ({error}); "
        f"the answer starts {_preview(payload, redact)}."
    )


def _preview(payload, redact=None, limit=120):
    """The start of ``payload`` for an error message, redacted before it is cut."""
    text = payload.decode("utf-8", "replace") if isinstance(payload, bytes) else repr(payload)
    if redact is not None:
        # Cut by redact itself, which then searches only the part it keeps.
        return repr(redact(text, limit=limit))
    return repr(text[:limit] + ("..." if len(text) > limit else ""))
