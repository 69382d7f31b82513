#!/usr/bin/env bash
# Regenerates the ONNXProto target (Sources/ONNXProto) from the ONNX protobuf schema.
#
# Source of truth: the onnx.proto shipped in the `onnx` Python package, version 1.23.2
# (proto2 syntax, `package onnx;` — Swift types are spelled Onnx_ModelProto, Onnx_GraphProto, ...).
# onnx 1.23.2 ships no onnx.proto3, so onnx.proto is used; if a package ships onnx.proto3, that is
# preferred. The schema is copied verbatim to Sources/ONNXProto/onnx.proto (committed, so the input
# is visible in review) and compiled with protoc + protoc-gen-swift (swift-protobuf 1.39.0, the
# version Package.swift resolves) into Sources/ONNXProto/onnx.pb.swift. Never edit the output by hand.
#
# Environment:
#   PROTOC_GEN_SWIFT  path to a protoc-gen-swift binary. If unset, a protoc-gen-swift 1.39.0 on PATH is
#                     used; otherwise swift-protobuf 1.39.0 is cloned into a temporary directory and
#                     the plugin is built there (takes about a minute; the clone is deleted afterwards).
#   PROTOC            protoc binary (default: protoc; Debian: apt-get install protobuf-compiler).
#   PYTHON            Python with the onnx package installed (default: python3).
#   ONNX_VERSION_OVERRIDE=1  accept an installed onnx other than the pinned version below.
set -euo pipefail

readonly PINNED_ONNX_VERSION="1.23.2"
readonly SWIFT_PROTOBUF_URL="https://github.com/apple/swift-protobuf"
readonly SWIFT_PROTOBUF_TAG="1.39.0"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out_dir="$repo_root/Sources/ONNXProto"
PROTOC="${PROTOC:-protoc}"
PYTHON="${PYTHON:-python3}"

die() { echo "generate-onnx-proto: $*" >&2; exit 1; }

command -v "$PROTOC" >/dev/null 2>&1 \
    || die "protoc not found (set PROTOC, or: apt-get install -y protobuf-compiler)"

# --- locate the schema in the installed onnx package -------------------------------------------
onnx_version="$("$PYTHON" -c 'import onnx; print(onnx.__version__)')" \
    || die "cannot import onnx with $PYTHON (pip install onnx==$PINNED_ONNX_VERSION)"
onnx_dir="$("$PYTHON" -c 'import onnx, os; print(os.path.dirname(onnx.__file__))')"
if [[ "$onnx_version" != "$PINNED_ONNX_VERSION" ]]; then
    if [[ "${ONNX_VERSION_OVERRIDE:-0}" == "1" ]]; then
        echo "generate-onnx-proto: warning: onnx $onnx_version installed, pinned $PINNED_ONNX_VERSION" >&2
    else
        die "onnx $onnx_version installed but $PINNED_ONNX_VERSION is pinned" \
            "(update PINNED_ONNX_VERSION or set ONNX_VERSION_OVERRIDE=1)"
    fi
fi
if [[ -f "$onnx_dir/onnx.proto3" ]]; then
    schema="$onnx_dir/onnx.proto3"
elif [[ -f "$onnx_dir/onnx.proto" ]]; then
    schema="$onnx_dir/onnx.proto"
else
    die "neither onnx.proto3 nor onnx.proto found in $onnx_dir"
fi

# --- locate or build protoc-gen-swift -----------------------------------------------------------
tmp_dir=""
cleanup() { if [[ -n "$tmp_dir" ]]; then rm -rf "$tmp_dir"; fi; }
trap cleanup EXIT

plugin="${PROTOC_GEN_SWIFT:-}"
if [[ -z "$plugin" ]] && command -v protoc-gen-swift >/dev/null 2>&1; then
    candidate="$(command -v protoc-gen-swift)"
    if "$candidate" --version 2>/dev/null | grep -q " $SWIFT_PROTOBUF_TAG\$"; then
        plugin="$candidate"
    fi
fi
if [[ -z "$plugin" ]]; then
    tmp_dir="$(mktemp -d)"
    echo "generate-onnx-proto: building protoc-gen-swift $SWIFT_PROTOBUF_TAG in $tmp_dir" >&2
    git clone --quiet "$SWIFT_PROTOBUF_URL" "$tmp_dir/swift-protobuf"
    git -C "$tmp_dir/swift-protobuf" -c advice.detachedHead=false checkout --quiet "$SWIFT_PROTOBUF_TAG"
    (cd "$tmp_dir/swift-protobuf" && swift build -c release --product protoc-gen-swift >&2)
    plugin="$(cd "$tmp_dir/swift-protobuf" && swift build -c release --show-bin-path)/protoc-gen-swift"
fi
[[ -x "$plugin" ]] || die "protoc-gen-swift not executable: $plugin"

# --- generate -----------------------------------------------------------------------------------
mkdir -p "$out_dir"
cp "$schema" "$out_dir/onnx.proto"
"$PROTOC" \
    --plugin=protoc-gen-swift="$plugin" \
    --proto_path="$out_dir" \
    --swift_out="$out_dir" \
    --swift_opt=Visibility=Public \
    "$out_dir/onnx.proto"

echo "generate-onnx-proto: onnx $onnx_version ($(basename "$schema")) -> Sources/ONNXProto/onnx.pb.swift" \
     "with $("$plugin" --version 2>/dev/null || echo protoc-gen-swift)" >&2
