import Foundation
import Testing
import TestSupport
@testable import FrameSources
import QuantGraph

@Suite("NPY malformed input")
struct NPYMalformedTests {
    static let goodHeader = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n"

    @Test func badMagic() {
        expectFrameError("bad magic", "\\x93NUMPY", source: "x.npy") {
            try NPY.decode(Data("PK\u{3}\u{4}not numpy at all".utf8), source: "x.npy")
        }
    }

    @Test func tooShort() {
        expectFrameError("not a .npy file", "3 bytes") { try NPY.decode(Data([0x93, 0x4E, 0x55]), source: "x") }
        expectFrameError("not a .npy file") { try NPY.decode(Data(), source: "x") }
    }

    @Test func unsupportedVersion() {
        expectFrameError("version 4.0", "1.0, 2.0 or 3.0") { try NPY.decode(npyFile(major: 4, header: Self.goodHeader), source: "x") }
        expectFrameError("version 1.1") { try NPY.decode(npyFile(major: 1, minor: 1, header: Self.goodHeader), source: "x") }
    }

    @Test func truncatedHeader() {
        expectFrameError("truncated .npy header", "100 bytes", "only 20") {
            try NPY.decode(npyFile(header: String(Self.goodHeader.prefix(20)), declaredLength: 100), source: "x")
        }
        expectFrameError("truncated .npy header", "length field") {
            try NPY.decode(Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 2, 0, 5]), source: "x")
        }
        // Header length is consistent with the file, but the dictionary is cut short.
        expectFrameError("malformed .npy header", "missing '}'") {
            try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': False, "), source: "x")
        }
        expectFrameError("unterminated string") {
            try NPY.decode(npyFile(header: "{'descr': '<f4"), source: "x")
        }
    }

    @Test func truncatedData() {
        expectFrameError("truncated .npy data", "needs 24 bytes", "has 20 bytes") {
            try NPY.decode(npyFile(header: Self.goodHeader, data: [UInt8](repeating: 0, count: 20)), source: "x")
        }
        expectFrameError("truncated .npy data", "needs 24 bytes", "has 0 bytes") {
            try NPY.decode(npyFile(header: Self.goodHeader), source: "x")
        }
    }

    @Test func trailingData() {
        expectFrameError("needs 24 bytes", "28 bytes", "4 extra") {
            try NPY.decode(npyFile(header: Self.goodHeader, data: [UInt8](repeating: 0, count: 28)), source: "x")
        }
    }

    @Test func fortranOrder() {
        expectFrameError("fortran_order is True", "C-order") {
            try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 3), }", data: [UInt8](repeating: 0, count: 24)), source: "x")
        }
        expectFrameError("'fortran_order' must be True or False") {
            try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': 0, 'shape': (2, 3), }"), source: "x")
        }
    }

    @Test("unknown and unsupported dtypes", arguments: ["<c8", "<U5", "|O", "<M8[ns]", "<f16", "<i3", "", "<"])
    func unknownDtype(descr: String) {
        expectFrameError("unsupported dtype '\(descr)'", "'<f4'") {
            try NPY.decode(npyFile(header: "{'descr': '\(descr)', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0]), source: "x")
        }
    }

    @Test func structuredAndMisspelledDtypes() {
        expectFrameError("structured") {
            try NPY.decode(npyFile(header: "{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (1,), }"), source: "x")
        }
        expectFrameError("'|'", "1-byte") {
            try NPY.decode(npyFile(header: "{'descr': '|f4', 'fortran_order': False, 'shape': (1,), }", data: [0, 0, 0, 0]), source: "x")
        }
        expectFrameError("'descr' must be a dtype string") {
            try NPY.decode(npyFile(header: "{'descr': 4, 'fortran_order': False, 'shape': (1,), }"), source: "x")
        }
    }

    @Test func negativeDimension() {
        expectFrameError("dimension 1 is negative (-3)") {
            try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }"), source: "x")
        }
    }

    @Test func overflowingDimensions() {
        expectFrameError("overflows") {
            try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (4294967296, 4294967296), }"), source: "x")
        }
        expectFrameError("overflow") {
            try NPY.decode(npyFile(header: "{'descr': '<f8', 'fortran_order': False, 'shape': (2305843009213693952,), }"), source: "x")
        }
        expectFrameError("too large") {
            try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999999,), }"), source: "x")
        }
    }

    @Test func absurdShapeLargerThanFile() {
        expectFrameError("truncated .npy data", "needs 4000000000000 bytes", "has 8 bytes") {
            try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000, 1000000), }", data: [UInt8](repeating: 0, count: 8)), source: "x")
        }
    }

    @Test func malformedDictionary() {
        expectFrameError("missing key 'shape'") {
            try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': False}"), source: "x")
        }
        expectFrameError("expected a dictionary") {
            try NPY.decode(npyFile(header: "('<f4', False, (1,))"), source: "x")
        }
        expectFrameError("'shape' must be a tuple") {
            try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': [1, 2]}"), source: "x")
        }
        expectFrameError("expected an integer", "non-integer number") {
            try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1.5,)}"), source: "x")
        }
        expectFrameError("dimension 1 must be an integer", "'a'") {
            try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 'a')}"), source: "x")
        }
        expectFrameError("duplicate key 'descr'") {
            try NPY.decode(npyFile(header: "{'descr': '<f4', 'descr': '<f4', 'fortran_order': False, 'shape': ()}"), source: "x")
        }
        expectFrameError("unexpected word 'false'") {
            try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': false, 'shape': ()}"), source: "x")
        }
        expectFrameError("nested more than") {
            try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': " + String(repeating: "(", count: 10_000) + "}"), source: "x")
        }
        expectFrameError("unexpected text after") {
            try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': ()} junk"), source: "x")
        }
    }

    @Test("missing file names the path")
    func missingFile() {
        let url = URL(fileURLWithPath: "/nonexistent/dir/frame.npy")
        expectFrameError("cannot read .npy file", source: "/nonexistent/dir/frame.npy") { try NPY.read(contentsOf: url) }
    }

    @Test("truncations and byte flips throw or decode, never trap")
    func mutations() throws {
        let valid = NPY.encode(Tensor(shape: [2, 3], values: [Float](repeating: 1.5, count: 6)))
        for length in 0..<valid.count {
            #expect(throws: FrameSourceError.self) { try NPY.decode(valid.prefix(length), source: "cut") }
        }
        var rng = SplitMix64(seed: 42)
        for _ in 0..<3000 {
            var bytes = [UInt8](valid)
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            _ = try? NPY.decode(Data(bytes), source: "fuzz")
        }
    }
}
