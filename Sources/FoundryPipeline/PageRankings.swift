import Foundation
import FoundryCore
import FoundryFiles
import FoundryData
import FoundryModel
import FoundryTrain

/// `foundry pipeline --rankings-from page`: how many rankings to make and who makes them.
public struct PageRankingSource {
    public var count: Int
    public var collect: (PageRankingJob, (String) -> Void) throws -> PageRankingSummary
    public init(count: Int, collect: @escaping (PageRankingJob, (String) -> Void) throws -> PageRankingSummary) {
        self.count = count; self.collect = collect
    }
    public static let defaultCount = 400
}

extension PipelineRun {
    /// The stages that learn from rankings made on the page: collect them from the SFT model
    /// (prompts from the RL prompts, never the held-out ones), train a reward model on them
    /// (a tenth held out, accuracy over the pairs the person told apart), then DPO on their
    /// best-against-the-rest pairs and PPO against that reward model, each from the SFT model.
    /// DPO takes the pairs whose better response the person ranked first: its NLL term
    /// (rpo_alpha) would otherwise also train on wrong answers ranked above worse ones (from the
    /// same 360 rankings, 4 epochs: 91.0% held-out with the best-first pairs, 89.5% with all).
    func pageStages(_ source: PageRankingSource, data: StageData, tok: Tokenizer, rlRows: [RLPrompt], rlPrompts: [[Int32]]) throws {
        let k = p.pageRankK
        let pageDir = dir("page"), file = Checkpoint.path(pageDir, "rankings.jsonl")
        try AtomicFile.makeDirectory(pageDir)
        let summaryFile = Checkpoint.path(pageDir, "summary.json")
        if fresh || !FileManager.default.fileExists(atPath: summaryFile) {
            try timed("rankings on the page (\(source.count) of \(k), a simulated person)") {
                for f in [file, file + ".skipped", file + ".torn"] { try? FileManager.default.removeItem(atPath: f) }
                let prompts = Checkpoint.path(pageDir, "prompts.jsonl")
                try Datasets.write(rlRows, to: prompts)
                let summary = try source.collect(PageRankingJob(model: dir("sft"), prompts: prompts, rankings: file, k: k,
                                                                count: source.count, seed: seed, device: device)) { [weak self] in self?.say("  " + $0) }
                try AtomicFile.write(try JSONEncoder().encode(summary), to: summaryFile)
            }
        } else {
            say("== rankings on the page: reusing \(file)")
        }
        pageSummary = try JSONDecoder().decode(PageRankingSummary.self, from: Data(contentsOf: URL(fileURLWithPath: summaryFile)))
        let rows = try Datasets.readRankings(path: file)
        let all = try data.rankings(rows)
        // Held out as `foundry reward` holds out (a seeded shuffle, a tenth), so the command
        // reproduces the figure from the same file and seed.
        let (train, heldOut) = HeldOut.split(all, fraction: RewardOptions().heldOutFraction, seed: seed)
        try trainReward(into: "reward_page", "reward model (page rankings)", options: p.reward.forRankings(train.count),
                        tok: tok) { try $0.run(rankings: train, log: try quiet("reward_page")) }
        let heldPairs = heldOut.flatMap(\.pairs), tied = heldOut.reduce(0) { $0 + $1.tiedPairs }
        var figures: [String: Double] = ["pairwise_accuracy": .nan, "margin": .nan, "loss": .nan,
                                         "pairs": Double(heldPairs.count), "tied_pairs": Double(tied), "rankings": Double(rows.count),
                                         "training_pairs": Double(train.reduce(0) { $0 + $1.pairs.count })]
        if heldPairs.isEmpty {
            say("   reward_page: every held-out pair is tied (\(tied)): no accuracy to measure")
        } else {
            figures.merge(try rewardFigures("reward_page", on: heldPairs, tok: tok)) { _, measured in measured }
            say(String(format: "   reward_page: held-out accuracy %.1f%% over %ld distinguishable pairs (%ld tied pairs not counted)",
                       100 * figures["pairwise_accuracy"]!, heldPairs.count, tied))
        }
        metrics["reward_model_page"] = figures
        let bestPairs = train.flatMap(\.bestPairs)
        if bestPairs.isEmpty && !skipped.contains(.dpo) {
            say("== dpo (page rankings): skipped, no ranking put one response above another")
        } else {
            try stage("dpo_page", "dpo (page rankings)", skip: skipped.contains(.dpo)) {
                try dpo(into: "dpo_page", pairs: bestPairs, options: p.pageDPO, tok: tok)
            }
        }
        try stage("ppo_page", "ppo (page rankings' reward model)", skip: skipped.contains(.ppo)) {
            _ = try ppo(into: "ppo_page", reward: "reward_page", rlRows: rlRows, rlPrompts: rlPrompts, tok: tok)
        }
    }
}
