#!/usr/bin/env python3
"""What a live run did every 2 s, from gpu_benchmark.sh's OUT/live_N_samples.txt.

Each sample holds the server's /metrics counters, the GPU's utilisation and the CPU seconds
used by the machine and by the server so far; this prints the differences between samples:
frames/s, mean batch, the executor's stage times per batch (queue, prepare, inference,
composite), GPU utilisation and the cores busy (machine, server).

Usage: scripts/live_samples.py OUT/live_56_samples.txt
"""
import re
import sys

STAGES = ("queue", "prepare", "inference", "composite")


def parse(text):
    samples = []
    for block in text.split("t=")[1:]:
        head = block.split("\n", 1)[0]
        sample = {"t_ms": int(head.split(" ")[0])}
        for key in ("gpu", "cpu_s", "server_cpu_s", "cores"):
            m = re.search(r"\b%s=([\d.]+)" % key, head)
            if m:
                sample[key] = float(m.group(1))
        for m in re.finditer(
            r'lipsync_stage_duration_ms_(sum|count)\{stage="(\w+)"\} ([\d.e+]+)', block
        ):
            sample[(m.group(2), m.group(1))] = float(m.group(3))
        for key in ("batch_frames_sum", "batch_frames_count"):
            m = re.search(r"lipsync_%s ([\d.e+]+)" % key, block)
            sample[key] = float(m.group(1)) if m else 0.0
        samples.append(sample)
    return samples


def rows(samples):
    for prev, cur in zip(samples, samples[1:]):
        seconds = (cur["t_ms"] - prev["t_ms"]) / 1000.0
        if seconds <= 0:
            continue
        frames = cur["batch_frames_sum"] - prev["batch_frames_sum"]
        batches = cur["batch_frames_count"] - prev["batch_frames_count"]
        row = {
            "t_s": cur["t_ms"] / 1000.0,
            "frames_per_s": frames / seconds,
            "batch": frames / batches if batches else 0.0,
            "gpu_pct": cur.get("gpu"),
        }
        for stage in STAGES:
            count = cur.get((stage, "count"), 0) - prev.get((stage, "count"), 0)
            total = cur.get((stage, "sum"), 0) - prev.get((stage, "sum"), 0)
            row[stage] = total / count if count else 0.0
        for key, name in (("cpu_s", "machine_cores"), ("server_cpu_s", "server_cores")):
            if key in cur and key in prev:
                row[name] = (cur[key] - prev[key]) / seconds
        row["cores"] = cur.get("cores")
        yield row


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        table = list(rows(parse(f.read())))
    header = ["t (s)", "frames/s", "batch"] + ["%s ms" % s for s in STAGES]
    header += ["GPU %", "cores busy (machine / server)"]
    print("| " + " | ".join(header) + " |")
    print("|" + "---|" * len(header))
    for r in table:
        cores = "-"
        if "machine_cores" in r:
            cores = "%.1f / %.1f of %d" % (
                r["machine_cores"], r.get("server_cores", 0.0), r["cores"] or 0)
        cells = ["%.0f" % r["t_s"], "%.0f" % r["frames_per_s"], "%.1f" % r["batch"]]
        cells += ["%.1f" % r[s] for s in STAGES]
        cells += ["-" if r["gpu_pct"] is None else "%.0f" % r["gpu_pct"], cores]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
