"""Open Inference Protocol (V2) tensors, decoded without Flask: the JSON request with
its inputs' `data` (flat or nested), or the binary tensor extension (a JSON header of
`Inference-Header-Content-Length` bytes, then each input's raw little-endian bytes in
the order the header lists them; BYTES elements each behind a 4-byte length)."""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import orjson

from app.core.errors import InvalidInput
from app.core.jsonbody import json_object

# V2 datatype -> little-endian numpy dtype (BYTES is length-prefixed, handled apart)
NUMPY_TYPES: dict[str, str] = {
    "BOOL": "?",
    "UINT8": "<u1",
    "UINT16": "<u2",
    "UINT32": "<u4",
    "UINT64": "<u8",
    "INT8": "<i1",
    "INT16": "<i2",
    "INT32": "<i4",
    "INT64": "<i8",
    "FP16": "<f2",
    "FP32": "<f4",
    "FP64": "<f8",
}
DATATYPES = (*NUMPY_TYPES, "BYTES")
_NUMBER_TYPES = (int, float)


@dataclass
class Tensor:
    name: str
    datatype: str
    shape: list[int]
    # flat, row-major: JSON data as Python values; binary numeric data as a read-only
    # array over the body (its Python values only when asked for: `values`)
    flat: list[Any] | np.ndarray
    parameters: dict[str, Any] = field(default_factory=dict)

    @property
    def values(self) -> list[Any]:
        """The flat values as Python values, as JSON would have carried them."""
        if isinstance(self.flat, np.ndarray):
            values: list[Any] = self.flat.tolist()
            return values
        return self.flat

    @property
    def array(self) -> np.ndarray | None:
        """The binary numeric data as an array (None for JSON data and BYTES)."""
        return self.flat if isinstance(self.flat, np.ndarray) else None


@dataclass
class InferRequest:
    inputs: list[Tensor]
    outputs: list[str] | None  # None: not given (the default output)
    id: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict[str, Any])
    binary_outputs: set[str] = field(default_factory=set)  # names asked with binary_data

    def wants_binary(self, name: str) -> bool:
        return name in self.binary_outputs or self.parameters.get("binary_data_output") is True


def parse_infer_request(body: bytes, header_length: str | None) -> InferRequest:
    """The request body, JSON or binary-extended (`header_length` is the value of the
    Inference-Header-Content-Length header, or None)."""
    json_part, binary = _split(body, header_length) if body else (body, memoryview(b""))
    doc = json_object(json_part, "inputs")
    inputs = doc.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise InvalidInput("'inputs' must be a non-empty list of tensors", {"inputs": "required"})
    offset = 0
    tensors = []
    for i, raw in enumerate(inputs):
        tensor, offset = _tensor(raw, i, binary, offset)
        tensors.append(tensor)
    if offset != len(binary):
        raise InvalidInput(
            f"{len(binary) - offset} binary bytes after the last input's data",
            {"body": "binary data size mismatch"},
        )
    names = [t.name for t in tensors]
    if len(set(names)) != len(names):
        raise InvalidInput("input names must be unique", {"inputs": "duplicate names"})
    outputs, binary_outputs = _outputs(doc.get("outputs"))
    return InferRequest(
        inputs=tensors,
        outputs=outputs,
        id=_optional_str(doc, "id"),
        parameters=_parameters(doc, "request"),
        binary_outputs=binary_outputs,
    )


def _split(body: bytes, header_length: str | None) -> tuple[bytes, memoryview]:
    """The JSON header and, without copying it, the binary data after it."""
    if header_length is None or header_length == "":
        return body, memoryview(b"")
    try:
        n = int(header_length)
    except ValueError:
        raise InvalidInput(
            "Inference-Header-Content-Length must be an integer",
            {"Inference-Header-Content-Length": "not an integer"},
        ) from None
    if not 0 < n <= len(body):
        raise InvalidInput(
            f"Inference-Header-Content-Length {n} is outside the body's {len(body)} bytes",
            {"Inference-Header-Content-Length": "out of range"},
        )
    return body[:n], memoryview(body)[n:]


