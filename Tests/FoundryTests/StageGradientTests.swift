import XCTest
import FoundryData
import FoundryCore
import FoundryCPU
import FoundryModel
import FoundryTrain

/// The two ways the post-training stages reach the model — a loss on token log-probabilities
/// (per-row CE scales) and a scalar head on the hidden state — against finite differences.
final class StageGradientTests: XCTestCase {
    let d = CPUDevice()

    func tinyModel() throws -> GPT2 {
        let m = try GPT2(config: GPT2Config(vocabSize: 9, maxSeq: 8, channels: 8, layers: 1, heads: 2), device: d)
        try m.initialise(seed: 4)
        var p = try d.read(m.params)
        var r = RNG(seed: 5)
        for i in p.indices { p[i] += Float(r.normal() * 0.3) }
        try d.write(p, to: m.params)
        return m
    }

    func check(_ m: GPT2, _ analytic: [Float], _ f: () throws -> Double) throws {
        var p = try d.read(m.params)
        var rng = RNG(seed: 11)
        for _ in 0..<40 {
            let i = rng.below(p.count)
            let numeric = try centralDifference(&p, at: i, h: 1e-2, write: { try d.write($0, to: m.params) }, loss: f)
            XCTAssertEqual(Double(analytic[i]), numeric, accuracy: 3e-3 * max(1, abs(numeric)), "parameter \(i)")
        }
    }

    func testWeightedLogProbGradient() throws {
        let m = try tinyModel()
        let b = SequenceBatch(sequences: [[1, 2, 3, 4, 5], [6, 7, 1]], lossMask: [[false, false, true, true, true], [false, true, true]],
                              pad: 0, maxSeq: 8)
        var rng = RNG(seed: 3)
        let w = (0..<b.batch * b.seq).map { _ in rng.normal() }
        func loss() throws -> Double { zip(try m.targetLogProbs(b), w).reduce(0) { $0 + $1.0 * $1.1 } }
        m.zeroGrad()
        try m.backward(b, dLogp: w)
        let g = try d.read(m.grads)
        try check(m, g, loss)
    }

    /// At a logit temperature (PPO and GRPO use their sampling temperature): the log-probs are
    /// those of softmax(logits / T), checked against a plain forward, and the gradient still
    /// matches finite differences.
    func testLogProbsAtATemperature() throws {
        let m = try tinyModel()
        let b = SequenceBatch(sequences: [[1, 2, 3, 4, 5], [6, 7, 1]], lossMask: [[false, true, true, true, true], [false, true, true]],
                              pad: 0, maxSeq: 8)
        try m.forward(tokens: b.tokens, batch: b.batch, seq: b.seq)
        let plain = try d.read(m.logits)
        let lp = try m.targetLogProbs(b, temperature: 0.7)
        let V = m.config.vocabSize
        for r in 0..<b.batch * b.seq where b.targets[r] >= 0 {
            let row = plain[r * V..<(r + 1) * V].map { Double($0) / 0.7 }
            let mx = row.max()!
            let want = row[Int(b.targets[r])] - mx - log(row.reduce(0) { $0 + exp($1 - mx) })
            XCTAssertEqual(lp[r], want, accuracy: 1e-5)
        }
        var rng = RNG(seed: 4)
        let w = (0..<b.batch * b.seq).map { _ in rng.normal() }
        func loss() throws -> Double { zip(try m.targetLogProbs(b, temperature: 0.7), w).reduce(0) { $0 + $1.0 * $1.1 } }
        m.zeroGrad()
        try m.backward(b, dLogp: w, temperature: 0.7)
        try check(m, try d.read(m.grads), loss)
    }

    /// DPO with TRL's rpo_alpha: at the first step (π = π_ref) the loss is log 2 + α × the chosen
    /// answers' mean token NLL, computed here independently from the model's log-probabilities.
    func testRPOTermValue() throws {
        let m = try tinyModel()
        let pairs = [
            TokenizedPair(chosen: TokenizedExample(tokens: [1, 2, 3, 4], lossMask: [false, false, true, true]),
                          rejected: TokenizedExample(tokens: [1, 2, 5], lossMask: [false, false, true])),
            TokenizedPair(chosen: TokenizedExample(tokens: [6, 7, 8, 1, 2], lossMask: [false, true, true, true, true]),
                          rejected: TokenizedExample(tokens: [6, 7, 3, 3], lossMask: [false, true, true, true])),
        ]
        let chosen = SequenceBatch(sequences: pairs.map(\.chosen.tokens), lossMask: pairs.map(\.chosen.lossMask), pad: 0, maxSeq: 8)
        let lp = try m.targetLogProbs(chosen)
        var nll = 0.0
        for i in 0..<2 {
            let rows = (0..<chosen.seq).map { i * chosen.seq + $0 }.filter { chosen.targets[$0] >= 0 }
            nll += -rows.reduce(0.0) { $0 + lp[$1] } / Double(rows.count) / 2
        }
        var o = DPOOptions()
        o.lr = 0; o.batch = 2; o.epochs = 1; o.rpoAlpha = 0.5
        let stageLog = try StageLog(metricsPath: nil) { _ in }
        let h = try DPOTrainer(policy: m, options: o, pad: 0).run(pairs, log: stageLog)
        XCTAssertEqual(h.count, 1)
        XCTAssertEqual(h[0]["nll_loss"]!, nll, accuracy: 1e-9)
        XCTAssertEqual(h[0]["loss"]!, log(2.0) + 0.5 * nll, accuracy: 1e-9)
        o.rpoAlpha = 0
        let plain = try DPOTrainer(policy: m, options: o, pad: 0).run(pairs, log: stageLog)
        XCTAssertNil(plain[0]["nll_loss"])
        XCTAssertEqual(plain[0]["loss"]!, log(2.0), accuracy: 1e-9)
    }

