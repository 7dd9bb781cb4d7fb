import COpenCL
import Foundation
import FoundryCore

/// The Device ops of Kernels/matmul.cl and matmul_tiled.cl: GEMM in every form and epilogue, its gradients, the transpose.
/// Each wrapper only maps arguments and picks the launch shape; the math is in the kernels.
extension OpenCLDevice {
    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: TensorRef, b: TensorRef, beta: Float, c: TensorRef, bias: TensorRef?) {
        if m == 0 || n == 0 { return }
        if transB && !transA && (m < params.gemmTM || m <= dotProductRows) {
            // Few rows (decoding): dot products along k, no transposed copy of B.
            let (run, local) = outputRuns(n)
            launch("gemm_nt_rows", [(n + run - 1) / run, m], [
                .int(m), .int(n), .int(k), .float(alpha), .float(beta), .tensor(a), .tensor(b),
                .tensor(c), bias.map { .tensor($0) } ?? .tensor(TensorRef(dummy)), .int(bias == nil ? 0 : 1), .int(run),
            ], local: local)
            return
        }
        var bRowMajor = b
        if transB {
            guard let t = rowMajorCopy(ofTransposed: b, n: n, k: k) else { return }
            bRowMajor = t
        }
        let biasArg: KernelArg = bias.map { .tensor($0) } ?? .tensor(TensorRef(dummy))
        if params.gemmTiled && m >= params.gemmTM {
            launchTiled("gemm_tiled_\(transA ? "t" : "n")n", m: m, n: n, [
                .int(m), .int(n), .int(k), .float(alpha), .float(beta), .tensor(a), .tensor(bRowMajor), .tensor(c), biasArg,
                .int(bias == nil ? 0 : 1),
            ])
            return
        }
        // Fewer rows than a tile (generation): one row per work-item.
        if m < params.gemmTM {
            let cols = params.gemmColumns
            // On CPUs each work-item its own group: a runtime left to choose put the 9 to 36
            // column strips of a decoding step's product in one group, on one core (6 × 288
            // decoding 523–712 → 741–774 tokens/s with the second core working).
            launch("gemm_\(transA ? "t" : "n")n_1", [(n + cols - 1) / cols, m], [
                .int(m), .int(n), .int(k), .float(alpha), .float(beta), .tensor(a), .tensor(bRowMajor), .tensor(c), biasArg,
                .int(bias == nil ? 0 : 1),
            ], local: workGroups == .runtime ? ([1, 1], "set FOUNDRY_WORKGROUP=runtime") : nil)
            return
        }
        launchSliced(transA ? "gemm_tn" : "gemm_nn", transA: transA, m: m, n: n, k: k, alpha: alpha, a: a, b: bRowMajor,
                     beta: beta, c: c, bias: bias, extra: [])
    }

    /// The register-blocked product, k in slices each added into C, so one slice of both operands
    /// stays in cache while every tile of C reads it: when op(A) = Aᵀ (a weight gradient over
    /// many rows of the batch), and when a row-major A is longer than `gemmSliceKRows` (the LM
    /// head's input gradient sums over the vocabulary: 1024 × 768 × 50257 ran at 59 GFLOP/s
    /// in one pass, 170 in slices of 1024). Summing 4096 rows in one pass ran at 44–87 GFLOP/s
    /// (384 × 1536, AVX-512 EPYC); slices of 1024 at 102–160 and of 256 at 156–168 (the baby
    /// GPT's four weight-gradient shapes 126–154 → 156–168, GPT-2's about the same, alternating
    /// builds; `foundry kernels bench --shapes 384x1536x4096tn,...`). `extra` follows the GEMM
    /// arguments.
    func launchSliced(_ name: String, transA: Bool, m: Int, n: Int, k: Int, alpha: Float, a: TensorRef, b: TensorRef,
                      beta: Float, c: TensorRef, bias: TensorRef?, extra: [KernelArg]) {
        let limit = transA ? Self.gemmSliceK : Self.gemmSliceKRows
        let slice = k > limit ? limit : k
        // A row-major op(A) sliced along k is a column block of A: the kernel takes its row stride.
        let sliced = !transA && slice < k
        var p0 = 0
        repeat {     // at least once: k = 0 still writes beta · C + bias
            let kc = min(slice, k - p0)
            let first = p0 == 0
            let aSlice = transA ? a.slice(p0 * m, kc * m) : sliced ? a.slice(p0, (m - 1) * k + kc) : a
            launchBlocked(sliced ? name + "_sliced" : name, transA: transA, m: m, n: n, k: kc, [
                .int(m), .int(n), .int(kc), .float(alpha), .float(first ? beta : 1),
                .tensor(aSlice), .tensor(b.slice(p0 * n, kc * n)), .tensor(c),
                first ? bias.map { .tensor($0) } ?? .tensor(TensorRef(dummy)) : .tensor(TensorRef(dummy)),
                .int(first && bias != nil ? 1 : 0),
            ] + extra + (sliced ? [.int(k)] : []))
            p0 += kc
        } while p0 < k
    }

    public func weightGradient(inp: TensorRef, dout: TensorRef, rows: Int, inputs: Int, outputs: Int,
                               dweight: TensorRef, dbias: TensorRef?) {
        guard let dbias, !params.gemmTiled, inputs >= params.gemmTM else {
            gemm(transA: true, transB: false, m: inputs, n: outputs, k: rows, alpha: 1, a: inp, b: dout, beta: 1, c: dweight, bias: nil)
            if let dbias { biasBackward(dout: dout, rows: rows, cols: outputs, dbias: dbias) }
            return
        }
        launchSliced("gemm_tn_colsum", transA: true, m: inputs, n: outputs, k: rows, alpha: 1, a: inp, b: dout, beta: 1,
                     c: dweight, bias: nil, extra: [.tensor(dbias)])
    }

    public func gemmGeluBackward(m: Int, n: Int, k: Int, a: TensorRef, b: TensorRef, pre: TensorRef, out: TensorRef) {
        guard !params.gemmTiled, m >= params.gemmTM, m > 0, n > 0 else {
            gemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, b: b, beta: 0, c: out, bias: nil)
            geluBackward(pre, dout: out, dinp: out)
            return
        }
        guard let bRowMajor = rowMajorCopy(ofTransposed: b, n: n, k: k) else { return }
        launchBlocked("gemm_nn_gelu_backward", transA: false, m: m, n: n, k: k, [
            .int(m), .int(n), .int(k), .float(1), .float(0), .tensor(a), .tensor(bRowMajor), .tensor(out), .tensor(TensorRef(dummy)),
            .int(0), .tensor(pre),
        ])
    }

    /// B [n, k] copied to [k, n] in the scratch buffer, so the register-blocked kernels can load
    /// rows of op(B) = Bᵀ as vectors; nil if the scratch could not be allocated (the error is
    /// pending).
    func rowMajorCopy(ofTransposed b: TensorRef, n: Int, k: Int) -> TensorRef? {
        guard let t = scratch(count: k * n) else { return nil }
        transpose(b, rows: n, cols: k, out: t)
        return t
    }

    public func transpose(_ src: TensorRef, rows: Int, cols: Int, out: TensorRef) {
        launch("transpose", [cols, rows], [.tensor(src), .tensor(out), .int(rows), .int(cols)])
    }

    /// Rows of op(B) (and columns of op(A)) one launch of a weight-gradient product sums; see `gemm`.
    static let gemmSliceK = 256

    /// The same for op(A) = A, only when k is longer: each slice re-reads and re-writes C.
    static let gemmSliceKRows = 1024

    /// The register-blocked GEMM's grid (Kernels/matmul.cl): one work-item per TM × (VW·NV)
    /// block of C, `rowsFirst` deciding which way neighbouring work-items step. Neighbours share
    /// one operand's strip from cache and stream the other. Weight gradients (op(A) = Aᵀ, a
    /// slice of the batch) stream A when it is the smaller (m < n); products of a row-major A
    /// step along columns, whatever the shape. Measured (GFLOP/s, columns-first → rows-first):
    /// 384×1536×4096 Aᵀ·B 44 → 87, 768×3072×1024 Aᵀ·B 80–142 → 160, 4096×1152×384 168 →
    /// 116–152; but (rows-first → columns-first) 1024×50257×768 (GPT-2's LM head) 120 → 151–161,
    /// 1024×3072×768 86–131 → 178, 1024×2304×768 143–150 → 170–176, 768×384×128 143–165 → 163–170.
    func launchBlocked(_ name: String, transA: Bool, m: Int, n: Int, k: Int, _ args: [KernelArg]) {
        let cols = params.gemmColumns, tm = params.gemmTM
        let columnBlocks = (n + cols - 1) / cols, rowBlocks = (m + tm - 1) / tm
        let rowsFirst = transA && m < n
        let grid = rowsFirst ? [rowBlocks, columnBlocks] : [columnBlocks, rowBlocks]
        let order: [KernelArg] = [.int(rowsFirst ? 1 : 0)]
        guard workGroups == .runtime else { launch(name, grid, args + order); return }
        // A first-dimension block's own strip: TM rows of op(A) or VW·NV columns of B, k long.
        let shape = LaunchGeometry.cpuPanels(grid: grid, stripBytes: (rowsFirst ? tm : cols) * k * 4,
                                             computeUnits: info.computeUnits, groupLimit: groupLimit(for: name))
        launch(name, shape.global, args + order, local: (shape.local, "set FOUNDRY_WORKGROUP=runtime"))
    }

    public func gemmBiasGelu(m: Int, n: Int, k: Int, a: TensorRef, b: TensorRef, bias: TensorRef, pre: TensorRef, out: TensorRef) {
        guard m >= params.gemmTM else {
            // Fewer rows than a tile (generation): the one-row product, then GELU.
            gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, b: b, beta: 0, c: pre, bias: bias)
            geluForward(pre, out: out)
            return
        }
        if params.gemmTiled {
            launchTiled("gemm_tiled_nn_gelu", m: m, n: n, [
                .int(m), .int(n), .int(k), .float(1), .float(0), .tensor(a), .tensor(b), .tensor(pre), .tensor(bias), .int(1), .tensor(out),
            ])
            return
        }
        launchBlocked("gemm_nn_gelu", transA: false, m: m, n: n, k: k, [
            .int(m), .int(n), .int(k), .float(1), .float(0), .tensor(a), .tensor(b), .tensor(pre), .tensor(bias), .int(1),
            .tensor(out),
        ])
    }

    /// The tiled GEMM's grid: a 16 × 16 work-group per 64 × 64 tile of C (Kernels/matmul_tiled.cl).
    func launchTiled(_ name: String, m: Int, n: Int, _ args: [KernelArg]) {
        let tile = 64, group = 16
        launch(name, [(n + tile - 1) / tile * group, (m + tile - 1) / tile * group], args,
               local: ([group, group], "use the register-blocked GEMM: FOUNDRY_KERNEL_PARAMS=GT=0"))
    }

    public func biasBackward(dout: TensorRef, rows: Int, cols: Int, dbias: TensorRef) {
        let args: [KernelArg] = [.tensor(dout), .tensor(dbias), .int(rows), .int(cols)]
        if rowsAsGroups { launchColumns("bias_backward_cols", cols: cols, args) } else { launch("bias_backward", [cols], args) }
    }
}
