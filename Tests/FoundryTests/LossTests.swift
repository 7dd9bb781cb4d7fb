import XCTest
import Foundation
import FoundryTrain

/// Every post-training loss against closed forms and central finite differences.
final class LossTests: XCTestCase {
    func numeric(_ f: (Double) -> Double, at x: Double, h: Double = 1e-6) -> Double { (f(x + h) - f(x - h)) / (2 * h) }

    func testBradleyTerry() {
        // Closed form: r_c = r_r ⇒ loss = log 2, gradient ∓½.
        let even = Losses.bradleyTerry(chosen: 0.3, rejected: 0.3)
        XCTAssertEqual(even.loss, log(2), accuracy: 1e-12)
        XCTAssertEqual(even.dChosen, -0.5, accuracy: 1e-12)
        XCTAssertEqual(even.dRejected, 0.5, accuracy: 1e-12)
        for (rc, rr, m, c) in [(1.2, -0.4, 0.0, 0.0), (-2.0, 3.0, 0.5, 0.01), (40.0, -40.0, 1.0, 0.0), (0.1, 0.2, 0.0, 0.05)] {
            let r = Losses.bradleyTerry(chosen: rc, rejected: rr, margin: m, centerCoefficient: c)
            XCTAssertEqual(r.loss, -log(1 / (1 + exp(-(rc - rr - m)))) + c * (rc + rr) * (rc + rr), accuracy: 1e-9)
            XCTAssertEqual(r.dChosen, numeric({ Losses.bradleyTerry(chosen: $0, rejected: rr, margin: m, centerCoefficient: c).loss }, at: rc), accuracy: 1e-6)
            XCTAssertEqual(r.dRejected, numeric({ Losses.bradleyTerry(chosen: rc, rejected: $0, margin: m, centerCoefficient: c).loss }, at: rr), accuracy: 1e-6)
        }
    }

    func testDPOFamily() {
        let (pc, pr, rc, rr) = (-12.0, -15.5, -13.0, -14.0)     // h = 1 − (−1.5) = 2.5
        let beta = 0.1
        let s = Losses.dpo(.sigmoid, beta: beta, policyChosen: pc, policyRejected: pr, refChosen: rc, refRejected: rr)
        XCTAssertEqual(s.loss, log(1 + exp(-0.25)), accuracy: 1e-12)
        XCTAssertEqual(s.rewardChosen, 0.1, accuracy: 1e-12)
        XCTAssertEqual(s.rewardRejected, -0.15, accuracy: 1e-12)
        let ipo = Losses.dpo(.ipo, beta: beta, policyChosen: pc, policyRejected: pr, refChosen: rc, refRejected: rr)
        XCTAssertEqual(ipo.loss, (2.5 - 5) * (2.5 - 5), accuracy: 1e-12)
        let hinge = Losses.dpo(.hinge, beta: beta, policyChosen: pc, policyRejected: pr, refChosen: rc, refRejected: rr)
        XCTAssertEqual(hinge.loss, 0.75, accuracy: 1e-12)
        for kind in Losses.DPOKind.allCases {
            for (a, b) in [(pc, pr), (-3.0, -2.0), (-40.0, -1.0)] {
                let r = Losses.dpo(kind, beta: 0.5, policyChosen: a, policyRejected: b, refChosen: rc, refRejected: rr)
                let fc = numeric({ Losses.dpo(kind, beta: 0.5, policyChosen: $0, policyRejected: b, refChosen: rc, refRejected: rr).loss }, at: a)
                let fr = numeric({ Losses.dpo(kind, beta: 0.5, policyChosen: a, policyRejected: $0, refChosen: rc, refRejected: rr).loss }, at: b)
                XCTAssertEqual(r.dChosen, fc, accuracy: 1e-5, "\(kind)")
                XCTAssertEqual(r.dRejected, fr, accuracy: 1e-5, "\(kind)")
            }
        }
    }

