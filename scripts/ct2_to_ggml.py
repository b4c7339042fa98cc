"""Converts CTranslate2 Whisper weights (model.bin, binary version 6) into whisper.cpp's
ggml format, f16, and optionally quantizes it to q8_0.

The registries this project can reach ship Whisper only as CTranslate2 models, so
scripts/fetch-model builds the ggml file here. Layouts follow
../shared/reference/asr-model.md section 3; the outputs are checked by sha256.

usage: ct2_to_ggml.py MODEL_BIN ASSETS_DIR OUT_F16 [OUT_Q8_0]
"""

import base64
import re
import struct
import sys

import numpy as np

DTYPES = {0: np.float32, 1: np.int8, 2: np.int16, 3: np.int32, 4: np.float16}


def read_ct2(path):
    data = open(path, "rb").read()
    pos = 0

    def take(fmt):
        nonlocal pos
        values = struct.unpack_from("<" + fmt, data, pos)
        pos += struct.calcsize("<" + fmt)
        return values

    def string():
        nonlocal pos
        (length,) = take("H")
        text = data[pos : pos + length].rstrip(b"\0").decode()
        pos += length
        return text

    (version,) = take("I")
    assert version == 6, f"CTranslate2 binary version {version}, expected 6"
    string()
    take("I")
    (count,) = take("I")
    variables = {}
    for _ in range(count):
        name = string()
        (rank,) = take("B")
        dims = take("I" * rank) if rank else ()
        (dtype,) = take("B")
        (nbytes,) = take("I")
        raw = data[pos : pos + nbytes]
        pos += nbytes
        array = np.frombuffer(raw, dtype=DTYPES[dtype]).reshape(dims) if rank else np.frombuffer(raw, dtype=DTYPES[dtype])[0]
        variables[name] = array
    return variables


def ggml_tensors(v):
    """(name, array) in ggml naming, with the key/value splits of the fused projections."""
    out = []

    def attention(prefix, src, fused_qkv):
        if fused_qkv:
            w, b = v[src + "/linear_0/weight"], v[src + "/linear_0/bias"]
            n = w.shape[0] // 3
            assert not b[n : 2 * n].any(), "key bias must be zero"
            out.extend([
                (prefix + ".query.weight", w[:n]), (prefix + ".query.bias", b[:n]),
                (prefix + ".key.weight", w[n : 2 * n]),
                (prefix + ".value.weight", w[2 * n :]), (prefix + ".value.bias", b[2 * n :]),
            ])
            out_proj = "/linear_1"
        else:
            out.extend([(prefix + ".query.weight", v[src + "/linear_0/weight"]), (prefix + ".query.bias", v[src + "/linear_0/bias"])])
            w, b = v[src + "/linear_1/weight"], v[src + "/linear_1/bias"]
            n = w.shape[0] // 2
            assert not b[:n].any(), "cross-attention key bias must be zero"
            out.extend([(prefix + ".key.weight", w[:n]), (prefix + ".value.weight", w[n:]), (prefix + ".value.bias", b[n:])])
            out_proj = "/linear_2"
        out.extend([(prefix + ".out.weight", v[src + out_proj + "/weight"]), (prefix + ".out.bias", v[src + out_proj + "/bias"])])
        out.extend([(prefix + "_ln.weight", v[src + "/layer_norm/gamma"]), (prefix + "_ln.bias", v[src + "/layer_norm/beta"])])

    def block(prefix, src, cross):
        attention(prefix + ".attn", src + "/self_attention", True)
        if cross:
            attention(prefix + ".cross_attn", src + "/attention", False)
        out.extend([
            (prefix + ".mlp.0.weight", v[src + "/ffn/linear_0/weight"]), (prefix + ".mlp.0.bias", v[src + "/ffn/linear_0/bias"]),
            (prefix + ".mlp.2.weight", v[src + "/ffn/linear_1/weight"]), (prefix + ".mlp.2.bias", v[src + "/ffn/linear_1/bias"]),
            (prefix + ".mlp_ln.weight", v[src + "/ffn/layer_norm/gamma"]), (prefix + ".mlp_ln.bias", v[src + "/ffn/layer_norm/beta"]),
        ])

    out.append(("encoder.positional_embedding", v["encoder/position_encodings/encodings"]))
    for conv in ("conv1", "conv2"):
        out.append((f"encoder.{conv}.weight", v[f"encoder/{conv}/weight"]))
        out.append((f"encoder.{conv}.bias", v[f"encoder/{conv}/bias"].reshape(-1, 1)))
    for i in range(layers(v, "encoder")):
        block(f"encoder.blocks.{i}", f"encoder/layer_{i}", False)
    out.extend([("encoder.ln_post.weight", v["encoder/layer_norm/gamma"]), ("encoder.ln_post.bias", v["encoder/layer_norm/beta"])])
    out.append(("decoder.positional_embedding", v["decoder/position_encodings/encodings"]))
    out.append(("decoder.token_embedding.weight", v["decoder/embeddings/weight"]))
    for i in range(layers(v, "decoder")):
        block(f"decoder.blocks.{i}", f"decoder/layer_{i}", True)
    out.extend([("decoder.ln.weight", v["decoder/layer_norm/gamma"]), ("decoder.ln.bias", v["decoder/layer_norm/beta"])])
    return out


