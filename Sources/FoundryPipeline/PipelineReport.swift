import Foundation
import FoundryCore
import FoundryFiles
import FoundryData
import FoundryModel
import FoundryReport

/// report.json, report.md and the PNG plots of a pipeline run.
struct PipelineReport {
    let run: PipelineRun

    func write() throws {
        let out = run.out
        let seconds = Date().timeIntervalSince(run.start)
        let stageNames = PipelineRun.evaluated
        let file = PipelineReportFile(
            stages: Dictionary(uniqueKeysWithValues: stageNames.compactMap { n in run.metrics[n].map { (n, PipelineReportFile.figures($0)) } }),
            forgetting: PipelineReportFile.figures(run.forgetting), seconds: seconds,
            stageSeconds: Dictionary(uniqueKeysWithValues: run.stageSeconds.map { ($0.0, $0.1) }),
            backend: run.device.backend, device: run.device.name, seed: run.seed,
            task: .init(name: run.p.task.rawValue, digits: "\(run.p.digits.lowerBound)-\(run.p.digits.upperBound)", demoSlip: run.p.demoSlip),
            rewardModel: run.metrics["reward_model"].map(PipelineReportFile.figures),
            rewardModelPairs: run.metrics["reward_model_pairs"].map(PipelineReportFile.figures),
            rewardModelPage: run.metrics["reward_model_page"].map(PipelineReportFile.figures), pageRankings: run.pageSummary)
        try file.write(to: Checkpoint.path(out, "report.json"))

        // Plots.
        let curves = ["pretrain", "sft", "sft_frozen", "sft_lora", "reward", "dpo", "grpo", "ppo"].compactMap { name -> Series? in
            guard let c = run.curves[name], !c.isEmpty else { return nil }
            return Series(name: name, points: c.map { (x: $0.0, y: $0.1) })
        }
        try Chart.line(title: "Training loss per stage", xLabel: "step", yLabel: "loss", series: curves)
            .write(to: Checkpoint.path(out, "loss.png"))
        if !run.ppoHistory.isEmpty {
            let steps = run.ppoHistory.indices.map { Double($0 + 1) }
            func series(_ key: String) -> Series { Series(name: key, x: steps, y: run.ppoHistory.map { $0[key] ?? .nan }) }
            try Chart.line(title: "PPO: reward-model score and KL per step", xLabel: "PPO step", yLabel: "value",
                           series: [series("objective/scores"), series("objective/kl"), series("objective/rlhf_reward")])
                .write(to: Checkpoint.path(out, "ppo.png"))
        }
        let order = PipelineRun.evaluated.filter { run.metrics[$0] != nil }
        try Chart.bars(title: "Held-out accuracy per stage (greedy, %)", labels: order,
                       values: order.map { 100 * (run.metrics[$0]?["accuracy"] ?? .nan) })
            .write(to: Checkpoint.path(out, "accuracy.png"))

        let lost = run.forgetting
        let variants = forgettingVariants.filter { lost["val_loss_after" + $0.key] != nil }
        if let before = lost["val_loss_before"], !variants.isEmpty {
            try Chart.bars(title: "Validation loss on the pretraining text (lower: less forgotten)", labels: ["before SFT"] + variants.map(\.short),
                           values: [before] + variants.map { lost["val_loss_after" + $0.key]! })
                .write(to: Checkpoint.path(out, "forgetting.png"))
        }

        // Markdown.
        var md = "# Foundry pipeline report\n\n"
        md += "Backend \(run.device.backend) (\(run.device.name)), seed \(run.seed), "
        md += "model \(run.p.pretrain.layers) layers × \(run.p.pretrain.embd) wide, context \(run.p.pretrain.context); total \(String(format: "%.0f", seconds)) s.\n\n"
        md += "Task \(run.p.task) (operands of \(run.p.digits.lowerBound)-\(run.p.digits.upperBound) digits). "
        if run.p.demoSlip > 0 {
            md += String(format: "The SFT demonstrations come from a simulated demonstrator who slips on %.0f%% of the hard cases ", 100 * run.p.demoSlip)
            md += run.p.task == .compare ? "(close calls answered with the first number mentioned); " : "(carries dropped); "
            md += "the comparisons are judged correctly. SFT inherits the slip; the preference stages can remove it.\n\n"
        } else {
            md += "The SFT demonstrations are all correct.\n\n"
        }
        md += "| stage | accuracy (greedy) | accuracy (T=0.7) | reward | KL to SFT |\n|---|---|---|---|---|\n"
        for name in order {
            let m = run.metrics[name]!
            md += String(format: "| %@ | %.1f%% | %.1f%% | %@ | %@ |\n", name, 100 * m["accuracy"]!, 100 * m["accuracy_sampled"]!,
                         shown(m["reward"], "%.3f"), shown(m["kl"], "%.3f"))
        }
        if let rm = run.metrics["reward_model"] {
            md += String(format: "\nReward model: held-out pairwise accuracy %.1f%%, mean margin %.3f", 100 * rm["pairwise_accuracy"]!, rm["margin"]!)
            if let pairs = run.metrics["reward_model_pairs"] {
                md += String(format: " (from rankings of %ld responses; from pairs of the same prompts: %.1f%%, margin %.3f)",
                             run.p.rankK, 100 * pairs["pairwise_accuracy"]!, pairs["margin"]!)
            }
            md += ".\n"
        }
        let f = run.forgetting
        /// A figure, or "skipped" for a stage that did not run.
        func shown(_ v: Double?, _ format: String = "%.4f") -> String { v.map { $0.isFinite ? String(format: format, $0) : "n/a" } ?? "skipped" }
        md += pageSection()
        md += "\n![loss](loss.png)\n\n![accuracy](accuracy.png)\n\n"
        if !run.ppoHistory.isEmpty { md += "![ppo](ppo.png)\n\n" }
        md += forgettingSection(f, shown)
        md += "## Time per stage\n\n" + run.stageSeconds.map { String(format: "- %@: %.0f s", $0.0, $0.1) }.joined(separator: "\n") + "\n"
        md += "\n## Samples (same prompts for every stage)\n"
        for name in order { md += "\n### \(name)\n\n```\n" + (run.samples[name] ?? []).joined(separator: "\n") + "\n```\n" }
        try AtomicFile.write(Data(md.utf8), to: Checkpoint.path(out, "report.md"))

        // The final table on the terminal.
        run.say("\n" + String(repeating: "=", count: 72))
        run.say("stage        accuracy  sampled   reward    KL")
        for name in order {
            let m = run.metrics[name]!
            func right(_ s: String, _ width: Int) -> String { String(repeating: " ", count: max(0, width - s.count)) + s }
            run.say(name.padding(12) + String(format: " %6.1f%%  %6.1f%%  ", 100 * m["accuracy"]!, 100 * m["accuracy_sampled"]!)
                    + right(shown(m["reward"], "%+.3f"), 7) + "  " + right(shown(m["kl"], "%.3f"), 6))
        }
        if let rm = run.metrics["reward_model"] {
            run.say(String(format: "reward model pairwise accuracy %.1f%%", 100 * rm["pairwise_accuracy"]!)
                    + (run.metrics["reward_model_pairs"].map { String(format: " (rankings of %ld; pairs of the same prompts: %.1f%%)", run.p.rankK, 100 * $0["pairwise_accuracy"]!) } ?? ""))
        }
        if let page = run.metrics["reward_model_page"], run.metrics["sft"] != nil {
            run.say(String(format: "page rankings: reward model %.1f%% over %.0f distinguishable held-out pairs; ", 100 * page["pairwise_accuracy"]!, page["pairs"]!)
                    + "gain over SFT (points, greedy): PPO \(gain("ppo_page")), DPO \(gain("dpo_page")) (synthetic comparisons: PPO \(gain("ppo")), DPO \(gain("dpo")))")
        }
        run.say("forgetting: val loss \(shown(f["val_loss_before"])) → \(shown(f["val_loss_after"])) (frozen: \(shown(f["val_loss_after_frozen"])), "
                + "LoRA: \(shown(f["val_loss_after_lora"])))")
        let forgettingPlot = FileManager.default.fileExists(atPath: Checkpoint.path(out, "forgetting.png")) ? ", forgetting.png" : ""
        run.say(String(format: "wrote %@/report.md, report.json, loss.png, accuracy.png%@%@ in %.0f s", out, forgettingPlot,
                       run.ppoHistory.isEmpty ? "" : ", ppo.png", seconds))
    }
}

