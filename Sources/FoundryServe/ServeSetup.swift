import Foundation
import FoundryCore
import FoundryData
import FoundryModel
import Hummingbird
import Logging

extension FoundryServer {
    /// Loads the model (and the reward model and prompts of the Rank tab) and builds the
    /// server: what `foundry serve` runs and what the tests start in-process.
    public static func prepare(model dir: String, device: Device, options: ServeOptions) throws -> FoundryServer {
        try options.validate()
        let (gpt, tok) = try loadModel(dir, device: device, needTokenizer: true)
        let engine = try Engine(model: gpt, tokenizer: tok!, slots: options.slots, queueLimit: options.queue,
                                weights: options.decodeWeights)
        let name = URL(fileURLWithPath: dir).standardizedFileURL.lastPathComponent
        let served = ServedModel(name: name, engine: engine)
        var desk: RankingDesk?
        if let prompts = options.prompts, let rankings = options.rankings {
            var score: (@Sendable (String, [String]) async throws -> [Double])?
            if let rmDir = options.rewardModel {
                let rm = try RewardModel.load(rmDir, device: device)
                guard let rmTok = try Checkpoint.loadTokenizer(rmDir) else { throw FoundryError("\(rmDir) has no tokenizer.json") }
                let box = UncheckedBox((rm, rmTok))
                score = { prompt, responses in
                    try await engine.perform { try rewardScores(box.value.0, tokenizer: box.value.1, prompt: prompt, responses: responses) }
                }
            }
            desk = try RankingDesk(prompts: prompts, rankings: rankings, k: options.k, model: served,
                                   temperature: options.rankTemperature, maxTokens: options.rankMaxTokens, score: score, seed: options.rankSeed)
        }
        return FoundryServer(model: served, options: options, desk: desk)
    }

    /// Serves until SIGINT or SIGTERM, then lets in-flight requests finish and returns.
    /// `onRunning` gets the bound port.
    public func run(onRunning: @escaping @Sendable (Int) async -> Void) throws {
        let app = application(onRunning: onRunning)
        let done = DispatchSemaphore(value: 0)
        let failure = UncheckedBox<Error?>(nil)
        Task {
            do { try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint]) } catch { failure.value = error }
            done.signal()
        }
        done.wait()
        model.engine.drain()
        if let error = failure.value {
            throw FoundryError("the server stopped: \(error) (is port \(options.port) on \(options.host) already in use? pick another with --port)")
        }
    }
}

/// Holds a value that is only ever touched from one thread at a time (the engine's, or the
/// server's start-up), for closures that must be Sendable.
final class UncheckedBox<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}
