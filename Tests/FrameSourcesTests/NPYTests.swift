import Foundation
import Testing
@testable import FrameSources
import QuantGraph

@Suite("NPY round trips and well-formed files")
struct NPYTests {
    /// A tensor of `dataType` and `shape` with varied, valid element bytes.
    static func sample(_ dataType: DataType, _ shape: [Int]) -> Tensor {
        let type = TensorType(dataType, shape)
        var raw = [UInt8](repeating: 0, count: type.byteCount)
        for i in raw.indices { raw[i] = UInt8(truncatingIfNeeded: i &* 37 &+ 11) }
        if dataType == .bool { for i in raw.indices { raw[i] = UInt8(i % 3 == 0 ? 1 : 0) } }
        if dataType == .float16 || dataType == .float32 || dataType == .float64 {
            // Keep floats finite and non-NaN so that values compare as well as bytes.
            let values = (0..<type.elementCount).map { Double($0) * 0.75 - 3 }
            switch dataType {
            case .float16: return values.map { Float16($0).bitPattern }.withUnsafeBytes { Tensor(type: type, bytes: $0) }
            case .float32: return Tensor(shape: shape, values: values.map { Float($0) })
            default: return Tensor(shape: shape, values: values)
            }
        }
        return raw.withUnsafeBytes { Tensor(type: type, bytes: $0) }
    }

    @Test("round trip every dtype and shape", arguments: DataType.allCases)
    func roundTrip(dataType: DataType) throws {
        for shape in [[], [5], [2, 3], [1, 3, 2, 2], [0, 4]] {
            let tensor = Self.sample(dataType, shape)
            let encoded = NPY.encode(tensor)
            let decoded = try NPY.decode(encoded, source: "mem")
            #expect(decoded.type == tensor.type)
            #expect(bytes(of: decoded) == bytes(of: tensor))
        }
    }

    @Test("writer uses version 1.0, numpy's descr and a 64-byte aligned header ending in a newline")
    func writerLayout() throws {
        for dataType in DataType.allCases {
            for shape in [[], [7], [123_456_789, 0], [2, 3, 4, 5, 6, 7, 8, 9]] {
                let data = [UInt8](NPY.encode(Tensor(zeros: TensorType(dataType, shape))))
                #expect(Array(data[0..<8]) == [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0])
                let headerLength = Int(data[8]) | Int(data[9]) << 8
                #expect((10 + headerLength) % 64 == 0)
                #expect(data[10 + headerLength - 1] == 0x0A)
                let text = String(decoding: data[10..<(10 + headerLength)], as: UTF8.self)
                #expect(text.hasPrefix("{'descr': '\(NPYHeader.descr(for: dataType))', 'fortran_order': False, 'shape': \(NPYHeader.pythonTuple(shape)), }"))
            }
        }
        #expect(NPYHeader.pythonTuple([]) == "()")
        #expect(NPYHeader.pythonTuple([5]) == "(5,)")
        #expect(NPYHeader.pythonTuple([2, 3]) == "(2, 3)")
    }

    @Test("read files written by numpy.save, and write them back byte for byte")
    func numpyFiles() throws {
        let f32 = try NPY.read(contentsOf: resourcesDirectory.appendingPathComponent("numpy_f32_2x3.npy"))
        #expect(f32.type == TensorType(.float32, [2, 3]))
        #expect(f32.scalars(as: Float.self) == [1.5, -2.0, 3.25, 0.0, 1e-3, -7.75])

        let stack = try NPY.read(contentsOf: resourcesDirectory.appendingPathComponent("numpy_u8_stack_3x2x2.npy"))
        #expect(stack.type == TensorType(.uint8, [3, 2, 2]))
        #expect(stack.scalars(as: UInt8.self) == Array(0..<12))

        let scalar = try NPY.read(contentsOf: resourcesDirectory.appendingPathComponent("numpy_i64_scalar.npy"))
        #expect(scalar.type == TensorType(.int64, []))
        #expect(scalar.scalars(as: Int64.self) == [-42])

        for (name, tensor) in [("numpy_f32_2x3.npy", f32), ("numpy_u8_stack_3x2x2.npy", stack), ("numpy_i64_scalar.npy", scalar)] {
            let original = try Data(contentsOf: resourcesDirectory.appendingPathComponent(name))
            #expect(NPY.encode(tensor) == original, "re-encoding \(name) differs from numpy.save's bytes")
        }
    }