extension PipelineReport {
    /// A stage's greedy held-out accuracy minus SFT's, in points ("skipped" where it did not run).
    func gain(_ name: String) -> String {
        guard let sft = run.metrics["sft"]?["accuracy"], let a = run.metrics[name]?["accuracy"] else { return "skipped" }
        return String(format: "%+.1f", 100 * (a - sft))
    }

    /// With --rankings-from page: what the simulated person made on the page and what it taught.
    func pageSection() -> String {
        guard let page = run.metrics["reward_model_page"], run.metrics["sft"] != nil else { return "" }
        let s = run.pageSummary ?? PageRankingSummary()
        var md = "\n## Rankings made on the page\n\n"
        md += "A simulated person ranked \(s.ranked) prompts of the SFT model's responses (K = \(run.p.pageRankK)) through the page's own "
        md += "HTTP calls (`foundry serve`'s Rank tab): the correct answer first, then wrong bare numbers, then anything else, "
        md += "equally good within each group (ties). The page skipped \(s.skipped) prompts by itself (one distinct response only); "
        md += "\(s.short) rankings had fewer than K responses and \(s.raised) had a response sampled at a raised temperature.\n\n"
        md += String(format: "Reward model from %.0f rankings (%.0f training pairs): held-out accuracy %.1f%% over %.0f pairs the person told apart (%.0f tied pairs not counted).\n\n",
                     page["rankings"] ?? .nan, page["training_pairs"] ?? .nan, 100 * page["pairwise_accuracy"]!, page["pairs"] ?? .nan, page["tied_pairs"] ?? .nan)
        md += "| from | PPO gain over SFT | DPO gain over SFT |\n|---|---|---|\n"
        md += "| rankings made on the page | \(gain("ppo_page")) | \(gain("dpo_page")) |\n"
        md += "| the synthetic comparisons | \(gain("ppo")) | \(gain("dpo")) |\n"
        md += "\n(points of held-out accuracy, greedy)\n"
        return md
    }

