/// The work-group shape of a kernel launch and the global size rounded up to it.
///
/// Every launch names its local size instead of passing NULL: a driver left to choose must
/// pick a divisor of the global size, and for a vocabulary of 50257 = 29 · 1733 rows that
/// means groups of 29 or 1 work-items, most of a GPU idle. Here the group is a power of two
/// (at most `target` work-items and at most the kernel's own limit), shaped to the launch —
/// a narrow first dimension gives its share to the second — and the global size is rounded up
/// to a multiple of it. Every kernel returns early for work-items past its bounds.
public struct LaunchGeometry: Equatable, CustomStringConvertible {
    public let global: [Int]
    public let local: [Int]

    public init(global requested: [Int], groupLimit: Int, target: Int) {
        precondition((1...2).contains(requested.count) && requested.allSatisfy { $0 > 0 })
        let budget = LaunchGeometry.floorPowerOfTwo(max(1, min(groupLimit, target)))
        let x = min(budget, LaunchGeometry.ceilPowerOfTwo(requested[0]))
        var local = [x]
        if requested.count == 2 { local.append(min(budget / x, LaunchGeometry.ceilPowerOfTwo(requested[1]))) }
        self.local = local
        self.global = zip(requested, local).map { n, l in (n + l - 1) / l * l }
    }

    public init(global: [Int], local: [Int]) { self.global = global; self.local = local }

    public var description: String { "global \(global) local \(local)" }

    /// A register-blocked GEMM's work-groups on a CPU, where each group runs on one core, its
    /// work-items one after another along the first dimension, then the second. `grid` is
    /// [blocks along the shared strip, blocks across it]; a group takes `x` neighbouring strips
    /// (as many as keep their `stripBytes` each within `panelBytes`, a core's L2 share, up to 16)
    /// and a run of blocks across them, cut so there are at least `groupsPerUnit` groups per
    /// core: a runtime left to choose gave a 128 × 384 weight gradient one group (one busy core,
    /// 80 GFLOP/s against 143 this way) and a 2048³ product 8 groups of 8 × 342 (which this
    /// keeps: 120 GFLOP/s).
    public static func cpuPanels(grid: [Int], stripBytes: Int, computeUnits: Int, groupLimit: Int,
                                 panelBytes: Int = 512 << 10, groupsPerUnit: Int = 4) -> LaunchGeometry {
        precondition(grid.count == 2 && grid.allSatisfy { $0 > 0 })
        var x = 1
        while x < 16, 2 * x <= grid[0], 2 * x * stripBytes <= panelBytes, 2 * x <= groupLimit { x *= 2 }
        let columns = (grid[0] + x - 1) / x
        var cuts = max(1, (groupsPerUnit * max(1, computeUnits) + columns - 1) / columns)
        var y = (grid[1] + cuts - 1) / cuts
        while x * y > groupLimit { cuts += 1; y = (grid[1] + cuts - 1) / cuts }
        // Runs of y rounded up can number fewer than `cuts` (342 / 57 → 6 → 57 runs, not 64):
        // shorten them until there are enough, only then: runs rounded down everywhere (a
        // 4096 × 1536 × 384 product's 683 row blocks as 341, 341, 1) measured 107 GFLOP/s
        // against 148–170 for 342, 341.
        while y > 1, (grid[1] + y - 1) / y < cuts { y -= 1 }
        return LaunchGeometry(global: [columns * x, (grid[1] + y - 1) / y * y], local: [x, y])
    }

    static func floorPowerOfTwo(_ n: Int) -> Int { 1 << (Int.bitWidth - 1 - n.leadingZeroBitCount) }
    static func ceilPowerOfTwo(_ n: Int) -> Int { n <= 1 ? 1 : 1 << (Int.bitWidth - (n - 1).leadingZeroBitCount) }
}
