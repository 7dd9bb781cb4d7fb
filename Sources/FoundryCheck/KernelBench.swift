import CCLBlast
import Foundation
import FoundryCore
import FoundryOpenCL

/// One benchmark row.
public struct BenchRow {
    public let kernel: String
    public let shape: String
    public let milliseconds: Double
    /// GFLOP/s where the op has a natural flop count (GEMM), else nil.
    public let gflops: Double?
    /// CLBlast SGEMM on the same device, same shape, same run (GEMM rows only).
    public let clblastGflops: Double?
}

/// Times kernels on a device: GEMM beside CLBlast's SGEMM, and the transformer ops at the
/// shapes of nanoGPT's CPU settings (B 12, T 64, C 128, 4 heads).
public enum KernelBench {
    /// Median wall time of `reps` runs of `body` (each ending with `finish`), in ms.
    /// The median of `reps` timed runs after a warm-up, in milliseconds; with `fastest`, the
    /// quickest run instead (what the tuner compares: another process sharing the cores only
    /// ever adds time, so the minimum is the steadier estimate of what a candidate can do).
    public static func time(_ device: Device, reps: Int, fastest: Bool = false, _ body: () throws -> Void) throws -> Double {
        try body(); try device.finish()          // warm-up (and first-use compilation)
        var samples: [Double] = []
        for _ in 0..<reps {
            let t0 = DispatchTime.now().uptimeNanoseconds
            try body(); try device.finish()
            samples.append(Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e6)
        }
        return fastest ? samples.min()! : samples.sorted()[samples.count / 2]
    }

    public static func gemmShapes(squares: [Int]) -> [(String, Int, Int, Int, Bool, Bool)] {
        var s = squares.map { ("square", $0, $0, $0, false, false) }
        // nanoGPT CPU settings: B·T = 768 rows, C = 128, vocabulary 65. Forward products
        // (N,N), input gradients (N,T: times the transposed weight) and weight gradients (T,N).
        s += [("qkv fwd", 768, 384, 128, false, false), ("attn proj fwd", 768, 128, 128, false, false),
              ("mlp fwd", 768, 512, 128, false, false), ("mlp proj fwd", 768, 128, 512, false, false),
              ("lm head fwd", 768, 65, 128, false, true),
              ("qkv dX", 768, 128, 384, false, true), ("mlp dX", 768, 128, 512, false, true),
              ("lm head dX", 768, 128, 65, false, false),
              ("qkv dW", 128, 384, 768, true, false), ("mlp dW", 128, 512, 768, true, false),
              ("lm head dW", 65, 128, 768, true, false)]
        return s
    }

    public struct GemmRow {
        public let label: String
        public let m: Int, n: Int, k: Int, transA: Bool, transB: Bool
        public let milliseconds: Double, gflops: Double
        public let clblastGflops: Double?
    }

    /// Our GEMM and CLBlast's SGEMM (OpenCL devices) on the same operands, same run.
    public static func gemm(device: Device, squares: [Int], reps: Int) throws -> [GemmRow] {
        try gemm(device: device, shapes: gemmShapes(squares: squares), reps: reps)
    }

    /// Parses "MxNxK" with an optional "nn", "tn", "nt" or "tt" (op(A), op(B)) after K,
    /// e.g. "384x1536x4096tn", the form `foundry kernels bench --shapes` takes.
    public static func parseShape(_ text: String) -> (String, Int, Int, Int, Bool, Bool)? {
        var body = Substring(text.lowercased()), ta = false, tb = false
        if let last2 = body.count > 2 ? String(body.suffix(2)) : nil, ["nn", "tn", "nt", "tt"].contains(last2) {
            ta = last2.first == "t"; tb = last2.last == "t"; body = body.dropLast(2)
        }
        let dims = body.split(separator: "x", omittingEmptySubsequences: false).map { Int($0) }
        guard dims.count == 3, let m = dims[0], let n = dims[1], let k = dims[2], m > 0, n > 0, k > 0 else { return nil }
        return ("shape", m, n, k, ta, tb)
    }

