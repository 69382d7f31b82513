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
Cases with sequence/optional/map-typed graph inputs or outputs, or with element types in
UNSUPPORTED_TYPE_NAMES (float8/int4/uint4/float4/int2/...), are listed in cases.json with a
`skipped_reason` and get no directory. Expanded function-body cases ("..._expanded...") are
treated like any other case: included only if every op of the expansion is supported.

Cases using an operator in VERSIONED_OPS (the quantization operators) are also re-emitted at
every older version of those operators as "<case>_opset<version>" (only the default-domain
opset_import changes; inputs and expected outputs are the same bytes). A case/version pair is
kept only if onnx.checker (full_check), strict shape inference and spec_violation() accept it
and onnx.reference.ReferenceEvaluator reproduces the stored outputs exactly; otherwise it is
listed as skipped with the reason. Every written case is run with onnxruntime while
generating, and cases.json records onnxruntime_matches (true/false/null = cannot run).
If the whole directory exceeds SIZE_BUDGET_BYTES, older-opset duplicates are dropped,
largest first.

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
# node in its graph uses one of these. Extend this list as kernels land, then re-run this script.
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
    "QuantizeLinear",
    "DequantizeLinear",
    "QLinearConv",
    "QLinearMatMul",
    "MatMulInteger",
    "ConvInteger",
    "DynamicQuantizeLinear",
)

# Operators whose cases are also re-emitted at every older version of the operator (every
# `since_version` from onnx.defs.get_all_schemas_with_history() below the case's own opset, up to
# MAX_OPSET) as "<case>_opset<version>", when onnx's checker and strict shape inference accept the
# case at that version and onnx's ReferenceEvaluator reproduces the stored outputs exactly.
VERSIONED_OPS: tuple[str, ...] = (
    "QuantizeLinear",
    "DequantizeLinear",
    "QLinearConv",
    "QLinearMatMul",
    "MatMulInteger",
    "ConvInteger",
    "DynamicQuantizeLinear",
)
MAX_OPSET = 28

# Element types the engine does not implement: a case whose graph, attributes or data use one is
# listed in cases.json with skipped_reason "type not supported: ..." and gets no directory.
UNSUPPORTED_TYPE_NAMES: tuple[str, ...] = (
    "FLOAT8E4M3FN",
    "FLOAT8E4M3FNUZ",
    "FLOAT8E5M2",
    "FLOAT8E5M2FNUZ",
    "FLOAT8E8M0",
    "UINT4",
    "INT4",
    "FLOAT4E2M1",
    "UINT2",
    "INT2",
    "FLOAT6E2M3",
    "FLOAT6E3M2",
)

DEFAULT_DOMAINS = ("", "ai.onnx")
# Whole Fixtures/conformance directory (sum of file sizes, this script and README included). When
# over, re-emitted older-opset variants are dropped, largest first (recorded in cases.json).
SIZE_BUDGET_BYTES = 4_000_000
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


def first_line(e: BaseException, limit: int = 200) -> str:
    text = str(e).strip()
    line = text.splitlines()[0] if text else type(e).__name__
    return line[:limit]


