import XCTest
import FoundryData
import FoundryCore
import FoundryCPU
import FoundryModel
import FoundryTrain

/// PPO and GRPO data parallel (ranks as threads, `ThreadRanks`): 2 ranks, each sampling and
/// training on half of every step's prompts, take the steps 1 process takes with the whole
/// batch, within 1e-5 on every logged figure; a run saved on 2 ranks resumes on 2 ranks to the
/// bit and on 1 process within 1e-5.
final class DataParallelStageTests: XCTestCase {
    static let prompts: [[Int32]] = [[1, 2], [2, 4], [5, 6], [7, 8], [3, 1], [6, 2], [8, 8], [4, 5]]

    /// Rewards the first answer token 3, a little for 5: groups disagree, and some do not.
    static func reward(_ r: [Rollout]) -> [Double] { r.map { $0.response.first == 3 ? 1 : $0.response.first == 5 ? 0.5 : 0 } }

    static func model(_ d: Device, seed: UInt64 = 4) throws -> GPT2 {
        let m = try GPT2(config: GPT2Config(vocabSize: 9, maxSeq: 12, channels: 16, layers: 1, heads: 2), device: d)
        try m.initialise(seed: seed)
        return m
    }

    /// A log that asks the run to stop after step `stop` (nil: never).
    static func log(stopAfter stop: Int?) throws -> StageLog {
        try StageLog(metricsPath: nil) { line in
            if let stop, line.contains(" step \(String(format: "%4d", stop))/") { Interrupt.request() }
        }
    }

    enum Objective { case ppo, grpo(dynamic: Bool, beta: Double) }

    /// `steps` of `objective` on `ranks` ranks (each its own CPU device and models), saved in
    /// `dir` (stopping after `stopAfter`) or resumed from it; rank 0's logged figures per step.
    func train(_ objective: Objective, ranks: Int, steps: Int = 10, dir: String? = nil, stopAfter: Int? = nil,
               resume: Bool = false) throws -> [[String: Double]] {
        try ThreadRanks.run(ranks) { c in
            let d = CPUDevice()
            let m = resume ? try Checkpoint.load(dir!, device: d) : try Self.model(d)
            let ck = dir.map { StageCheckpoint(dir: $0, saveEvery: 0, tokenizer: nil) }
            let log = try Self.log(stopAfter: c.isLeader ? stopAfter : nil)
            switch objective {
            case .ppo:
                var o = PPOOptions(); o.lr = 2e-2; o.valueLR = 1e-2; o.steps = steps; o.batch = 4; o.minibatches = 2; o.ppoEpochs = 2
                o.maxNewTokens = 2; o.temperature = 1; o.adaptiveKL = true; o.logEvery = 1
                let value = RewardModel(backbone: try Self.model(d, seed: 9), head: ScalarHead(channels: 16, seed: 2))
                return try PPOTrainer(policy: m, reference: try Self.model(d), value: value, options: o, eos: 0, collective: c, score: Self.reward)
                    .run(prompts: Self.prompts, log: log, checkpoint: ck, resume: resume)
            case .grpo(let dynamic, let beta):
                var o = GRPOOptions(); o.lr = 2e-2; o.steps = steps; o.promptsPerStep = 2; o.groupSize = 4; o.maxNewTokens = 2
                o.dynamicSampling = dynamic; o.beta = beta; o.logEvery = 1
                return try GRPOTrainer(policy: m, reference: beta > 0 ? try Self.model(d) : nil, options: o, eos: 0, collective: c, score: Self.reward)
                    .run(prompts: Self.prompts, log: log, checkpoint: ck, resume: resume)
            }
        }[0]
    }

    func assertClose(_ a: [[String: Double]], _ b: [[String: Double]], _ label: String, accuracy: Double = 1e-5) {
        XCTAssertEqual(a.count, b.count, label)
        for (step, (x, y)) in zip(a, b).enumerated() {
            XCTAssertEqual(Set(x.keys), Set(y.keys), label)
            for (k, v) in x { XCTAssertEqual(v, y[k]!, accuracy: accuracy, "\(label) step \(step + 1) \(k)") }
        }
    }

    func testPPOOnTwoRanksTrainsLikeOneProcess() throws {
        let one = try train(.ppo, ranks: 1), two = try train(.ppo, ranks: 2)
        assertClose(one, two, "ppo")
        XCTAssertGreaterThan(Set(one.map { $0["loss/policy_avg"]! }).count, 5, "the policy loss moves")
        XCTAssertNotEqual(one.first!["objective/scores"], one.last!["objective/scores"], "the run trained")
    }

    func testGRPOOnTwoRanksTrainsLikeOneProcess() throws {
        for (dynamic, beta) in [(false, 0.0), (true, 0.05)] {
            let label = "grpo dynamic \(dynamic) beta \(beta)"
            let one = try train(.grpo(dynamic: dynamic, beta: beta), ranks: 1), two = try train(.grpo(dynamic: dynamic, beta: beta), ranks: 2)
            assertClose(one, two, label)
            XCTAssertGreaterThan(one.filter { $0["loss"]! != 0 }.count, 3, "\(label): steps with a signal")
            if dynamic { XCTAssertGreaterThan(one.map { $0["frac_reward_zero_std"]! }.max()!, 0, "\(label): some groups agreed and were skipped") }
        }
    }

    /// Stopped after step 3 on 2 ranks and resumed on 2 ranks = 10 steps straight on 2 ranks (to
    /// the bit); the same checkpoint resumed by 1 process, within 1e-5.
    func testPPOAndGRPOResumeAcrossRanks() throws {
        for objective in [Objective.ppo, .grpo(dynamic: true, beta: 0)] {
            let label = "\(objective)"
            let straight = try train(objective, ranks: 2)
            let dir = CLI.tempDir() + "/run"
            let first = try train(objective, ranks: 2, dir: dir, stopAfter: 3)
            XCTAssertEqual(first.count, 3, "\(label): stopped after step 3")
            let copy = CLI.tempDir() + "/copy"
            try FileManager.default.copyItem(atPath: dir, toPath: copy)
            let resumed = try train(objective, ranks: 2, dir: dir, resume: true)
            XCTAssertEqual(first + resumed, straight, "\(label): resumed on 2 ranks differs from the straight run")
            let alone = try train(objective, ranks: 1, dir: copy, resume: true)
            assertClose(first + alone, straight, "\(label) resumed by 1 process")
        }
    }
}
