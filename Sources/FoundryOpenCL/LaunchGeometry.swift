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

    public var description: String { "global \(global) local \(local)" }

    static func floorPowerOfTwo(_ n: Int) -> Int { 1 << (Int.bitWidth - 1 - n.leadingZeroBitCount) }
    static func ceilPowerOfTwo(_ n: Int) -> Int { n <= 1 ? 1 : 1 << (Int.bitWidth - (n - 1).leadingZeroBitCount) }
}