    public static func gemm(device: Device, shapes: [(String, Int, Int, Int, Bool, Bool)], reps: Int) throws -> [GemmRow] {
        var g = Inputs(seed: 1)
        return try shapes.map { (label, m, n, k, ta, tb) in
            let a = try device.upload(g.normal(m * k)), b = try device.upload(g.normal(k * n)), c = try device.makeTensor(count: m * n)
            let flops = 2.0 * Double(m) * Double(n) * Double(k)
            let r = max(1, min(reps, Int(2e10 / flops)))
            let ms = try time(device, reps: r) {
                device.gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: a, b: b, beta: 0, c: c, bias: nil)
            }
            var blas: Double? = nil
            if let cl = device as? OpenCLDevice, let ms = try? time(device, reps: r, { try clblastSgemm(cl, ta, tb, m, n, k, a, b, c) }) {
                blas = flops / (ms * 1e6)
            }
            return GemmRow(label: label, m: m, n: n, k: k, transA: ta, transB: tb, milliseconds: ms, gflops: flops / (ms * 1e6), clblastGflops: blas)
        }
    }

    /// With `shapes`, only those GEMMs; else the squares, the nanoGPT training products and
    /// the transformer ops at nanoGPT's shapes.
    public static func run(device: Device, squares: [Int] = [256, 512, 1024], shapes: [(String, Int, Int, Int, Bool, Bool)] = [],
                           reps: Int = 5, progress: (BenchRow) -> Void = { _ in }) throws -> [BenchRow] {
        var rows: [BenchRow] = []
        func emit(_ r: BenchRow) { rows.append(r); progress(r) }
        for r in try gemm(device: device, shapes: shapes.isEmpty ? gemmShapes(squares: squares) : shapes, reps: reps) {
            emit(BenchRow(kernel: "gemm_\(r.transA ? "t" : "n")\(r.transB ? "t" : "n")", shape: "\(r.label) \(r.m)x\(r.n)x\(r.k)",
                          milliseconds: r.milliseconds, gflops: r.gflops, clblastGflops: r.clblastGflops))
        }
        if !shapes.isEmpty { return rows }
        var g = Inputs(seed: 1)
        // Transformer ops at nanoGPT's CPU shapes.
        let B = 12, T = 64, C = 128, H = 4, BT = B * T, V = 65
        let x = try device.upload(g.normal(BT * C)), y = try device.makeTensor(count: BT * C)
        let w = try device.upload(g.normal(C)), bias = try device.upload(g.normal(C))
        let mean = try device.makeTensor(count: BT), rstd = try device.makeTensor(count: BT)
        let qkv = try device.upload(g.normal(BT * 3 * C)), lse = try device.makeTensor(count: B * H * T)
        let dqkv = try device.makeTensor(count: BT * 3 * C), scratch = try device.makeTensor(count: B * H * T)
        let big = try device.upload(g.normal(BT * 4 * C)), bigOut = try device.makeTensor(count: BT * 4 * C)
        let logits = try device.upload(g.normal(BT * V)), losses = try device.makeTensor(count: BT)
        let targets = try device.upload(ints: (0..<BT).map { Int32($0 % V) })
        let layout = AttentionLayout.fused(batch: B, seq: T, channels: C, heads: H, causal: true)
        let gradScale = try device.upload([1]), normOut = try device.makeTensor(count: 2)
        let params = try device.upload(g.normal(800_000)), grads = try device.upload(g.normal(800_000))
        let m = try device.makeTensor(count: 800_000), v = try device.makeTensor(count: 800_000)
        let ops: [(String, String, () throws -> Void)] = [
            ("layernorm_forward", "768x128", { device.layerNormForward(x, weight: w, bias: bias, out: y, mean: mean, rstd: rstd, rows: BT, cols: C, eps: 1e-5) }),
            ("layernorm_backward", "768x128", { device.layerNormBackward(dout: x, inp: x, weight: w, mean: mean, rstd: rstd, dinp: y, dweight: w, dbias: bias, rows: BT, cols: C) }),
            ("attention_forward", "B12 T64 H4", { device.attentionForward(q: qkv, k: qkv.slice(C, qkv.count - C), v: qkv.slice(2 * C, qkv.count - 2 * C), out: y, lse: lse, layout: layout) }),
            ("attention_backward", "B12 T64 H4", { device.attentionBackward(dout: x, qkv: qkv, out: y, lse: lse, dqkv: dqkv, scratch: scratch, layout: layout) }),
            ("gelu_forward", "768x512", { device.geluForward(big, out: bigOut) }),
            ("gelu_backward", "768x512", { device.geluBackward(big, dout: big, dinp: bigOut) }),
            ("cross_entropy", "768x65", { device.crossEntropy(logits: logits, targets: targets, losses: losses, dlogits: nil, rows: BT, vocab: V, gradScale: 1) }),
            ("adamw", "800k params", { device.adamw(params: params, grads: grads, m: m, v: v, decayCount: 700_000, lr: 1e-3, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1, step: 1, gradScale: gradScale) }),
            ("grad_norm", "800k", { device.gradNorm(grads, clip: 1, out: normOut) }),
        ]
        for (name, shape, body) in ops {
            emit(BenchRow(kernel: name, shape: shape, milliseconds: try time(device, reps: reps, body), gflops: nil, clblastGflops: nil))
        }
        return rows
    }

    /// CLBlast's SGEMM with the same row-major operands, on the device's own queue.
    static func clblastSgemm(_ d: OpenCLDevice, _ ta: Bool, _ tb: Bool, _ m: Int, _ n: Int, _ k: Int,
                             _ a: TensorRef, _ b: TensorRef, _ c: TensorRef) throws {
        var queue: cl_command_queue? = d.queue
        let status = CLBlastSgemm(CLBlastLayoutRowMajor, ta ? CLBlastTransposeYes : CLBlastTransposeNo,
                                  tb ? CLBlastTransposeYes : CLBlastTransposeNo, m, n, k, 1,
                                  d.mem(a), a.offset, ta ? m : k, d.mem(b), b.offset, tb ? k : n, 0,
                                  d.mem(c), c.offset, n, &queue, nil)
        if status != CLBlastSuccess { throw FoundryError("CLBlast SGEMM failed with status \(status.rawValue)") }
    }
}