    /// The SFT variants the forgetting section compares: report.json's key suffix, labels.
    var forgettingVariants: [(key: String, short: String, long: String)] {
        let blocks = max(1, run.p.pretrain.layers / 2)
        return [("", "full SFT", "full finetuning"),
                ("_frozen", "frozen", "embeddings + \(blocks) block\(blocks == 1 ? "" : "s") frozen"),
                ("_lora", "LoRA \(run.p.sftLoRA.rank)", "LoRA rank \(run.p.sftLoRA.rank) (attention + MLP)")]
    }

    func formatLR(_ v: Float) -> String { String(format: "%g", Double(v)) }

    /// The table and plot comparing how much each SFT variant forgot and how well it learned.
    func forgettingSection(_ f: [String: Double], _ shown: (Double?, String) -> String) -> String {
        var md = "## Forgetting: full SFT, frozen blocks and LoRA\n\n"
        md += "Each variant finetunes the same pretrained model on the same demonstrations for the same epochs "
        md += "at the same lr (\(formatLR(run.p.sft.lr))). Forgetting is the validation loss on the pretraining text "
        md += "(\(shown(f["val_loss_before"], "%.4f")) before SFT).\n\n"
        md += "| SFT variant | trainable parameters | held-out accuracy (greedy) | validation loss after | increase |\n|---|---|---|---|---|\n"
        for v in forgettingVariants {
            guard let after = f["val_loss_after" + v.key] else { md += "| \(v.long) | skipped | | | |\n"; continue }
            let rise = f["val_loss_before"].map { after - $0 }
            md += "| \(v.long) | \(f["trainable" + v.key].map { String(Int($0)) } ?? "n/a") | \(f["accuracy" + v.key].map { String(format: "%.1f%%", 100 * $0) } ?? "n/a") "
                + "| \(String(format: "%.4f", after)) | \(shown(rise, "%+.4f")) |\n"
        }
        return md + "\n![forgetting](forgetting.png)\n\n"
    }
}

/// report.json: the figures of a pipeline run (a figure that was not measured is null).
public struct PipelineReportFile: Codable, Equatable {
    public struct Task: Codable, Equatable {
        public var name: String, digits: String, demoSlip: Double
        enum CodingKeys: String, CodingKey { case name, digits, demoSlip = "demo_slip" }
    }
    /// Per stage: accuracy, accuracy_sampled, reward, kl.
    public var stages: [String: [String: Double?]]
    /// val_loss_before, and per SFT variant (suffix "", _frozen, _lora): val_loss_after,
    /// accuracy (greedy, held out), trainable (parameters).
    public var forgetting: [String: Double?]
    public var seconds: Double
    public var stageSeconds: [String: Double]
    public var backend: String, device: String
    public var seed: UInt64
    public var task: Task
    /// pairwise_accuracy, margin, loss.
    public var rewardModel: [String: Double?]?
    /// With --rank-k: the same figures of a reward model trained on pairs (K = 2) from as many prompts.
    public var rewardModelPairs: [String: Double?]?
    /// With --rankings-from page: the reward model trained on the page's rankings (accuracy over
    /// the held-out pairs the person told apart, with the number of pairs and of tied pairs) and
    /// what the collection did.
    public var rewardModelPage: [String: Double?]? = nil
    public var pageRankings: PageRankingSummary? = nil

    enum CodingKeys: String, CodingKey {
        case stages, forgetting, seconds, backend, device, seed, task
        case stageSeconds = "stage_seconds", rewardModel = "reward_model", rewardModelPairs = "reward_model_pairs"
        case rewardModelPage = "reward_model_page", pageRankings = "page_rankings"
    }

    /// NaN (not measured) as nil.
    static func figures(_ d: [String: Double]) -> [String: Double?] { d.mapValues { $0.isFinite ? $0 : nil } }

    public func write(to path: String) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try encoder.encode(self), to: path)
    }

    public static func read(_ path: String) throws -> PipelineReportFile {
        guard let data = FileManager.default.contents(atPath: path) else { throw FoundryError.missingFile(path, hint: "run `foundry pipeline` first") }
        do { return try JSONDecoder().decode(PipelineReportFile.self, from: data) } catch {
            throw FoundryError("\(path) is not a Foundry pipeline report: \(error)")
        }
    }
}