    func testPPOClippedObjective() {
        // ρ = e^0.5 ≈ 1.65 > 1.2 with A > 0: the clipped branch (−1.2·A) is the max: no gradient.
        let clipped = Losses.ppoPolicy(logp: -1.0, oldLogp: -1.5, advantage: 2, clip: 0.2)
        XCTAssertEqual(clipped.loss, -2.4, accuracy: 1e-12)
        XCTAssertEqual(clipped.dLogp, 0)
        XCTAssertTrue(clipped.clipped)
        // Same ratio with A < 0: the unclipped branch dominates, gradient −A·ρ.
        let open = Losses.ppoPolicy(logp: -1.0, oldLogp: -1.5, advantage: -2, clip: 0.2)
        XCTAssertEqual(open.loss, 2 * exp(0.5), accuracy: 1e-12)
        XCTAssertFalse(open.clipped)
        for (lp, old, a) in [(-1.0, -1.05, 0.7), (-2.0, -1.9, -0.3), (-0.5, -0.9, -1.0), (-3.0, -2.0, 1.5)] {
            let r = Losses.ppoPolicy(logp: lp, oldLogp: old, advantage: a, clip: 0.2)
            XCTAssertEqual(r.dLogp, numeric({ Losses.ppoPolicy(logp: $0, oldLogp: old, advantage: a, clip: 0.2).loss }, at: lp), accuracy: 1e-6)
        }
    }

    func testValueClipping() {
        // v moved 0.5 from v_old = 1 toward nothing; target 3: unclipped (2.5−3)² = .25,
        // clipped v = 1.2: (1.2−3)² = 3.24 → clipped branch, v outside the band ⇒ zero gradient.
        let r = Losses.ppoValue(value: 1.5, oldValue: 1.0, target: 3.0, clip: 0.2)
        XCTAssertEqual(r.loss, 0.5 * 3.24, accuracy: 1e-12)
        XCTAssertEqual(r.dValue, 0)
        XCTAssertTrue(r.clipped)
        for (v, old, R) in [(1.1, 1.0, 3.0), (0.2, 1.0, 0.6), (2.0, 1.0, 1.9), (1.05, 1.0, -1.0)] {
            let x = Losses.ppoValue(value: v, oldValue: old, target: R, clip: 0.2)
            XCTAssertEqual(x.dValue, numeric({ Losses.ppoValue(value: $0, oldValue: old, target: R, clip: 0.2).loss }, at: v), accuracy: 1e-6)
        }
    }

    func testGAEHandWorked() {
        // rewards [0, 0, 1], values [0.5, 0.6, 0.7], γ = 1, λ = 0.5:
        // δ2 = 1 − 0.7 = 0.3;            A2 = 0.3
        // δ1 = 0 + 0.7 − 0.6 = 0.1;      A1 = 0.1 + 0.5·0.3 = 0.25
        // δ0 = 0 + 0.6 − 0.5 = 0.1;      A0 = 0.1 + 0.5·0.25 = 0.225
        let (adv, ret) = Losses.gae(rewards: [0, 0, 1], values: [0.5, 0.6, 0.7], gamma: 1, lambda: 0.5)
        for (a, b) in zip(adv, [0.225, 0.25, 0.3]) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        for (a, b) in zip(ret, [0.725, 0.85, 1.0]) { XCTAssertEqual(a, b, accuracy: 1e-12) }
        // λ = 1, γ = 1: advantage = return-to-go − value.
        let (adv1, _) = Losses.gae(rewards: [1, 2, 3], values: [0, 0, 0], gamma: 1, lambda: 1)
        XCTAssertEqual(adv1, [6, 5, 3])
    }

