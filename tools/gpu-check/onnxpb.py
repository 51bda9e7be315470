"""Minimal ONNX protobuf reader (pure Python + NumPy; the onnx package is not needed).

Reads what the harness needs: a TensorProto (dims, data_type, raw_data or the typed *_data
fields) as a NumPy array, and the names of a ModelProto's graph inputs that are not initializers.
bfloat16 tensors come back as uint16 bit patterns with dtype_name 'bf16'.
"""
import struct

import numpy as np

# ONNX TensorProto.DataType -> (numpy dtype, IR element type name)
DTYPES = {
    1: (np.float32, "f32"), 2: (np.uint8, "u8"), 3: (np.int8, "i8"), 4: (np.uint16, "u16"),
    5: (np.int16, "i16"), 6: (np.int32, "i32"), 7: (np.int64, "i64"), 9: (np.bool_, "bool"),
    10: (np.float16, "f16"), 11: (np.float64, "f64"), 12: (np.uint32, "u32"), 13: (np.uint64, "u64"),
    16: (np.uint16, "bf16"),
}


def _varint(buf, i):
    result = shift = 0
    while True:
        b = buf[i]
        i += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            return result, i
        shift += 7


def fields(buf):
    """Yields (field number, wire type, value): ints for varints, bytes otherwise."""
    i, n = 0, len(buf)
    while i < n:
        key, i = _varint(buf, i)
        num, wt = key >> 3, key & 7
        if wt == 0:
            v, i = _varint(buf, i)
        elif wt == 1:
            v, i = buf[i:i + 8], i + 8
        elif wt == 2:
            ln, i = _varint(buf, i)
            v, i = buf[i:i + ln], i + ln
        elif wt == 5:
            v, i = buf[i:i + 4], i + 4
        else:
            raise ValueError(f"unsupported protobuf wire type {wt}")
        yield num, wt, v


def _ints(wt, v, out):
    """A repeated integer field, packed (wire type 2) or not."""
    if wt == 2:
        j = 0
        while j < len(v):
            x, j = _varint(v, j)
            out.append(x)
    else:
        out.append(v)


def _signed(x, bits=64):
    return x - (1 << 64) if x >= 1 << 63 else x


def read_tensor(buf):
    """TensorProto bytes -> (name, dtype_name, numpy array)."""
    dims, data_type, name, raw = [], 1, "", None
    ints32, ints64, u64, floats, doubles = [], [], [], bytearray(), bytearray()
    for num, wt, v in fields(buf):
        if num == 1:
            _ints(wt, v, dims)
        elif num == 2:
            data_type = v
        elif num == 4:
            floats += v
        elif num == 5:
            _ints(wt, v, ints32)
        elif num == 7:
            _ints(wt, v, ints64)
        elif num == 8:
            name = v.decode()
        elif num == 9:
            raw = v
        elif num == 10:
            doubles += v
        elif num == 11:
            _ints(wt, v, u64)
        elif num in (6, 13, 14):
            raise ValueError("string or external tensors are not supported")
    if data_type not in DTYPES:
        raise ValueError(f"unsupported TensorProto data_type {data_type}")
    np_dtype, dname = DTYPES[data_type]
    shape = tuple(_signed(d) for d in dims)
    if raw is not None:
        a = np.frombuffer(bytes(raw), dtype=np.dtype(np_dtype).newbyteorder("<")).astype(np_dtype)
    elif data_type == 1:
        a = np.frombuffer(bytes(floats), dtype="<f4").astype(np.float32)
    elif data_type == 11:
        a = np.frombuffer(bytes(doubles), dtype="<f8").astype(np.float64)
    elif data_type == 7:
        a = np.array([_signed(x) for x in ints64], dtype=np.int64)
    elif data_type in (12, 13):
        a = np.array(u64, dtype=np_dtype)
    elif data_type in (10, 16):  # half / bfloat16 bit patterns in int32_data
        a = np.array(ints32, dtype=np.uint16).view(np_dtype)
    else:
        a = np.array([_signed(x) for x in ints32], dtype=np.int64).astype(np_dtype)
    return name, dname, a.reshape(shape)


def read_tensor_file(path):
    with open(path, "rb") as f:
        return read_tensor(f.read())


def graph_input_names(model_path):
    """Names of the graph inputs that are not initializers, in order."""
    with open(model_path, "rb") as f:
        buf = f.read()
    graph = next((v for num, wt, v in fields(buf) if num == 7 and wt == 2), None)
    if graph is None:
        raise ValueError(f"{model_path}: no graph")
    inputs, inits = [], set()
    for num, wt, v in fields(graph):
        if num == 11 and wt == 2:
            inputs.append(next((x.decode() for n, w, x in fields(v) if n == 1 and w == 2), ""))
        elif num == 5 and wt == 2:
            inits.add(next((x.decode() for n, w, x in fields(v) if n == 8 and w == 2), ""))
    return [n for n in inputs if n not in inits]
