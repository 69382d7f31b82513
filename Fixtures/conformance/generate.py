#!/usr/bin/env python3
"""Generate ONNX backend node-test conformance fixtures for QuantWatch.

Source: onnx.backend.test.case.node.collect_testcases(None) from the pinned onnx package
(see PINNED_ONNX_VERSION). For every test case whose node op types (including nodes inside
subgraph attributes) are all in the supported op list, this writes the same layout onnx's own
`backend-test-tools generate-data` writes under onnx/backend/test/data/node:

    <out>/<case name>/model.onnx
    <out>/<case name>/test_data_set_<i>/input_<j>.pb    (TensorProto, name = graph input j)
    <out>/<case name>/test_data_set_<i>/output_<j>.pb   (TensorProto, name = graph output j)

plus <out>/cases.json (one entry per candidate case, in name order) and <out>/README.md.
Cases with sequence/optional/map-typed graph inputs or outputs are listed in cases.json with a
`skipped_reason` and get no directory. Expanded function-body cases ("..._expanded...") are
treated like any other case: included only if every op of the expansion is supported.

Output is deterministic: onnx seeds numpy (np.random.seed(0)) before each export function, and
the output directory is recreated from scratch on every run.

Usage:
    python3 Fixtures/conformance/generate.py                 # regenerate fixtures
    python3 Fixtures/conformance/generate.py --verify        # then also check against onnxruntime
    python3 Fixtures/conformance/generate.py --ops Conv,Relu,QuantizeLinear --out /tmp/x
    python3 Fixtures/conformance/generate.py --verify-only   # check existing fixtures only
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import shutil
import sys
import warnings

import numpy as np
import onnx
from onnx import TensorProto, numpy_helper

PINNED_ONNX_VERSION = "1.23.2"

# The ONNX operators (default domain) the engine implements. A case is generated only if every
# node in its graph uses one of these. Extend this list (e.g. QuantizeLinear, DequantizeLinear,
# QLinearConv, QLinearMatMul, ...) as kernels land, then re-run this script.
SUPPORTED_OPS: tuple[str, ...] = (
    "Conv",
    "Gemm",
    "MatMul",
    "Relu",
    "LeakyRelu",
    "PRelu",
    "Clip",
    "Sigmoid",
    "HardSigmoid",
    "HardSwish",
    "Tanh",
    "MaxPool",
    "AveragePool",
    "GlobalAveragePool",
    "GlobalMaxPool",
    "Add",
    "Sub",
    "Mul",
    "Div",
    "Sum",
    "Concat",
    "Flatten",
    "Reshape",
    "Transpose",
    "Squeeze",
    "Unsqueeze",
    "Pad",
    "Softmax",
    "ReduceMean",
    "BatchNormalization",
    "Dropout",
    "Identity",
    "Shape",
    "Gather",
    "Slice",
    "Constant",
)

DEFAULT_DOMAINS = ("", "ai.onnx")
SIZE_BUDGET_BYTES = 3 * 1024 * 1024
HERE = os.path.dirname(os.path.abspath(__file__))


# --------------------------------------------------------------------------------------------
# Collection and filtering
# --------------------------------------------------------------------------------------------


def collect_cases():
    """All onnx node test cases, sorted by name (onnx's own warnings and prints silenced)."""
    from onnx.backend.test.case import node as node_cases

    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        cases = node_cases.collect_testcases(None)
    names = [c.name for c in cases]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SystemExit(f"duplicate test case names from onnx: {dupes}")
    return sorted(cases, key=lambda c: c.name)


def graph_op_types(graph: onnx.GraphProto) -> list[str]:
    """Op types of all nodes, including those in subgraph attributes (If/Loop/Scan bodies).
    Ops outside the default domain are spelled "domain:OpType" so they never match."""
    ops: list[str] = []
    for node in graph.node:
        ops.append(node.op_type if node.domain in DEFAULT_DOMAINS else f"{node.domain}:{node.op_type}")
        for attr in node.attribute:
            if attr.type == onnx.AttributeProto.GRAPH:
                ops.extend(graph_op_types(attr.g))
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for g in attr.graphs:
                    ops.extend(graph_op_types(g))
    return ops


def default_opset(model: onnx.ModelProto) -> int | None:
    for imp in model.opset_import:
        if imp.domain in DEFAULT_DOMAINS:
            return int(imp.version)
    return None


def non_tensor_reason(model: onnx.ModelProto) -> str | None:
    for kind, values in (("input", model.graph.input), ("output", model.graph.output)):
        for v in values:
            which = v.type.WhichOneof("value")
            if which != "tensor_type":
                name = {
                    "sequence_type": "sequence",
                    "optional_type": "optional",
                    "map_type": "map",
                    "sparse_tensor_type": "sparse tensor",
                }.get(which, str(which))
                return f"{kind} '{v.name}' is {name}-typed (engine supports tensors only)"
    return None


def to_tensor(value, name: str) -> TensorProto:
    if isinstance(value, TensorProto):
        t = TensorProto()
        t.CopyFrom(value)
        t.name = name
        return t
    return numpy_helper.from_array(np.asarray(value), name)


def dtype_name(elem_type: int) -> str:
    return TensorProto.DataType.Name(elem_type).lower()


def io_summary(tensor: TensorProto) -> dict:
    return {"name": tensor.name, "dtype": dtype_name(tensor.data_type), "shape": [int(d) for d in tensor.dims]}


# --------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------


def write_bytes(path: str, data: bytes) -> int:
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def generate(out_dir: str, ops: tuple[str, ...]) -> tuple[list[dict], int]:
    supported = set(ops)
    cases = collect_cases()

    # Recreate only what this script owns: case directories, cases.json, README.md.
    os.makedirs(out_dir, exist_ok=True)
    for entry in sorted(os.listdir(out_dir)):
        path = os.path.join(out_dir, entry)
        if entry.startswith("test_") and os.path.isdir(path):
            shutil.rmtree(path)

    records: list[dict] = []
    total = 0
    for case in cases:
        model = case.model
        op_types = graph_op_types(model.graph)
        if not op_types or not set(op_types) <= supported:
            continue
        unique_ops = sorted(set(op_types))
        reason = non_tensor_reason(model)
        record = {
            "name": case.name,
            "op_types": unique_ops,
            "opset": default_opset(model),
            "inputs": [],
            "outputs": [],
            "data_sets": 0,
            "rtol": case.rtol,
            "atol": case.atol,
            "skipped_reason": reason,
        }
        if reason is None:
            case_dir = os.path.join(out_dir, case.name)
            os.makedirs(case_dir)
            total += write_bytes(os.path.join(case_dir, "model.onnx"), model.SerializeToString(deterministic=True))
            for i, (inputs, outputs) in enumerate(case.data_sets):
                ds_dir = os.path.join(case_dir, f"test_data_set_{i}")
                os.makedirs(ds_dir)
                if len(inputs) != len(model.graph.input) or len(outputs) != len(model.graph.output):
                    raise SystemExit(f"{case.name}: data set {i} arity does not match graph inputs/outputs")
                ins = [to_tensor(v, model.graph.input[j].name) for j, v in enumerate(inputs)]
                outs = [to_tensor(v, model.graph.output[j].name) for j, v in enumerate(outputs)]
                for j, t in enumerate(ins):
                    total += write_bytes(os.path.join(ds_dir, f"input_{j}.pb"), t.SerializeToString(deterministic=True))
                for j, t in enumerate(outs):
                    total += write_bytes(os.path.join(ds_dir, f"output_{j}.pb"), t.SerializeToString(deterministic=True))
                if i == 0:
                    record["inputs"] = [io_summary(t) for t in ins]
                    record["outputs"] = [io_summary(t) for t in outs]
            record["data_sets"] = len(case.data_sets)
        records.append(record)

    cases_json = json.dumps(records, indent=1, sort_keys=False) + "\n"
    total += write_bytes(os.path.join(out_dir, "cases.json"), cases_json.encode())
    return records, total


def per_op_counts(records: list[dict]) -> dict[str, tuple[int, int]]:
    """op -> (included cases using it, skipped cases using it)."""
    counts: dict[str, list[int]] = {}
    for r in records:
        for op in r["op_types"]:
            c = counts.setdefault(op, [0, 0])
            c[0 if r["skipped_reason"] is None else 1] += 1
    return {op: (c[0], c[1]) for op, c in counts.items()}


def write_readme(out_dir: str, records: list[dict], ops: tuple[str, ...], fixture_bytes: int) -> None:
    included = [r for r in records if r["skipped_reason"] is None]
    skipped = [r for r in records if r["skipped_reason"] is not None]
    counts = per_op_counts(records)
    lines = [
        "# ONNX backend node-test conformance fixtures",
        "",
        "Generated by `Fixtures/conformance/generate.py` from",
        f"`onnx.backend.test.case.node.collect_testcases(None)` of **onnx {onnx.__version__}**.",
        "Do not edit by hand; change the op list in `generate.py` (`SUPPORTED_OPS`, or `--ops`) and re-run:",
        "",
        "```sh",
        "python3 Fixtures/conformance/generate.py            # rewrite fixtures (deterministic)",
        "python3 Fixtures/conformance/generate.py --verify   # also cross-check with onnxruntime",
        "```",
        "",
        "A test case is included when **every** node op type in its graph is supported (so",
        "`*_expanded*` function-body variants appear only when all their ops are supported).",
        "Layout is the one onnx uses for `onnx/backend/test/data/node`:",
        "",
        "```",
        "<case>/model.onnx",
        "<case>/test_data_set_<i>/input_<j>.pb    TensorProto named like graph input j",
        "<case>/test_data_set_<i>/output_<j>.pb   TensorProto named like graph output j (reference result)",
        "```",
        "",
        "`cases.json` lists every candidate case (name order) with `op_types`, `opset` (default-domain",
        "opset_import), `inputs`/`outputs` (`name`, `dtype` = lower-cased `TensorProto.DataType` name,",
        "`shape`), `data_sets`, onnx's suggested `rtol`/`atol`, and `skipped_reason` (null when the",
        "directory exists). Cases with sequence/optional/map-typed inputs or outputs are listed but",
        "skipped. The expected outputs are onnx's reference values; `--verify` reports where",
        "onnxruntime disagrees, which does not change the fixtures.",
        "",
        f"Supported ops ({len(ops)}): {', '.join(ops)}.",
        "",
        f"Cases: {len(included)} included, {len(skipped)} skipped; fixture size {fixture_bytes} bytes.",
        "",
        "| op | included cases | skipped cases |",
        "|---|---:|---:|",
    ]
    for op in ops:
        inc, sk = counts.get(op, (0, 0))
        lines.append(f"| {op} | {inc} | {sk} |")
    extra = sorted(set(counts) - set(ops))
    for op in extra:  # cannot happen with the filter, kept for safety
        inc, sk = counts[op]
        lines.append(f"| {op} (unlisted) | {inc} | {sk} |")
    lines += ["", "A case with several op types counts once for each of them.", ""]
    if skipped:
        lines += ["## Skipped", ""]
        lines += [f"- `{r['name']}`: {r['skipped_reason']}" for r in skipped]
        lines.append("")
    with open(os.path.join(out_dir, "README.md"), "w") as f:
        f.write("\n".join(lines))


# --------------------------------------------------------------------------------------------
# onnxruntime cross-check
# --------------------------------------------------------------------------------------------


def load_tensor(path: str) -> np.ndarray:
    t = TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def verify(out_dir: str) -> int:
    import onnxruntime as ort

    ort.set_default_logger_severity(3)
    with open(os.path.join(out_dir, "cases.json")) as f:
        records = json.load(f)
    matches, mismatches, errors = [], [], []
    for r in records:
        if r["skipped_reason"] is not None:
            continue
        case_dir = os.path.join(out_dir, r["name"])
        try:
            opts = ort.SessionOptions()
            opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
            sess = ort.InferenceSession(os.path.join(case_dir, "model.onnx"), opts, providers=["CPUExecutionProvider"])
        except Exception as e:  # noqa: BLE001
            errors.append((r["name"], f"load: {str(e).splitlines()[0][:160]}"))
            continue
        ok = True
        detail = ""
        try:
            for i in range(r["data_sets"]):
                ds = os.path.join(case_dir, f"test_data_set_{i}")
                feeds = {inp["name"]: load_tensor(os.path.join(ds, f"input_{j}.pb")) for j, inp in enumerate(r["inputs"])}
                names = [o["name"] for o in r["outputs"]]
                got = sess.run(names, feeds)
                for j, name in enumerate(names):
                    want = load_tensor(os.path.join(ds, f"output_{j}.pb"))
                    g = np.asarray(got[j])
                    if g.shape != want.shape:
                        ok, detail = False, f"{name}: shape {g.shape} != {want.shape}"
                        break
                    if want.dtype.kind in "fc":
                        close = np.allclose(g, want, rtol=r["rtol"], atol=r["atol"], equal_nan=True)
                    else:
                        close = np.array_equal(g, want)
                    if not close:
                        diff = np.max(np.abs(g.astype(np.float64) - want.astype(np.float64))) if g.size else 0
                        ok, detail = False, f"{name}: max abs diff {diff:.3g}"
                        break
                if not ok:
                    break
        except Exception as e:  # noqa: BLE001
            errors.append((r["name"], f"run: {str(e).splitlines()[0][:160]}"))
            continue
        (matches if ok else mismatches).append((r["name"], detail))
    print(f"\nonnxruntime {ort.__version__}: {len(matches)} match, {len(mismatches)} mismatch, {len(errors)} error")
    for name, d in mismatches:
        print(f"  MISMATCH {name}: {d}")
    for name, d in errors:
        print(f"  ERROR    {name}: {d}")
    return 0


# --------------------------------------------------------------------------------------------


def dir_size(path: str) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for fn in files:
            total += os.path.getsize(os.path.join(root, fn))
    return total


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--ops", help="comma-separated op list replacing SUPPORTED_OPS")
    p.add_argument("--out", default=HERE, help="output directory (default: %(default)s)")
    p.add_argument("--verify", action="store_true", help="after generating, run every case with onnxruntime")
    p.add_argument("--verify-only", action="store_true", help="only run the onnxruntime check on existing fixtures")
    p.add_argument("--allow-onnx-version", action="store_true", help=f"accept onnx other than {PINNED_ONNX_VERSION}")
    args = p.parse_args()

    out_dir = os.path.abspath(args.out)
    if args.verify_only:
        return verify(out_dir)
    if onnx.__version__ != PINNED_ONNX_VERSION and not args.allow_onnx_version:
        print(f"onnx {onnx.__version__} installed, fixtures pinned to {PINNED_ONNX_VERSION} "
              "(pass --allow-onnx-version or update PINNED_ONNX_VERSION)", file=sys.stderr)
        return 1
    ops = tuple(o.strip() for o in args.ops.split(",") if o.strip()) if args.ops else SUPPORTED_OPS

    records, _ = generate(out_dir, ops)
    # README size line counts the fixture files plus cases.json (README itself excluded).
    write_readme(out_dir, records, ops, dir_size(out_dir) - _size_of(out_dir, "README.md") - _script_bytes(out_dir))
    counts = per_op_counts(records)
    included = sum(1 for r in records if r["skipped_reason"] is None)
    print(f"onnx {onnx.__version__}: {included} cases written, {len(records) - included} skipped")
    for op in ops:
        inc, sk = counts.get(op, (0, 0))
        print(f"  {op:20s} {inc:4d}" + (f"  (+{sk} skipped)" if sk else ""))
    for r in records:
        if r["skipped_reason"]:
            print(f"  skipped {r['name']}: {r['skipped_reason']}")
    size = dir_size(out_dir)
    print(f"total size of {out_dir}: {size} bytes ({size / 1048576:.2f} MiB)")
    if size > SIZE_BUDGET_BYTES:
        print(f"warning: over the {SIZE_BUDGET_BYTES} byte budget", file=sys.stderr)
    if args.verify:
        return verify(out_dir)
    return 0


def _size_of(out_dir: str, name: str) -> int:
    path = os.path.join(out_dir, name)
    return os.path.getsize(path) if os.path.exists(path) else 0


def _script_bytes(out_dir: str) -> int:
    """Bytes of files in out_dir this script does not generate (generate.py itself, caches)."""
    total = 0
    for entry in os.listdir(out_dir):
        path = os.path.join(out_dir, entry)
        if entry in ("cases.json", "README.md") or entry.startswith("test_"):
            continue
        total += dir_size(path) if os.path.isdir(path) else os.path.getsize(path)
    return total


if __name__ == "__main__":
    sys.exit(main())
