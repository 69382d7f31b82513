/// ONNX Cast between float32, float64 and the integer types (float → integer truncates toward
/// zero as C does, saturating instead of trapping on out-of-range values; bool is 0/1).
public struct CastOperator: Operator {
    public var to: DataType
    public init(to: DataType) { self.to = to }
    public var kind: String { "Cast" }

    static let supported: Set<DataType> = [.float32, .float64, .int8, .uint8, .int16, .uint16, .int32, .uint32, .int64, .uint64, .bool]

    public func outputTypes(for inputs: [Operand?]) throws -> [TensorType] {
        let x = try requireInput(inputs, 0, "input").type
        guard Self.supported.contains(x.dataType), Self.supported.contains(to) else {
            throw OperatorError("Cast from \(x.dataType) to \(to) is not supported")
        }
        return [TensorType(to, x.shape)]
    }

    public func makeStep(_ b: StepBinding) throws -> Step {
        let x = b.input(0), y = b.outputs[0], count = y.type.elementCount
        if x.type.dataType == to {
            let bytes = y.type.byteCount
            return { y.pointer.copyMemory(from: x.pointer, byteCount: bytes) }
        }
        let read = Self.reader(x.type.dataType, UnsafeRawPointer(x.pointer))
        let write = Self.writer(to, y.pointer)
        if x.type.dataType == .int32 && to == .float32 {
            let source = UnsafePointer(x.typed(Int32.self)), target = y.floats()
            return { for i in 0..<count { target[i] = Float(source[i]) } }
        }
        return { for i in 0..<count { write(i, read(i)) } }
    }

    /// Reads element i widened to Double (exact for every supported type but 64-bit integers beyond 2^53).
    static func reader(_ type: DataType, _ p: UnsafeRawPointer) -> (Int) -> Double {
        switch type {
        case .float32: { Double(p.load(fromByteOffset: $0 * 4, as: Float.self)) }
        case .float64: { p.load(fromByteOffset: $0 * 8, as: Double.self) }
        case .int8: { Double(p.load(fromByteOffset: $0, as: Int8.self)) }
        case .uint8: { Double(p.load(fromByteOffset: $0, as: UInt8.self)) }
        case .int16: { Double(p.load(fromByteOffset: $0 * 2, as: Int16.self)) }
        case .uint16: { Double(p.load(fromByteOffset: $0 * 2, as: UInt16.self)) }
        case .int32: { Double(p.load(fromByteOffset: $0 * 4, as: Int32.self)) }
        case .uint32: { Double(p.load(fromByteOffset: $0 * 4, as: UInt32.self)) }
        case .int64: { Double(p.load(fromByteOffset: $0 * 8, as: Int64.self)) }
        case .uint64: { Double(p.load(fromByteOffset: $0 * 8, as: UInt64.self)) }
        default: { p.load(fromByteOffset: $0, as: Bool.self) ? 1 : 0 }
        }
    }

    static func writer(_ type: DataType, _ p: UnsafeMutableRawPointer) -> (Int, Double) -> Void {
        func integer<T: FixedWidthInteger>(_: T.Type) -> (Int, Double) -> Void {
            { i, v in
                let value: T = v.isNaN ? 0 : (v >= Double(T.max) ? T.max : (v <= Double(T.min) ? T.min : T(v.rounded(.towardZero))))
                p.storeBytes(of: value, toByteOffset: i * MemoryLayout<T>.stride, as: T.self)
            }
        }
        switch type {
        case .float32: return { i, v in p.storeBytes(of: Float(v), toByteOffset: i * 4, as: Float.self) }
        case .float64: return { i, v in p.storeBytes(of: v, toByteOffset: i * 8, as: Double.self) }
        case .int8: return integer(Int8.self)
        case .uint8: return integer(UInt8.self)
        case .int16: return integer(Int16.self)
        case .uint16: return integer(UInt16.self)
        case .int32: return integer(Int32.self)
        case .uint32: return integer(UInt32.self)
        case .int64: return integer(Int64.self)
        case .uint64: return integer(UInt64.self)
        default: return { i, v in p.storeBytes(of: v != 0, toByteOffset: i, as: Bool.self) }
        }
    }
}
