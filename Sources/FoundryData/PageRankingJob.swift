import FoundryCore

/// What the pipeline asks of whoever makes rankings on the served page: serve `model`, rank
/// `count` prompts of `prompts` with `k` responses each through the page's own HTTP calls, and
/// let the page append them to `rankings`. The pipeline library does not link the server; the
/// `foundry` command (and the tests) hand it a collector that does (`PageRankingSource`).
public struct PageRankingJob {
    public let model: String
    public let prompts: String
    public let rankings: String
    public let k: Int
    public let count: Int
    public let seed: UInt64
    public let device: Device

    public init(model: String, prompts: String, rankings: String, k: Int, count: Int, seed: UInt64, device: Device) {
        self.model = model; self.prompts = prompts; self.rankings = rankings; self.k = k; self.count = count
        self.seed = seed; self.device = device
    }
}

/// What a collection did, for the report.
public struct PageRankingSummary: Codable, Equatable, Sendable {
    public var ranked = 0
    /// Prompts the page skipped by itself (the model gave a single distinct response).
    public var skipped = 0
    /// Rankings with fewer than K responses, and ones with a response sampled at a raised temperature.
    public var short = 0, raised = 0
    public init() {}
}
