import Foundation
import FoundryCore

/// One row of the parity table.
public struct KernelCheckResult {
    public let kernel: String
    public let shape: String
    /// max |candidate − reference| / (1 + |reference|) over all outputs.
    public let maxError: Double
    public let tolerance: Double
    public var passed: Bool { maxError <= tolerance }
}

/// A parity case: the same op with the same inputs on two devices, outputs compared.
struct ParityCase {
    let kernel: String
    let shape: String
    let tolerance: Double
    /// Runs the op on a device, its buffers from `Guarded`, and returns every output it wrote
    /// (ints as floats).
    let run: (Device, Guarded) throws -> [Float]
}

/// The kernel parity suite: every op of the device contract at awkward sizes (1, 3, 7, 33,
/// 100, 257) and a transformer-shaped case, candidate against the CPU reference. Library code,
/// so `foundry kernels test` can run it where no Swift toolchain exists.
public enum KernelSuite {
    /// `small` keeps shapes tiny (for oclgrind, which is ~100× slower).
    /// `only`: run just the kernels whose name contains this text.
    public static func run(reference: Device, candidate: Device, small: Bool = false, only: String? = nil,
                           progress: ((KernelCheckResult) -> Void)? = nil) throws -> [KernelCheckResult] {
        var results: [KernelCheckResult] = []
        for c in cases(small: small) where only.map({ c.kernel.contains($0) }) ?? true {
            let referenceMemory = Guarded(reference), candidateMemory = Guarded(candidate)
            let want = try c.run(reference, referenceMemory)
            let got = try c.run(candidate, candidateMemory)
            var worst = 0.0, shape = c.shape
            if try !referenceMemory.intact() || !candidateMemory.intact() {
                worst = .infinity
                shape += " (wrote outside its buffers)"
            } else if want.count != got.count {
                worst = .infinity
            } else {
                for (a, b) in zip(got, want) {
                    let e = Double(abs(a - b)) / (1 + Double(abs(b)))
                    if e.isNaN || a.isNaN != b.isNaN { worst = .infinity } else { worst = max(worst, e) }
                }
            }
            let r = KernelCheckResult(kernel: c.kernel, shape: shape, maxError: worst, tolerance: c.tolerance)
            progress?(r)
            results.append(r)
        }
        return results
    }

    static let sizes = [1, 3, 7, 33, 100, 257]

    static func cases(small: Bool) -> [ParityCase] {
        // One family per file (Cases/), in the order of the CPU reference's files.
        [matmulCases, decodeCases, normCases, lossCases, elementwiseCases, samplingCases, optimCases, embeddingCases, attentionCases].flatMap { $0(small) }
    }

    /// The [rows, cols] shapes of the row-wise ops: ragged, tile-sized, and vocabulary-wide rows.
    static func rowShapes(_ small: Bool) -> [(Int, Int)] {
        small ? [(1, 1), (3, 7), (7, 3)]
            : [(1, 1), (3, 7), (7, 33), (33, 100), (100, 257), (257, 3), (768, 128), (1, 50257), (2, 32000)]
    }

    /// The lengths of the elementwise ops: the awkward sizes, and a training-sized one.
    static func elementCounts(_ small: Bool) -> [Int] { small ? [1, 3, 7] : sizes + [12 * 64 * 512] }
}

/// The buffers of one parity case, each with `pad` sentinels before and after the view the op
/// is given: a kernel that writes past either end of any buffer changes a sentinel, and the case
/// fails however right the values inside are.
/// The first `count` halves of packed storage (`Device.packHalves`) as floats.
func unpackHalves(_ packed: [Float], count: Int) -> [Float] {
    (0..<count).map { i in
        let bits = packed[i / 2].bitPattern
        return Float(Float16(bitPattern: UInt16(truncatingIfNeeded: i % 2 == 0 ? bits : bits >> 16)))
    }
}

final class Guarded {
    static let pad = 16
    /// Not a value any op computes from the suite's inputs.
    static let sentinel: Float = -1.2345678e29
    let device: Device
    private var padded: [TensorRef] = []

    init(_ device: Device) { self.device = device }

    /// A view of `values` inside a padded buffer, written in one piece with its sentinels
    /// (oclgrind 21.10 reports data written at an offset into a buffer as uninitialised).
    func upload(_ values: [Float]) throws -> TensorRef {
        let whole = try device.makeTensor(count: values.count + 2 * Self.pad)
        let edge = [Float](repeating: Self.sentinel, count: Self.pad)
        try device.write(edge + values + edge, to: whole)
        padded.append(whole)
        return whole.slice(Self.pad, values.count)
    }
    /// A zeroed view of `count` elements inside a padded buffer.
    func makeTensor(count: Int) throws -> TensorRef { try upload([Float](repeating: 0, count: count)) }
    func upload(ints: [Int32]) throws -> TensorRef { try upload(ints.map { Float(bitPattern: UInt32(bitPattern: $0)) }) }

    /// Whether every sentinel is as written.
    func intact() throws -> Bool {
        for whole in padded {
            let v = try device.read(whole)
            let edges = v.prefix(Self.pad) + v.suffix(Self.pad)
            if edges.contains(where: { $0.bitPattern != Self.sentinel.bitPattern }) { return false }
        }
        return true
    }
}

/// Deterministic test inputs, identical on every device.
struct Inputs {
    var rng: RNG
    init(seed: UInt64) { rng = RNG(seed: seed) }
    mutating func normal(_ n: Int, scale: Float = 1, shift: Float = 0) -> [Float] {
        (0..<n).map { _ in Float(rng.normal()) * scale + shift }
    }
}
