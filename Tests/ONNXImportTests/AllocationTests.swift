import AllocationCounter
import Foundation
import FrameSources
import ONNXImport
import QuantGraph
import Testing

/// After the first frame, an inference allocates nothing: every buffer is planned at load.
/// Counted by interposing malloc/calloc/realloc/posix_memalign in the test binary (thread-local
/// counter, see Tests/AllocationCounter), so it also catches allocations inside Swift runtime calls.
@Suite struct AllocationTests {
    @Test(arguments: ["digits", "patches"].flatMap { model in
        ["fp32", "int8.qdq", "int8.qop", "int8.mixed", "int8.dynamic"].map { "\(model)/model.\($0).onnx" }
    })
    func inferenceAfterFirstFrameAllocatesNothing(_ name: String) throws {
        let compiled = try ONNXModel.load(contentsOf: FixturePaths.url(name)).compile()
        let input = Tensor(zeros: compiled.inputs[0].type)
        try compiled.setInput(0, input)
        compiled.run()  // the first frame
        qw_allocations_begin()
        for _ in 0..<20 { compiled.run() }
        let allocations = qw_allocations_end()
        #expect(allocations == 0, "\(name): \(allocations) heap allocations in 20 inferences")
    }

    /// The counter itself works: an Array allocation is seen.
    @Test func counterSeesAnAllocation() {
        qw_allocations_begin()
        let array = [Int](repeating: 7, count: Int.random(in: 100...200))
        let allocations = qw_allocations_end()
        #expect(array.count >= 100)
        #expect(allocations >= 1)
    }
}
