// swift-tools-version:6.1
// QuantWatch: int8-vs-float drift monitoring for quantized ONNX models on ARM Linux edge boards.
// Dependencies point one way: QuantKernels ← QuantGraph ← ONNXImport ← (daemon, CLI).
// The inference core never imports MQTT, SQLite, config or the CLI.
import PackageDescription

// The kernels use fused multiply-add where the target has it: always on aarch64 (the boards);
// on x86-64 (development machines, CI) we build for Haswell (AVX2 + FMA, x86-64-v3)
// so the float kernels compute as onnxruntime's MLAS does, and so they are fast here too.
#if arch(x86_64)
let kernelSettings: [SwiftSetting] = [.unsafeFlags(["-target-cpu", "haswell"]), .define("QUANTKERNELS_FMA")]
#else
let kernelSettings: [SwiftSetting] = []
#endif

let package = Package(
    name: "QuantWatch",
    products: [
        .executable(name: "quantwatch", targets: ["quantwatch"]),
        .library(name: "QuantKernels", targets: ["QuantKernels"]),
        .library(name: "QuantGraph", targets: ["QuantGraph"]),
        .library(name: "ONNXImport", targets: ["ONNXImport"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-protobuf", from: "1.39.0"),
    ],
    targets: [
        // MARK: - Inference core

        // Per-operator compute loops, requantization, saturation counters.
        // Pure Swift: no Foundation, no existentials (also compiles under Embedded Swift).
        // Optimised even in debug builds: the tests run real models through these loops.
        .target(name: "QuantKernels", dependencies: ["QuantKernelsVNNI"],
                swiftSettings: kernelSettings + [.unsafeFlags(["-O"], .when(configuration: .debug))]),

        // C: optional x86-64 inner loops chosen at run time — the int8 convolution on AVX-VNNI or
        // AVX512-VNNI (vpdpbusd), the one-depth-block float GEMM on AVX-512F — each bit-identical to
        // the portable kernel it replaces (function-level target attributes: the package's baseline
        // stays x86-64-v3). Stubs on other architectures. QuantKernels keeps its portable kernels and
        // uses this only through `#if canImport` (the Embedded build has neither).
        .target(name: "QuantKernelsVNNI", cSettings: [.unsafeFlags(["-O2"], .when(configuration: .debug))]),

        // Tensors, graph IR, shape inference, folding, memory plan, executor.
        .target(name: "QuantGraph", dependencies: ["QuantKernels"]),

        // Generated from onnx.proto by scripts/generate-onnx-proto.sh; never edited by hand.
        .target(
            name: "ONNXProto",
            dependencies: [.product(name: "SwiftProtobuf", package: "swift-protobuf")],
            exclude: ["onnx.proto"]
        ),

        // ONNX → QuantGraph: validation, opset semantics, clear refusals.
        .target(name: "ONNXImport", dependencies: ["ONNXProto", "QuantGraph"]),

        // The offline quantization report (`quantwatch eval`): an int8 model against its float
        // reference over a frame set, per output and per layer, and the float-fallback ranking.
        .target(name: "Evaluation", dependencies: ["ONNXImport", "QuantGraph", "QuantMetrics"]),

        // MARK: - Frames

        // .npy / .pgm / .ppm readers and writers, ONNX TensorProto files.
        .target(name: "FrameSources", dependencies: ["QuantGraph"]),

        // MARK: - Metrics

        // METRICS.md: comparisons, layer matching, frame metrics, aggregation (QuantGraph only).
        .target(name: "QuantMetrics", dependencies: ["QuantGraph"]),

        // MARK: - System libraries (C shims)

        .systemLibrary(
            name: "CMosquitto",
            pkgConfig: "libmosquitto",
            providers: [.apt(["libmosquitto-dev"])]
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),

        // MARK: - Store and transport

        // SQLite: the metric buffer (the only target that touches SQLite).
        .target(name: "MetricStore", dependencies: ["CSQLite"]),
        // libmosquitto: the MQTT link (the only target that touches MQTT).
        .target(name: "MQTTLink", dependencies: ["CMosquitto"]),

        // MARK: - Allocation counting

        // C: interposes malloc/calloc/realloc/memalign/aligned_alloc/posix_memalign for the whole
        // process it is linked into (the `quantwatch` executable for `bench`, and the test binaries).
        // It counts per thread, only while enabled (qw_allocations_begin … qw_allocations_end);
        // otherwise every call forwards to glibc unchanged.
        .target(name: "AllocationCounter"),

        // MARK: - Command line

        .executableTarget(
            name: "quantwatch",
            dependencies: [
                "QuantGraph", "ONNXImport", "FrameSources", "QuantMetrics", "Evaluation", "MetricStore", "MQTTLink", "AllocationCounter",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Tests

        // Shared test helpers: the SplitMix64 generator and float tolerance comparisons.
        .target(name: "TestSupport", path: "Tests/TestSupport"),

        .testTarget(name: "QuantKernelsTests", dependencies: ["QuantKernels", "TestSupport"]),
        .testTarget(name: "QuantGraphTests", dependencies: ["QuantGraph", "AllocationCounter"]),
        .testTarget(
            name: "ONNXImportTests",
            dependencies: ["ONNXImport", "ONNXProto", "FrameSources", "AllocationCounter", "TestSupport"]
        ),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "FrameSources", "QuantGraph"]),
        .testTarget(name: "FrameSourcesTests", dependencies: ["FrameSources", "TestSupport"], exclude: ["Resources"]),
        .testTarget(name: "CLITests", dependencies: ["quantwatch", "FrameSources", "AllocationCounter"]),
        // Hand-computed metric values; layer matching on the fixture models' tensor names.
        .testTarget(name: "QuantMetricsTests", dependencies: ["QuantMetrics", "TestSupport", "AllocationCounter"]),
    ]
)
