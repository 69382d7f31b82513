// Host side of the aarch64 cross-check (`make test-arm64`, scripts/test-arm64.sh): runs the shared
// scenarios (Arm64/KernelScenarios.swift) with the host build of QuantKernels and writes the golden
// log that the aarch64 builds, run under qemu-user, must reproduce — integers bit for bit, floats
// within 1e-6 relative. Generated on every `swift test`, so a kernel change cannot pass on one side only.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Testing
import QuantKernels

@Suite struct Arm64GoldenTests {
    /// `$QW_ARM64_GOLDEN`, or `.build/arm64-golden.bin` in the package root.
    static var goldenPath: String {
        if let path = getenv("QW_ARM64_GOLDEN") { return String(cString: path) }
        var root = "\(#filePath)"
        for _ in 0..<3 { root = String(root[..<(root.lastIndex(of: "/") ?? root.startIndex)]) }
        return root + "/.build/arm64-golden.bin"
    }

    @Test func scenariosAreDeterministicAndWriteTheGoldenLog() throws {
        let log = KernelScenarios.run()
        #expect(log.recordCount > 400)
        // Same inputs every run (the aarch64 driver regenerates them from the same seed).
        #expect(KernelScenarios.run().bytes == log.bytes)

        let path = Self.goldenPath
        let temporary = path + ".tmp.\(getpid())"
        guard let file = fopen(temporary, "wb") else {
            Issue.record("cannot create \(temporary)")
            return
        }
        let written = log.bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, file) }
        fclose(file)
        #expect(written == log.bytes.count)
        #expect(rename(temporary, path) == 0, "cannot rename \(temporary) to \(path)")
    }
}
