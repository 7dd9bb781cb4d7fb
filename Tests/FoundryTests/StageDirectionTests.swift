import XCTest
import FoundryData
import FoundryCore
import FoundryCPU
import FoundryModel
import FoundryTrain

/// Each post-training stage moves the model the way its objective says, measured here
/// independently of the trainer's own metrics: a sign-flipped gradient or a learning rate of 0
/// fails every test below (each also runs a control — lr 0 and no movement, or the opposite
/// reward and the opposite movement — so the measure is shown to depend on the training).
final class StageDirectionTests: XCTestCase {
    let d = CPUDevice()
    let quiet = { (_: String) in }

    func tinyModel(seed: UInt64 = 4) throws -> GPT2 {
        let m = try GPT2(config: GPT2Config(vocabSize: 9, maxSeq: 12, channels: 16, layers: 1, heads: 2), device: d)
        try m.initialise(seed: seed)
        return m
    }

    func log(_ stage: String) throws -> StageLog { try StageLog(metricsPath: nil, log: quiet) }

    /// p(token | prompt) of the next position, from the logits at temperature 1.
    func nextTokenProbability(_ m: GPT2, prompt: [Int32], token: Int32) throws -> Double {
        try m.forward(tokens: prompt, batch: 1, seq: prompt.count)
        let V = m.config.vocabSize
        let row = try d.read(m.logits)[(prompt.count - 1) * V..<prompt.count * V].map(Double.init)
        let mx = row.max()!, z = row.reduce(0) { $0 + exp($1 - mx) }
        return exp(row[Int(token)] - mx) / z
    }

    let sftExamples = [
        TokenizedExample(tokens: [1, 2, 3, 4, 5], lossMask: [false, false, true, true, true]),
        TokenizedExample(tokens: [6, 7, 8, 1], lossMask: [false, true, true, true]),
        TokenizedExample(tokens: [2, 2, 5, 6, 7, 8], lossMask: [false, false, false, true, true, true]),
    ]

    func testSFTLowersTheCompletionLoss() throws {
        for lr: Float in [3e-2, 0] {
            let m = try tinyModel()
            let before = try SFTTrainer.evaluate(model: m, examples: sftExamples, pad: 0)
            var o = SFTOptions()
            o.lr = lr; o.epochs = 15; o.batch = 3; o.warmup = 0
            try SFTTrainer(model: m, examples: sftExamples, options: o, pad: 0).run(log: try log("sft"))
            let after = try SFTTrainer.evaluate(model: m, examples: sftExamples, pad: 0)
            if lr > 0 {
                XCTAssertLessThan(after, 0.5 * before, "15 steps on three examples should halve their loss")
            } else {
                XCTAssertEqual(after, before, accuracy: 1e-9)
            }
        }
    }

    /// Chosen answers end in 3, rejected ones in 5: the trained reward model scores chosen above
    /// rejected on every pair, and its mean margin grows.
    func testRewardModelRaisesTheChosenMargin() throws {
        let pairs = (0..<8).map { i -> TokenizedPair in
            let prompt: [Int32] = [Int32(1 + i % 4), Int32(2 + i % 3)]
            return TokenizedPair(chosen: TokenizedExample(tokens: prompt + [3], lossMask: [false, false, true]),
                                 rejected: TokenizedExample(tokens: prompt + [5], lossMask: [false, false, true]))
        }
        func margins(_ rm: RewardModel) throws -> [Double] {
            let chosen = try rm.rewards(SequenceBatch(sequences: pairs.map(\.chosen.tokens), pad: 0, maxSeq: 12))
            let rejected = try rm.rewards(SequenceBatch(sequences: pairs.map(\.rejected.tokens), pad: 0, maxSeq: 12))
            return zip(chosen, rejected).map { $0 - $1 }
        }
        for lr: Float in [1e-2, 0] {
            let rm = RewardModel(backbone: try tinyModel(), head: ScalarHead(channels: 16, seed: 1))
            let before = try margins(rm)
            var o = RewardOptions()
            o.lr = lr; o.headLR = lr; o.epochs = 20; o.batch = 8; o.warmup = 0
            try RewardTrainer(model: rm, options: o, pad: 0).run(pairs, log: try log("reward"))
            let after = try margins(rm)
            let meanBefore = before.reduce(0, +) / 8, meanAfter = after.reduce(0, +) / 8
            if lr > 0 {
                XCTAssertTrue(after.allSatisfy { $0 > 0 }, "chosen above rejected on every pair: \(after)")
                XCTAssertGreaterThan(meanAfter, meanBefore + 1)
            } else {
                XCTAssertEqual(meanAfter, meanBefore, accuracy: 1e-9)
            }
        }
    }

