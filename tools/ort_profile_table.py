#!/usr/bin/env python3
"""Tables of where an ONNX Runtime run's time goes, from ORT's profiler JSON.

The profile comes from `lipsync bench model --profile PREFIX` (ORT's session profiler). On CUDA
the per-node times are host-side launch times unless the process ran with CUDA_LAUNCH_BLOCKING=1,
which makes every kernel finish before its node's timer stops: then a node's time is its GPU time
plus a launch (a few µs), and the table's "nodes" total is compared with the real run's time.

Per batch size (the runs are told apart by their input shapes) the tables give, over the runs after
the first --skip-runs (warm-up, cuDNN's algorithm search), each node's median time, grouped by op
type and by block, against its memory-traffic bound: the bytes it must move (every input, weights
included, read once; every output written once, at the tensors' element sizes) over the GPU's
bandwidth (--bandwidth-gbs; measure it on the machine: a large device-to-device copy, bytes read
plus written). "x bound" = time / bound: 1.0 would be a node at full bandwidth.

A block is the node name's module path without its last part ("/down1/ir0/expand" ->
"/down1/ir0"); --block-depth N keeps only the first N parts. Nodes ORT inserted (layout
transposes, copies) have no path: they are "(ORT)". With --model, each block also gets its fused
bound: the bytes that cross the block's border (its inputs from other blocks, its outputs used
elsewhere, its weights) over the bandwidth, i.e. the floor of one kernel per block.

Usage: ort_profile_table.py PROFILE.json [--bandwidth-gbs 3000] [--model UNET.onnx]
       [--skip-runs 2] [--block-depth 0] [--top 15] [--json OUT.json]
"""
import argparse
import json
import math
import statistics
import sys
from collections import defaultdict

ELEMENT_BYTES = {"float16": 2, "bfloat16": 2, "float": 4, "float32": 4, "double": 8,
                 "int64": 8, "int32": 4, "int8": 1, "uint8": 1, "bool": 1}


def tensor_bytes(type_shapes):
    """ORT's input_type_shape / output_type_shape: [{"float16": [25, 6, 320, 320]}, ...]."""
    total = 0
    for entry in type_shapes or []:
        for elem, shape in entry.items():
            total += ELEMENT_BYTES.get(elem, 4) * math.prod(int(d) for d in shape)
    return total


def block_of(name, depth):
    """"/down1/ir0/expand" -> "/down1/ir0"; ORT's own nodes -> "(ORT)"."""
    start = name.find("/")
    if start < 0:
        return "(ORT)"
    path = name[start:].split()[0].split("/")[1:]  # drop a suffix ORT appends after a space
    parts = path[:-1] if len(path) > 1 else path
    if depth > 0:
        parts = parts[:depth]
    return "/" + "/".join(parts)


def load_events(path):
    with open(path) as f:
        data = json.load(f)
    return data["traceEvents"] if isinstance(data, dict) else data