def unsupported_type_reason(model: onnx.ModelProto, data_sets) -> str | None:
    """'type not supported: ...' when the graph (value types, initializers, tensor attributes,
    dtype attributes), or the data, uses an element type from UNSUPPORTED_TYPE_NAMES."""
    bad = {getattr(TensorProto, n) for n in UNSUPPORTED_TYPE_NAMES if hasattr(TensorProto, n)}
    found: set[int] = set()

    def check_type(tp: onnx.TypeProto) -> None:
        which = tp.WhichOneof("value")
        if which == "tensor_type":
            found.update({tp.tensor_type.elem_type} & bad)
        elif which == "sparse_tensor_type":
            found.update({tp.sparse_tensor_type.elem_type} & bad)
        elif which == "sequence_type":
            check_type(tp.sequence_type.elem_type)
        elif which == "optional_type":
            check_type(tp.optional_type.elem_type)
        elif which == "map_type":
            check_type(tp.map_type.value_type)

    def walk(graph: onnx.GraphProto) -> None:
        for v in list(graph.input) + list(graph.output) + list(graph.value_info):
            check_type(v.type)
        found.update({t.data_type for t in graph.initializer} & bad)
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.TENSOR:
                    found.update({attr.t.data_type} & bad)
                elif attr.type == onnx.AttributeProto.TENSORS:
                    found.update({t.data_type for t in attr.tensors} & bad)
                elif attr.type == onnx.AttributeProto.GRAPH:
                    walk(attr.g)
                elif attr.type == onnx.AttributeProto.GRAPHS:
                    for g in attr.graphs:
                        walk(g)
                elif attr.type == onnx.AttributeProto.INT and attr.name in ("to", "output_dtype", "dtype"):
                    found.update({attr.i} & bad)

    walk(model.graph)
    for inputs, outputs in data_sets:
        for v in list(inputs) + list(outputs):
            if isinstance(v, TensorProto):
                found.update({v.data_type} & bad)
            else:
                try:
                    found.update({onnx.helper.np_dtype_to_tensor_dtype(np.asarray(v).dtype)} & bad)
                except Exception:  # noqa: BLE001 - non-tensor values are handled elsewhere
                    pass
    if not found:
        return None
    return "type not supported: " + ", ".join(sorted(dtype_name(t) for t in found))


# --------------------------------------------------------------------------------------------
# Operator versions and older-opset variants
# --------------------------------------------------------------------------------------------

_SINCE_VERSIONS: dict[str, tuple[int, ...]] | None = None


def since_versions(op: str) -> tuple[int, ...]:
    """All versions (since_version) of a default-domain operator up to MAX_OPSET."""
    global _SINCE_VERSIONS
    if _SINCE_VERSIONS is None:
        table: dict[str, set[int]] = collections.defaultdict(set)
        for schema in onnx.defs.get_all_schemas_with_history():
            if schema.domain in DEFAULT_DOMAINS and schema.since_version <= MAX_OPSET:
                table[schema.name].add(int(schema.since_version))
        _SINCE_VERSIONS = {k: tuple(sorted(v)) for k, v in table.items()}
    return _SINCE_VERSIONS.get(op, ())


def resolved_version(op: str, opset: int) -> int | None:
    """The operator version in effect in a model importing the default domain at `opset`."""
    versions = [v for v in since_versions(op) if v <= opset]
    return versions[-1] if versions else None


def older_opsets(op_types: list[str], opset: int) -> list[int]:
    """Versions of the case's VERSIONED_OPS below the case's own opset, newest first."""
    found = {v for op in set(op_types) if op in VERSIONED_OPS for v in since_versions(op) if v < opset}
    return sorted(found, reverse=True)


def with_opset(model: onnx.ModelProto, version: int) -> onnx.ModelProto:
    m = onnx.ModelProto()
    m.CopyFrom(model)
    for imp in m.opset_import:
        if imp.domain in DEFAULT_DOMAINS:
            imp.version = version
    return m


def spec_violation(model: onnx.ModelProto, opset: int, ins: list[TensorProto]) -> str | None:
    """Spec constraints the checker does not enforce. QuantizeLinear/DequantizeLinear-10 take a
    scalar scale and zero point (1-D per-axis tensors arrive with version 13)."""
    shapes = {t.name: [int(d) for d in t.dims] for t in ins}
    shapes.update({t.name: [int(d) for d in t.dims] for t in model.graph.initializer})
    for node in model.graph.node:
        if node.op_type not in ("QuantizeLinear", "DequantizeLinear") or node.domain not in DEFAULT_DOMAINS:
            continue
        version = resolved_version(node.op_type, opset)
        if version is None or version >= 13:
            continue
        for role, name in zip(("scale", "zero point"), list(node.input)[1:3]):
            if name and name in shapes and len(shapes[name]) != 0:
                return (f"spec: {node.op_type}-{version} takes a scalar {role} "
                        f"('{name}' has shape {shapes[name]}; per-axis needs opset 13)")
    return None


def validity_problem(model: onnx.ModelProto, opset: int, ins: list[TensorProto]) -> str | None:
    """Why onnx rejects the model at its opset (checker, strict shape inference, spec), or None."""
    try:
        onnx.checker.check_model(model, full_check=True)
    except Exception as e:  # noqa: BLE001
        return f"checker: {first_line(e)}"
    try:
        onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except Exception as e:  # noqa: BLE001
        return f"shape inference: {first_line(e)}"
    return spec_violation(model, opset, ins)


