import Foundation
import FoundryData

/// The post-training losses, as plain functions of per-sequence (or per-token) scalars that
/// return the loss and its gradient with respect to those scalars. The model only ever sees
/// these gradients (through `crossEntropy`'s per-row scales, or a scalar head), so every stage
/// reuses the same backward pass. Names and defaults follow Hugging Face TRL.
public enum Losses {
    /// log σ(x), stable for large |x|.
    @inline(__always) public static func logSigmoid(_ x: Double) -> Double {
        x >= 0 ? -log1p(exp(-x)) : x - log1p(exp(x))
    }
    @inline(__always) public static func sigmoid(_ x: Double) -> Double {
        x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x))
    }

    // MARK: reward model

    /// Pairwise Bradley–Terry: −log σ(r_c − r_r − margin), plus TRL's optional
    /// center_rewards_coefficient · (r_c + r_r)², which keeps rewards centred on zero.
    /// Returns the loss and d/dr_c, d/dr_r.
    public static func bradleyTerry(chosen rc: Double, rejected rr: Double, margin: Double = 0,
                                    centerCoefficient: Double = 0) -> (loss: Double, dChosen: Double, dRejected: Double) {
        let z = rc - rr - margin
        let loss = -logSigmoid(z) + centerCoefficient * (rc + rr) * (rc + rr)
        let g = -(1 - sigmoid(z))                // d(−log σ(z))/dz
        let center = 2 * centerCoefficient * (rc + rr)
        return (loss, g + center, -g + center)
    }

    /// InstructGPT's loss on one prompt's ranking of K responses: the Bradley–Terry loss of every
    /// one of its C(K, 2) pairs, averaged over the pairs. `rewards[i]` is the reward of the
    /// response ranked i-th (best first); each is computed once, and its gradient sums over
    /// every pair it is in. `levels[i]` (default: all different) marks ties: a pair at one
    /// level says neither is better, so it is left out of the loss, its average and the counts;
    /// a ranking that is all ties contributes nothing. Also: pairs ordered right, and the mean
    /// margin r_better − r_worse over the pairs counted.
    public static func ranking(rewards r: [Double], levels: [Int]? = nil, centerCoefficient: Double = 0)
        -> (loss: Double, dRewards: [Double], correct: Int, pairs: Int, margin: Double) {
        let K = r.count
        let counted = RankingExample.toldApart(levels ?? Array(0..<K))
        let pairs = counted.count
        var loss = 0.0, d = [Double](repeating: 0, count: K), correct = 0, margin = 0.0
        for (i, j) in counted {
            let bt = bradleyTerry(chosen: r[i], rejected: r[j], centerCoefficient: centerCoefficient)
            loss += bt.loss / Double(pairs)
            d[i] += bt.dChosen / Double(pairs); d[j] += bt.dRejected / Double(pairs)
            if r[i] > r[j] { correct += 1 }
            margin += (r[i] - r[j]) / Double(pairs)
        }
        return (loss, d, correct, pairs, margin)
    }

    /// Pointwise regression of a reward to a score: ½ (r − score)².
    public static func pointwise(reward r: Double, score: Double) -> (loss: Double, dReward: Double) {
        (0.5 * (r - score) * (r - score), r - score)
    }

    // MARK: DPO family

    public enum DPOKind: String, CaseIterable, Sendable {
        /// −log σ(β h)   (Rafailov et al.)
        case sigmoid
        /// (h − 1/(2β))²   (Azar et al., IPO)
        case ipo
        /// max(0, 1 − β h)   (SLiC-style hinge)
        case hinge
    }

    /// h = (log π(y⁺) − log π_ref(y⁺)) − (log π(y⁻) − log π_ref(y⁻)). Returns the loss, its
    /// gradient with respect to the policy's two sequence log-probabilities, and the implicit
    /// rewards β·(log π − log π_ref) that TRL logs.
    public static func dpo(_ kind: DPOKind, beta: Double, policyChosen pc: Double, policyRejected pr: Double,
                           refChosen rc: Double, refRejected rr: Double)
        -> (loss: Double, dChosen: Double, dRejected: Double, rewardChosen: Double, rewardRejected: Double) {
        let h = (pc - rc) - (pr - rr)
        let loss: Double, dh: Double
        switch kind {
        case .sigmoid:
            loss = -logSigmoid(beta * h)
            dh = -beta * (1 - sigmoid(beta * h))
        case .ipo:
            let t = h - 1 / (2 * beta)
            loss = t * t
            dh = 2 * t
        case .hinge:
            loss = max(0, 1 - beta * h)
            dh = beta * h < 1 ? -beta : 0
        }
        return (loss, dh, -dh, beta * (pc - rc), beta * (pr - rr))
    }

    // MARK: PPO

    /// TRL's clipped surrogate for one token: max(−A·ρ, −A·clip(ρ, 1−ε, 1+ε)) with
    /// ρ = exp(logp − oldLogp). Returns the loss, d/d logp, and whether clipping was active.
    public static func ppoPolicy(logp: Double, oldLogp: Double, advantage a: Double, clip eps: Double)
        -> (loss: Double, dLogp: Double, clipped: Bool) {
        let ratio = exp(logp - oldLogp)
        let unclipped = -a * ratio
        let clippedRatio = min(max(ratio, 1 - eps), 1 + eps)
        let clippedLoss = -a * clippedRatio
        if clippedLoss > unclipped {
            // The clipped branch is constant in logp (ratio outside the band): no gradient.
            return (clippedLoss, 0, true)
        }
        return (unclipped, -a * ratio, false)
    }

    /// TRL's clipped value loss: ½ max((v − R)², (v_clip − R)²), v_clip = v_old + clip(v − v_old, ±ε).
    /// Returns the loss, d/dv, and whether the clipped branch was taken.
    public static func ppoValue(value v: Double, oldValue vOld: Double, target R: Double, clip eps: Double)
        -> (loss: Double, dValue: Double, clipped: Bool) {
        let vClipped = vOld + min(max(v - vOld, -eps), eps)
        let a = (v - R) * (v - R), b = (vClipped - R) * (vClipped - R)
        if b > a {
            // v_clip moves with v only inside the band.
            let inside = abs(v - vOld) < eps
            return (0.5 * b, inside ? (vClipped - R) : 0, true)
        }
        return (0.5 * a, v - R, false)
    }

    /// Generalised advantage estimation over one sequence (TRL: γ = 1, λ = 0.95). Values past the
    /// end are 0. Returns advantages and returns (= advantages + values).
    public static func gae(rewards: [Double], values: [Double], gamma: Double, lambda: Double)
        -> (advantages: [Double], returns: [Double]) {
        let n = rewards.count
        var adv = [Double](repeating: 0, count: n)
        var last = 0.0
        for t in stride(from: n - 1, through: 0, by: -1) {
            let next = t + 1 < n ? values[t + 1] : 0
            let delta = rewards[t] + gamma * next - values[t]
            last = delta + gamma * lambda * last
            adv[t] = last
        }
        return (adv, zip(adv, values).map { $0 + $1 })
    }

    /// Shift to mean 0 and scale to unit (unbiased) standard deviation, as TRL's masked_whiten.
    /// `across`: the sum over a data-parallel run's ranks, so that each rank whitens its part
    /// of the values with the whole batch's mean and variance.
    public static func whiten(_ x: [Double], shiftMean: Bool = true) -> [Double] { whiten(x, shiftMean: shiftMean, across: { $0 }) }

    public static func whiten(_ x: [Double], shiftMean: Bool = true, across sum: (Double) throws -> Double) rethrows -> [Double] {
        let n = try sum(Double(x.count))
        guard n > 1 else { return x.map { _ in 0 } }
        let mean = try sum(x.reduce(0, +)) / n
        let variance = try sum(x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) }) / (n - 1)
        let inv = 1 / (variance + 1e-8).squareRoot()
        return x.map { shiftMean ? ($0 - mean) * inv : ($0 - mean) * inv + mean }
    }

    public enum KLEstimator: String, CaseIterable, Sendable {
        /// log π − log π_ref: unbiased, can be negative per token.
        case k1
        /// (r − 1) − log r with r = π_ref/π: unbiased and never negative (Schulman's k3).
        case k3
    }

    /// Per-token KL(π ‖ π_ref) estimate from the two log-probabilities of the sampled token.
    public static func kl(_ kind: KLEstimator, logp: Double, refLogp: Double) -> Double {
        switch kind {
        case .k1: return logp - refLogp
        case .k3:
            let logr = refLogp - logp
            return (exp(logr) - 1) - logr
        }
    }

    /// KL(softmax(logits) ‖ softmax(referenceLogits)) over one row of the vocabulary, exact, in
    /// double: Σ p (log p − log q), never negative (clamped at 0 against rounding).
    public static func klDivergence<C: Collection>(logits: C, referenceLogits: C) -> Double where C.Element == Float {
        func logSoftmax(_ x: C) -> [Double] {
            let mx = Double(x.max() ?? 0)
            let lse = mx + log(x.reduce(0.0) { $0 + exp(Double($1) - mx) })
            return x.map { Double($0) - lse }
        }
        let lp = logSoftmax(logits), lq = logSoftmax(referenceLogits)
        return max(0, zip(lp, lq).reduce(0.0) { $0 + exp($1.0) * ($1.0 - $1.1) })
    }

    /// GRPO: (r − mean of the group) / (std of the group + ε), per group of samples of one prompt.
    public static func groupAdvantages(_ rewards: [Double], eps: Double = 1e-4) -> [Double] {
        let mean = rewards.reduce(0, +) / Double(rewards.count), std = groupStd(rewards)
        return rewards.map { ($0 - mean) / (std + eps) }
    }

    /// The sample standard deviation of one group's rewards (0 for a group of one).
    public static func groupStd(_ rewards: [Double]) -> Double {
        guard rewards.count > 1 else { return 0 }
        let n = Double(rewards.count), mean = rewards.reduce(0, +) / n
        return (rewards.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / (n - 1)).squareRoot()
    }
}
