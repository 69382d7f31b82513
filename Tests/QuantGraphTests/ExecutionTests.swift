import AllocationCounter
import Foundation
import QuantGraph
import QuantKernels
import Testing

@Suite struct ExecutionTests {
    /// x[1,3,8,8] → Conv(3→4, pads 1) → Relu → Flatten → Gemm(256→5) → Softmax.
    static func smallNet() -> GraphBuilder {
        var b = GraphBuilder()
        let x = b.input("image", [1, 3, 8, 8])
        let w = b.constant("W", shape: [4, 3, 3, 3], floats: pseudoRandomFloats(108, seed: 21))
        let c = b.node("conv", ConvOperator(window: WindowAttributes(pads: [1, 1, 1, 1])), [x, w])
        let r = b.node("relu", UnaryOperator(.relu), [c])
        let f = b.node("flatten", ViewOperator(.flatten(axis: 1), name: "Flatten"), [r])
        let fw = b.constant("FW", shape: [5, 256], floats: pseudoRandomFloats(5 * 256, seed: 22).map { $0 * 0.1 })
        let fb = b.constant("FB", shape: [5], floats: [0.1, 0.2, 0.3, 0.4, 0.5])
        let g = b.node("fc", GemmOperator(transB: true), [f, fw, fb])
        let s = b.node("softmax", SoftmaxOperator(axis: -1, coerceTo2D: false), [g])
        b.output(s)
        return b
    }

    static let image = Tensor(shape: [1, 3, 8, 8], values: pseudoRandomFloats(192, seed: 23))

    @Test func runningTwiceGivesIdenticalOutputs() throws {
        let model = try Self.smallNet().compile()
        try model.setInput(0, Self.image)
        model.run()
        let first = model.output(0).scalars(as: Float.self)
        model.run()
        let second = model.output(0).scalars(as: Float.self)
        #expect(first == second)
        #expect(first.count == 5)
        #expect(abs(first.reduce(0, +) - 1) < 1e-5)
    }

    @Test func runAfterOtherInputThenOriginalInputReproducesFirstResult() throws {
        let model = try Self.smallNet().compile()
        let first = try run(model, input: Self.image)
        let other = try run(model, input: Tensor(shape: [1, 3, 8, 8], values: pseudoRandomFloats(192, seed: 99)))
        #expect(first != other)
        #expect(try run(model, input: Self.image) == first)
    }

    @Test func twoCompiledInstancesOfOneGraphAgree() throws {
        let b = Self.smallNet()
        let a = try b.compile(), c = try b.compile()
        #expect(try run(a, input: Self.image) == (try run(c, input: Self.image)))
    }

    @Test func setInputWithWrongShapeNamesInputAndBothTypes() throws {
        let model = try Self.smallNet().compile()
        let wrong = Tensor(shape: [1, 3, 4, 4], values: [Float](repeating: 0, count: 48))
        let error = try #require(throws: ModelError.self) { try model.setInput(0, wrong) }
        #expect(error.message.contains("'image'"), "\(error.message)")
        #expect(error.message.contains("float32[1,3,8,8]"), "\(error.message)")
        #expect(error.message.contains("float32[1,3,4,4]"), "\(error.message)")
    }

    @Test func setInputWithWrongElementTypeNamesInputAndBothTypes() throws {
        let model = try Self.smallNet().compile()
        let wrong = Tensor(shape: [1, 3, 8, 8], values: [Int32](repeating: 0, count: 192))
        let error = try #require(throws: ModelError.self) { try model.setInput(0, wrong) }
        #expect(error.message.contains("'image'"), "\(error.message)")
        #expect(error.message.contains("float32[1,3,8,8]"), "\(error.message)")
        #expect(error.message.contains("int32[1,3,8,8]"), "\(error.message)")
    }

    @Test func portsDescribeInputsAndOutputs() throws {
        let model = try Self.smallNet().compile()
        #expect(model.inputs.map(\.name) == ["image"])
        #expect(model.inputs[0].type == TensorType(.float32, [1, 3, 8, 8]))
        #expect(model.outputs.map(\.name) == ["softmax_out"])
        #expect(model.outputs[0].type == TensorType(.float32, [1, 5]))
        #expect(model.inputIndex(named: "image") == 0)
        #expect(model.inputIndex(named: "nope") == nil)
        #expect(model.inputBuffer(0).count == 192 * 4)
        #expect(model.outputBuffer(0).count == 5 * 4)
    }

    @Test func writingInputBufferDirectlyEqualsSetInput() throws {
        let model = try Self.smallNet().compile()
        let expected = try run(model, input: Self.image)
        let other = try Self.smallNet().compile()
        Self.image.withUnsafeBytes { other.inputBuffer(0).copyMemory(from: $0) }
        other.run()
        #expect(other.output(0).scalars(as: Float.self) == expected)
    }

    @Test func keptIntermediateIsReadableAfterRun() throws {
        var options = CompileOptions()
        options.keep = ["fc_out"]
        let model = try Self.smallNet().compile(options)
        let probabilities = try run(model, input: Self.image)
        let logits = try #require(model.keptValue(named: "fc_out"))
        #expect(logits.type == TensorType(.float32, [1, 5]))
        let values = logits.bytes.withMemoryRebound(to: Float.self) { Array($0) }
        let m = values.max()!
        let e = values.map { Float(exp(Double($0 - m))) }
        let total = e.reduce(0, +)
        #expect(maxAbsDifference(e.map { $0 / total }, probabilities) <= 1e-5)
        #expect(model.keptValue(named: "relu_out") == nil)
    }

    @Test func runAllocatesNothing() throws {
        let model = try Self.smallNet().compile()
        try model.setInput(0, Self.image)
        model.run()  // warm up
        qw_allocations_begin()
        model.run()
        let allocations = qw_allocations_end()
        #expect(allocations == 0)
    }
}
