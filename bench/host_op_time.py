#!/usr/bin/env python3
"""Host (CPU) time per kernel in eager-mode PyTorch, from a Chakra execution trace (docs/calibration.md,
"Framework overhead and the optimizer step"): the default of `workload.host_op_time`.

Each GPU kernel of a PyTorch execution trace data-depends on the host operator that issued it; that operator's
host duration, divided by the number of kernels it issued, is the host time of one kernel. Prints the median,
quartiles and mean over the trace's kernels. Reads the length-delimited protobuf directly (field numbers of
proto/et_def.proto), so it needs no protobuf package.

Usage: bench/host_op_time.py [TRACE]   (default: data/training/chakra_pytorch_3664_nodes.0.et)"""
import collections, os, statistics, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
path = sys.argv[1] if len(sys.argv) > 1 else os.path.join(root, "data", "training", "chakra_pytorch_3664_nodes.0.et")
data = open(path, "rb").read()


def varint(b, i):
    r = s = 0
    while True:
        c = b[i]
        i += 1
        r |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return r, i


def fields(b):
    i = 0
    while i < len(b):
        k, i = varint(b, i)
        f, w = k >> 3, k & 7
        if w == 0:
            v, i = varint(b, i)
        elif w == 1:
            v, i = b[i:i + 8], i + 8
        elif w == 5:
            v, i = b[i:i + 4], i + 4
        elif w == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise SystemExit(f"{path}: unsupported wire type {w}")
        yield f, w, v


messages, i = [], 0
while i < len(data):
    n, i = varint(data, i)
    messages.append(data[i:i + n])
    i += n

nodes = {}
for m in messages[1:]:  # the first message is GlobalMetadata
    node = {"dur": 0, "deps": [], "cpu": None}
    for f, w, v in fields(m):
        if f == 1:
            node["id"] = v
        elif f == 7:
            node["dur"] = v
        elif f == 5:  # data_deps, packed or not
            if w == 2:
                j = 0
                while j < len(v):
                    x, j = varint(v, j)
                    node["deps"].append(x)
            else:
                node["deps"].append(v)
        elif f == 10:
            name, val = None, None
            for ff, _, vv in fields(v):
                if ff == 1:
                    name = vv.decode()
                elif ff == 27:
                    val = vv
            if name == "is_cpu_op":
                node["cpu"] = val
    nodes[node["id"]] = node

kernels = [n for n in nodes.values() if n["cpu"] == 0]
issued = collections.Counter()
for k in kernels:
    parents = [d for d in k["deps"] if d in nodes and nodes[d]["cpu"] == 1]
    if parents:
        issued[parents[0]] += 1
per_kernel = []
for op, count in issued.items():
    per_kernel += [nodes[op]["dur"] / count] * count
q = statistics.quantiles(per_kernel, n=4)
print(f"{path}: {len(nodes)} nodes, {len(kernels)} kernels, {sum(issued.values())} with their issuing host operator")
print(f"host time per kernel (us): median {statistics.median(per_kernel):.1f}, quartiles {q[0]:.1f} / {q[2]:.1f}, "
      f"mean {statistics.mean(per_kernel):.1f}")
gpu = [k["dur"] for k in kernels]
print(f"kernel time on the GPU (us): median {statistics.median(gpu):.1f}, mean {statistics.mean(gpu):.1f}")
