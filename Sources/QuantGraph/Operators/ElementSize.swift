/// Data-movement operators copy elements without looking at them, so they dispatch on the
/// element's byte size only: one specialisation serves float32, int32 and uint32 alike.
func dispatchBySize<R>(_ byteSize: Int, _ body: (any FixedWidthInteger.Type) throws -> R) rethrows -> R {
    switch byteSize {
    case 1: try body(UInt8.self)
    case 2: try body(UInt16.self)
    case 4: try body(UInt32.self)
    default: try body(UInt64.self)
    }
}
