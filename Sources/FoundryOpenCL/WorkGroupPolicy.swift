/// How a launch is cut into work-groups.
public enum WorkGroupPolicy: Equatable, Sendable, CustomStringConvertible {
    /// Pass no local size: the OpenCL runtime chooses. CPU runtimes (PoCL) split the range
    /// into about one group per core, their best case: measured on PoCL, a 512³ GEMM ran in
    /// 1.9 ms this way and 4.1 ms in fixed groups of 64.
    case runtime
    /// Power-of-two groups of at most this many work-items and the global size rounded up
    /// (`LaunchGeometry`). A GPU runtime left to choose must pick a divisor of the global
    /// size — groups of 29 or 1 for a 50257-token vocabulary — and leaves most of the chip idle.
    case fixed(Int)

    /// GPUs and accelerators: groups of 64, a multiple of every GPU's SIMD width (32 on
    /// NVIDIA, 64 on AMD) that fits any kernel's register budget. CPUs: the runtime's choice.
    public static func defaults(isCPU: Bool) -> WorkGroupPolicy { isCPU ? .runtime : .fixed(64) }

    /// Parses $FOUNDRY_WORKGROUP: "runtime" or a size from 1 to 1024.
    public init?(_ text: String) {
        if text.lowercased() == "runtime" { self = .runtime; return }
        guard let n = Int(text), (1...1024).contains(n) else { return nil }
        self = .fixed(n)
    }

    public var description: String {
        switch self {
        case .runtime: return "runtime"
        case .fixed(let n): return "\(n)"
        }
    }
}
