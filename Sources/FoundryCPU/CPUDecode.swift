import FoundryCore

// Kernels/decode.cl's ops: weights stored as IEEE binary16 for decoding, and decoding's products
// from float or half weights with their fused LayerNorm, bias, GELU and residual add.
extension CPUDevice {
    func halves(_ t: TensorRef) -> UnsafeMutablePointer<UInt16> {
        guard let b = t.buffer as? CPUBuffer else { fatalError("tensor from another device") }
        return (b.raw + 4 * t.offset).assumingMemoryBound(to: UInt16.self)
    }

    public func packHalves(_ src: TensorRef, rows: Int, cols: Int, transpose: Bool, out: TensorRef) {
        let s = f(src), o = halves(out)
        for r in 0..<rows {
            for c in 0..<cols { o[transpose ? c * rows + r : r * cols + c] = Float16(s[r * cols + c]).bitPattern }
        }
    }

    public func gemmDecode(m: Int, n: Int, k: Int, a: TensorRef, norm: RowNorm?, w: TensorRef, format: DecodeWeights,
                           bias: TensorRef?, gelu: Bool, beta: Float, c: TensorRef) {
        var input = a
        if let norm {
            // The normalised rows first, as layerNormForward writes them.
            let scratch = CPUBuffer(count: m * k), stats = CPUBuffer(count: 2 * m)
            input = TensorRef(scratch)
            layerNormForward(a, weight: norm.weight, bias: norm.bias, out: input, mean: TensorRef(stats, offset: 0, count: m),
                             rstd: TensorRef(stats, offset: m, count: m), rows: m, cols: k, eps: norm.eps)
        }
        let A = f(input), C = f(c), bias = bias.map { f($0) }
        func multiply(_ W: UnsafePointer<Float>) {
            parallelRows(m, work: m * n * k) { r in
                for j in 0..<n {
                    var s: Float = 0
                    for p in 0..<k { s += A[r * k + p] * W[j * k + p] }
                    if let bias { s += bias[j] }
                    if gelu { s = geluValue(s) }
                    if beta != 0 { s += beta * C[r * n + j] }
                    C[r * n + j] = s
                }
            }
        }
        // Floats are read where they are (the LM head is 37 MB at 32000 × 288, read every
        // decoded token); halves are widened once per call.
        switch format {
        case .f32: multiply(f(w))
        case .f16:
            let packed = halves(w)
            let wide = (0..<n * k).map { Float(Float16(bitPattern: packed[$0])) }
            wide.withUnsafeBufferPointer { if let W = $0.baseAddress { multiply(W) } }
        }
    }
}
