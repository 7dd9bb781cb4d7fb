import Foundation

/// Tunable kernel parameters, passed to the compiler as -D build options (see the top of
/// Kernels/matmul.cl). Defaults differ by device class: a CPU (PoCL) wants wide vectors and
/// large register tiles, a GPU smaller per-work-item tiles and many work-items.
/// `foundry kernels tune` measures candidates on a device and caches the winner per device.
public struct KernelParams: Equatable, Sendable, Codable, CustomStringConvertible {
    /// Rows of C per GEMM work-item (1 to 16).
    public var gemmTM: Int
    /// Vector width of the loads along a row of B (2, 4, 8 or 16).
    public var gemmVW: Int
    /// Vectors per row (1 to 4): a work-item computes gemmTM x (gemmVW·gemmNV) of C.
    public var gemmNV: Int
    /// Whether products of at least gemmTM rows use the local-memory tiled kernel
    /// (Kernels/matmul_tiled.cl: 64 × 64 tiles, 16 × 16 work-groups) instead of the
    /// register-blocked one. A GPU choice; the tuner decides.
    public var gemmTiled: Bool
    /// Work-items per row in the row kernels (softmax, argmax, the sampling filter): a power
    /// of two from 32 to 256, the work-group each row gets.
    public var rowGroup: Int

    public init(gemmTM: Int, gemmVW: Int, gemmNV: Int, rowGroup: Int = KernelParams.defaultRowGroup, gemmTiled: Bool = false) {
        self.gemmTM = gemmTM; self.gemmVW = gemmVW; self.gemmNV = gemmNV; self.rowGroup = rowGroup; self.gemmTiled = gemmTiled
    }

    /// 64 work-items per row: two NVIDIA warps or one AMD wavefront on a GPU, and on PoCL
    /// (measured with FOUNDRY_KERNEL_PARAMS=RG=16/64/256) as fast as the others.
    public static let defaultRowGroup = 64

    enum CodingKeys: String, CodingKey { case gemmTM, gemmVW, gemmNV, rowGroup, gemmTiled }

    /// Files tuned before rowGroup and gemmTiled existed read as the defaults.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        self.init(gemmTM: try c.decode(Int.self, forKey: .gemmTM), gemmVW: try c.decode(Int.self, forKey: .gemmVW),
                  gemmNV: try c.decode(Int.self, forKey: .gemmNV),
                  rowGroup: try c.decodeIfPresent(Int.self, forKey: .rowGroup) ?? KernelParams.defaultRowGroup,
                  gemmTiled: try c.decodeIfPresent(Bool.self, forKey: .gemmTiled) ?? false)
    }

    /// Defaults from what the device reports, so an untuned device starts near its tuned speed.
    /// CPUs: 6 rows × two vectors of the preferred width (four at 16, below) — twelve accumulators, two registers
    /// for the row of B and one for the broadcast of A: within AVX2's sixteen ymm registers at
    /// float8 (the classic 6 × 16 micro-kernel; 76 GFLOP/s geometric mean against 38 for
    /// 8 × float16, which spills), within AVX-512's 32 zmm at float16, where PoCL reports a
    /// preferred width of 16 (on an AVX-512 EPYC, three full `foundry kernels tune` runs gave
    /// 6 × 2 float16 101–111 GFLOP/s against 66–71 for 6 × 2 float8; runs vary ±30% there, so
    /// only the family is certain). A preferred width of 16 means AVX-512, whose 32 registers
    /// hold 6 × 4 float16 accumulators with room for the four B vectors and the broadcast: at
    /// the baby GPT's and GPT-2's training shapes 6 × 4 ran at 179–219 GFLOP/s against 145–183
    /// for 6 × 2 in alternating runs (`foundry kernels bench --shapes 4096x1152x384,...`); AVX2's
    /// 16 registers keep 6 × 2 float8. GPUs: small tiles, many work-items.
    public static func defaults(isCPU: Bool, preferredFloatWidth: Int = 8) -> KernelParams {
        guard isCPU else { return KernelParams(gemmTM: 4, gemmVW: 4, gemmNV: 1) }
        return preferredFloatWidth >= 16 ? KernelParams(gemmTM: 6, gemmVW: 16, gemmNV: 4) : KernelParams(gemmTM: 6, gemmVW: 8, gemmNV: 2)
    }

    /// Columns of C one work-item computes in gemm_nn / gemm_tn.
    var gemmColumns: Int { gemmVW * gemmNV }

    public var description: String {
        "TM=\(gemmTM),VW=\(gemmVW),NV=\(gemmNV)" + (rowGroup == KernelParams.defaultRowGroup ? "" : ",RG=\(rowGroup)")
            + (gemmTiled ? ",GT=1" : "")
    }

    /// Rejects values the kernels cannot be built with.
    public func validate() throws {
        guard [2, 4, 8, 16].contains(gemmVW) else { throw KernelParamsError("vector width \(gemmVW) must be 2, 4, 8 or 16") }
        guard (1...16).contains(gemmTM) else { throw KernelParamsError("TM=\(gemmTM) must be between 1 and 16") }
        guard (1...4).contains(gemmNV) else { throw KernelParamsError("NV=\(gemmNV) must be 1, 2, 3 or 4") }
        // At least 32: fewer work-items leave each a long running sum, and softmax over a
        // 50257-token row missed its 1e-6 tolerance at 16 (1.06e-6) and 8 (1.91e-6).
        guard (32...256).contains(rowGroup), rowGroup & (rowGroup - 1) == 0 else {
            throw KernelParamsError("RG=\(rowGroup) must be a power of two from 32 to 256")
        }
    }

    /// Parses "TM=8,VW=16,NV=1" (any subset; the rest from `base`), the form
    /// `description` prints and $FOUNDRY_KERNEL_PARAMS takes.
    public static func parse(_ text: String, base: KernelParams) throws -> KernelParams {
        var p = base
        for item in text.split(separator: ",") {
            let kv = item.split(separator: "=").map { $0.trimmingCharacters(in: .whitespaces).uppercased() }
            guard kv.count == 2, let v = Int(kv[1]) else { throw KernelParamsError("'\(item)' is not NAME=INTEGER (e.g. TM=4,VW=8)") }
            switch kv[0] {
            case "TM": p.gemmTM = v
            case "NV": p.gemmNV = v
            case "VW": p.gemmVW = v
            case "RG": p.rowGroup = v
            case "GT":
                guard v == 0 || v == 1 else { throw KernelParamsError("GT=\(v) must be 0 (register-blocked GEMM) or 1 (local-memory tiles)") }
                p.gemmTiled = v == 1
            default: throw KernelParamsError("unknown name \(kv[0]) (known: TM, VW, NV, RG, GT)")
            }
        }
        try p.validate()
        return p
    }

    /// Compiler options; $FOUNDRY_CL_OPTIONS is appended (e.g. -cl-opt-disable when debugging).
    var buildOptions: String {
        let extra = ProcessInfo.processInfo.environment["FOUNDRY_CL_OPTIONS"] ?? ""
        return "-cl-std=CL1.2 -DGEMM_TM=\(gemmTM) -DGEMM_VW=\(gemmVW) -DGEMM_NV=\(gemmNV) -DROW_WG=\(rowGroup)" + (extra.isEmpty ? "" : " " + extra)
    }
}

struct KernelParamsError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = "invalid kernel parameters: " + d }
}
