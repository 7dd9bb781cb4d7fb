import ArgumentParser
import Foundation
import FoundryCore
import FoundryData

struct DataCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "data", abstract: "Make and check post-training datasets (SFT, preferences, RL prompts).",
        subcommands: [DataSynth.self, DataInspect.self, DataPairs.self])
}

struct DataSynth: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "synth",
        abstract: "Write a synthetic, verifiable task: pretraining text, SFT, preference, RL and held-out eval files.",
        discussion: """
        Example: foundry data synth --task arithmetic --out runs/data
        Writes pretrain.txt, sft.jsonl, prefs.jsonl, rl_prompts.jsonl and eval.jsonl (Hugging Face TRL \
        field names). Eval problems never appear in any training file. A count of 0 skips that file.
        """)

    static let defaultSizes = SynthTask.Sizes()
    @Option(help: "Task family.") var task = SynthTask.defaultFamily
    @Option(help: "Output directory (created if missing).") var out: String
    @Option(help: "Random seed; the same seed writes the same files.") var seed = SynthTask.defaultSeed
    @Option(help: "Operand length in digits: N or MIN-MAX (1 to 9; default \(SynthTask.defaultDigits.lowerBound)-\(SynthTask.defaultDigits.upperBound)).",
            transform: { try SynthTask.parseDigits($0) })
    var digits = SynthTask.defaultDigits
    @Flag(help: "Pose subtraction problems too.") var subtraction = false
    @Option(help: "Simulated demonstrator's slip rate on hard cases (close calls in compare, carries in arithmetic): that fraction of those SFT demonstrations carry the mistake; comparisons stay correct. 0 = perfect demonstrations.")
    var demoSlip = SynthTask.defaultDemoSlip
    @Option(help: "SFT rows.") var sft = defaultSizes.sft
    @Option(help: "Preference pairs.") var prefs = defaultSizes.prefs
    @Option(help: "RL prompts.") var rl = defaultSizes.rl
    @Option(help: "Held-out eval prompts.") var eval = defaultSizes.eval
    @Option(help: "Characters of pretraining text.") var corpusChars = defaultSizes.corpusCharacters
    @Option(help: "Also write rankings.jsonl: --prefs prompts, each with K responses ranked by a simulated person (0: none).")
    var rankings = defaultSizes.rankK

    func validate() throws {
        try SynthTask.checkDemoSlip(demoSlip)
        try sizes.validate()
    }

    var sizes: SynthTask.Sizes { SynthTask.Sizes(sft: sft, prefs: prefs, rl: rl, eval: eval, corpusCharacters: corpusChars, rankK: rankings) }

    func run() throws {
        var t = try SynthTask(family: task, seed: seed, digits: digits, subtraction: subtraction)
        t.demoSlip = demoSlip
        let files = try t.write(to: out, sizes: sizes)
        let ops = subtraction ? "+ and -" : "+"
        let range = digits.lowerBound == digits.upperBound ? "\(digits.lowerBound)" : "\(digits.lowerBound)-\(digits.upperBound)"
        print("task \(task.rawValue): operands of \(range) digits, \(ops), seed \(seed)")
        for f in files { print("wrote \(f.path): \(f.count) \(f.what)") }
        if files.isEmpty { print("nothing written (every count is 0)") }
        if eval > 0, let e = files.first(where: { $0.path.hasSuffix("eval.jsonl") }), e.count < eval {
            print("note: only \(e.count) distinct held-out problems exist at this difficulty (asked for \(eval))")
        }
    }
}

