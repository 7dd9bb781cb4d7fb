import Foundation
import FoundryCore
import FoundryOpenCL

/// Chooses GEMM tile sizes for one device by measuring: every candidate builds the kernels with
/// its own -D options (each build is cached on disk) and times the products training uses —
/// a square product and the transformer's forward, weight-gradient and input-gradient shapes.
/// The candidate with the best geometric-mean GFLOP/s wins.
public enum KernelTuner {
    public struct Trial {
        public let params: KernelParams
        /// GFLOP/s per shape, in `shapes` order, and their geometric mean.
        public let gflops: [Double]
        public let score: Double
    }

    /// (label, m, n, k, transA, transB): what the score averages over.
    public static let shapes: [(String, Int, Int, Int, Bool, Bool)] = [
        ("square 512", 512, 512, 512, false, false),
        ("fwd 768x512x128", 768, 512, 128, false, false),
        ("dW 128x512x768", 128, 512, 768, true, false),
        ("dX 768x128x512", 768, 128, 512, false, true),
    ]

    /// Candidates that fit the device class: on a CPU, wide vectors and tall tiles whose
    /// accumulators fit in registers; on a GPU, small per-work-item tiles.
    public static func candidates(isCPU: Bool, quick: Bool, defaults: KernelParams? = nil) -> [KernelParams] {
        var out: [KernelParams] = []
        let tms = isCPU ? [4, 6, 8, 12] : [1, 2, 4, 8]
        let vws = isCPU ? [8, 16] : [2, 4, 8]
        for vw in vws {
            for tm in tms {
                // Up to 24 accumulators on a CPU (AVX-512's 32 registers at float16: 6 × 4).
                for nv in [1, 2, 3, 4] where tm * vw * nv <= (isCPU ? 384 : 64) && tm * nv <= 24 {
                    out.append(KernelParams(gemmTM: tm, gemmVW: vw, gemmNV: nv))
                }
            }
        }
        // GPUs also try the local-memory tiled kernel (on PoCL it ran at 4 GFLOP/s against 74
        // for the register-blocked one: CPUs never get it).
        let tiled = KernelParams(gemmTM: 4, gemmVW: 4, gemmNV: 1, gemmTiled: true)
        if !isCPU { out.append(tiled) }
        let d = defaults ?? KernelParams.defaults(isCPU: isCPU)
        if !out.contains(d) { out.insert(d, at: 0) }
        guard quick else { return out }
        // A spread rather than the first few: the default, then taller, wider and two-vector
        // tiles around it (on a GPU, 4 to 32 outputs per work-item).
        let spread = isCPU
            ? [d, KernelParams(gemmTM: 6, gemmVW: 8, gemmNV: 2), KernelParams(gemmTM: 6, gemmVW: 16, gemmNV: 2),
               KernelParams(gemmTM: 6, gemmVW: 16, gemmNV: 4), KernelParams(gemmTM: 4, gemmVW: 16, gemmNV: 4),
               KernelParams(gemmTM: 12, gemmVW: 16, gemmNV: 1), KernelParams(gemmTM: 8, gemmVW: 8, gemmNV: 2)]
            : [d, tiled, KernelParams(gemmTM: 2, gemmVW: 4, gemmNV: 1), KernelParams(gemmTM: 8, gemmVW: 4, gemmNV: 1),
               KernelParams(gemmTM: 4, gemmVW: 4, gemmNV: 2), KernelParams(gemmTM: 4, gemmVW: 8, gemmNV: 1),
               KernelParams(gemmTM: 1, gemmVW: 4, gemmNV: 1), KernelParams(gemmTM: 2, gemmVW: 8, gemmNV: 2)]
        var quickSet: [KernelParams] = []
        for p in spread where out.contains(p) && !quickSet.contains(p) { quickSet.append(p) }
        return quickSet
    }

    /// Times every candidate on device `index`; `progress` sees each trial as it finishes.
    public static func run(index: Int, candidates: [KernelParams], reps: Int = 3,
                           progress: (Trial) -> Void = { _ in }) throws -> [Trial] {
        var trials: [Trial] = []
        for p in candidates {
            let device = try OpenCLDevice(index: index, params: p)
            var g = Inputs(seed: 7)
            var rates: [Double] = []
            for (_, m, n, k, ta, tb) in shapes {
                let a = try device.upload(g.normal(m * k)), b = try device.upload(g.normal(k * n)), c = try device.makeTensor(count: m * n)
                let ms = try KernelBench.time(device, reps: reps, fastest: true) {
                    device.gemm(transA: ta, transB: tb, m: m, n: n, k: k, alpha: 1, a: a, b: b, beta: 0, c: c, bias: nil)
                }
                rates.append(2.0 * Double(m * n * k) / (ms * 1e6))
            }
            let score = exp(rates.reduce(0) { $0 + log($1) } / Double(rates.count))
            let t = Trial(params: p, gflops: rates, score: score)
            trials.append(t)
            progress(t)
        }
        return trials
    }
}
