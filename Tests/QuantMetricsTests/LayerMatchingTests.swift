import QuantMetrics
import Testing

@Suite struct LayerMatchingTests {
    @Test func digitsQDQ() {
        let m = LayerMatcher.match(float: FixtureNames.digitsFloat, quantized: FixtureNames.digitsQDQ)
        #expect(m.matches.count == 7)
        #expect(m.unmatchedFloat == ["/conv1/Conv_output_0", "/bn1/BatchNormalization_output_0", "/conv2/Conv_output_0",
                                     "/bn2/BatchNormalization_output_0", "/fc1/Gemm_output_0"])
        #expect(m.unmatchedInt8.count == 8) // the dequantized weights and biases
        #expect(m.unmatchedInt8.contains("fc1.weight_DequantizeLinear_Output"))
        #expect(m.unmatchedInt8.contains("ConvBnFusion_BN_B_bn1.bias"))

        let relu1 = m.match(forFloat: "/relu1/Relu_output_0")
        #expect(relu1 == LayerMatch(floatName: "/relu1/Relu_output_0", int8Name: "/relu1/Relu_output_0_DequantizeLinear_Output",
                                    kind: .dequantized,
                                    alternatives: ["/relu1/Relu_output_0", "/relu1/Relu_output_0_QuantizeLinear_Output"]))
        #expect(m.match(forFloat: "input")?.int8Name == "input_DequantizeLinear_Output")
        let output = m.match(forFloat: "probabilities")
        #expect(output?.int8Name == "probabilities" && output?.kind == .exact)
        #expect(output?.alternatives == ["probabilities_QuantizeLinear_Output", "probabilities_QuantizeLinear_Input"])
        #expect(m.matches.map(\.floatName) == ["input", "/relu1/Relu_output_0", "/relu2/Relu_output_0",
                                               "/flatten/Flatten_output_0", "/relu3/Relu_output_0", "/fc2/Gemm_output_0",
                                               "probabilities"])
    }

    @Test func digitsQOperator() {
        let m = LayerMatcher.match(float: FixtureNames.digitsFloat, quantized: FixtureNames.digitsQOperator)
        #expect(m.matches.count == 7)
        #expect(m.unmatchedFloat == ["/conv1/Conv_output_0", "/relu1/Relu_output_0", "/conv2/Conv_output_0",
                                     "/relu2/Relu_output_0", "/relu3/Relu_output_0"])
        #expect(m.unmatchedInt8.isEmpty)
        let bn1 = m.match(forFloat: "/bn1/BatchNormalization_output_0")
        #expect(bn1?.int8Name == "/bn1/BatchNormalization_output_0_quantized" && bn1?.kind == .quantized)
        #expect(bn1?.kind.isQuantizedStorage == true)
        #expect(m.match(forFloat: "/fc1/Gemm_output_0")?.int8Name == "/fc1/Gemm_output_0_quantized")
        let input = m.match(forFloat: "input")
        #expect(input?.kind == .exact && input?.alternatives == ["input_quantized"])
        #expect(m.match(forFloat: "probabilities")?.alternatives == ["probabilities_quantized"])
    }

    @Test func digitsMixedPrecision() {
        // conv1 kept in float: its (BN-fused) output keeps the float name exactly.
        let m = LayerMatcher.match(float: FixtureNames.digitsFloat, quantized: FixtureNames.digitsMixed)
        #expect(m.matches.count == 8 && m.unmatchedFloat.count == 4 && m.unmatchedInt8.count == 6)
        #expect(m.match(forFloat: "/bn1/BatchNormalization_output_0")?.kind == .exact)
        #expect(m.match(forFloat: "input") == LayerMatch(floatName: "input", int8Name: "input", kind: .exact))
    }

    @Test func patches() {
        let qdq = LayerMatcher.match(float: FixtureNames.patchesFloat, quantized: FixtureNames.patchesQDQ)
        #expect(FixtureNames.patchesFloat.count == 54 && FixtureNames.patchesQDQ.count == 111)
        #expect(qdq.matches.count == 25 && qdq.unmatchedFloat.count == 29 && qdq.unmatchedInt8.count == 36)
        let qop = LayerMatcher.match(float: FixtureNames.patchesFloat, quantized: FixtureNames.patchesQOperator)
        #expect(qop.matches.count == 25 && qop.unmatchedFloat.count == 29 && qop.unmatchedInt8.isEmpty)
        let mixed = LayerMatcher.match(float: FixtureNames.patchesFloat, quantized: FixtureNames.patchesMixed)
        #expect(mixed.matches.count == 26 && mixed.unmatchedFloat.count == 28 && mixed.unmatchedInt8.count == 34)
        // Every matched int8 name really is in the int8 graph, and no name is used twice.
        for result in [qdq, qop, mixed] {
            let used = result.matches.flatMap { [$0.int8Name] + $0.alternatives } + result.unmatchedInt8
            #expect(Set(used).count == used.count)
        }
    }

    @Test func quantizationParametersFollowTheMatch() {
        // The DequantizeLinear output has no parameters of its own: they come from the codes next to it.
        let params: [String: (scale: Float, zeroPoint: Int)] = [
            "/relu1/Relu_output_0_QuantizeLinear_Output": (0.02, -128),
            "/bn1/BatchNormalization_output_0_quantized": (0.03, 0),
        ]
        let qdq = LayerMatcher.match(float: FixtureNames.digitsFloat, quantized: FixtureNames.digitsQDQ, quantization: params)
        let relu1 = qdq.match(forFloat: "/relu1/Relu_output_0")
        #expect(relu1?.scale == 0.02 && relu1?.zeroPoint == -128)
        #expect(qdq.match(forFloat: "/relu2/Relu_output_0")?.scale == nil)
        let qop = LayerMatcher.match(float: FixtureNames.digitsFloat, quantized: FixtureNames.digitsQOperator, quantization: params)
        #expect(qop.match(forFloat: "/bn1/BatchNormalization_output_0")?.scale == 0.03)
    }

    @Test func rulesOnSyntheticNames() {
        // Weights match when the caller passes initializer names.
        let w = LayerMatcher.match(float: ["fc1.weight", "fc1.bias"],
                                   quantized: ["fc1.weight_quantized", "fc1.weight_DequantizeLinear_Output", "fc1.bias"])
        #expect(w.matches == [
            LayerMatch(floatName: "fc1.weight", int8Name: "fc1.weight_DequantizeLinear_Output", kind: .dequantized,
                       alternatives: ["fc1.weight_quantized"]),
            LayerMatch(floatName: "fc1.bias", int8Name: "fc1.bias", kind: .exact),
        ])
        // One suffix only; an exact float name wins over stripping; nothing fuzzy.
        let r = LayerMatcher.match(float: ["a", "a_quantized", "conv"],
                                   quantized: ["a_quantized_quantized", "a_quantized", "Conv", "conv_output", "b_quantized"])
        #expect(r.matches == [
            LayerMatch(floatName: "a_quantized", int8Name: "a_quantized", kind: .exact, alternatives: ["a_quantized_quantized"]),
        ])
        #expect(r.unmatchedFloat == ["a", "conv"])
        #expect(r.unmatchedInt8 == ["Conv", "conv_output", "b_quantized"])
        // Duplicates count once.
        let d = LayerMatcher.match(float: ["x", "x"], quantized: ["x_quantized", "x_quantized", "y", "y"])
        #expect(d.matches.count == 1 && d.matches[0].alternatives.isEmpty && d.unmatchedInt8 == ["y"])
    }
}