struct DataInspect: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "inspect",
        abstract: "Check a JSONL dataset: valid and bad rows (with line numbers) and two examples.",
        discussion: "Example: foundry data inspect --file ../shared/data/hh-rlhf-harmless-base-test.jsonl.gz --format prefs")

    @Option(help: "JSONL file (.jsonl or .jsonl.gz).") var file: String
    @Option(help: "What the rows are.") var format: DatasetFormat

    func run() throws {
        let f = format
        let say: (String) -> Void = { print($0) }
        var examples: [[(String, String)]] = []
        var summary: [String] = []
        let total: Int, valid: Int, issues: [DatasetIssue]
        switch f {
        case .sft:
            let l = try Datasets.loadSFT(path: file, warn: say)
            (total, valid, issues) = (l.total, l.rows.count, l.issues)
            let conv = l.rows.filter { $0.prompt == nil }.count
            summary.append("\(l.rows.count - conv) prompt/completion, \(conv) conversations")
            examples = l.rows.prefix(2).map { ex in
                switch ex {
                case .completion(let p, let c): return [("prompt", p), ("completion", c)]
                case .conversation(let m): return m.map { ($0.role, $0.content) }
                }
            }
            let pc = l.rows.compactMap { ex -> (Int, Int)? in
                guard let p = ex.prompt, let c = ex.completion else { return nil }
                return (p.count, c.count)
            }
            if !pc.isEmpty { summary.append(meanLengths(pc, "prompt", "completion")) }
        case .prefs:
            let l = try Datasets.loadPreferences(path: file, warn: say)
            (total, valid, issues) = (l.total, l.rows.count, l.issues)
            let margins = l.rows.filter { $0.margin != nil }.count
            let same = l.rows.filter { $0.chosen == $0.rejected }.count
            summary.append("\(margins) with a margin, \(same) with chosen == rejected")
            summary.append(meanLengths(l.rows.map { ($0.prompt.count, $0.chosen.count) }, "prompt", "chosen"))
            examples = l.rows.prefix(2).map {
                [("prompt", $0.prompt), ("chosen", $0.chosen), ("rejected", $0.rejected)]
                    + ($0.margin.map { [("margin", "\($0)")] } ?? [])
            }
        case .pointwise:
            let l = try Datasets.loadPointwise(path: file, warn: say)
            (total, valid, issues) = (l.total, l.rows.count, l.issues)
            let scores = l.rows.map(\.score)
            summary.append(String(format: "score min %.4g, mean %.4g, max %.4g", scores.min()!,
                                  scores.reduce(0, +) / Double(scores.count), scores.max()!))
            examples = l.rows.prefix(2).map { [("prompt", $0.prompt), ("completion", $0.completion), ("score", "\($0.score)")] }
        case .rankings:
            let l = try Datasets.loadRankings(path: file, warn: say)
            (total, valid, issues) = (l.total, l.rows.count, l.issues)
            let ks = l.rows.map(\.responses.count)
            summary.append("K from \(ks.min()!) to \(ks.max()!) responses; \(l.rows.reduce(0) { $0 + $1.pairs.count }) comparisons, \(l.rows.reduce(0) { $0 + $1.tiedPairs }) tied pairs")
            examples = l.rows.prefix(2).map { r in
                [("prompt", r.prompt)] + r.ranking.enumerated().map { ("rank \($0.offset + 1)", r.responses[$0.element]) }
            }
        case .prompts:
            let l = try Datasets.loadPrompts(path: file, warn: say)
            (total, valid, issues) = (l.total, l.rows.count, l.issues)
            summary.append("\(l.rows.filter { $0.answer != nil }.count) with an answer")
            examples = l.rows.prefix(2).map { [("prompt", $0.prompt)] + ($0.answer.map { [("answer", $0)] } ?? []) }
        }
        print("\(file) (\(f.rawValue)): \(valid) valid rows, \(issues.count) bad of \(total)")
        for s in summary { print("  \(s)") }
        Datasets.report(issues, kept: valid, path: file, to: say)
        for (i, ex) in examples.enumerated() {
            print("example \(i + 1):")
            for (k, v) in ex { print("  \(k): \(shown(v))") }
        }
    }

    func meanLengths(_ pairs: [(Int, Int)], _ a: String, _ b: String) -> String {
        let n = Double(max(pairs.count, 1))
        let ma = Double(pairs.reduce(0) { $0 + $1.0 }) / n, mb = Double(pairs.reduce(0) { $0 + $1.1 }) / n
        return "mean \(a) " + String(format: "%.1f", ma) + " characters, mean \(b) " + String(format: "%.1f", mb) + " characters"
    }

    /// Quoted on one line (newlines escaped), cut to 240 characters.
    func shown(_ s: String) -> String {
        let limit = 240
        var body = String(s.prefix(limit)).replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "\n", with: "\\n").replacingOccurrences(of: "\"", with: "\\\"")
            .replacingOccurrences(of: "\t", with: "\\t").replacingOccurrences(of: "\r", with: "\\r")
        if s.count > limit { body += "\" ... (\(s.count) characters)" } else { body += "\"" }
        return "\"" + body
    }
}

struct DataPairs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pairs",
        abstract: "Turn rankings of K responses into TRL's prompt/chosen/rejected pairs (C(K,2) per prompt), for DPO and other tools.",
        discussion: "Example: foundry data pairs --rankings rankings.jsonl --out prefs.jsonl")

    @Option(help: "Rankings (JSONL: prompt, responses, ranking best first).") var rankings: String
    @Option(help: "Where to write the pairs (JSONL).") var out: String

    func run() throws {
        let rows = try Datasets.readRankings(path: rankings)
        // Tied pairs say neither response is better; a pair with an empty response cannot be
        // a preference row (its reader, and so `foundry dpo`, refuses empty text).
        let all = rows.flatMap(\.pairs), pairs = all.filter { !$0.chosen.isEmpty && !$0.rejected.isEmpty }
        let tied = rows.reduce(0) { $0 + $1.tiedPairs }
        guard !pairs.isEmpty else {
            throw FoundryError("\(rankings) gives no pairs: every pair is tied or has an empty response (\(rows.count) rankings, \(tied) tied pairs)")
        }
        try Datasets.write(pairs, to: out)
        var left: [String] = []
        if tied > 0 { left.append("\(tied) tied") }
        if all.count > pairs.count { left.append("\(all.count - pairs.count) with an empty response") }
        print("wrote \(out): \(pairs.count) pairs from \(rows.count) rankings" + (left.isEmpty ? "" : " (left out: " + left.joined(separator: ", ") + ")"))
    }
}