    func testScalarHeadGradient() throws {
        let m = try tinyModel()
        let rm = RewardModel(backbone: m, head: ScalarHead(channels: 8, seed: 1))
        let b = SequenceBatch(sequences: [[1, 2, 3], [4, 5, 6, 7, 8]], pad: 0, maxSeq: 8)
        // loss = 0.7·r0 − 1.3·r1
        func loss() throws -> Double { let r = try rm.rewards(b); return 0.7 * r[0] - 1.3 * r[1] }
        _ = try rm.rewards(b)
        let hidden = try d.read(m.hidden)
        var headGrad = [Float](repeating: 0, count: 8)
        let rows = b.lastRows
        let dh = rm.head.backward(hidden: hidden, rows: rows, dScores: [0.7, -1.3], allRows: b.batch * b.seq, grad: &headGrad)
        m.zeroGrad()
        try d.write(dh, to: m.hiddenGradient)
        try m.backward(fromHidden: m.hiddenGradient)
        try check(m, try d.read(m.grads), loss)
        // The head's own gradient: d loss / d w = Σ dScore · h.
        for c in 0..<8 {
            let want = 0.7 * Double(hidden[rows[0] * 8 + c]) - 1.3 * Double(hidden[rows[1] * 8 + c])
            XCTAssertEqual(Double(headGrad[c]), want, accuracy: 1e-5)
        }
    }
}

/// GRPO's handling of groups that carry no signal (all samples scored alike).
final class GRPOGroupTests: XCTestCase {
    let d = CPUDevice()

    func policy() throws -> GPT2 {
        let m = try GPT2(config: GPT2Config(vocabSize: 9, maxSeq: 12, channels: 8, layers: 1, heads: 2), device: d)
        try m.initialise(seed: 4)
        return m
    }

    /// Every group scores alike: advantages are all 0, so the first step leaves the policy as
    /// it was (Adam has no momentum yet), with and without dynamic sampling.
    func testUniformRewardsTeachNothing() throws {
        for dynamic in [false, true] {
            let m = try policy()
            let before = try d.read(m.params)
            var o = GRPOOptions()
            o.steps = 1; o.promptsPerStep = 2; o.groupSize = 4; o.maxNewTokens = 3; o.lr = 1e-2
            o.dynamicSampling = dynamic; o.maxSamplingRounds = 3
            var calls = 0, lines: [String] = []
            let t = try GRPOTrainer(policy: m, reference: nil, options: o, eos: 0) { r in calls += 1; return r.map { _ in 1 } }
            let h = try t.run(prompts: [[1, 2], [3, 4], [5, 6], [7, 8]], log: try StageLog(metricsPath: nil) { lines.append($0) })
            XCTAssertTrue(lines.contains { $0.contains("GRPO made no update") }, "a run that learnt nothing says so: \(lines)")
            XCTAssertEqual(try d.read(m.params), before, "dynamic \(dynamic)")
            XCTAssertEqual(h[0]["frac_reward_zero_std"], 1)
            XCTAssertEqual(calls, dynamic ? 3 : 1, "dynamic sampling keeps looking for signal, up to its limit")
        }
    }

    /// Dynamic sampling stops sampling once the step holds enough groups that disagree, and
    /// those groups move the policy.
    func testDynamicSamplingFillsTheStep() throws {
        let m = try policy()
        let before = try d.read(m.params)
        var o = GRPOOptions()
        o.steps = 1; o.promptsPerStep = 2; o.groupSize = 4; o.maxNewTokens = 3; o.lr = 1e-2
        o.dynamicSampling = true; o.maxSamplingRounds = 10
        var calls = 0, seen = 0
        // Prompts starting with an odd token: reward = position of the sample in its group
        // (always spread); even: constant (no signal).
        let t = try GRPOTrainer(policy: m, reference: nil, options: o, eos: 0) { r in
            calls += 1; seen += r.count
            return r.enumerated().map { i, x in x.prompt[0] % 2 == 1 ? Double(i % 4) : 0 }
        }
        let prompts: [[Int32]] = [[1, 2], [2, 2], [4, 2], [6, 2], [3, 2], [8, 2], [5, 2], [2, 3]]
        let h = try t.run(prompts: prompts, log: try StageLog(metricsPath: nil) { _ in })
        XCTAssertNotEqual(try d.read(m.params), before)
        XCTAssertLessThan(calls, 10, "stopped once two informative groups were found")
        let groups = Double(seen / 4), zero = h[0]["frac_reward_zero_std"]! * groups
        XCTAssertGreaterThanOrEqual(groups - zero, 2)
    }
}
