import FoundryCore

/// Kernels/decode.cl's ops: decoding's weights stored as halves, and the products that read
/// weights stored one row per output, as floats or halves.
extension OpenCLDevice {
    public func packHalves(_ src: TensorRef, rows: Int, cols: Int, transpose: Bool, out: TensorRef) {
        launch("pack_halves", [cols, rows], [.tensor(src), .tensor(out), .int(rows), .int(cols), .int(transpose ? 1 : 0)])
    }

    /// Rows of A one work-item multiplies (DECODE_ROWS in Kernels/decode.cl).
    static let decodeRows = 4

    /// The longest row the product normalises itself (DECODE_LN_K in Kernels/decode.cl).
    static let decodeNormMaxK = 1024

    public func gemmDecode(m: Int, n: Int, k: Int, a: TensorRef, norm: RowNorm?, w: TensorRef, format: DecodeWeights,
                           bias: TensorRef?, gelu: Bool, beta: Float, c: TensorRef) {
        if m == 0 || n == 0 { return }
        // The kernel normalises a single row itself; several rows (or a long one) take their own launch.
        let fused = norm != nil && m == 1 && k <= Self.decodeNormMaxK
        let inKernel = fused ? norm : nil
        var input = a
        if let norm, !fused {
            guard let s = scratch(count: m * k + 2 * m) else { return }
            input = s.slice(0, m * k)
            layerNormForward(a, weight: norm.weight, bias: norm.bias, out: input, mean: s.slice(m * k, m), rstd: s.slice(m * k + m, m),
                             rows: m, cols: k, eps: norm.eps)
        }
        let (run, local) = outputRuns(n)
        launch(format == .f16 ? "decode_product_f16" : "decode_product_f32", [(n + run - 1) / run, (m + Self.decodeRows - 1) / Self.decodeRows], [
            .int(m), .int(n), .int(k), .tensor(input), .tensor(w), .tensor(c), bias.map { .tensor($0) } ?? .tensor(TensorRef(dummy)),
            .int(bias == nil ? 0 : 1), .float(beta), .int(gelu ? 1 : 0),
            .tensor(inKernel?.weight ?? TensorRef(dummy)), .tensor(inKernel?.bias ?? TensorRef(dummy)), .int(fused ? 1 : 0),
            .float(norm?.eps ?? 0), .int(run),
        ], local: local)
    }

    /// How a product of one dot product per output (`n` of them) splits its outputs: on CPUs 8
    /// runs of consecutive outputs a core, each its own work-group, so each worker streams its
    /// share of the weights front to back (PoCL, left to choose, had put all of a decoding
    /// product's runs on one core); elsewhere one output a work-item in the runtime's groups.
    func outputRuns(_ n: Int) -> (run: Int, local: (sizes: [Int], fix: String)?) {
        guard workGroups == .runtime else { return (1, nil) }
        return (max(1, (n + 8 * info.computeUnits - 1) / (8 * info.computeUnits)), ([1, 1], "set FOUNDRY_WORKGROUP=runtime"))
    }
}