def _optional_str(doc: dict[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is not None and not isinstance(value, str):
        raise InvalidInput(f"'{key}' must be a string", {key: "expected a string"})
    return value


def _parameters(doc: dict[str, Any], where: str) -> dict[str, Any]:
    value = doc.get("parameters") or {}
    if not isinstance(value, dict):
        raise InvalidInput(
            f"the {where}'s 'parameters' must be an object", {"parameters": "expected an object"}
        )
    return value


def _outputs(raw: Any) -> tuple[list[str] | None, set[str]]:
    if raw is None:
        return None, set()
    if not isinstance(raw, list) or not all(
        isinstance(o, dict)
        and isinstance(o.get("name"), str)
        and isinstance(o.get("parameters") or {}, dict)
        for o in raw
    ):
        raise InvalidInput(
            "'outputs' must be a list of {\"name\": ...} objects", {"outputs": "invalid"}
        )
    binary = {o["name"] for o in raw if (o.get("parameters") or {}).get("binary_data") is True}
    return [o["name"] for o in raw], binary


def _tensor(raw: Any, i: int, binary: memoryview, offset: int) -> tuple[Tensor, int]:
    where = f"inputs[{i}]"
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where} must be an object", {where: "expected an object"})
    name, datatype, shape = raw.get("name"), raw.get("datatype"), raw.get("shape")
    if not isinstance(name, str) or not name:
        raise InvalidInput(
            f"{where}.name must be a non-empty string", {f"{where}.name": "required"}
        )
    where = f"input {name!r}"
    if datatype not in DATATYPES:
        raise InvalidInput(
            f"{where}: datatype {str(datatype)[:20]!r} is not one of {', '.join(DATATYPES)}",
            {f"{name}.datatype": "unknown datatype"},
        )
    if (
        not isinstance(shape, list)
        or not shape
        or not all(type(d) is int and d >= 0 for d in shape)
    ):
        raise InvalidInput(
            f"{where}: shape must be a list of non-negative integers",
            {f"{name}.shape": "invalid shape"},
        )
    params = _parameters(raw, where)
    count = math.prod(shape)
    size = params.get("binary_data_size")
    if size is not None:
        if type(size) is not int or size < 0 or offset + size > len(binary):
            raise InvalidInput(
                f"{where}: binary_data_size {size!r} does not fit the binary data",
                {f"{name}.binary_data_size": "out of range"},
            )
        flat = _from_binary(binary[offset : offset + size], datatype, count, where)
        offset += size
    else:
        if "data" not in raw:
            raise InvalidInput(
                f"{where}: 'data' is required (or parameters.binary_data_size)",
                {f"{name}.data": "required"},
            )
        flat = _from_json(raw["data"], datatype, count, where)
    return Tensor(name, datatype, shape, flat, params), offset


def _flatten(data: Any) -> list[Any]:
    """Row-major values of nested lists, without recursion (a client's nesting is
    only bounded by the JSON parser's depth limit, beyond Python's stack)."""
    if not isinstance(data, list):
        return [data]
    if not any(isinstance(v, list) for v in data):
        return data
    out: list[Any] = []
    stack: list[Any] = [iter(data)]
    while stack:
        for v in stack[-1]:
            if isinstance(v, list):
                stack.append(iter(v))
                break
            out.append(v)
        else:
            stack.pop()
    return out


def _from_json(data: Any, datatype: str, count: int, where: str) -> list[Any]:
    values = _flatten(data)
    if len(values) != count:
        raise InvalidInput(
            f"{where}: shape holds {count} values, data has {len(values)}",
            {"shape": "does not match the data"},
        )
    if datatype == "BYTES":
        ok = all(v is None or isinstance(v, str) for v in values)
    elif datatype == "BOOL":
        ok = all(v is None or isinstance(v, bool) for v in values)
    else:
        ok = all(
            v is None or (isinstance(v, _NUMBER_TYPES) and not isinstance(v, bool)) for v in values
        )
    if not ok:
        raise InvalidInput(
            f"{where}: the data are not all {datatype} values (or null)",
            {"datatype": "does not match the data"},
        )
    return values


def _from_binary(buf: memoryview, datatype: str, count: int, where: str) -> list[Any] | np.ndarray:
    """BYTES elements as str; numeric data as an array over `buf`, not copied."""
    if datatype == "BYTES":
        return _bytes_elements(buf, count, where)
    dtype = np.dtype(NUMPY_TYPES[datatype])
    if len(buf) != count * dtype.itemsize:
        raise InvalidInput(
            f"{where}: {count} {datatype} values take {count * dtype.itemsize} bytes, "
            f"binary_data_size is {len(buf)}",
            {"binary_data_size": "does not match the shape"},
        )
    return np.frombuffer(buf, dtype=dtype)


def _bytes_elements(buf: memoryview, count: int, where: str) -> list[Any]:
    values, pos = [], 0
    for _ in range(count):
        if pos + 4 > len(buf):
            raise InvalidInput(
                f"{where}: the BYTES data end before {count} elements",
                {"binary_data_size": "too short"},
            )
        (n,) = struct.unpack_from("<I", buf, pos)
        pos += 4
        if pos + n > len(buf):
            raise InvalidInput(
                f"{where}: a BYTES element runs past the data", {"binary_data_size": "too short"}
            )
        try:
            values.append(str(buf[pos : pos + n], "utf-8"))
        except UnicodeDecodeError:
            raise InvalidInput(
                f"{where}: BYTES elements must be UTF-8 text", {"data": "not UTF-8"}
            ) from None
        pos += n
    if pos != len(buf):
        raise InvalidInput(
            f"{where}: {len(buf) - pos} bytes after {count} BYTES elements",
            {"binary_data_size": "too long"},
        )
    return values


def datatype_of(values: list[Any]) -> str:
    """The V2 datatype of a flat list of answers: by the first non-null value."""
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool):
            return "BOOL"
        if isinstance(v, int):
            return "INT64"
        if isinstance(v, float):
            return "FP64"
        return "BYTES"
    return "FP64"


def encode_response(body: dict[str, Any], binary: set[str]) -> tuple[bytes, int | None]:
    """The response bytes, and the JSON header's length when some outputs (those named
    in `binary`) follow it as raw little-endian tensors instead of JSON `data`."""
    blobs = []
    for out in body["outputs"]:
        if out["name"] in binary:
            blob = _to_binary(out.pop("data"), out["datatype"])
            out.setdefault("parameters", {})["binary_data_size"] = len(blob)
            blobs.append(blob)
    head = orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    if not blobs:
        return head, None
    return head + b"".join(blobs), len(head)


def _to_binary(values: list[Any], datatype: str) -> bytes:
    if datatype == "BYTES":
        encoded = [str(v).encode("utf-8") for v in values]
        return b"".join(struct.pack("<I", len(e)) + e for e in encoded)
    if datatype == "FP64":
        values = [math.nan if v is None else v for v in values]
    return np.asarray(values, dtype=NUMPY_TYPES[datatype]).tobytes()
