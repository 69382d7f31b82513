// Embedded Swift entry point of the aarch64 cross-check (built by scripts/test-arm64.sh only; not
// part of the SwiftPM package). Runs every scenario of Tests/QuantKernelsTests/Arm64/KernelScenarios.swift
// and hands the serialized results to the C driver (main.c), which compares them with the host's.

/// Runs the scenarios; returns a malloc'ed copy of the log (never freed) and its length.
@_cdecl("qw_kernel_results")
public func qwKernelResults(_ length: UnsafeMutablePointer<Int>, _ records: UnsafeMutablePointer<Int>) -> UnsafeMutablePointer<UInt8> {
    let log = KernelScenarios.run()
    let buffer = UnsafeMutablePointer<UInt8>.allocate(capacity: Swift.max(1, log.bytes.count))
    log.bytes.withUnsafeBufferPointer { buffer.initialize(from: $0.baseAddress!, count: $0.count) }
    length.pointee = log.bytes.count
    records.pointee = log.recordCount
    return buffer
}