def arrays_identical(got: np.ndarray, want: np.ndarray) -> bool:
    if got.dtype != want.dtype or got.shape != want.shape:
        return False
    return bool(np.array_equal(got, want, equal_nan=want.dtype.kind in "fc"))


def reference_problem(model: onnx.ModelProto, data: list[tuple[list[TensorProto], list[TensorProto]]]) -> str | None:
    """None when onnx.reference.ReferenceEvaluator reproduces every stored output exactly."""
    from onnx.reference import ReferenceEvaluator

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ref = ReferenceEvaluator(model)
            for i, (ins, outs) in enumerate(data):
                got = ref.run(None, {t.name: numpy_helper.to_array(t) for t in ins})
                for t, g in zip(outs, got):
                    g = np.asarray(g)
                    want = numpy_helper.to_array(t)
                    if not arrays_identical(g, want):
                        return (f"reference differs: data set {i} output '{t.name}' "
                                f"({g.dtype}{list(g.shape)} vs stored {want.dtype}{list(want.shape)})")
    except Exception as e:  # noqa: BLE001
        return f"ReferenceEvaluator cannot run it: {first_line(e)}"
    return None


# --------------------------------------------------------------------------------------------
# onnxruntime cross-check
# --------------------------------------------------------------------------------------------


def onnxruntime_check(ort, model_bytes: bytes, data, rtol: float, atol: float) -> tuple[bool | None, str | None]:
    """(True, None) match; (False, detail) mismatch; (None, detail) onnxruntime cannot load/run.
    data: [(feeds {name: array}, [(output name, expected array)])]. Float outputs are compared
    with the case's rtol/atol, everything else exactly."""
    try:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 4
        sess = ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
    except Exception as e:  # noqa: BLE001
        return None, f"load: {first_line(e)}"
    for i, (feeds, wants) in enumerate(data):
        try:
            got = sess.run([name for name, _ in wants], feeds)
        except Exception as e:  # noqa: BLE001
            return None, f"run: {first_line(e)}"
        for (name, want), g in zip(wants, got):
            g = np.asarray(g)
            if g.shape != want.shape:
                return False, f"data set {i} '{name}': shape {list(g.shape)} != {list(want.shape)}"
            if g.dtype != want.dtype:
                return False, f"data set {i} '{name}': dtype {g.dtype} != {want.dtype}"
            if want.dtype.kind in "fc":
                close = np.allclose(g, want, rtol=rtol, atol=atol, equal_nan=True)
            else:
                close = np.array_equal(g, want)
            if not close:
                diff = np.max(np.abs(g.astype(np.float64) - want.astype(np.float64))) if g.size else 0
                return False, f"data set {i} '{name}': max abs diff {diff:.6g}"
    return True, None


def import_onnxruntime():
    import onnxruntime as ort

    ort.set_default_logger_severity(4)
    return ort


# --------------------------------------------------------------------------------------------
# Generation
# --------------------------------------------------------------------------------------------


def write_bytes(path: str, data: bytes) -> int:
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def base_record(name: str, source: str, op_types: list[str], opset: int | None, case) -> dict:
    return {
        "name": name,
        "source_case": source,
        "op_types": op_types,
        "opset": opset,
        "inputs": [],
        "outputs": [],
        "data_sets": 0,
        "rtol": case.rtol,
        "atol": case.atol,
        "onnxruntime_matches": None,
        "onnxruntime_detail": None,
        "skipped_reason": None,
    }


