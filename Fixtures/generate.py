#!/usr/bin/env python3
"""Regenerate the QuantWatch test fixtures (see Fixtures/README.md).

    python3 Fixtures/generate.py                  # everything
    python3 Fixtures/generate.py --only digits    # just Fixtures/digits
    python3 Fixtures/generate.py --only patches   # just Fixtures/patches

Everything is derived from data bundled with scikit-learn (load_digits and
load_sample_images), with fixed seeds. Models are trained with jax/optax on
the CPU, written by hand with onnx.helper (PyTorch-export style naming,
opset 17, IR version 8), quantized with onnxruntime.quantization, and run
with onnxruntime to record reference outputs. Intermediate files (the
quant_pre_process output, calibration scratch) live in a temporary directory.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("JAX_PLATFORMS", "cpu")

import numpy as np  # noqa: E402

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import optax  # noqa: E402
import onnx  # noqa: E402
from onnx import TensorProto, helper, numpy_helper  # noqa: E402
import onnxruntime as ort  # noqa: E402
from onnxruntime.quantization import (  # noqa: E402
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quant_pre_process,
    quantize_dynamic,
    quantize_static,
)
from sklearn.datasets import load_digits, load_sample_images  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402

jax.config.update("jax_enable_x64", False)

FIXTURES = Path(__file__).resolve().parent
OPSET = 17
IR_VERSION = 8
BN_EPS = 1e-5
VARIANTS = ["fp32", "int8.qdq", "int8.qop", "int8.mixed", "int8.dynamic"]
DRIFT_KINDS = ["brightness", "gain", "noise", "blur"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ---------------------------------------------------------------------------
# One network description, two back ends: jax (training / reference) and ONNX
# (export). A model is a python function `forward(ops, x)` that only calls the
# methods below, so the exported graph is the trained function by construction.
# ---------------------------------------------------------------------------


class JaxOps:
    """Evaluates the network. train=True: BatchNorm uses batch statistics
    (biased variance) and records them in self.batch_stats.

    Internally NHWC, with convolutions written as matmuls / shifted multiply-adds
    (XLA's CPU depthwise-conv gradient is slow); the math is the ONNX graph's."""

    def __init__(self, params, bn_state, train: bool):
        self.p = params
        self.s = bn_state
        self.train = train
        self.batch_stats = {}

    def input(self, x):
        return jnp.transpose(x, (0, 2, 3, 1))            # NCHW -> NHWC

    def conv(self, name, x, cout, k, stride=1, pad=0, group=1, bias=False):
        w = self.p[name + ".weight"]                      # OIHW, as in ONNX
        n, h, wd, c = x.shape
        ho, wo = (h + 2 * pad - k) // stride + 1, (wd + 2 * pad - k) // stride + 1
        xp = jnp.pad(x, ((0, 0), (pad, pad), (pad, pad), (0, 0))) if pad else x

        def tap(i, j):
            return xp[:, i:i + stride * (ho - 1) + 1:stride, j:j + stride * (wo - 1) + 1:stride, :]

        if group == 1 and k == 1:
            y = jnp.einsum("nhwc,oc->nhwo", tap(0, 0), w[:, :, 0, 0])
        elif group == 1:                                  # im2col
            cols = jnp.concatenate([tap(i, j) for i in range(k) for j in range(k)], axis=-1)
            y = cols @ jnp.transpose(w, (2, 3, 1, 0)).reshape(k * k * c, cout)
        else:
            assert group == c == cout and w.shape[1] == 1, "only depthwise grouping is used"
            y = 0.0
            for i in range(k):
                for j in range(k):
                    y = y + tap(i, j) * w[:, 0, i, j]
        if bias:
            y = y + self.p[name + ".bias"]
        return y

    def bn(self, name, x):
        if self.train:
            mean = jnp.mean(x, axis=(0, 1, 2))
            var = jnp.mean(jnp.square(x - mean), axis=(0, 1, 2))
            self.batch_stats[name] = (mean, var)
        else:
            mean = self.s[name + ".running_mean"]
            var = self.s[name + ".running_var"]
        inv = self.p[name + ".weight"] / jnp.sqrt(var + BN_EPS)
        return (x - mean) * inv + self.p[name + ".bias"]

    def relu(self, name, x):
        return jnp.maximum(x, 0.0)

    def relu6(self, name, x):
        return jnp.clip(x, 0.0, 6.0)

    def add(self, name, a, b):
        return a + b

    def global_avg_pool(self, name, x):
        return jnp.mean(x, axis=(1, 2), keepdims=True)

    def flatten(self, name, x):
        # ONNX Flatten of an NCHW tensor: (c, h, w) order.
        return jnp.transpose(x, (0, 3, 1, 2)).reshape(x.shape[0], -1)

    def gemm(self, name, x, nout):
        return x @ self.p[name + ".weight"].T + self.p[name + ".bias"]

    def softmax(self, name, x):
        # Training uses the logits; the softmax is applied only at export.
        return x


def _scope(module: str) -> str:
    """'blocks.0.expand.conv' -> '/blocks.0/expand/conv' (PyTorch exporter style)."""
    parts = []
    for piece in module.split("."):
        if piece.isdigit() and parts:
            parts[-1] = parts[-1] + "." + piece
        else:
            parts.append(piece)
    return "/" + "/".join(parts)


class OnnxOps:
    """Emits ONNX nodes named like torch.onnx.export (TorchScript exporter)."""

    def __init__(self, params, bn_state):
        self.p = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
        self.s = {k: np.asarray(v, dtype=np.float32) for k, v in bn_state.items()}
        self.nodes = []
        self.inits = collections.OrderedDict()

    def _init(self, name, arr):
        self.inits[name] = numpy_helper.from_array(np.ascontiguousarray(arr, dtype=np.float32), name)
        return name

    def _node(self, op, module, inputs, **attrs):
        name = f"{_scope(module)}/{op}"
        out = f"{name}_output_0"
        self.nodes.append(helper.make_node(op, inputs, [out], name=name, **attrs))
        return out

    def conv(self, name, x, cout, k, stride=1, pad=0, group=1, bias=False):
        ins = [x, self._init(name + ".weight", self.p[name + ".weight"])]
        if bias:
            ins.append(self._init(name + ".bias", self.p[name + ".bias"]))
        return self._node("Conv", name, ins, dilations=[1, 1], group=group, kernel_shape=[k, k],
                          pads=[pad, pad, pad, pad], strides=[stride, stride])

    def bn(self, name, x):
        ins = [x] + [self._init(name + suffix, src[name + suffix]) for suffix, src in (
            (".weight", self.p), (".bias", self.p), (".running_mean", self.s), (".running_var", self.s))]
        return self._node("BatchNormalization", name, ins, epsilon=BN_EPS, momentum=0.9)

    def input(self, x):
        return x

    def relu(self, name, x):
        return self._node("Relu", name, [x])

    def relu6(self, name, x):
        scope = _scope(name)
        consts = []
        for i, v in enumerate((0.0, 6.0)):
            cname = f"{scope}/Constant" + ("" if i == 0 else f"_{i}")
            out = f"{cname}_output_0"
            self.nodes.append(helper.make_node(
                "Constant", [], [out], name=cname,
                value=numpy_helper.from_array(np.array(v, dtype=np.float32))))
            consts.append(out)
        return self._node("Clip", name, [x] + consts)

    def add(self, name, a, b):
        return self._node("Add", name, [a, b])

    def global_avg_pool(self, name, x):
        return self._node("GlobalAveragePool", name, [x])

    def flatten(self, name, x):
        return self._node("Flatten", name, [x], axis=1)

    def gemm(self, name, x, nout):
        return self._node("Gemm", name, [x, self._init(name + ".weight", self.p[name + ".weight"]),
                                         self._init(name + ".bias", self.p[name + ".bias"])],
                          alpha=1.0, beta=1.0, transB=1)

    def softmax(self, name, x):
        return self._node("Softmax", name, [x], axis=1)


def export_onnx(forward, params, bn_state, in_shape, num_classes, graph_name, path: Path):
    ops = OnnxOps(params, bn_state)
    out = forward(ops, "input")
    # Rename the final tensor to the public output name.
    last = ops.nodes[-1]
    assert last.output[0] == out
    last.output[0] = "probabilities"
    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N"] + list(in_shape))
    outp = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", num_classes])
    graph = helper.make_graph(ops.nodes, graph_name, [inp], [outp], initializer=list(ops.inits.values()))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name="quantwatch-fixtures", producer_version="1")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    onnx.save(model, str(path))
    return model


# ---------------------------------------------------------------------------
# Training helpers
# ---------------------------------------------------------------------------


def he_conv(key, cout, cin_per_group, k):
    fan_in = cin_per_group * k * k
    return jax.random.normal(key, (cout, cin_per_group, k, k), jnp.float32) * np.sqrt(2.0 / fan_in)


def torch_bias(key, n, fan_in):
    bound = 1.0 / np.sqrt(fan_in)
    return jax.random.uniform(key, (n,), jnp.float32, -bound, bound)


def linear(key, nout, nin):
    k1, k2 = jax.random.split(key)
    bound = 1.0 / np.sqrt(nin)
    return (jax.random.uniform(k1, (nout, nin), jnp.float32, -bound, bound),
            jax.random.uniform(k2, (nout,), jnp.float32, -bound, bound))


def add_bn(params, bn_state, name, c):
    params[name + ".weight"] = jnp.ones((c,), jnp.float32)
    params[name + ".bias"] = jnp.zeros((c,), jnp.float32)
    bn_state[name + ".running_mean"] = jnp.zeros((c,), jnp.float32)
    bn_state[name + ".running_var"] = jnp.ones((c,), jnp.float32)


def make_train_step(forward, optimizer):
    def loss_fn(params, x, y):
        ops = JaxOps(params, None, train=True)
        logits = forward(ops, x)
        return jnp.mean(optax.softmax_cross_entropy_with_integer_labels(logits, y))

    @jax.jit
    def step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    return step


def population_bn_stats(forward, params, x):
    """Running mean/var = statistics of the training data, taken layer by layer
    in one training-mode pass over a large batch `x` (biased variance)."""
    def f(params, x):
        ops = JaxOps(params, None, train=True)
        forward(ops, x)
        return ops.batch_stats
    stats = jax.jit(f)(params, x)
    bn_state = {}
    for name, (m, v) in stats.items():
        bn_state[name + ".running_mean"] = np.asarray(m, np.float32)
        bn_state[name + ".running_var"] = np.asarray(v, np.float32)
    return bn_state


def jax_predict(forward, params, bn_state, x, batch=256):
    f = jax.jit(lambda p, s, xb: forward(JaxOps(p, s, train=False), xb))
    outs = [np.asarray(f(params, bn_state, x[i:i + batch])) for i in range(0, len(x), batch)]
    return np.concatenate(outs)


# ---------------------------------------------------------------------------
# Quantization
# ---------------------------------------------------------------------------


class ListReader(CalibrationDataReader):
    def __init__(self, frames):
        self.frames = [np.ascontiguousarray(f, dtype=np.float32) for f in frames]
        self.i = 0

    def get_next(self):
        if self.i >= len(self.frames):
            return None
        self.i += 1
        return {"input": self.frames[self.i - 1]}

    def rewind(self):
        self.i = 0


def first_conv_name(model_path):
    m = onnx.load(str(model_path))
    return next(n.name for n in m.graph.node if n.op_type == "Conv")


def quantize_all(out_dir: Path, calib_frames):
    """fp32 model at out_dir/model.fp32.onnx -> the four int8 variants."""
    fp32 = out_dir / "model.fp32.onnx"
    notes = {}
    with tempfile.TemporaryDirectory(prefix="qw-fixtures-") as tmp:
        pre = Path(tmp) / "model.pre.onnx"
        quant_pre_process(str(fp32), str(pre))
        first_conv = first_conv_name(pre)
        common = dict(calibrate_method=CalibrationMethod.MinMax, per_channel=True)
        log("  quantize_static QDQ (s8 act / s8 weight, per-channel)")
        quantize_static(str(pre), str(out_dir / "model.int8.qdq.onnx"), ListReader(calib_frames),
                        quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, **common)
        log("  quantize_static QOperator (u8 act / s8 weight, per-channel)")
        quantize_static(str(pre), str(out_dir / "model.int8.qop.onnx"), ListReader(calib_frames),
                        quant_format=QuantFormat.QOperator, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8, **common)
        log(f"  quantize_static QDQ mixed (excluding {first_conv})")
        quantize_static(str(pre), str(out_dir / "model.int8.mixed.onnx"), ListReader(calib_frames),
                        quant_format=QuantFormat.QDQ, activation_type=QuantType.QInt8,
                        weight_type=QuantType.QInt8, nodes_to_exclude=[first_conv], **common)
        notes["mixed_excluded_node"] = first_conv
        # Dynamic: Gemm has no integer-ops quantizer of its own, but
        # quantize_dynamic rewrites Gemm as MatMulInteger + Add; Conv becomes
        # ConvInteger (uint8 activations via DynamicQuantizeLinear, int8 weights;
        # onnxruntime 1.32 runs this). Per-tensor weights (the default).
        log("  quantize_dynamic (s8 weights, per-tensor, default op types)")
        dyn = out_dir / "model.int8.dynamic.onnx"
        quantize_dynamic(str(pre), str(dyn), weight_type=QuantType.QInt8, per_channel=False)
        notes["dynamic"] = "quantize_dynamic(weight_type=QInt8, per_channel=False, default op types)"
    return notes


# ---------------------------------------------------------------------------
# Running onnxruntime and bookkeeping
# ---------------------------------------------------------------------------


def make_session(path: Path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    return ort.InferenceSession(str(path), sess_options=so, providers=["CPUExecutionProvider"])


def run_frames(sess, frames):
    """frames: iterable of [1,C,H,W] float32 -> [N,K] float32, one frame per run."""
    rows = [sess.run(["probabilities"], {"input": f})[0] for f in frames]
    return np.concatenate(rows, axis=0).astype(np.float32)


def op_counts(path: Path):
    m = onnx.load(str(path))
    c = collections.Counter(n.op_type for n in m.graph.node)
    return dict(sorted(c.items()))


def model_info(path: Path):
    m = onnx.load(str(path))
    return {
        "file": path.name,
        "bytes": path.stat().st_size,
        "ir_version": m.ir_version,
        "opsets": {(o.domain or "ai.onnx"): o.version for o in m.opset_import},
        "nodes": len(m.graph.node),
        "op_counts": op_counts(path),
    }


def record_outputs(model_dir: Path, sets: dict, labels_by_set: dict):
    """sets: name -> list of [1,C,H,W] float32 frames (sorted file order)."""
    preds = {}
    ort_dir = model_dir / "ort"
    for variant in VARIANTS:
        sess = make_session(model_dir / f"model.{variant}.onnx")
        (ort_dir / variant).mkdir(parents=True, exist_ok=True)
        for set_name, frames in sets.items():
            out = run_frames(sess, frames)
            np.save(ort_dir / variant / f"{set_name}.npy", out)
            preds[(variant, set_name)] = out
        log(f"  recorded {variant}: {len(sets)} sets")
    acc = {"variants": VARIANTS, "sets": {}}
    for set_name in sets:
        labels = np.asarray(labels_by_set[set_name])
        ref = preds[("fp32", set_name)]
        entry = {"frames": int(len(labels)), "accuracy": {}, "agreement_vs_fp32": {},
                 "max_abs_prob_diff_vs_fp32": {}}
        for variant in VARIANTS:
            p = preds[(variant, set_name)]
            entry["accuracy"][variant] = round(float(np.mean(p.argmax(1) == labels)), 6)
            entry["agreement_vs_fp32"][variant] = round(float(np.mean(p.argmax(1) == ref.argmax(1))), 6)
            entry["max_abs_prob_diff_vs_fp32"][variant] = round(float(np.max(np.abs(p - ref))), 6)
        entry["int8.qdq_vs_fp32_top1_agreement"] = entry["agreement_vs_fp32"]["int8.qdq"]
        if set_name != "heldout":
            # The same frames before drifting: the first len(labels) held-out frames.
            n = len(labels)
            base_ref = preds[("fp32", "heldout")][:n].argmax(1)
            entry["undrifted_accuracy"] = {
                v: round(float(np.mean(preds[(v, "heldout")][:n].argmax(1) == labels)), 6) for v in VARIANTS}
            entry["undrifted_agreement_vs_fp32"] = {
                v: round(float(np.mean(preds[(v, "heldout")][:n].argmax(1) == base_ref)), 6) for v in VARIANTS}
        acc["sets"][set_name] = entry
    with open(model_dir / "accuracy.json", "w") as f:
        json.dump(acc, f, indent=2)
        f.write("\n")
    return acc, preds


def write_manifest(model_dir: Path, extra: dict):
    info = {"models": {v: model_info(model_dir / f"model.{v}.onnx") for v in VARIANTS}}
    info.update(extra)
    with open(model_dir / "manifest.json", "w") as f:
        json.dump(info, f, indent=2)
        f.write("\n")
    return info


def verify_models(model_dir: Path, in_shape):
    for v in VARIANTS:
        p = model_dir / f"model.{v}.onnx"
        onnx.checker.check_model(onnx.load(str(p)), full_check=True)
        sess = make_session(p)
        i, o = sess.get_inputs()[0], sess.get_outputs()[0]
        assert i.name == "input" and list(i.shape[1:]) == list(in_shape), (v, i.shape)
        assert o.name == "probabilities", (v, o.name)
        x = np.zeros([2] + list(in_shape), np.float32)          # dynamic batch works
        y = sess.run(None, {"input": x})[0]
        # Quantized Softmax outputs are multiples of ~1/255, so allow some slack.
        assert y.shape[0] == 2 and np.allclose(y.sum(1), 1.0, atol=0.03), (v, y.shape, y.sum(1))


def verify_tree(model_dir: Path):
    """Re-read a finished model directory from disk and check it is consistent."""
    classes = (model_dir / "classes.txt").read_text().splitlines()
    K = len(classes)
    is_digits = model_dir.name == "digits"
    in_shape = [1, 8, 8] if is_digits else [3, CROP, CROP]
    verify_models(model_dir, in_shape)

    def labels(path):
        return [(a, int(b)) for a, b in (line.split() for line in path.read_text().splitlines())]

    held = labels(model_dir / "labels.txt")
    sizes = {"heldout": len(held)}
    if is_digits:
        files = sorted((model_dir / "frames").glob("*.npy"))
        assert [f.name for f in files] == [n for n, _ in held]
        stack = np.concatenate([np.load(f) for f in files])
        assert stack.shape == (len(held), 1, 8, 8) and stack.dtype == np.float32
        assert np.array_equal(stack, np.load(model_dir / "heldout.npy"))
        assert labels(model_dir / "drift" / "labels.txt") == held
        for f in sorted((model_dir / "drift").glob("*.npy")):
            a = np.load(f)
            assert a.shape == stack.shape and a.dtype == np.float32 and a.min() >= 0 and a.max() <= 1
            sizes[f.stem] = len(a)
    else:
        files = sorted((model_dir / "frames").glob("*.ppm"))
        assert [f.name for f in files] == [n for n, _ in held]
        assert all(read_ppm(f).shape == (CROP, CROP, 3) for f in files)
        for f in sorted((model_dir / "tensors").glob("*.npy")):
            t = np.load(f)
            assert t.shape == (1, 3, CROP, CROP) and t.dtype == np.float32
            assert np.array_equal(t, preprocess_u8(read_ppm(model_dir / "frames" / (f.stem + ".ppm"))[None]))
        for d in sorted(p for p in (model_dir / "drift").iterdir() if p.is_dir()):
            dl = labels(d / "labels.txt")
            dfiles = sorted(d.glob("*.ppm"))
            assert [f.name for f in dfiles] == [n for n, _ in dl] and dl == held[:len(dl)]
            assert all(read_ppm(f).shape == (CROP, CROP, 3) for f in dfiles)
            sizes[d.name] = len(dfiles)
    assert len(sizes) == 1 + 3 * len(DRIFT_KINDS), sizes
    acc = json.loads((model_dir / "accuracy.json").read_text())
    for v in VARIANTS:
        for set_name, n in sizes.items():
            out = np.load(model_dir / "ort" / v / f"{set_name}.npy")
            assert out.shape == (n, K) and out.dtype == np.float32, (v, set_name, out.shape)
            assert acc["sets"][set_name]["frames"] == n
    n_files = sum(1 for p in model_dir.rglob("*") if p.is_file())
    log(f"verified {model_dir.name}: {len(VARIANTS)} models, {len(sizes)} frame sets, {n_files} files")


def fresh_dir(path: Path):
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def write_labels(path: Path, names, labels):
    with open(path, "w") as f:
        for n, l in zip(names, labels):
            f.write(f"{n} {int(l)}\n")


# ---------------------------------------------------------------------------
# Drift transforms (documented in README.md)
# ---------------------------------------------------------------------------

# Applied to values in a 0..`peak` range: peak=1.0 for digits (float32),
# peak=255 for patches (uint8, rounded half-to-even and clipped to 0..255).
DRIFT_PARAMS = {
    # x' = (x - peak/2) * contrast + peak/2 + offset * peak
    "brightness": [dict(offset=0.10, contrast=0.85), dict(offset=0.20, contrast=0.70),
                   dict(offset=0.30, contrast=0.55)],
    # x' = x * gain
    "gain": [dict(gain=1.25), dict(gain=1.6), dict(gain=2.2)],
    # x' = x + N(0, (sigma*peak)^2), per element, numpy default_rng(seed)
    "noise": [dict(sigma=0.03, seed=101), dict(sigma=0.07, seed=102), dict(sigma=0.15, seed=103)],
}
# Separable Gaussian blur, kernel radius ceil(3*sigma), edge-replicate padding.
BLUR_SIGMAS = {"digits": [0.5, 0.8, 1.2], "patches": [1.0, 2.0, 3.5]}


def gaussian_blur(img, sigma, axes):
    r = int(np.ceil(3 * sigma))
    t = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-0.5 * (t / sigma) ** 2)
    k /= k.sum()
    out = img.astype(np.float64)
    for ax in axes:
        pad = [(0, 0)] * out.ndim
        pad[ax] = (r, r)
        padded = np.pad(out, pad, mode="edge")
        acc = np.zeros_like(out)
        n = out.shape[ax]
        for j, w in enumerate(k):
            acc += w * np.take(padded, np.arange(j, j + n), axis=ax)
        out = acc
    return out


def apply_drift(x, kind, strength, peak, blur_sigmas, spatial_axes):
    """x: float64 array of values in 0..peak (any shape). Returns float64, clipped."""
    x = np.asarray(x, np.float64)
    if kind == "blur":
        y = gaussian_blur(x, blur_sigmas[strength - 1], spatial_axes)
    else:
        prm = DRIFT_PARAMS[kind][strength - 1]
        if kind == "brightness":
            y = (x - peak / 2) * prm["contrast"] + peak / 2 + prm["offset"] * peak
        elif kind == "gain":
            y = x * prm["gain"]
        elif kind == "noise":
            rng = np.random.default_rng(prm["seed"])
            y = x + rng.normal(0.0, prm["sigma"] * peak, size=x.shape)
        else:
            raise ValueError(kind)
    return np.clip(y, 0.0, peak)


# ---------------------------------------------------------------------------
# digits
# ---------------------------------------------------------------------------


def digits_forward(ops, x):
    x = ops.input(x)
    x = ops.conv("conv1", x, 8, 3, stride=1, pad=1, bias=True)
    x = ops.bn("bn1", x)
    x = ops.relu("relu1", x)
    x = ops.conv("conv2", x, 16, 3, stride=2, pad=1, bias=True)
    x = ops.bn("bn2", x)
    x = ops.relu("relu2", x)
    x = ops.flatten("flatten", x)
    x = ops.gemm("fc1", x, 32)
    x = ops.relu("relu3", x)
    x = ops.gemm("fc2", x, 10)
    return ops.softmax("softmax", x)


def build_digits():
    t0 = time.time()
    out = FIXTURES / "digits"
    fresh_dir(out)
    d = load_digits()
    X = (d.images.astype(np.float32) / np.float32(16.0)).reshape(-1, 1, 8, 8)
    y = d.target.astype(np.int64)
    idx = np.arange(len(y))
    tr_idx, te_idx = train_test_split(idx, test_size=0.25, random_state=0, stratify=y)
    te_idx = np.sort(te_idx)     # held-out frames in original dataset order
    Xtr, ytr, Xte, yte = X[tr_idx], y[tr_idx], X[te_idx], y[te_idx]
    log(f"digits: {len(ytr)} train / {len(yte)} held-out")

    key = jax.random.PRNGKey(1234)
    ks = jax.random.split(key, 8)
    params, bn_state = {}, {}
    params["conv1.weight"] = he_conv(ks[0], 8, 1, 3)
    params["conv1.bias"] = torch_bias(ks[1], 8, 9)
    add_bn(params, bn_state, "bn1", 8)
    params["conv2.weight"] = he_conv(ks[2], 16, 8, 3)
    params["conv2.bias"] = torch_bias(ks[3], 16, 72)
    add_bn(params, bn_state, "bn2", 16)
    params["fc1.weight"], params["fc1.bias"] = linear(ks[4], 32, 256)
    params["fc2.weight"], params["fc2.bias"] = linear(ks[5], 10, 32)

    epochs, bs = 40, 64
    steps_per_epoch = int(np.ceil(len(ytr) / bs))
    sched = optax.cosine_decay_schedule(3e-3, epochs * steps_per_epoch)
    optimizer = optax.adamw(sched, weight_decay=1e-4)
    opt_state = optimizer.init(params)
    step = make_train_step(digits_forward, optimizer)
    rng = np.random.default_rng(7)
    for ep in range(epochs):
        perm = rng.permutation(len(ytr))
        for i in range(0, len(perm), bs):
            b = perm[i:i + bs]
            if len(b) < 8:
                continue
            params, opt_state, loss = step(params, opt_state, Xtr[b], ytr[b])
    bn_state = population_bn_stats(digits_forward, params, Xtr)
    params = {k: np.asarray(v) for k, v in params.items()}
    logits = jax_predict(digits_forward, params, bn_state, Xte)
    jax_acc = float(np.mean(logits.argmax(1) == yte))
    log(f"digits: trained ({time.time() - t0:.1f}s), jax held-out accuracy {jax_acc:.4f}")

    export_onnx(digits_forward, params, bn_state, [1, 8, 8], 10, "digits_cnn", out / "model.fp32.onnx")
    notes = quantize_all(out, [Xtr[i:i + 1] for i in range(200)])

    # Frames
    (out / "frames").mkdir()
    names = [f"{i:04d}.npy" for i in range(len(yte))]
    for n, f in zip(names, Xte):
        np.save(out / "frames" / n, f[None].astype(np.float32))
    np.save(out / "heldout.npy", Xte.astype(np.float32))
    write_labels(out / "labels.txt", names, yte)
    with open(out / "classes.txt", "w") as f:
        f.write("".join(f"{c}\n" for c in range(10)))

    # Drift sets (float32 in [0,1])
    (out / "drift").mkdir()
    write_labels(out / "drift" / "labels.txt", names, yte)
    sets = {"heldout": None}
    for kind in DRIFT_KINDS:
        for s in (1, 2, 3):
            arr = apply_drift(Xte, kind, s, 1.0, BLUR_SIGMAS["digits"], spatial_axes=(2, 3)).astype(np.float32)
            np.save(out / "drift" / f"{kind}-{s}.npy", arr)
            sets[f"{kind}-{s}"] = None

    # Re-read everything from disk and record onnxruntime outputs.
    frames_on_disk = sorted((out / "frames").glob("*.npy"))
    loaded = {"heldout": [np.load(p) for p in frames_on_disk]}
    assert all(a.shape == (1, 1, 8, 8) and a.dtype == np.float32 for a in loaded["heldout"])
    assert np.array_equal(np.concatenate(loaded["heldout"]), np.load(out / "heldout.npy"))
    for name in sets:
        if name != "heldout":
            arr = np.load(out / "drift" / f"{name}.npy")
            assert arr.shape == (len(yte), 1, 8, 8) and arr.dtype == np.float32
            loaded[name] = [arr[i:i + 1] for i in range(len(arr))]
    labels_by_set = {k: yte for k in loaded}
    acc, preds = record_outputs(out, loaded, labels_by_set)
    fp32_vs_jax = float(np.max(np.abs(preds[("fp32", "heldout")] - np.asarray(jax.nn.softmax(logits, axis=1)))))
    verify_models(out, [1, 8, 8])
    write_manifest(out, {
        "input": {"name": "input", "shape": ["N", 1, 8, 8], "dtype": "float32"},
        "output": {"name": "probabilities", "shape": ["N", 10], "dtype": "float32"},
        "heldout_frames": len(yte), "train_frames": len(ytr), "calibration_frames": 200,
        "jax_heldout_accuracy": jax_acc, "max_abs_diff_ort_fp32_vs_jax": fp32_vs_jax,
        "quantization": notes,
    })
    log(f"digits: done in {time.time() - t0:.1f}s; ORT fp32 vs jax max |diff| {fp32_vs_jax:.2e}")
    print_accuracy("digits", acc)


def print_accuracy(name, acc):
    print(f"{name}: accuracy per set ({', '.join(acc['variants'])}) | qdq-vs-fp32 agreement")
    for s, e in acc["sets"].items():
        accs = " ".join(f"{e['accuracy'][v]:.3f}" for v in acc["variants"])
        print(f"  {s:14s} {accs} | {e['int8.qdq_vs_fp32_top1_agreement']:.3f}")


# ---------------------------------------------------------------------------
# patches
# ---------------------------------------------------------------------------

IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
CROP = 96
HELDOUT_W = 96           # width of the held-out strip in the middle of each region
GAP = 8                  # unused columns between the held-out strip and the training area
N_HELDOUT_PER_CLASS = 12
N_DRIFT = 24             # drifted frames per patches set: the first 24 held-out frames, 3 per class
FLIP_P = 0.5             # horizontal-flip probability (training augmentation)
FLIP_V = 0.5             # vertical-flip probability (training augmentation)
PATCH_STEPS = 1500

PATCH_BLOCKS = [  # (expand ratio, out channels, stride)
    (2, 24, 2),
    (4, 24, 1),
    (4, 32, 2),
    (4, 32, 1),
    (4, 32, 1),
]
HEAD_CH = 128


def patches_forward(ops, x, num_classes=8):
    x = ops.input(x)
    x = ops.conv("stem.conv", x, 16, 3, stride=2, pad=1)
    x = ops.bn("stem.bn", x)
    x = ops.relu6("stem.act", x)
    cin = 16
    for i, (t, cout, s) in enumerate(PATCH_BLOCKS):
        p = f"blocks.{i}"
        hidden = cin * t
        h = ops.conv(f"{p}.expand.conv", x, hidden, 1)
        h = ops.bn(f"{p}.expand.bn", h)
        h = ops.relu6(f"{p}.expand.act", h)
        h = ops.conv(f"{p}.dw.conv", h, hidden, 3, stride=s, pad=1, group=hidden)
        h = ops.bn(f"{p}.dw.bn", h)
        h = ops.relu6(f"{p}.dw.act", h)
        h = ops.conv(f"{p}.project.conv", h, cout, 1)
        h = ops.bn(f"{p}.project.bn", h)
        x = ops.add(p, x, h) if (s == 1 and cin == cout) else h
        cin = cout
    x = ops.conv("head.conv", x, HEAD_CH, 1)
    x = ops.bn("head.bn", x)
    x = ops.relu6("head.act", x)
    x = ops.global_avg_pool("pool", x)
    x = ops.flatten("flatten", x)
    x = ops.gemm("classifier", x, num_classes)
    return ops.softmax("softmax", x)


def patches_init(key, num_classes):
    params, bn_state = {}, {}
    keys = iter(jax.random.split(key, 64))
    params["stem.conv.weight"] = he_conv(next(keys), 16, 3, 3)
    add_bn(params, bn_state, "stem.bn", 16)
    cin = 16
    for i, (t, cout, s) in enumerate(PATCH_BLOCKS):
        p = f"blocks.{i}"
        hidden = cin * t
        params[f"{p}.expand.conv.weight"] = he_conv(next(keys), hidden, cin, 1)
        add_bn(params, bn_state, f"{p}.expand.bn", hidden)
        params[f"{p}.dw.conv.weight"] = he_conv(next(keys), hidden, 1, 3)
        add_bn(params, bn_state, f"{p}.dw.bn", hidden)
        params[f"{p}.project.conv.weight"] = he_conv(next(keys), cout, hidden, 1)
        add_bn(params, bn_state, f"{p}.project.bn", cout)
        cin = cout
    params["head.conv.weight"] = he_conv(next(keys), HEAD_CH, cin, 1)
    add_bn(params, bn_state, "head.bn", HEAD_CH)
    params["classifier.weight"], params["classifier.bias"] = linear(next(keys), num_classes, HEAD_CH)
    return params, bn_state


def patch_regions():
    """8 regions: each photo (427x640) in a 2x2 grid (213 or 214 rows x 320
    columns). Returns [(name, [training areas], held-out strip)] as uint8 HxWx3
    arrays. The held-out strip is the central HELDOUT_W columns of the region
    (full height); the training areas are the columns left and right of it,
    minus GAP columns on each side, so no training crop shares a pixel with a
    held-out crop."""
    data = load_sample_images()
    photos = {Path(fn).stem: img for fn, img in zip(data.filenames, data.images)}
    regions = []
    for photo in ("china", "flower"):
        img = photos[photo]
        H, W, _ = img.shape
        for rname, (r0, r1) in (("top", (0, H // 2)), ("bottom", (H // 2, H))):
            for cname, (c0, c1) in (("left", (0, W // 2)), ("right", (W // 2, W))):
                reg = img[r0:r1, c0:c1]
                a = (reg.shape[1] - HELDOUT_W) // 2
                held = reg[:, a:a + HELDOUT_W]
                train = [reg[:, :a - GAP], reg[:, a + HELDOUT_W + GAP:]]
                regions.append((f"{photo}-{rname}-{cname}", train, held))
    return regions


def train_crops(areas, n, rng):
    """n random crops, each from a randomly chosen training area (uniform over
    the possible crop positions of all areas)."""
    sizes = np.array([(a.shape[0] - CROP + 1) * (a.shape[1] - CROP + 1) for a in areas], np.float64)
    which = rng.choice(len(areas), size=n, p=sizes / sizes.sum())
    return np.stack([random_crops(areas[k], 1, rng)[0] for k in which])


def random_crops(area, n, rng):
    h, w, _ = area.shape
    ys = rng.integers(0, h - CROP + 1, size=n)
    xs = rng.integers(0, w - CROP + 1, size=n)
    return np.stack([area[y:y + CROP, x:x + CROP] for y, x in zip(ys, xs)])


MEAN32 = np.array(IMAGENET_MEAN, np.float32).reshape(1, 3, 1, 1)
STD32 = np.array(IMAGENET_STD, np.float32).reshape(1, 3, 1, 1)
SCALE32 = np.float32(1.0 / 255.0)


def preprocess_u8(imgs_hwc):
    """uint8 [N,H,W,3] (RGB) -> float32 [N,3,H,W], exactly as preprocessing.json says:
    ((float32(pixel) * float32(1/255)) - mean) / std, every step in float32."""
    x = np.ascontiguousarray(np.asarray(imgs_hwc).transpose(0, 3, 1, 2)).astype(np.float32)
    x = x * SCALE32
    x = x - MEAN32
    x = x / STD32
    assert x.dtype == np.float32
    return x


def augment(crops, rng):
    """Random horizontal / vertical flips (p=FLIP_P / FLIP_V) + brightness/contrast
    jitter, in float on the 0..255 scale, then the standard preprocessing."""
    x = crops.astype(np.float32)
    fh = rng.random(len(x)) < FLIP_P
    x[fh] = x[fh, :, ::-1]
    fv = rng.random(len(x)) < FLIP_V
    x[fv] = x[fv, ::-1]
    a = rng.uniform(0.88, 1.12, size=(len(x), 1, 1, 1)).astype(np.float32)
    b = rng.uniform(-12, 12, size=(len(x), 1, 1, 1)).astype(np.float32)
    x = np.clip(x * a + b, 0, 255)
    x = x.transpose(0, 3, 1, 2) * SCALE32
    return ((x - MEAN32) / STD32).astype(np.float32)


def write_ppm(path: Path, img):
    img = np.ascontiguousarray(img, dtype=np.uint8)
    h, w, c = img.shape
    assert c == 3
    with open(path, "wb") as f:
        f.write(f"P6\n{w} {h}\n255\n".encode("ascii"))
        f.write(img.tobytes())


def read_ppm(path: Path):
    data = Path(path).read_bytes()
    # Header: "P6" whitespace width whitespace height whitespace maxval single-whitespace
    fields, pos = [], 0
    while len(fields) < 4:
        while data[pos:pos + 1].isspace():
            pos += 1
        start = pos
        while not data[pos:pos + 1].isspace():
            pos += 1
        fields.append(data[start:pos])
    pos += 1
    assert fields[0] == b"P6" and int(fields[3]) == 255
    w, h = int(fields[1]), int(fields[2])
    return np.frombuffer(data[pos:pos + w * h * 3], np.uint8).reshape(h, w, 3)


def build_patches(train_steps: int):
    t0 = time.time()
    out = FIXTURES / "patches"
    fresh_dir(out)
    regions = patch_regions()
    classes = [r[0] for r in regions]
    K = len(classes)
    log(f"patches: {K} classes; train areas {[a.shape[:2] for a in regions[0][1]]}, "
        f"held-out strips {regions[0][2].shape[:2]}")

    # Held-out crops: class-interleaved order (frame i has class i % K).
    rng_h = np.random.default_rng(2024)
    held = [random_crops(r[2], N_HELDOUT_PER_CLASS, rng_h) for r in regions]
    held_imgs, held_labels = [], []
    for j in range(N_HELDOUT_PER_CLASS):
        for c in range(K):
            held_imgs.append(held[c][j])
            held_labels.append(c)
    held_imgs = np.stack(held_imgs)
    held_labels = np.array(held_labels)

    # Training
    key = jax.random.PRNGKey(4321)
    params, _ = patches_init(key, K)
    fwd = lambda ops, x: patches_forward(ops, x, K)  # noqa: E731
    bs = 32
    sched = optax.warmup_cosine_decay_schedule(1e-4, 4e-3, min(100, train_steps // 10), train_steps, 4e-5)
    optimizer = optax.adamw(sched, weight_decay=1e-4)
    opt_state = optimizer.init(params)
    step = make_train_step(fwd, optimizer)
    rng = np.random.default_rng(99)
    per_class = bs // K
    ybatch = np.repeat(np.arange(K), per_class)
    held_x = preprocess_u8(held_imgs)
    t_train = time.time()
    for it in range(train_steps):
        crops = np.concatenate([train_crops(r[1], per_class, rng) for r in regions])
        params, opt_state, loss = step(params, opt_state, augment(crops, rng), ybatch)
        if (it + 1) % 250 == 0 or it == 0:
            log(f"  step {it + 1}/{train_steps} loss {float(loss):.4f} ({time.time() - t_train:.0f}s)")
    rng_bn = np.random.default_rng(5)
    bn_imgs = np.concatenate([train_crops(r[1], 96, rng_bn) for r in regions])
    bn_state = population_bn_stats(fwd, params, preprocess_u8(bn_imgs))
    params = {k: np.asarray(v) for k, v in params.items()}
    logits = jax_predict(fwd, params, bn_state, held_x, batch=96)
    jax_acc = float(np.mean(logits.argmax(1) == held_labels))
    train_eval = np.concatenate([train_crops(r[1], 32, np.random.default_rng(6)) for r in regions])
    train_acc = float(np.mean(jax_predict(fwd, params, bn_state, preprocess_u8(train_eval), 128).argmax(1)
                              == np.repeat(np.arange(K), 32)))
    log(f"patches: trained ({time.time() - t0:.1f}s), jax held-out accuracy {jax_acc:.4f}, "
        f"train-crop accuracy {train_acc:.4f}")

    export_onnx(fwd, params, bn_state, [3, CROP, CROP], K, "patches_mobilenetv2ish", out / "model.fp32.onnx")
    rng_c = np.random.default_rng(77)
    calib = np.concatenate([train_crops(r[1], 16, rng_c) for r in regions])    # 128 crops
    calib_x = preprocess_u8(calib)
    notes = quantize_all(out, [calib_x[i:i + 1] for i in range(len(calib_x))])

    # Frames, labels, classes, preprocessing
    with open(out / "classes.txt", "w") as f:
        f.write("".join(c + "\n" for c in classes))
    with open(out / "preprocessing.json", "w") as f:
        json.dump({"layout": "NCHW", "scale": 1.0 / 255.0, "mean": IMAGENET_MEAN, "std": IMAGENET_STD,
                   "input": "input", "width": CROP, "height": CROP, "color": "RGB"}, f, indent=2)
        f.write("\n")
    (out / "frames").mkdir()
    names = [f"{i:04d}.ppm" for i in range(len(held_labels))]
    for n, img in zip(names, held_imgs):
        write_ppm(out / "frames" / n, img)
    write_labels(out / "labels.txt", names, held_labels)
    (out / "tensors").mkdir()
    for i in range(4):
        x = preprocess_u8(read_ppm(out / "frames" / names[i])[None])
        np.save(out / "tensors" / f"{i:04d}.npy", x)

    # Drift sets: the first N_DRIFT held-out frames (N_DRIFT/K per class).
    (out / "drift").mkdir()
    set_names = ["heldout"]
    for kind in DRIFT_KINDS:
        for s in (1, 2, 3):
            d = out / "drift" / f"{kind}-{s}"
            d.mkdir()
            src = held_imgs[:N_DRIFT].astype(np.float64)            # [N,H,W,3]
            y = apply_drift(src, kind, s, 255.0, BLUR_SIGMAS["patches"], spatial_axes=(1, 2))
            y = np.clip(np.round(y), 0, 255).astype(np.uint8)
            for n, img in zip(names[:N_DRIFT], y):
                write_ppm(d / n, img)
            write_labels(d / "labels.txt", names[:N_DRIFT], held_labels[:N_DRIFT])
            set_names.append(f"{kind}-{s}")

    # Re-read every PPM from disk, preprocess exactly as documented, record outputs.
    loaded, labels_by_set = {}, {}
    for s in set_names:
        d = out / "frames" if s == "heldout" else out / "drift" / s
        files = sorted(d.glob("*.ppm"))
        imgs = [read_ppm(p) for p in files]
        assert all(im.shape == (CROP, CROP, 3) for im in imgs)
        loaded[s] = [preprocess_u8(im[None]) for im in imgs]
        lab = dict(line.split() for line in (d.parent / "labels.txt" if s == "heldout" else d / "labels.txt")
                   .read_text().splitlines())
        labels_by_set[s] = np.array([int(lab[p.name]) for p in files])
    assert np.array_equal(np.concatenate(loaded["heldout"]), held_x)
    for i in range(4):
        assert np.array_equal(np.load(out / "tensors" / f"{i:04d}.npy"), loaded["heldout"][i])
    acc, preds = record_outputs(out, loaded, labels_by_set)
    fp32_vs_jax = float(np.max(np.abs(preds[("fp32", "heldout")] - np.asarray(jax.nn.softmax(logits, axis=1)))))
    verify_models(out, [3, CROP, CROP])
    write_manifest(out, {
        "input": {"name": "input", "shape": ["N", 3, CROP, CROP], "dtype": "float32"},
        "output": {"name": "probabilities", "shape": ["N", K], "dtype": "float32"},
        "heldout_frames": len(held_labels), "drift_frames_per_set": N_DRIFT,
        "calibration_frames": len(calib_x), "train_steps": train_steps, "train_batch": bs,
        "jax_heldout_accuracy": jax_acc, "jax_train_crop_accuracy": train_acc,
        "max_abs_diff_ort_fp32_vs_jax": fp32_vs_jax,
        "quantization": notes,
    })
    log(f"patches: done in {time.time() - t0:.1f}s; ORT fp32 vs jax max |diff| {fp32_vs_jax:.2e}")
    print_accuracy("patches", acc)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", choices=["digits", "patches"], help="regenerate just one model directory")
    ap.add_argument("--patch-steps", type=int, default=PATCH_STEPS,
                    help=f"patches training steps (default {PATCH_STEPS}; other values give other models)")
    args = ap.parse_args()
    t0 = time.time()
    log(f"numpy {np.__version__}, jax {jax.__version__}, optax {optax.__version__}, onnx {onnx.__version__}, "
        f"onnxruntime {ort.__version__}")
    if args.only in (None, "digits"):
        build_digits()
    if args.only in (None, "patches"):
        build_patches(args.patch_steps)
    for name in ("digits", "patches"):
        if args.only in (None, name):
            verify_tree(FIXTURES / name)
    log(f"total {time.time() - t0:.1f}s")
    subprocess.run(["du", "-sh"] + sorted(str(p) for p in FIXTURES.iterdir()), check=False)
    ours = [FIXTURES / n for n in ("digits", "patches", "generate.py", "README.md", "requirements.txt")]
    ours = [str(p) for p in ours if p.exists()]
    subprocess.run(["du", "-csh", "--apparent-size"] + ours, check=False)


if __name__ == "__main__":
    sys.exit(main())
