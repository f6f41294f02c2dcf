#!/usr/bin/env python3
"""One table of the GPU benchmark (scripts/gpu_benchmark.sh) from the files in its OUT folder.

Prints markdown (also written to OUT/summary.md) and writes OUT/summary.json. Phases that did
not run show as "-". Targets are issue #14's.
Usage: gpu_benchmark_table.py OUT_DIR MODELS
"""
import json
import os
import re
import sys


def load(out, name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        text = f.read()
    return json.loads(text) if name.endswith(".json") else text.strip()


def run(report):  # the first run of a `lipsync client --json` report
    if report is None:
        return None
    runs = report.get("runs", [report])
    return runs[0] if runs else None


def number(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def fmt(value, unit="", digits=0):
    return "-" if value is None else f"{value:.{digits}f}{unit}"


def load_times(log):
    """Per model: milliseconds from 'loading' to 'ready', in load order."""
    if log is None:
        return []
    return [float(x) for x in re.findall(r"model 'm\d+' ready in ([0-9.]+) ms", log)]


def main():
    out, models = sys.argv[1], int(sys.argv[2])
    rows, summary = [], {}

    def add(what, value, target="", key=None):
        rows.append((what, value, target))
        if key:
            summary[key] = value

    c1, c16 = run(load(out, "compat_1.json")), run(load(out, "compat_16.json"))
    add("compat, 1 client: frames/s", fmt(c1 and c1["frames_per_s"]), "", "compat_1_fps")
    add("compat, 1 client: p50 latency (25 frames)", fmt(c1 and c1["latency_ms"]["p50"], " ms"),
        "<= 28 ms (6af62d2)", "compat_1_p50_ms")
    add("compat, 16 clients: frames/s", fmt(c16 and c16["frames_per_s"]), ">= 1451 (6af62d2)",
        "compat_16_fps")

    for name in sorted((n for n in os.listdir(out) if re.fullmatch(r"live_\d+\.json", n)),
                       key=lambda n: int(n[5:-5])):
        r = run(load(out, name))
        n = name[5:-5]
        if r is None or "lateness_ms" not in r:
            add(f"live, {n} paced sessions", "failed", "")
            continue
        late = r["lateness_ms"]
        add(f"live, {n} paced sessions: kept pace (p99 lateness <= 150 ms)",
            f'{r["sessions_kept_pace"]} of {r["sessions"]}', ">= 56 of 56" if n == "56" else "",
            f"live_{n}_kept_pace")
        add(f"live, {n}: lateness p50 / p95 / p99 / max",
            f'{late["p50"]:.0f} / {late["p95"]:.0f} / {late["p99"]:.0f} / {late["max"]:.0f} ms', "")
        add(f"live, {n}: first frame p50 / p95",
            f'{r["first_frame_ms"]["p50"]:.0f} / {r["first_frame_ms"]["p95"]:.0f} ms',
            "<= 550 ms", f"live_{n}_first_frame_p95_ms")
        f = r.get("first_message_server_p50_ms")
        if f:
            add(f"live, {n}: first message, server p50 audio / queue / prepare / inference / "
                "composite / since arrival",
                f'{f["audio"]:.0f} / {f["queue"]:.0f} / {f["prepare"]:.0f} / '
                f'{f["inference"]:.0f} / {f["composite"]:.0f} / {f["total"]:.0f} ms', "")
        add(f"live, {n}: frames/s", fmt(r["frames_per_s"]), "")

    for name in sorted((n for n in os.listdir(out) if re.fullmatch(r"hub_\d+\.json", n)),
                       key=lambda n: int(n[4:-5])):
        h = load(out, name)
        n = name[4:-5]
        if h is None:
            continue
        def p50_p95(figure):
            return "-" if not figure["n"] else f'{figure["p50"]:.0f} / {figure["p95"]:.0f} ms'
        add(f"always-on, {n} sessions: failed", f'{h["failed"]} of {h["sessions"]}', "0",
            f"hub_{n}_failed")
        add(f"always-on, {n}: first idle frame p50 / p95", p50_p95(h["first_frame_ms"]),
            "<= 300 ms (#15)", f"hub_{n}_first_frame")
        add(f"always-on, {n}: speech-to-mouth over the look-ahead p50 / p95",
            p50_p95(h["speech_to_mouth_over_lookahead_ms"]), "<= 80 ms (#15)")
        add(f"always-on, {n}: interrupt to idle p50 / p95", p50_p95(h["interrupt_to_idle_ms"]),
            "<= 120 ms (#15)", f"hub_{n}_interrupt_to_idle")
        summary[f"live_{n}"] = r

    times = load_times(load(out, "multi.log"))
    if times:
        later = times[1:] or times
        add(f"{models} models: preload (server start to ready)",
            fmt(number(load(out, "multi_ready_ms.txt")), " ms"), "", "multi_ready_ms")
        add("model load: first / later (max)",
            f"{times[0]:.0f} / {max(later):.0f} ms", "later <= 1500 ms", "later_load_max_ms")
    # After the phase's traffic when measured (the runs' arenas grown), else once ready.
    def gpu_of(name):
        end = number(load(out, f"{name}_gpu_end.txt"))
        return end if end is not None else number(load(out, f"{name}_gpu_after.txt"))
    one_gpu, multi_gpu = gpu_of("one"), gpu_of("multi")
    if one_gpu is not None and multi_gpu is not None and models > 1:
        per = (multi_gpu - one_gpu) / (models - 1)
        add("GPU memory per model after the first", fmt(per, " MiB"), "<= 150 MB",
            "gpu_mib_per_model")
    add("GPU memory, 1 model server (ready / after its traffic)",
        f'{fmt(number(load(out, "one_gpu_after.txt")), " MiB")} / {fmt(one_gpu, " MiB")}', "")
    live_gpu = gpu_of("live")
    if live_gpu is not None:
        add("GPU memory, live server after its sessions", fmt(live_gpu, " MiB"), "")
    one_rss = number(load(out, "one_rss_kb.txt"))
    multi_rss = number(load(out, "multi_rss_kb.txt"))
    if one_rss is not None and multi_rss is not None and models > 1:
        per = (multi_rss - one_rss) / 1024 / (models - 1)
        add("host memory per model after the first", fmt(per, " MiB"), "<= 400 MB",
            "host_mib_per_model")
    alone = run(load(out, "multi_alone.json"))
    together = [run(load(out, f"multi_m{i}.json")) for i in range(models)]
    if all(together):
        total = sum(r["frames_per_s"] for r in together)
        failed = sum(r["failed"] for r in together)
        add(f"{models} models x 2 clients at once: frames/s", f"{total:.0f} ({failed} failed)",
            "", "multi_total_fps")
        if c16:
            add(f"  against one model alone at 16 clients", f"{total / c16['frames_per_s']:.2f}x",
                ">= 0.9x", "multi_vs_alone")
        if alone:
            add(f"  one of the {models} models alone at 24 clients: frames/s",
                fmt(alone["frames_per_s"]), "")
    for nhwc in ("", "_nchw"):
        for search in ("EXHAUSTIVE", "HEURISTIC"):
            first = load(out, f"warmup{nhwc}_{search}.json")
            steady = load(out, f"warmup{nhwc}_{search}_steady.json")
            if not first:
                continue
            runs = {x["batch"]: x["median_ms"] for x in first["unet"]["results"]}
            steady_ms = steady["unet"]["results"][0]["median_ms"] if steady else None
            layout = "NCHW" if nhwc else "NHWC"
            add(f"first run of a shape, {layout} {search}: batch 25 (with CUDA set-up) / 4 / 8",
                " / ".join(f"{runs.get(b, 0):.0f}" for b in (25, 4, 8)) + " ms",
                "", f"warmup_{layout}_{search}_ms")
            add(f"  steady batch 25, {layout} {search}", fmt(steady_ms, " ms", 2), "")
    anchor = load(out, "anchor.json")
    if anchor:
        x = anchor["eager_fp16_channels_last"][0]
        add(f'PyTorch anchor, fp16 channels-last, batch {x["batch"]}',
            f'{x["median_ms"]:.2f} ms = {x["fps_median"]:.0f} frames/s', "", "anchor_fps")

    gpu = load(out, "gpu.txt") or "?"
    lines = [f"GPU: {gpu}", "", "| measure | value | target |", "|---|---|---|"]
    lines += [f"| {a} | {b} | {c} |" for a, b, c in rows]
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(out, "summary.md"), "w") as f:
        f.write(text + "\n")
    with open(os.path.join(out, "summary.json"), "w") as f:
        json.dump(summary, f, indent=2)


if __name__ == "__main__":
    main()
