import Foundation
import FoundryCore

// Kernels/matmul.cl's ops: GEMM in every transpose form with its fused epilogues (bias + GELU, GELU's
// gradient), the weight gradient with its bias gradient, and transpose.
extension CPUDevice {
    public func gemm(transA: Bool, transB: Bool, m: Int, n: Int, k: Int, alpha: Float,
                     a: TensorRef, b: TensorRef, beta: Float, c: TensorRef, bias: TensorRef?) {
        let A = f(a), B = f(b), C = f(c)
        let bias = bias.map { f($0) }
        // A is [m,k] (or [k,m] when transposed); B is [k,n] (or [n,k]).
        let aRow = transA ? 1 : k, aCol = transA ? m : 1
        parallelRows(m, work: m * n * k) { r in
            var acc = [Float](repeating: 0, count: n)
            acc.withUnsafeMutableBufferPointer { acc in
                if transB {
                    // op(B)[p, j] = B[j, p]: each output is a dot product of two rows.
                    for j in 0..<n {
                        let bj = B + j * k
                        var s: Float = 0
                        for p in 0..<k { s += A[r * aRow + p * aCol] * bj[p] }
                        acc[j] = s
                    }
                } else {
                    // Row r of C as a sum of rows of B weighted by op(A)[r, p]; the inner loop
                    // runs along contiguous memory.
                    for p in 0..<k {
                        let av = A[r * aRow + p * aCol]
                        let bp = B + p * n
                        for j in 0..<n { acc[j] += av * bp[j] }
                    }
                }
                let cr = C + r * n
                for j in 0..<n {
                    var v = alpha * acc[j]
                    if beta != 0 { v += beta * cr[j] }
                    if let bias { v += bias[j] }
                    cr[j] = v
                }
            }
        }
    }

    public func transpose(_ src: TensorRef, rows: Int, cols: Int, out: TensorRef) {
        let s = f(src), d = f(out)
        for r in 0..<rows { for c in 0..<cols { d[c * rows + r] = s[r * cols + c] } }
    }

    public func gemmBiasGelu(m: Int, n: Int, k: Int, a: TensorRef, b: TensorRef, bias: TensorRef, pre: TensorRef, out: TensorRef) {
        gemm(transA: false, transB: false, m: m, n: n, k: k, alpha: 1, a: a, b: b, beta: 0, c: pre, bias: bias)
        geluForward(pre, out: out)
    }

    public func gemmGeluBackward(m: Int, n: Int, k: Int, a: TensorRef, b: TensorRef, pre: TensorRef, out: TensorRef) {
        gemm(transA: false, transB: true, m: m, n: n, k: k, alpha: 1, a: a, b: b, beta: 0, c: out, bias: nil)
        geluBackward(pre, dout: out, dinp: out)
    }

    public func weightGradient(inp: TensorRef, dout: TensorRef, rows: Int, inputs: Int, outputs: Int,
                               dweight: TensorRef, dbias: TensorRef?) {
        gemm(transA: true, transB: false, m: inputs, n: outputs, k: rows, alpha: 1, a: inp, b: dout, beta: 1, c: dweight, bias: nil)
        if let dbias { biasBackward(dout: dout, rows: rows, cols: outputs, dbias: dbias) }
    }

    public func biasBackward(dout: TensorRef, rows: Int, cols: Int, dbias: TensorRef) {
        let d = f(dout), db = f(dbias)
        for j in 0..<cols {
            var s = 0.0
            for r in 0..<rows { s += Double(d[r * cols + j]) }
            db[j] += Float(s)
        }
    }
}
