import XCTest
import FoundryData
import FoundryCore
import FoundryCPU
import FoundryModel
import FoundryTrain

/// Every post-training stage, stopped after a few steps (as a signal stops it) and resumed from
/// what it saved, gives the losses of the same run uninterrupted, bitwise on the CPU.
final class StageResumeTests: XCTestCase {
    let d = CPUDevice()

    func model(_ seed: UInt64 = 4) throws -> GPT2 {
        let m = try GPT2(config: GPT2Config(vocabSize: 9, maxSeq: 12, channels: 16, layers: 1, heads: 2), device: d)
        try m.initialise(seed: seed)
        return m
    }

    /// A log that asks the run to stop after step `stop` (nil: never), and collects `key` per step.
    func log(stopAfter stop: Int?) throws -> StageLog {
        try StageLog(metricsPath: nil) { line in
            if let stop, line.contains(" step \(String(format: "%4d", stop))/") { Interrupt.request() }
        }
    }

    func checkpoint(_ dir: String) -> StageCheckpoint { StageCheckpoint(dir: dir, saveEvery: 0, tokenizer: nil) }

    /// Runs `train(model, log, checkpoint, resume)` straight, then stopped after step 3 and resumed
    /// from a fresh model object loaded from the saved directory; the two halves' values must equal
    /// the straight run's.
    func check(_ name: String, steps: Int, _ train: (GPT2, StageLog, StageCheckpoint?, Bool) throws -> [Double]) throws {
        let straight = try train(try model(), try log(stopAfter: nil), checkpoint(CLI.tempDir()), false)
        XCTAssertEqual(straight.count, steps, name)
        let dir = CLI.tempDir()
        let first = try train(try model(), try log(stopAfter: 3), checkpoint(dir), false)
        XCTAssertEqual(first.count, 3, "\(name): stopped after step 3")
        let saved = try Checkpoint.load(dir, device: d)
        let second = try train(saved, try log(stopAfter: nil), checkpoint(dir), true)
        XCTAssertEqual(first + second, straight, "\(name): resumed run differs from the straight one")
    }

    let examples = [TokenizedExample(tokens: [1, 2, 3, 4, 5], lossMask: [false, false, true, true, true]),
                    TokenizedExample(tokens: [6, 7, 8, 1], lossMask: [false, true, true, true]),
                    TokenizedExample(tokens: [2, 2, 5, 6, 7, 8], lossMask: [false, false, false, true, true, true])]
    var pairs: [TokenizedPair] {
        (0..<6).map { i in
            let prompt: [Int32] = [Int32(1 + i % 3), 6]
            return TokenizedPair(chosen: TokenizedExample(tokens: prompt + [4, 4], lossMask: [false, false, true, true]),
                                 rejected: TokenizedExample(tokens: prompt + [7, 2], lossMask: [false, false, true, true]))
        }
    }
    let prompts: [[Int32]] = [[1, 2], [2, 4], [5, 6], [7, 8]]
    func reward(_ r: [Rollout]) -> [Double] { r.map { $0.response.first == 3 ? 1 : 0 } }

    func testSFTResumes() throws {
        try check("sft", steps: 8) { m, log, ck, resume in
            var o = SFTOptions(); o.lr = 1e-2; o.epochs = 8; o.batch = 3; o.warmup = 2; o.logEvery = 1
            return try SFTTrainer(model: m, examples: examples, options: o, pad: 0).run(log: log, checkpoint: ck, resume: resume)
        }
    }

    func testDPOResumes() throws {
        try check("dpo", steps: 8) { m, log, ck, resume in
            var o = DPOOptions(); o.lr = 1e-2; o.epochs = 4; o.batch = 3; o.warmup = 2; o.logEvery = 1
            return try DPOTrainer(policy: m, options: o, pad: 0).run(pairs, log: log, checkpoint: ck, resume: resume).map { $0["loss"]! }
        }
    }

    func testRewardModelResumes() throws {
        try check("reward", steps: 8) { m, log, ck, resume in
            var o = RewardOptions(); o.lr = 1e-2; o.epochs = 4; o.batch = 3; o.warmup = 2; o.logEvery = 1
            // A resumed run's head comes back from the saved state; a fresh one starts from seed 1.
            let rm = RewardModel(backbone: m, head: ScalarHead(channels: 16, seed: 1))
            return try RewardTrainer(model: rm, options: o, pad: 0).run(pairs, log: log, checkpoint: ck, resume: resume).map(\.loss)
        }
    }

    func testGRPOResumes() throws {
        try check("grpo", steps: 6) { m, log, ck, resume in
            var o = GRPOOptions(); o.lr = 2e-2; o.steps = 6; o.promptsPerStep = 2; o.groupSize = 4; o.maxNewTokens = 2; o.logEvery = 1
            return try GRPOTrainer(policy: m, reference: nil, options: o, eos: 0, score: reward)
                .run(prompts: prompts, log: log, checkpoint: ck, resume: resume).map { $0["reward"]! + $0["loss"]! }
        }
    }

    func testPPOResumes() throws {
        try check("ppo", steps: 6) { m, log, ck, resume in
            var o = PPOOptions(); o.lr = 2e-2; o.valueLR = 1e-2; o.steps = 6; o.batch = 4; o.minibatches = 2; o.ppoEpochs = 2
            o.maxNewTokens = 2; o.temperature = 1; o.logEvery = 1
            let value = RewardModel(backbone: try model(9), head: ScalarHead(channels: 16, seed: 2))
            return try PPOTrainer(policy: m, reference: try model(), value: value, options: o, eos: 0, score: reward)
                .run(prompts: prompts, log: log, checkpoint: ck, resume: resume)
                .map { $0["objective/scores"]! + $0["loss/policy_avg"]! + $0["loss/value_avg"]! }
        }
    }
}
