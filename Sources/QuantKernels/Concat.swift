// Concat as a sequence of block copies (one call per input tensor).

/// Concat helper: copies `outer` blocks of `inputBlock` elements from input into output blocks of
/// `outputBlock` elements, starting at element `offset` of each output block.
///
/// For Concat along axis k: outer = product of dims before k, inputBlock = input.shape[k]·inner,
/// outputBlock = output.shape[k]·inner, offset = (sum of earlier inputs' shape[k])·inner, where
/// inner = product of dims after k. Requires offset + inputBlock ≤ outputBlock; no overlap.
@inlinable
public func concatCopy<T>(input: UnsafePointer<T>, output: UnsafeMutablePointer<T>, outer: Int,
                          inputBlock: Int, outputBlock: Int, offset: Int) {
    if inputBlock == 0 { return }
    if inputBlock == outputBlock {   // single input, or outer blocks are contiguous on both sides
        output.update(from: input, count: outer * inputBlock)
        return
    }
    for o in 0..<outer {
        (output + o * outputBlock + offset).update(from: input + o * inputBlock, count: inputBlock)
    }
}