    func testKLEstimators() {
        XCTAssertEqual(Losses.kl(.k1, logp: -1.0, refLogp: -1.5), 0.5, accuracy: 1e-12)
        // k3 with r = e^{−0.5}: (e^{−0.5} − 1) + 0.5
        XCTAssertEqual(Losses.kl(.k3, logp: -1.0, refLogp: -1.5), exp(-0.5) - 1 + 0.5, accuracy: 1e-12)
        XCTAssertEqual(Losses.kl(.k3, logp: -2.0, refLogp: -2.0), 0, accuracy: 1e-15)
        // k3 is never negative; both are unbiased for KL: check on a 3-token distribution.
        let p = [0.5, 0.3, 0.2], q = [0.2, 0.5, 0.3]
        let exact = zip(p, q).reduce(0.0) { $0 + $1.0 * log($1.0 / $1.1) }
        for est in Losses.KLEstimator.allCases {
            let expectation = zip(p, q).reduce(0.0) { $0 + $1.0 * Losses.kl(est, logp: log($1.0), refLogp: log($1.1)) }
            XCTAssertEqual(expectation, exact, accuracy: 1e-12, "\(est)")
        }
        for (a, b) in [(-0.1, -3.0), (-3.0, -0.1)] { XCTAssertGreaterThanOrEqual(Losses.kl(.k3, logp: a, refLogp: b), 0) }
    }

    /// The exact KL over a row of logits (the evaluator's), from logits shifted by arbitrary
    /// constants (softmax ignores them), against the closed form on the same 3-token example.
    func testExactKLFromLogits() {
        let p = [0.5, 0.3, 0.2], q = [0.2, 0.5, 0.3]
        let exact = zip(p, q).reduce(0.0) { $0 + $1.0 * log($1.0 / $1.1) }
        let lp = p.map { Float(log($0) + 3) }, lq = q.map { Float(log($0) - 7) }
        XCTAssertEqual(Losses.klDivergence(logits: lp, referenceLogits: lq), exact, accuracy: 1e-6)
        let reverse = zip(q, p).reduce(0.0) { $0 + $1.0 * log($1.0 / $1.1) }
        XCTAssertEqual(Losses.klDivergence(logits: lq, referenceLogits: lp), reverse, accuracy: 1e-6)
        XCTAssertEqual(Losses.klDivergence(logits: lp, referenceLogits: lp.map { $0 + 1 }), 0, accuracy: 1e-12)
    }

    /// GAE with discounting, worked by hand (γ 0.9, λ 0.8; the value after the last step is 0):
    /// δ = r_t + γ V_{t+1} − V_t = [0.86, −0.13, 1.7]; A_t = δ_t + γλ A_{t+1}.
    func testGAEWithDiscount() {
        let (adv, ret) = Losses.gae(rewards: [1, 0, 2], values: [0.5, 0.4, 0.3], gamma: 0.9, lambda: 0.8)
        let a2 = 1.7, a1 = -0.13 + 0.72 * a2, a0 = 0.86 + 0.72 * a1
        for (got, want) in zip(adv, [a0, a1, a2]) { XCTAssertEqual(got, want, accuracy: 1e-12) }
        for (got, want) in zip(ret, [a0 + 0.5, a1 + 0.4, a2 + 0.3]) { XCTAssertEqual(got, want, accuracy: 1e-12) }
        // λ = 1: the advantage is the discounted return minus the value.
        let (mc, _) = Losses.gae(rewards: [1, 0, 2], values: [0.5, 0.4, 0.3], gamma: 0.9, lambda: 1)
        XCTAssertEqual(mc[0], 1 + 0.9 * 0 + 0.81 * 2 - 0.5, accuracy: 1e-12)
    }

    func testWhitenAndGroupAdvantages() {
        let w = Losses.whiten([1, 2, 3, 4])
        XCTAssertEqual(w.reduce(0, +), 0, accuracy: 1e-12)
        let sd = (w.map { $0 * $0 }.reduce(0, +) / 3).squareRoot()
        XCTAssertEqual(sd, 1, accuracy: 1e-6)
        let g = Losses.groupAdvantages([1, 0, 0, 1])
        let std = (4.0 * 0.25 / 3).squareRoot()
        XCTAssertEqual(g[0], 0.5 / (std + 1e-4), accuracy: 1e-12)
        XCTAssertEqual(Losses.groupAdvantages([0.3, 0.3, 0.3]), [0, 0, 0])
    }
}