    @Test("write then read a file")
    func fileRoundTrip() throws {
        let dir = try makeTemporaryDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("t.npy")
        let tensor = Tensor(shape: [2, 2], values: [Int32(-1), 2, 3, Int32.max])
        try NPY.write(tensor, to: url)
        let back = try NPY.read(contentsOf: url)
        #expect(back.type == tensor.type)
        #expect(back.scalars(as: Int32.self) == [-1, 2, 3, Int32.max])
    }

    @Test("hand-made version 1.0 header")
    func version1() throws {
        let t = try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }\n",
                                       data: [0, 0, 0x80, 0x3F, 0, 0, 0, 0xC0]), source: "v1")
        #expect(t.type == TensorType(.float32, [2]))
        #expect(t.scalars(as: Float.self) == [1, -2])
    }

    @Test("hand-made version 2.0 header (4-byte length)")
    func version2() throws {
        let t = try NPY.decode(npyFile(major: 2, header: "{'descr': '<i2', 'fortran_order': False, 'shape': (3,)}",
                                       data: [1, 0, 0xFF, 0xFF, 0, 0x80]), source: "v2")
        #expect(t.type == TensorType(.int16, [3]))
        #expect(t.scalars(as: Int16.self) == [1, -1, Int16.min])
    }

    @Test("hand-made version 3.0 header (UTF-8)")
    func version3() throws {
        let t = try NPY.decode(npyFile(major: 3, header: "{\"shape\": (1, 2), \"fortran_order\": False, \"descr\": \"<u2\", \"note\": \"ünïcode\"}   \n",
                                       data: [0x34, 0x12, 0xFF, 0xFF]), source: "v3")
        #expect(t.type == TensorType(.uint16, [1, 2]))
        #expect(t.scalars(as: UInt16.self) == [0x1234, 0xFFFF])
    }

    @Test("scalar shape () and one-element tuple (5,)")
    func shapes() throws {
        let s = try NPY.decode(npyFile(header: "{'descr': '<f8', 'fortran_order': False, 'shape': ()}", data: [0, 0, 0, 0, 0, 0, 0xF0, 0x3F]), source: "s")
        #expect(s.shape == [])
        #expect(s.scalars(as: Double.self) == [1])
        let v = try NPY.decode(npyFile(header: "{'descr': '|u1', 'fortran_order': False, 'shape': (5,)}", data: [1, 2, 3, 4, 5]), source: "v")
        #expect(v.shape == [5])
        let py2 = try NPY.decode(npyFile(header: "{'descr': '|i1', 'fortran_order': False, 'shape': (2L, 1L)}", data: [0xFF, 7]), source: "py2")
        #expect(py2.scalars(as: Int8.self) == [-1, 7])
        let empty = try NPY.decode(npyFile(header: "{'descr': '<f4', 'fortran_order': False, 'shape': (0, 3)}"), source: "e")
        #expect(empty.shape == [0, 3])
    }

    @Test("native '=' spellings, '<' on one-byte types, '?' for bool")
    func alternativeSpellings() throws {
        let a = try NPY.decode(npyFile(header: "{'descr': '=i4', 'fortran_order': False, 'shape': (1,)}", data: [2, 1, 0, 0]), source: "a")
        #expect(a.scalars(as: Int32.self) == [258])
        let b = try NPY.decode(npyFile(header: "{'descr': '<u1', 'fortran_order': False, 'shape': (1,)}", data: [200]), source: "b")
        #expect(b.scalars(as: UInt8.self) == [200])
        let c = try NPY.decode(npyFile(header: "{'descr': '?', 'fortran_order': False, 'shape': (3,)}", data: [0, 1, 7]), source: "c")
        #expect(c.scalars(as: Bool.self) == [false, true, true])
        let d = try NPY.decode(npyFile(header: "{'descr': '<f2', 'fortran_order': False, 'shape': (1,)}", data: [0x00, 0x3C]), source: "d")
        #expect(d.floatValues() == [1])
    }

    @Test("big-endian arrays are converted to little-endian")
    func bigEndian() throws {
        let f = try NPY.decode(npyFile(header: "{'descr': '>f4', 'fortran_order': False, 'shape': (2,)}", data: [0x3F, 0x80, 0, 0, 0xC0, 0, 0, 0]), source: "be")
        #expect(f.scalars(as: Float.self) == [1, -2])
        let i = try NPY.decode(npyFile(header: "{'descr': '>i8', 'fortran_order': False, 'shape': (1,)}", data: [0, 0, 0, 0, 0, 0, 1, 2]), source: "be")
        #expect(i.scalars(as: Int64.self) == [258])
        let u = try NPY.decode(npyFile(header: "{'descr': '>u1', 'fortran_order': False, 'shape': (2,)}", data: [9, 8]), source: "be")
        #expect(u.scalars(as: UInt8.self) == [9, 8])
    }
}
