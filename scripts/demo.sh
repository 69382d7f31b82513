#!/usr/bin/env bash
# `make demo`: what QuantWatch does today, on the bundled fixtures.
# Usage: scripts/demo.sh PATH/TO/quantwatch
set -euo pipefail
cd "$(dirname "$0")/.."
qw="${1:?usage: scripts/demo.sh PATH/TO/quantwatch}"
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

step() { printf '\n\033[1m== %s\033[0m\n$ %s\n' "$1" "${*:2}"; "${@:2}"; }

step "The libraries QuantWatch links" \
    "$qw" version
step "What is in the int8 model onnxruntime's quantizer wrote (QDQ, per-channel weights)" \
    "$qw" inspect Fixtures/patches/model.int8.qdq.onnx
step "What is in its float original" \
    "$qw" inspect Fixtures/patches/model.fp32.onnx
step "The float model on one camera-like frame (96x96 RGB crop), top 3 classes" \
    "$qw" infer Fixtures/patches/model.fp32.onnx --input Fixtures/patches/tensors/0000.npy \
    --top 3 --labels Fixtures/patches/classes.txt
step "The same frame 200 times: the planned arena means no allocation per frame" \
    "$qw" infer Fixtures/patches/model.fp32.onnx --input Fixtures/patches/tensors/0000.npy --top 1 \
    --labels Fixtures/patches/classes.txt --repeat 200
step "The int8 model against its float original on 96 held-out camera-like frames: the quantization report" \
    "$qw" eval --model Fixtures/patches/model.int8.qop.onnx --reference Fixtures/patches/model.fp32.onnx \
    --frames Fixtures/patches/frames --preprocessing Fixtures/patches/preprocessing.json \
    --labels Fixtures/patches/labels.txt --layers
step "The same frames drifted (strong Gaussian noise): agreement and SQNR drop" \
    "$qw" eval --model Fixtures/patches/model.int8.qop.onnx --reference Fixtures/patches/model.fp32.onnx \
    --frames Fixtures/patches/drift/noise-3 --preprocessing Fixtures/patches/preprocessing.json \
    --labels Fixtures/patches/drift/noise-3/labels.txt --sensitivity-frames 0
step "Latency, throughput and memory of the int8 model on this machine" \
    "$qw" bench --model Fixtures/patches/model.int8.qop.onnx --iterations 300
step "The handwritten-digits model, its outputs saved as .npy" \
    "$qw" infer Fixtures/digits/model.fp32.onnx --input input=Fixtures/digits/frames/0000.npy --save "$out"
ls -l "$out"
step "The drift monitor on recorded frames: 45 s clean, 45 s with a strong brightness shift, 90 s clean again, into a metric buffer" \
    "$qw" replay --model Fixtures/digits/model.int8.qop.onnx --reference Fixtures/digits/model.fp32.onnx \
    --frames Fixtures/digits/heldout.npy --frames Fixtures/digits/drift/brightness-3.npy --frames Fixtures/digits/heldout.npy \
    --repeat 2 --db "$out/metrics.db" --device demo-01 --start 2h
step "What the buffer holds: windows, drift states, events, the model and its baseline" \
    "$qw" report --db "$out/metrics.db"
mkdir -p .build
step "The same as one HTML file with charts (open it in a browser)" \
    "$qw" report --db "$out/metrics.db" --format html --output .build/demo-report.html
echo
echo "Also: quantwatch run (the daemon; with no config it runs this fixture), publish and watch (MQTT). Next: make demo with a broker and the daemon."