def build(ops: tuple[str, ...], ort) -> tuple[list[dict], dict[str, dict[str, bytes]]]:
    """Records (name order) and, per included case, its files {relative path: bytes}."""
    supported = set(ops)
    records: list[dict] = []
    files: dict[str, dict[str, bytes]] = {}
    for case in collect_cases():
        model = case.model
        op_types = graph_op_types(model.graph)
        if not op_types or not set(op_types) <= supported:
            continue
        unique_ops = sorted(set(op_types))
        opset = default_opset(model)
        reason = non_tensor_reason(model) or unsupported_type_reason(model, case.data_sets)
        if reason is not None:
            rec = base_record(case.name, case.name, unique_ops, opset, case)
            rec["skipped_reason"] = reason
            records.append(rec)
            continue

        data: list[tuple[list[TensorProto], list[TensorProto]]] = []
        for i, (inputs, outputs) in enumerate(case.data_sets):
            if len(inputs) != len(model.graph.input) or len(outputs) != len(model.graph.output):
                raise SystemExit(f"{case.name}: data set {i} arity does not match graph inputs/outputs")
            ins = [to_tensor(v, model.graph.input[j].name) for j, v in enumerate(inputs)]
            outs = [to_tensor(v, model.graph.output[j].name) for j, v in enumerate(outputs)]
            data.append((ins, outs))
        data_files: dict[str, bytes] = {}
        for i, (ins, outs) in enumerate(data):
            for j, t in enumerate(ins):
                data_files[f"test_data_set_{i}/input_{j}.pb"] = t.SerializeToString(deterministic=True)
            for j, t in enumerate(outs):
                data_files[f"test_data_set_{i}/output_{j}.pb"] = t.SerializeToString(deterministic=True)
        ort_data = None
        if ort is not None:
            ort_data = [
                ({t.name: numpy_helper.to_array(t) for t in ins}, [(t.name, numpy_helper.to_array(t)) for t in outs])
                for ins, outs in data
            ]

        versioned = bool(set(op_types) & set(VERSIONED_OPS))
        variants = [(case.name, model, opset)]
        if versioned and opset is not None:
            variants += [(f"{case.name}_opset{v}", with_opset(model, v), v) for v in older_opsets(op_types, opset)]
        for name, m, v in variants:
            rec = base_record(name, case.name, unique_ops, v, case)
            records.append(rec)
            if versioned:
                problem = validity_problem(m, v, data[0][0] if data else [])
                if problem is not None:
                    rec["skipped_reason"] = f"invalid at opset {v}: {problem}"
                    continue
                problem = reference_problem(m, data)
                if problem is not None:
                    rec["skipped_reason"] = f"not verified by onnx reference at opset {v}: {problem}"
                    continue
            model_bytes = m.SerializeToString(deterministic=True)
            files[name] = {"model.onnx": model_bytes, **data_files}
            rec["data_sets"] = len(data)
            if data:
                rec["inputs"] = [io_summary(t) for t in data[0][0]]
                rec["outputs"] = [io_summary(t) for t in data[0][1]]
            if ort is not None:
                rec["onnxruntime_matches"], rec["onnxruntime_detail"] = onnxruntime_check(
                    ort, model_bytes, ort_data, case.rtol, case.atol
                )
            else:
                rec["onnxruntime_detail"] = "onnxruntime not run (--no-onnxruntime)"
    records.sort(key=lambda r: r["name"])
    return records, files


def render_cases_json(records: list[dict]) -> bytes:
    return (json.dumps(records, indent=1, sort_keys=False) + "\n").encode()


