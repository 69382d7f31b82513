// Elementary functions from the C library (no Foundation in QuantMetrics).

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

@inline(__always) func naturalLog(_ x: Double) -> Double { log(x) }
@inline(__always) func decimalLog(_ x: Double) -> Double { log10(x) }
@inline(__always) func exponential(_ x: Double) -> Double { exp(x) }
