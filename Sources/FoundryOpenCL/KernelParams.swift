/// Tunable kernel parameters, passed to the compiler as -D build options. Defaults differ by
/// device class: a CPU (PoCL) wants large per-work-item register tiles, a GPU smaller ones.
public struct KernelParams: Equatable, Sendable {
    /// Rows and columns of C each GEMM work-item computes.
    public var gemmTM: Int
    public var gemmTN: Int

    public init(gemmTM: Int, gemmTN: Int) { self.gemmTM = gemmTM; self.gemmTN = gemmTN }

    public static func defaults(isCPU: Bool) -> KernelParams {
        isCPU ? KernelParams(gemmTM: 4, gemmTN: 8) : KernelParams(gemmTM: 4, gemmTN: 4)
    }

    var buildOptions: String { "-cl-std=CL1.2 -DGEMM_TM=\(gemmTM) -DGEMM_TN=\(gemmTN)" }
}