    /// DPO raises log π(chosen) − log π(rejected) above the reference's (its implicit reward
    /// margin), measured with the policy's own sequence log-probabilities after training.
    func testDPORaisesTheImplicitRewardMargin() throws {
        let pairs = (0..<6).map { i -> TokenizedPair in
            let prompt: [Int32] = [Int32(1 + i % 3), 6]
            return TokenizedPair(chosen: TokenizedExample(tokens: prompt + [4, 4], lossMask: [false, false, true, true]),
                                 rejected: TokenizedExample(tokens: prompt + [7, 2], lossMask: [false, false, true, true]))
        }
        let b = SequenceBatch(sequences: pairs.map(\.chosen.tokens) + pairs.map(\.rejected.tokens),
                              lossMask: pairs.map(\.chosen.lossMask) + pairs.map(\.rejected.lossMask), pad: 0, maxSeq: 12)
        func margin(_ m: GPT2) throws -> Double {
            let lp = try m.sequenceLogProbs(b)
            return (0..<6).reduce(0.0) { $0 + lp[$1] - lp[6 + $1] } / 6
        }
        for kind in [Losses.DPOKind.sigmoid, .ipo] {
            for lr: Float in [1e-2, 0] {
                let m = try tinyModel()
                let before = try margin(m)
                var o = DPOOptions()
                o.lr = lr; o.loss = kind; o.epochs = 10; o.batch = 6; o.warmup = 0
                try DPOTrainer(policy: m, options: o, pad: 0).run(pairs, log: try log("dpo"))
                let gained = try margin(m) - before
                if lr > 0 {
                    XCTAssertGreaterThan(gained, 2, "\(kind): log-ratio margin should grow by nats in 10 steps")
                } else {
                    XCTAssertEqual(gained, 0, accuracy: 1e-9, "\(kind)")
                }
            }
        }
    }

    /// A reward that is 1 exactly when the response starts with token 3: GRPO and PPO must raise
    /// the policy's probability of answering 3 (from about 1/9 at initialisation).
    func reward(_ rollouts: [Rollout]) -> [Double] { rollouts.map { $0.response.first == 3 ? 1 : 0 } }
    let prompts: [[Int32]] = [[1, 2], [2, 4], [5, 6], [7, 8]]

    func meanProbabilityOf3(_ m: GPT2) throws -> Double {
        try prompts.reduce(0.0) { $0 + (try nextTokenProbability(m, prompt: $1, token: 3)) } / Double(prompts.count)
    }

    func testGRPORaisesTheRewardedAnswer() throws {
        for lr: Float in [2e-2, 0] {
            let m = try tinyModel()
            let before = try meanProbabilityOf3(m)
            var o = GRPOOptions()
            o.lr = lr; o.steps = 12; o.promptsPerStep = 4; o.groupSize = 8; o.maxNewTokens = 2
            try GRPOTrainer(policy: m, reference: nil, options: o, eos: 0, score: reward).run(prompts: prompts, log: try log("grpo"))
            let after = try meanProbabilityOf3(m)
            if lr > 0 {
                XCTAssertGreaterThan(after, 3 * before, "p(3) \(before) → \(after)")
            } else {
                XCTAssertEqual(after, before, accuracy: 1e-12)
            }
        }
    }

    /// PPO refuses lr 0, so its control is the opposite reward: p(3) must then fall.
    func testPPORaisesTheRewardedAnswer() throws {
        for inverted in [false, true] {
            let m = try tinyModel(), reference = try tinyModel()
            let value = RewardModel(backbone: try tinyModel(seed: 9), head: ScalarHead(channels: 16, seed: 2))
            let before = try meanProbabilityOf3(m)
            var o = PPOOptions()
            o.lr = 2e-2; o.valueLR = 1e-2; o.steps = 12; o.batch = 8; o.minibatches = 2; o.ppoEpochs = 2
            o.maxNewTokens = 2; o.temperature = 1; o.klCoef = 0.01; o.missingEOSPenalty = 0
            try PPOTrainer(policy: m, reference: reference, value: value, options: o, eos: 0) { r in
                self.reward(r).map { inverted ? 1 - $0 : $0 }
            }.run(prompts: prompts + prompts, log: try log("ppo"))
            let after = try meanProbabilityOf3(m)
            if inverted {
                XCTAssertLessThan(after, before / 2, "p(3) \(before) → \(after) under the opposite reward")
            } else {
                XCTAssertGreaterThan(after, 3 * before, "p(3) \(before) → \(after)")
            }
        }
    }
}
