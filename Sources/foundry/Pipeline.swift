import ArgumentParser
import Foundation
import FoundryCore
import FoundryData
import FoundryModel
import FoundryPipeline
import FoundryServe
import FoundryTrain

/// Where the pipeline's preference data comes from.
enum RankingsSource: String, CaseIterable, ExpressibleByArgument {
    case synthetic, page
}

struct Pipeline: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The whole life of a model in one command: data, pretraining, SFT, reward model, PPO, DPO, GRPO, evaluation and a report.",
        discussion: """
        With no arguments: generates a verifiable task (by default: which of two numbers is larger; \
        --task arithmetic for addition), pretrains a small GPT on its text, finetunes \
        it on demonstrations (also once with frozen blocks, to measure forgetting), trains a reward \
        model on comparisons, then runs PPO, DPO and GRPO from the same SFT model, evaluates every \
        checkpoint on the same held-out prompts and writes report.md, report.json and PNG plots. \
        Stages whose checkpoint already exists in --out are reused unless --fresh.

        Example: foundry pipeline --out runs/pipeline --backend opencl
        """)

    @Option(help: "Output directory for every stage, the report and the plots.") var out = "runs/pipeline"
    @Option(help: "Size preset (see docs/pipeline.md).") var preset = PipelinePreset.defaultName
    @Option(help: "Random seed for everything.") var seed = PipelineRun.defaultSeed
    @Option(help: "Comma-separated parts to leave out.") var skip: CommaList<PipelineRun.Skippable>?
    @Option(help: "Synthetic task family, instead of the preset's (see `foundry data synth --help`).") var task: SynthTask.Family?
    @Option(help: "Operand digits of the task, N or MIN-MAX, instead of the preset's.", transform: { try SynthTask.parseDigits($0) })
    var digits: ClosedRange<Int>?
    @Option(help: "Override the preset's SFT epochs.") var sftEpochs: Int?
    @Option(help: "Override the preset's SFT learning rate.") var sftLr: Float?
    @Option(help: "Override the preset's pretraining steps.") var pretrainSteps: Int?
    @Option(help: "Demonstrator slip rate on hard cases, instead of the preset's (\(PipelinePreset.named(PipelinePreset.defaultName).demoSlip) for \(PipelinePreset.defaultName); 0 = perfect demonstrations). See `foundry data synth --help`.")
    var demoSlip: Double?
    @Option(help: "Train the reward model on rankings of K responses (K > 2) by a simulated person, beside one on pairs of the same prompts for comparison.")
    var rankK: Int?
    @Option(help: ArgumentHelp("Where preference data comes from besides the synthetic comparisons: 'page' also has a simulated person rank the SFT model's responses through the served Rank page's HTTP calls, then trains a reward model, DPO and PPO from those rankings and reports their gain beside the synthetic one.", valueName: "synthetic|page"))
    var rankingsFrom = RankingsSource.synthetic
    @Option(help: "Rankings the simulated person makes on the page (with --rankings-from page; K from --rank-k, default 4).")
    var pageRankings = PageRankingSource.defaultCount
    @Flag(help: "Rerun every stage even if its checkpoint exists.") var fresh = false
    @OptionGroup var deviceOptions: DeviceOptions

    func validate() throws {
        if let sftEpochs, sftEpochs < 1 { throw ValidationError("--sft-epochs must be 1 or more, not \(sftEpochs)") }
        if let sftLr, !(sftLr > 0) { throw ValidationError("--sft-lr must be a positive number, not \(sftLr)") }
        if let pretrainSteps, pretrainSteps < 1 { throw ValidationError("--pretrain-steps must be 1 or more, not \(pretrainSteps)") }
        if let demoSlip { try SynthTask.checkDemoSlip(demoSlip) }
        if let rankK, !(3...16).contains(rankK) { throw ValidationError("--rank-k must be 3 to 16 (pairs are K = 2, the default), not \(rankK)") }
        if let rankK, rankingsFrom == .page, !ServeOptions.kRange.contains(rankK) {
            throw ValidationError("--rank-k must be \(ServeOptions.kRange.lowerBound) to \(ServeOptions.kRange.upperBound) with --rankings-from page (the page shows at most 9 responses), not \(rankK)")
        }
        guard pageRankings >= 10 else { throw ValidationError("--page-rankings must be 10 or more (a tenth is held out to measure the reward model), not \(pageRankings)") }
    }

    /// The preset with this command's overrides.
    var settings: PipelinePreset {
        var p = PipelinePreset.named(preset)
        if let sftEpochs { p.sft.epochs = Double(sftEpochs) }
        if let sftLr { p.sft.lr = sftLr }
        if let pretrainSteps { p.setPretrainSteps(pretrainSteps) }
        if let task { p.task = task }
        if let demoSlip { p.demoSlip = demoSlip }
        if let digits { p.digits = digits }
        if let rankK { p.rankK = rankK }
        return p
    }

    func run() throws {
        let device = try deviceOptions.open()
        let run = PipelineRun(out: out, preset: settings, seed: seed, device: device, fresh: fresh, skipped: Set(skip?.values ?? []))
        if rankingsFrom == .page { run.pageRankings = PageRankingSource(count: pageRankings, collect: SimulatedRanker.collect) }
        try run.execute()
    }
}