def runs_with_nodes(events):
    """[(run duration µs, [node events])] in time order."""
    runs = sorted((e for e in events if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e["ts"])
    nodes = sorted((e for e in events
                    if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time")),
                   key=lambda e: e["ts"])
    result, i = [], 0
    for run in runs:
        end = run["ts"] + run["dur"]
        while i < len(nodes) and nodes[i]["ts"] < run["ts"]:
            i += 1
        mine = []
        while i < len(nodes) and nodes[i]["ts"] <= end:
            mine.append(nodes[i])
            i += 1
        result.append((run["dur"], mine))
    return result


def batch_of(nodes):
    for node in nodes:
        for entry in node.get("args", {}).get("input_type_shape", []):
            for shape in entry.values():
                if shape:
                    return int(shape[0])
    return 0


def element_size(onnx, elem_type):
    if hasattr(onnx.helper, "tensor_dtype_to_np_dtype"):
        return onnx.helper.tensor_dtype_to_np_dtype(elem_type).itemsize
    return onnx.mapping.TENSOR_TYPE_TO_NP_TYPE[elem_type].itemsize  # onnx < 1.13


def tensor_blocks(model_path, depth):
    """Output tensor name -> block of the node that makes it, in the ONNX model."""
    import onnx
    graph = onnx.load(model_path).graph
    return {o: block_of(n.name, depth) for n in graph.node for o in n.output}


def block_resolver(model_path, depth):
    """block_of, plus nodes that ORT renamed after their output tensor ("relu_4_nchwc",
    "conv_12_token_3"): with the model, the block of the longest tensor name they start with."""
    blocks = tensor_blocks(model_path, depth) if model_path else {}

    def resolve(name):
        block = block_of(name, depth)
        if block != "(ORT)" or not blocks:
            return block
        best = ""
        for tensor in blocks:
            if (len(tensor) > len(best) and name.startswith(tensor)
                    and (len(name) == len(tensor) or name[len(tensor)] == "_")):
                best = tensor
        return blocks[best] if best else block
    return resolve


def fused_block_bytes(model_path, batch, depth):
    """Bytes crossing each block's border in the ONNX model (inputs from elsewhere, outputs used
    elsewhere or by the graph, weights), at batch `batch`."""
    import onnx  # only for --model
    model = onnx.shape_inference.infer_shapes(onnx.load(model_path))
    graph = model.graph
    sizes = {}
    for vi in list(graph.input) + list(graph.value_info) + list(graph.output):
        t = vi.type.tensor_type
        dims = [d.dim_value if d.HasField("dim_value") else batch for d in t.shape.dim]
        sizes[vi.name] = math.prod(dims) * element_size(onnx, t.elem_type)
    for init in graph.initializer:
        sizes[init.name] = math.prod(init.dims) * element_size(onnx, init.data_type)
    producer = {o: block_of(n.name, depth) for n in graph.node for o in n.output}
    consumers = defaultdict(set)
    for n in graph.node:
        for i in n.input:
            consumers[i].add(block_of(n.name, depth))
    graph_outputs = {o.name for o in graph.output}
    result = defaultdict(int)
    for n in graph.node:
        block = block_of(n.name, depth)
        for i in n.input:
            if i and producer.get(i) != block:
                result[block] += sizes.get(i, 0)  # from another block, a graph input or weights
        for o in n.output:
            if o in graph_outputs or consumers[o] - {block}:
                result[block] += sizes.get(o, 0)
    return result


def summarize(batch_runs, bandwidth, skip, depth, model):
    """Per batch: medians per node and the grouped rows."""
    report = {}
    for batch, runs in sorted(batch_runs.items(), reverse=True):
        used = runs[skip:] if len(runs) > skip else runs
        per_node = defaultdict(list)
        info = {}
        for _, nodes in used:
            for node in nodes:
                name = node["name"][:-len("_kernel_time")]
                per_node[name].append(node["dur"])
                args = node.get("args", {})
                info[name] = (args.get("op_name", "?"), args.get("provider", ""),
                              tensor_bytes(args.get("input_type_shape")) +
                              tensor_bytes(args.get("output_type_shape")))
        order = [n["name"][:-len("_kernel_time")] for n in used[-1][1]]
        resolve = block_resolver(model, depth)
        rows = []
        for name in dict.fromkeys(order):
            op, provider, nbytes = info[name]
            rows.append({"node": name, "op": op, "provider": provider, "block": resolve(name),
                         "us": statistics.median(per_node[name]), "bytes": nbytes})
        fused = fused_block_bytes(model, batch, depth) if model else {}
        report[batch] = {"runs": len(used), "run_us": statistics.median(d for d, _ in used),
                         "nodes": rows, "fused_bytes": dict(fused), "bandwidth_gbs": bandwidth}
    return report


def grouped(rows, key):
    groups = defaultdict(lambda: {"count": 0, "us": 0.0, "bytes": 0})
    for row in rows:
        g = groups[row[key]]
        g["count"] += 1
        g["us"] += row["us"]
        g["bytes"] += row["bytes"]
    return groups


def bound_us(nbytes, bandwidth):
    return nbytes / (bandwidth * 1e3)  # GB/s -> bytes per µs


def print_tables(report, top):
    for batch, r in report.items():
        bw = r["bandwidth_gbs"]
        rows = r["nodes"]
        total_us = sum(x["us"] for x in rows)
        total_bytes = sum(x["bytes"] for x in rows)
        print(f"\n## batch {batch}: {r['runs']} runs, run median {r['run_us'] / 1e3:.2f} ms, "
              f"nodes {len(rows)} summing to {total_us / 1e3:.2f} ms; "
              f"{total_bytes / 1e6 / max(batch, 1):.0f} MB moved per frame, bound "
              f"{bound_us(total_bytes, bw) / 1e3:.2f} ms at {bw:.0f} GB/s "
              f"({total_bytes / total_us / 1e3:.0f} GB/s achieved)")
        for title, key in (("op type", "op"), ("block", "block")):
            groups = grouped(rows, key)
            fused = r["fused_bytes"] if key == "block" and r["fused_bytes"] else None
            head = f"| {title} | nodes | ms | % | MB | bound ms | x bound | GB/s |"
            line = "|---|---|---|---|---|---|---|---|"
            if fused:
                head += " fused bound ms |"
                line += "---|"
            print(f"\n{head}\n{line}")
            ordered = groups.items() if key == "block" else sorted(
                groups.items(), key=lambda kv: -kv[1]["us"])
            for name, g in ordered:
                b = bound_us(g["bytes"], bw)
                text = (f"| {name} | {g['count']} | {g['us'] / 1e3:.3f} | "
                        f"{100 * g['us'] / total_us:.1f} | {g['bytes'] / 1e6:.1f} | {b / 1e3:.3f} | "
                        f"{g['us'] / b if b else 0:.1f} | {g['bytes'] / g['us'] / 1e3 if g['us'] else 0:.0f} |")
                if fused:
                    text += f" {bound_us(fused.get(name, 0), bw) / 1e3:.3f} |"
                print(text)
            if fused:
                print(f"| all | | {total_us / 1e3:.3f} | 100 | {total_bytes / 1e6:.1f} | "
                      f"{bound_us(total_bytes, bw) / 1e3:.3f} | | | "
                      f"{bound_us(sum(fused.values()), bw) / 1e3:.3f} |")
        print(f"\n| slowest nodes | op | ms | MB | x bound |\n|---|---|---|---|---|")
        for row in sorted(rows, key=lambda x: -x["us"])[:top]:
            b = bound_us(row["bytes"], bw)
            print(f"| {row['node']} | {row['op']} | {row['us'] / 1e3:.3f} | {row['bytes'] / 1e6:.1f} | "
                  f"{row['us'] / b if b else 0:.1f} |")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("profile", help="ORT profile JSON (lipsync bench model --profile)")
    ap.add_argument("--bandwidth-gbs", type=float, default=3000.0,
                    help="the GPU's measured copy bandwidth, GB/s (H100: ~3000, H200: ~4300)")
    ap.add_argument("--model", help="the ONNX model, for each block's fused bound")
    ap.add_argument("--skip-runs", type=int, default=2, help="warm-up runs per batch size to drop")
    ap.add_argument("--block-depth", type=int, default=0, help="module-path parts per block (0: all "
                    "but the node's own)")
    ap.add_argument("--top", type=int, default=15, help="slowest nodes listed")
    ap.add_argument("--json", help="also write the per-node medians here")
    args = ap.parse_args()
    try:
        events = load_events(args.profile)
    except (OSError, ValueError) as e:
        sys.exit(f"ort_profile_table: cannot read the profile '{args.profile}': {e}")
    batch_runs = defaultdict(list)
    for dur, nodes in runs_with_nodes(events):
        if nodes:
            batch_runs[batch_of(nodes)].append((dur, nodes))
    if not batch_runs:
        sys.exit(f"ort_profile_table: '{args.profile}' has no model_run with node events "
                 "(was it written by ORT's session profiler?)")
    report = summarize(batch_runs, args.bandwidth_gbs, args.skip_runs, args.block_depth, args.model)
    print_tables(report, args.top)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)


if __name__ == "__main__":
    main()