def generate(out_dir: str, ops: tuple[str, ...], ort) -> tuple[list[dict], int]:
    records, files = build(ops, ort)
    by_name = {r["name"]: r for r in records}
    other_bytes = _script_bytes(out_dir) if os.path.isdir(out_dir) else 0

    def case_bytes(name: str) -> int:
        return sum(len(b) for b in files[name].values())

    # Size budget: drop re-emitted older-opset variants, largest first, until everything fits.
    while True:
        cases_json = render_cases_json(records)
        fixture_bytes = sum(case_bytes(n) for n in files) + len(cases_json)
        readme = render_readme(records, ops, fixture_bytes, ort.__version__ if ort is not None else None)
        total = fixture_bytes + len(readme) + other_bytes
        if total <= SIZE_BUDGET_BYTES:
            break
        droppable = sorted((n for n in files if by_name[n]["source_case"] != n), key=lambda n: (-case_bytes(n), n))
        if not droppable:
            break
        victim = droppable[0]
        del files[victim]
        rec = by_name[victim]
        rec.update(inputs=[], outputs=[], data_sets=0, onnxruntime_matches=None, onnxruntime_detail=None)
        rec["skipped_reason"] = f"size budget: older-opset duplicate dropped to stay under {SIZE_BUDGET_BYTES} bytes"

    # Recreate only what this script owns: case directories, cases.json, README.md.
    os.makedirs(out_dir, exist_ok=True)
    for entry in sorted(os.listdir(out_dir)):
        path = os.path.join(out_dir, entry)
        if entry.startswith("test_") and os.path.isdir(path):
            shutil.rmtree(path)
    for name in sorted(files):
        for rel, blob in sorted(files[name].items()):
            path = os.path.join(out_dir, name, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            write_bytes(path, blob)
    write_bytes(os.path.join(out_dir, "cases.json"), cases_json)
    write_bytes(os.path.join(out_dir, "README.md"), readme)
    return records, total


# --------------------------------------------------------------------------------------------
# README
# --------------------------------------------------------------------------------------------


def per_op_counts(records: list[dict]) -> dict[str, tuple[int, int]]:
    """op -> (included cases using it, skipped cases using it)."""
    counts: dict[str, list[int]] = {}
    for r in records:
        for op in r["op_types"]:
            c = counts.setdefault(op, [0, 0])
            c[0 if r["skipped_reason"] is None else 1] += 1
    return {op: (c[0], c[1]) for op, c in counts.items()}


SKIP_KINDS = (
    ("type not supported", "type"),
    ("invalid at", "invalid at version"),
    ("not verified by onnx reference", "not reproduced by ReferenceEvaluator"),
    ("size budget", "size budget"),
)


def skip_slot(reason: str | None) -> int:
    if reason is None:
        return 0
    for i, (prefix, _) in enumerate(SKIP_KINDS):
        if reason.startswith(prefix):
            return i + 1
    return len(SKIP_KINDS) + 1


def per_version_counts(records: list[dict], op: str) -> dict[int, list[int]]:
    """op version -> [included, skipped per SKIP_KINDS..., skipped: other]."""
    width = len(SKIP_KINDS) + 2
    counts = {v: [0] * width for v in since_versions(op)}
    for r in records:
        if op not in r["op_types"] or r["opset"] is None:
            continue
        v = resolved_version(op, r["opset"])
        if v is None:
            continue
        counts.setdefault(v, [0] * width)[skip_slot(r["skipped_reason"])] += 1
    return counts


def render_readme(records: list[dict], ops: tuple[str, ...], fixture_bytes: int, ort_version: str | None) -> bytes:
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
        "python3 Fixtures/conformance/generate.py            # rewrite fixtures (deterministic; runs onnxruntime)",
        "python3 Fixtures/conformance/generate.py --verify   # also print the onnxruntime cross-check",
        "```",
        "",
        "A test case is included when **every** node op type in its graph is supported (so",
        "`*_expanded*` function-body variants appear only when all their ops are supported; e.g. the",
        "`test_dynamicquantizelinear*_expanded` cases need Cast/Max/Min/ReduceMax/ReduceMin/Round and are",
        "not candidates). Layout is the one onnx uses for `onnx/backend/test/data/node`:",
        "",
        "```",
        "<case>/model.onnx",
        "<case>/test_data_set_<i>/input_<j>.pb    TensorProto named like graph input j",
        "<case>/test_data_set_<i>/output_<j>.pb   TensorProto named like graph output j (reference result)",
        "```",
        "",
        "`cases.json` lists every candidate case (name order) with `source_case` (the onnx case it",
        "comes from), `op_types`, `opset` (default-domain opset_import), `inputs`/`outputs` (`name`,",
        "`dtype` = lower-cased `TensorProto.DataType` name, `shape`), `data_sets`, onnx's suggested",
        "`rtol`/`atol`, `onnxruntime_matches` / `onnxruntime_detail` and `skipped_reason` (null when the",
        "directory exists). Cases with sequence/optional/map-typed inputs or outputs, or with element",
        f"types the engine does not implement ({', '.join(n.lower() for n in UNSUPPORTED_TYPE_NAMES)}),",
        "are listed but skipped. The expected outputs are onnx's reference values.",
        "",
        "## Older opset versions of the quantization operators",
        "",
        f"For cases using {', '.join(VERSIONED_OPS)}, the case is also written",
        "for every older version of those operators (`since_version` from",
        "`onnx.defs.get_all_schemas_with_history()`, below the case's own opset) as",
        "`<case>_opset<version>`: the same model with only the default-domain `opset_import` changed,",
        "and the same inputs and expected outputs. The case under its original name keeps onnx's opset.",
        "Every such case/version pair (the original included) must pass",
        "`onnx.checker.check_model(full_check=True)`, `onnx.shape_inference.infer_shapes(strict_mode=True,",
        "check_type=True)` and one spec rule the checker does not enforce (Quantize/DequantizeLinear-10",
        "take scalar scale and zero point), and `onnx.reference.ReferenceEvaluator` at that opset must",
        "reproduce the stored outputs exactly (same dtype, shape and values); otherwise it is listed as",
        "skipped with the reason.",
        "",
        "## onnxruntime",
        "",
        f"Every written case is run with onnxruntime {ort_version or '(not run)'} (CPU, optimizations off) while generating:",
        "`onnxruntime_matches` is true/false (float outputs within the case's rtol/atol, others exact)",
        "or null when onnxruntime cannot load or run the model (`onnxruntime_detail` says why). A",
        "mismatch does not change the fixtures.",
        "",
    ]
    n_match = sum(1 for r in included if r["onnxruntime_matches"] is True)
    n_mis = [r for r in included if r["onnxruntime_matches"] is False]
    n_null = [r for r in included if r["onnxruntime_matches"] is None]
    lines += [f"Result: {n_match} match, {len(n_mis)} mismatch, {len(n_null)} cannot run.", ""]
    if n_mis:
        lines += ["Mismatches:", ""] + [f"- `{r['name']}`: {r['onnxruntime_detail']}" for r in n_mis] + [""]
    if n_null:
        lines += ["Cannot run:", ""] + [f"- `{r['name']}`: {r['onnxruntime_detail']}" for r in n_null] + [""]
    lines += [
        "## Counts",
        "",
        f"Supported ops ({len(ops)}): {', '.join(ops)}.",
        "",
        f"Cases: {len(included)} included, {len(skipped)} skipped; fixture size {fixture_bytes} bytes"
        " (case directories + cases.json).",
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
    versioned = [op for op in VERSIONED_OPS if op in ops]
    if versioned:
        lines += [
            "Per operator version (the version in effect at the case's opset):",
            "",
            "| op | version | included | " + " | ".join(f"skipped: {label}" for _, label in SKIP_KINDS) + " | skipped: other |",
            "|---|---:|---:|" + "---:|" * (len(SKIP_KINDS) + 1),
        ]
        for op in versioned:
            for v, c in sorted(per_version_counts(records, op).items()):
                lines.append(f"| {op} | {v} | " + " | ".join(str(x) for x in c) + " |")
        lines.append("")
    if skipped:
        lines += ["## Skipped", ""]
        lines += [f"- `{r['name']}`: {r['skipped_reason']}" for r in skipped]
        lines.append("")
    return "\n".join(lines).encode()


# --------------------------------------------------------------------------------------------
# Checking existing fixtures
# --------------------------------------------------------------------------------------------


def load_tensor(path: str) -> np.ndarray:
    t = TensorProto()
    with open(path, "rb") as f:
        t.ParseFromString(f.read())
    return numpy_helper.to_array(t)


def verify(out_dir: str) -> int:
    """Re-run onnxruntime on the fixtures on disk and compare with cases.json's recorded result."""
    ort = import_onnxruntime()
    with open(os.path.join(out_dir, "cases.json")) as f:
        records = json.load(f)
    results: dict[str, list[tuple[str, str | None]]] = {"match": [], "mismatch": [], "cannot run": []}
    disagree = []
    for r in records:
        if r["skipped_reason"] is not None:
            continue
        case_dir = os.path.join(out_dir, r["name"])
        data = []
        for i in range(r["data_sets"]):
            ds = os.path.join(case_dir, f"test_data_set_{i}")
            feeds = {inp["name"]: load_tensor(os.path.join(ds, f"input_{j}.pb")) for j, inp in enumerate(r["inputs"])}
            wants = [(o["name"], load_tensor(os.path.join(ds, f"output_{j}.pb"))) for j, o in enumerate(r["outputs"])]
            data.append((feeds, wants))
        with open(os.path.join(case_dir, "model.onnx"), "rb") as f:
            ok, detail = onnxruntime_check(ort, f.read(), data, r["rtol"], r["atol"])
        key = "match" if ok is True else "mismatch" if ok is False else "cannot run"
        results[key].append((r["name"], detail))
        if r.get("onnxruntime_matches", ok) != ok:
            disagree.append(r["name"])
    print(f"\nonnxruntime {ort.__version__}: " + ", ".join(f"{len(v)} {k}" for k, v in results.items()))
    for name, d in results["mismatch"]:
        print(f"  MISMATCH   {name}: {d}")
    for name, d in results["cannot run"]:
        print(f"  CANNOT RUN {name}: {d}")
    if disagree:
        print(f"  differs from cases.json: {', '.join(disagree)}")
        return 1
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
    p.add_argument("--verify", action="store_true", help="after generating, re-run every case with onnxruntime")
    p.add_argument("--verify-only", action="store_true", help="only run the onnxruntime check on existing fixtures")
    p.add_argument("--no-onnxruntime", action="store_true",
                   help="do not run onnxruntime while generating (onnxruntime_matches becomes null everywhere)")
    p.add_argument("--allow-onnx-version", action="store_true", help=f"accept onnx other than {PINNED_ONNX_VERSION}")
    args = p.parse_args()

    out_dir = os.path.abspath(args.out)
    if args.verify_only:
        return verify(out_dir)
    if onnx.__version__ != PINNED_ONNX_VERSION and not args.allow_onnx_version:
        print(f"onnx {onnx.__version__} installed, fixtures pinned to {PINNED_ONNX_VERSION} "
              "(pass --allow-onnx-version or update PINNED_ONNX_VERSION)", file=sys.stderr)
        return 1
    if onnx.defs.onnx_opset_version() < MAX_OPSET:
        print(f"onnx {onnx.__version__} knows opsets up to {onnx.defs.onnx_opset_version()} < {MAX_OPSET}", file=sys.stderr)
        return 1
    ops = tuple(o.strip() for o in args.ops.split(",") if o.strip()) if args.ops else SUPPORTED_OPS
    ort = None
    if not args.no_onnxruntime:
        try:
            ort = import_onnxruntime()
        except ImportError:
            print("onnxruntime is needed to fill onnxruntime_matches (or pass --no-onnxruntime)", file=sys.stderr)
            return 1

    records, _ = generate(out_dir, ops, ort)
    counts = per_op_counts(records)
    included = sum(1 for r in records if r["skipped_reason"] is None)
    print(f"onnx {onnx.__version__}: {included} cases written, {len(records) - included} skipped")
    for op in ops:
        inc, sk = counts.get(op, (0, 0))
        print(f"  {op:22s} {inc:4d}" + (f"  (+{sk} skipped)" if sk else ""))
    for op in VERSIONED_OPS:
        if op in ops:
            for v, c in sorted(per_version_counts(records, op).items()):
                skips = ", ".join(f"{n} {label}" for n, (_, label) in zip(c[1:], SKIP_KINDS + (("", "other"),)) if n)
                print(f"    {op}-{v}: {c[0]} included" + (f" (skipped: {skips})" if skips else ""))
    for r in records:
        if r["skipped_reason"]:
            print(f"  skipped {r['name']}: {r['skipped_reason']}")
    if ort is not None:
        written = [r for r in records if r["skipped_reason"] is None]
        print(f"onnxruntime {ort.__version__}: {sum(r['onnxruntime_matches'] is True for r in written)} match, "
              f"{sum(r['onnxruntime_matches'] is False for r in written)} mismatch, "
              f"{sum(r['onnxruntime_matches'] is None for r in written)} cannot run")
        for r in written:
            if r["onnxruntime_matches"] is not True:
                print(f"  {'MISMATCH  ' if r['onnxruntime_matches'] is False else 'CANNOT RUN'} {r['name']}: {r['onnxruntime_detail']}")
    size = dir_size(out_dir)
    print(f"total size of {out_dir}: {size} bytes ({size / 1048576:.2f} MiB), budget {SIZE_BUDGET_BYTES}")
    if size > SIZE_BUDGET_BYTES:
        print(f"warning: over the {SIZE_BUDGET_BYTES} byte budget", file=sys.stderr)
    if args.verify:
        return verify(out_dir)
    return 0


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
