import Foundation

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

    /// Compiler options; $FOUNDRY_CL_OPTIONS is appended (e.g. -cl-opt-disable when debugging).
    var buildOptions: String {
        let extra = ProcessInfo.processInfo.environment["FOUNDRY_CL_OPTIONS"] ?? ""
        return "-cl-std=CL1.2 -DGEMM_TM=\(gemmTM) -DGEMM_TN=\(gemmTN) \(extra)"
    }
}
