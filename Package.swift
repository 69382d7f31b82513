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

// Per-frame code the tests drive through thousands of frames is optimised in debug builds too.
let optimisedInDebug: [SwiftSetting] = [.unsafeFlags(["-O"], .when(configuration: .debug))]

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
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
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
        // Optimised in debug builds too: its step closures call the generic kernels, and the tests run
        // real models through them (the monitoring tests replay thousands of frames).
        .target(name: "QuantGraph", dependencies: ["QuantKernels"], swiftSettings: optimisedInDebug),

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

        // The per-frame monitoring pipeline: int8 run, shadow scheduling, float run, windows,
        // baseline, detectors, events. No MQTT, SQLite or config.
        .target(name: "Monitor", dependencies: ["ONNXImport", "QuantGraph", "QuantKernels", "QuantMetrics"], swiftSettings: optimisedInDebug),

        // The published documents (PRODUCT.md topics; docs/documents.md): envelope, metrics, events.
        .target(name: "Documents", dependencies: ["Monitor", "QuantMetrics"]),

        // `quantwatch report`: what a device's buffer holds, as a table, JSON or one HTML file with SVG charts.
        .target(name: "Reports", dependencies: ["Documents", "Monitor", "QuantMetrics"]),

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

        // MARK: - Model updates

        // Signed bundles (Ed25519), transfers in chunks, checks, canary, A/B slots, probation and rollback.
        // Knows no MQTT and no SQLite: the daemon carries its messages and events.
        .target(name: "ModelUpdate", dependencies: ["Documents", "FrameSources", "Monitor", "ONNXImport", "QuantGraph", "QuantMetrics",
                                                    .product(name: "Crypto", package: "swift-crypto")]),

        // MARK: - Daemon

        // Wires the pieces: monitor → store (one transaction per window) → publisher; the TOML configuration, sd_notify.
        .target(
            name: "QuantWatchDaemon",
            dependencies: ["Documents", "FrameSources", "MetricStore", "ModelUpdate", "Monitor", "MQTTLink", "QuantMetrics", .product(name: "TOMLKit", package: "TOMLKit"),
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                           .product(name: "Logging", package: "swift-log"), .product(name: "Crypto", package: "swift-crypto")]
        ),

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
                "QuantGraph", "ONNXImport", "FrameSources", "QuantMetrics", "Monitor", "Documents", "Reports", "Evaluation", "MetricStore", "MQTTLink",
                "QuantWatchDaemon", "ModelUpdate", "AllocationCounter", .product(name: "Logging", package: "swift-log"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),

        // MARK: - Tests

        // Shared test helpers: the SplitMix64 generator, float tolerance comparisons, and
        // MosquittoBroker (a real mosquitto on a loopback port, with a password file and TLS).
        .target(name: "TestSupport", path: "Tests/TestSupport"),

        .testTarget(name: "QuantKernelsTests", dependencies: ["QuantKernels", "TestSupport"]),
        .testTarget(name: "QuantGraphTests", dependencies: ["QuantGraph", "AllocationCounter"]),
        .testTarget(
            name: "ONNXImportTests",
            dependencies: ["ONNXImport", "ONNXProto", "FrameSources", "QuantMetrics", "AllocationCounter", "TestSupport"]
        ),
        .testTarget(name: "EvaluationTests", dependencies: ["Evaluation", "FrameSources", "QuantGraph"]),
        .testTarget(name: "FrameSourcesTests", dependencies: ["FrameSources", "TestSupport", "AllocationCounter"], exclude: ["Resources"]),
        .testTarget(name: "CLITests", dependencies: ["quantwatch", "FrameSources", "AllocationCounter", "MetricStore", "ModelUpdate", "ONNXProto", "TestSupport"]),
        // Hand-computed metric values; layer matching on the fixture models' tensor names.
        .testTarget(name: "QuantMetricsTests", dependencies: ["QuantMetrics", "TestSupport", "AllocationCounter"]),
        // Report rendering (table, JSON, HTML with SVG charts) from hand-made windows.
        .testTarget(name: "ReportsTests", dependencies: ["Reports", "Documents", "Monitor", "QuantMetrics"]),
        // Document shapes: envelope, top-level metric objects, timestamps.
        .testTarget(name: "DocumentsTests", dependencies: ["Documents", "Monitor", "QuantMetrics"]),
        // The pipeline on the fixtures: shadow scheduling, detection quality on the drift sets.
        .testTarget(name: "MonitorTests", dependencies: ["Monitor", "ONNXImport", "FrameSources", "QuantMetrics", "QuantGraph", "AllocationCounter"]),
        // The recorder on a real store file: one commit per window, baselines, cap drops published.
        .testTarget(name: "ModelUpdateTests", dependencies: ["ModelUpdate", "Monitor", "ONNXImport", "ONNXProto", "FrameSources", "QuantGraph", "TestSupport"]),
        // The transfer over a real mosquitto (TestSupport) with the daemon's publisher, dispatcher and receiver.
        .testTarget(name: "QuantWatchDaemonTests", dependencies: ["QuantWatchDaemon", "MetricStore", "MQTTLink", "ModelUpdate", "Monitor", "Documents", "QuantMetrics", "TestSupport"]),
        // Real SQLite files in a temporary directory; the kill test SIGKILLs `metricstore-stress`.
        .testTarget(name: "MetricStoreTests", dependencies: ["MetricStore", "metricstore-stress"]),
        // The kill test's child: commits batches in a loop, printing each committed seq range.
        .executableTarget(name: "metricstore-stress", dependencies: ["MetricStore"], path: "Tests/MetricStoreStress"),
        // Against a real mosquitto broker (TestSupport's MosquittoBroker); the Will test SIGKILLs `mqttlink-child`.
        .testTarget(name: "MQTTLinkTests", dependencies: ["MQTTLink", "TestSupport", "mqttlink-child"]),
        // The Will test's child: connects with a Last Will, prints "connected", waits to be killed.
        .executableTarget(name: "mqttlink-child", dependencies: ["MQTTLink"], path: "Tests/MQTTLinkChild"),

        // MARK: - Benchmarks

        // MetricStore outbox throughput on this machine: batched inserts, deliveries (docs/store.md).
        .executableTarget(name: "metricstore-bench", dependencies: ["MetricStore"], path: "Benchmarks/MetricStoreBench"),
    ]
)