def layers(v, side):
    return len({m.group(1) for name in v for m in [re.match(side + r"/layer_(\d+)/", name)] if m})


F32_ALWAYS = {"encoder.conv1.bias", "encoder.conv2.bias", "encoder.positional_embedding", "decoder.positional_embedding"}


def header(v, assets, ftype):
    emb = v["decoder/embeddings/weight"]
    enc_pos = v["encoder/position_encodings/encodings"]
    hparams = [
        emb.shape[0], enc_pos.shape[0], enc_pos.shape[1], int(v["encoder/num_heads"]), layers(v, "encoder"),
        v["decoder/position_encodings/encodings"].shape[0], emb.shape[1], int(v["decoder/num_heads"]),
        layers(v, "decoder"), v["encoder/conv1/weight"].shape[1], ftype,
    ]
    out = struct.pack("<i", 0x67676D6C) + struct.pack("<11i", *hparams)
    filters = np.load(f"{assets}/mel_filters.npz")["mel_80"].astype(np.float32)
    out += struct.pack("<ii", *filters.shape) + filters.tobytes()
    tokens = [base64.b64decode(line.split()[0]) for line in open(f"{assets}/gpt2.tiktoken") if line.strip()]
    out += struct.pack("<i", len(tokens)) + b"".join(struct.pack("<i", len(t)) + t for t in tokens)
    return out


def tensor_record(name, array, ttype, payload):
    dims = list(reversed(array.shape))
    encoded = name.encode()
    return struct.pack("<iii", len(dims), len(encoded), ttype) + struct.pack(f"<{len(dims)}i", *dims) + encoded + payload


def q8_0(array):
    rows = array.astype(np.float32).reshape(-1, 32)
    d = np.abs(rows).max(axis=1) / 127.0
    inv = np.where(d > 0, 1.0 / np.where(d > 0, d, 1), 0.0)
    scaled = rows * inv[:, None]
    q = (np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)).astype(np.int8)  # half away from zero
    blocks = np.empty(rows.shape[0], dtype=[("d", "<f2"), ("qs", "i1", 32)])
    blocks["d"] = d.astype(np.float16)
    blocks["qs"] = q
    return blocks.tobytes()


def write(path, v, assets, tensors, quantize):
    with open(path, "wb") as f:
        f.write(header(v, assets, 2007 if quantize else 1))
        for name, array in tensors:
            if array.ndim == 1 or name in F32_ALWAYS:
                f.write(tensor_record(name, array, 0, array.astype(np.float32).tobytes()))
            elif quantize and array.ndim == 2:
                f.write(tensor_record(name, array, 8, q8_0(array)))
            else:
                f.write(tensor_record(name, array, 1, array.astype(np.float16).tobytes()))


def main():
    model_bin, assets, out_f16 = sys.argv[1:4]
    v = read_ct2(model_bin)
    tensors = ggml_tensors(v)
    write(out_f16, v, assets, tensors, quantize=False)
    if len(sys.argv) > 4:
        write(sys.argv[4], v, assets, tensors, quantize=True)


if __name__ == "__main__":
    main()
