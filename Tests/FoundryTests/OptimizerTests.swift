import XCTest
import FoundryCore
import FoundryCPU
import FoundryModel
import FoundryTrain

/// AdamW's device-side gradient norm: the norm it reports against one computed here in double,
/// and a non-finite gradient, which must stop with an error and leave the model untouched; two
/// steps with weight decay worked by hand.
final class OptimizerTests: XCTestCase {
    func model(_ d: Device) throws -> GPT2 {
        let m = try GPT2(config: GPT2Config(vocabSize: 9, maxSeq: 8, channels: 8, layers: 1, heads: 2), device: d)
        try m.initialise(seed: 4)
        return m
    }

    func testReportedNormAndClippedStep() throws {
        for d in try TestDevices.all() {
            let m = try model(d)
            var r = RNG(seed: 7)
            let g = (0..<m.grads.count).map { _ in Float(r.normal()) }
            try d.write(g, to: m.grads)
            let expected = g.reduce(0.0) { $0 + Double($1) * Double($1) }.squareRoot()
            let opt = try AdamW(model: m, weightDecay: 0)
            let norm = try opt.update(m, lr: 1e-2, clip: 1).read()
            XCTAssertEqual(norm, expected, accuracy: 1e-6 * expected, d.backend)
            // The first Adam step moves every weight by lr · ĝ/|ĝ| ≈ lr whatever the scale, so
            // check the scale through the first moment instead: m = (1 − β1) · g · clip/‖g‖.
            let (mom, _, _) = try opt.state(d)
            let scale = 1 / expected
            for i in stride(from: 0, to: g.count, by: 97) {
                XCTAssertEqual(Double(mom[i]), 0.1 * Double(g[i]) * scale, accuracy: 1e-6, "\(d.backend) m[\(i)]")
            }
        }
    }

    func testNonFiniteGradientLeavesTheModelAndThrows() throws {
        for d in try TestDevices.all() {
            let m = try model(d)
            let before = try d.read(m.params)
            var g = [Float](repeating: 0.01, count: m.grads.count)
            g[g.count / 3] = .nan
            try d.write(g, to: m.grads)
            let opt = try AdamW(model: m, weightDecay: 0.1)
            XCTAssertThrowsError(try opt.update(m, lr: 1e-2, clip: 1).read(), d.backend) { e in
                XCTAssertTrue("\(e)".contains("not finite"), "\(e)")
            }
            let changed = zip(try d.read(m.params), before).filter { $0 != $1 }.count   // NaN != anything
            XCTAssertEqual(changed, 0, "\(d.backend): a NaN step changed \(changed) weights")
            let (mom, vel, _) = try opt.state(d)
            XCTAssertTrue(mom.allSatisfy { $0 == 0 } && vel.allSatisfy { $0 == 0 }, "\(d.backend): a NaN step changed the moments")
        }
    }

    /// Two steps at lr 0.05, weight decay 0.1, worked here in double with PyTorch's formulas:
    /// decay only on the arena's first `decayCount` elements (matrices and embeddings), then the
    /// moments, then the bias-corrected step. Parameters, m and v after each step, both backends.
    func testTwoStepsWithWeightDecayByHand() throws {
        let lr = 0.05, wd = 0.1, b1 = 0.9, b2 = 0.999, eps = 1e-8
        for d in try TestDevices.all() {
            let m = try model(d)
            let n = m.layout.total, decayed = m.layout.decayCount
            XCTAssertTrue(decayed > 0 && decayed < n, "the layout should have both decayed and undecayed parameters")
            var p = try d.read(m.params).map(Double.init)
            var mom = [Double](repeating: 0, count: n), vel = mom
            let opt = try AdamW(model: m, weightDecay: Float(wd))
            var r = RNG(seed: 11)
            for step in 1...2 {
                let g = (0..<n).map { _ in Float(r.normal()) * 0.1 }
                try d.write(g, to: m.grads)
                _ = try opt.update(m, lr: Float(lr)).read()
                let bc1 = 1 - pow(b1, Double(step)), bc2 = 1 - pow(b2, Double(step))
                for j in 0..<n {
                    let gj = Double(g[j])
                    if j < decayed { p[j] *= 1 - lr * wd }
                    mom[j] = b1 * mom[j] + (1 - b1) * gj
                    vel[j] = b2 * vel[j] + (1 - b2) * gj * gj
                    p[j] -= lr * (mom[j] / bc1) / ((vel[j] / bc2).squareRoot() + eps)
                }
                let got = try d.read(m.params), (gm, gv, s) = try opt.state(d)
                XCTAssertEqual(s, step)
                for j in 0..<n {
                    XCTAssertEqual(Double(got[j]), p[j], accuracy: 2e-6, "\(d.backend) step \(step) param \(j) (decayed: \(j < decayed))")
                    XCTAssertEqual(Double(gm[j]), mom[j], accuracy: 1e-7, "\(d.backend) step \(step) m[\(j)]")
                    XCTAssertEqual(Double(gv[j]), vel[j], accuracy: 1e-8, "\(d.backend) step \(step) v[\(j)]")
                }
            }
        }
    }
}
