import Foundation
import FoundryCore
import FoundryData
import FoundryModel

/// One option check: `message` (naming the flag and a good value) when `ok` is false.
func require(_ ok: Bool, _ message: @autoclosure () -> String) throws {
    if !ok { throw FoundryError(message()) }
}

/// Keeps chosen parameters fixed: their values are copied once and written back after every
/// optimizer step (AdamW's decay would otherwise still move them). `--freeze-embeddings`
/// freezes the token and position tables (and so the tied LM head); `--freeze-layers K` also
/// freezes the first K blocks — the classic guard against catastrophic forgetting.
public final class Freezer {
    let model: GPT2
    var saved: [(TensorRef, TensorRef)] = []
    public let frozenCount: Int

    public init(model: GPT2, layers: Int, embeddings: Bool) throws {
        self.model = model
        guard layers >= 0, layers <= model.config.layers else {
            throw FoundryError("--freeze-layers \(layers) is outside 0...\(model.config.layers) (the model has \(model.config.layers) blocks)")
        }
        var count = 0
        for e in model.layout.entries {
            guard Self.freezes(e.name, layers: layers, embeddings: embeddings) else { continue }
            let view = model.param(e.name)
            let copy = try model.device.makeTensor(count: e.count)
            model.device.copy(view, to: copy)
            saved.append((view, copy))
            count += e.count
        }
        frozenCount = count
    }

    /// Whether parameter `name` is frozen with these options.
    static func freezes(_ name: String, layers: Int, embeddings: Bool) -> Bool {
        let isEmbedding = name.hasPrefix("wte.") || name.hasPrefix("wpe.")
        let block = name.hasPrefix("h.") ? Int(name.split(separator: ".")[1]) : nil
        return ((embeddings || layers > 0) && isEmbedding) || (block.map { $0 < layers } ?? false)
    }

    /// Parameters of `layout` left to train with these options (nothing allocated).
    public static func trainableCount(_ layout: ParameterLayout, layers: Int, embeddings: Bool) -> Int {
        layout.entries.filter { !freezes($0.name, layers: layers, embeddings: embeddings) }.reduce(0) { $0 + $1.count }
    }

    /// Restore the frozen values (call after each optimizer step).
    public func restore() { for (view, copy) in saved { model.device.copy(copy, to: view) } }
}

/// Shuffled mini-batches of indices, epoch after epoch, from a seeded generator.
public struct BatchOrder: Codable {
    var rng: RNG
    let count: Int, batch: Int
    var order: [Int] = [], at = 0
    public private(set) var epoch = 0

    public init(count: Int, batch: Int, seed: UInt64) {
        rng = RNG(seed: seed); self.count = count; self.batch = max(1, min(batch, count))
    }

    /// Optimizer steps for `epochs` passes over `count` items in batches of `batch` (at least 1;
    /// a batch larger than the data is the whole data).
    /// Steps of `batch` rows for `epochs` passes over `count` rows (a fraction of a pass allowed),
    /// at most `maxSteps`.
    public static func steps(count: Int, batch: Int, epochs: Double, maxSteps: Int? = nil) -> Int {
        let all = max(1, Int(epochs * Double(count) / Double(max(1, min(batch, count)))))
        return min(all, maxSteps ?? all)
    }

    public mutating func next() -> [Int] {
        if at + batch > order.count {
            if !order.isEmpty { epoch += 1 }
            order = Array(0..<count)
            for i in stride(from: count - 1, to: 0, by: -1) { order.swapAt(i, rng.below(i + 1)) }
            at = 0
        }
        defer { at += batch }
        return Array(order[at..<at + batch])
    }
}

/// One progress line and one metrics.jsonl row per logged step, with TRL's metric names.
public final class StageLog {
    /// The stage's name on its progress lines: the runner sets it from the objective's `Stage`.
    var name = ""
    let metrics: MetricsLog?
    let log: (String) -> Void
    /// The first step this process ran (a resumed run starts past 1) and when it ended.
    var firstStep: (step: Int, done: Date)?

    /// `resumingAt`: keep the metrics rows up to that step (a resumed run) instead of starting afresh.
    public init(metricsPath: String?, resumingAt step: Int? = nil, log: @escaping (String) -> Void) throws {
        metrics = try MetricsLog(path: metricsPath, append: step != nil, resumingAt: step)
        self.log = log
    }

    public func step(_ step: Int, of total: Int, _ fields: [(String, Double)], print shouldPrint: Bool) {
        metrics?.write([("step", .number(Double(step)))] + fields.map { ($0.0, .number($0.1)) })
        // The first step pays for compiling kernels and warming caches: the rate is measured from
        // its end, and no ETA is shown before two steps after it.
        guard let first = firstStep else { firstStep = (step, Date()); return logLine(step, total, fields, "…", shouldPrint) }
        var eta = "…"
        if step >= first.step + 2 {
            eta = formatDuration(Date().timeIntervalSince(first.done) / Double(step - first.step) * Double(total - step))
        }
        logLine(step, total, fields, eta, shouldPrint)
    }

    func logLine(_ step: Int, _ total: Int, _ fields: [(String, Double)], _ eta: String, _ shouldPrint: Bool) {
        guard shouldPrint else { return }
        let shown = fields.prefix(5).map { "\($0.0) \(formatMetric($0.1))" }.joined(separator: " | ")
        log("\(name) step \(String(format: "%4d", step))/\(total) | \(shown) | ETA \(eta)")
    }

    /// A line of its own (a warning, a summary) in the stage's progress.
    public func note(_ line: String) { log(line) }
}

/// A logged number: four decimals, scientific below 1e-3 (a learning rate of 2e-5 is not
/// "0.0000"), whole from 1,000 up (a rate of tokens), and no "-0.0000".
public func formatMetric(_ v: Double) -> String {
    if !v.isFinite { return "\(v)" }
    if abs(v) >= 1000 { return String(format: "%.0f", v) }
    if abs(v) < 5e-5 { return v == 0 ? "0" : String(format: "%.2e", v) }
    if abs(v) < 1e-3 { return String(format: "%.2e", v) }
    return String(format: "%.4f", v)
}
