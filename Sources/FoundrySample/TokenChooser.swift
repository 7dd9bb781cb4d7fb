import FoundryCore
import FoundryModel

/// One sequence being generated, as every decoder holds it: its settings, its own random
/// stream (one uniform per sampled token, so a sequence's tokens do not depend on which others
/// share its steps), the tokens so far, and when it ends.
public struct DecodingSequence {
    public let prompt: [Int32]
    public let settings: SamplingSettings
    public var rng: RNG
    public private(set) var generated: [Int32] = []
    public private(set) var finished: Bool

    public init(prompt: [Int32], settings: SamplingSettings, seed: UInt64? = nil) {
        self.prompt = prompt; self.settings = settings
        rng = RNG(seed: seed ?? settings.seed)
        finished = settings.maxTokens <= 0
    }

    /// Greedy by flag or by a temperature of 0.
    public var isGreedy: Bool { settings.greedy || settings.filter.temperature <= 0 }

    /// Takes the next token; true when it ends the sequence (one of its stop tokens, which is
    /// kept, or its last allowed token).
    @discardableResult
    public mutating func accept(_ token: Int32) -> Bool {
        generated.append(token)
        if settings.stopTokens.contains(token) || generated.count >= settings.maxTokens { finished = true }
        return finished
    }
}

/// The one picking core of every decoder (`Generator`, `BatchGenerator`, the server's engine):
/// the next token of each sequence from its row of a [rows, vocab] logits tensor, in
/// transformers' order — the sequence's repetition penalty over its last context-length tokens,
/// then its temperature, top-k, top-p and min-p and a draw from its own generator (or the
/// argmax). Sequences that share how they pick take one launch together.
public final class TokenChooser {
    let device: Device
    let vocab: Int, context: Int
    /// Per row count: the picker's device buffers.
    var pickers: [Int: TokenPicker] = [:]

    public init(model: GPT2) {
        device = model.device; vocab = model.config.vocabSize; context = model.config.maxSeq
    }

    func picker(rows: Int) throws -> TokenPicker {
        if let p = pickers[rows] { return p }
        let p = try TokenPicker(device: device, rows: rows, vocab: vocab)
        pickers[rows] = p
        return p
    }

    /// Row i of `logits` for `sequences[i]`; every sequence draws its uniform. Returns one token
    /// per row; the sequences are not advanced (the caller accepts the tokens it keeps).
    public func choose(_ logits: TensorRef, _ sequences: inout [DecodingSequence]) throws -> [Int32] {
        let rows = Array(sequences.indices)
        guard let firstRow = rows.first else { return [] }
        let V = vocab
        for (i, r) in rows.enumerated() where sequences[r].settings.repetitionPenalty != 1 {
            let window = Array((sequences[r].prompt + sequences[r].generated).suffix(context))
            device.repetitionPenalty(logits: logits.slice(i * V, V), vocab: V, tokens: try device.upload(ints: window), count: window.count,
                                     penalty: sequences[r].settings.repetitionPenalty)
        }
        let first = sequences[firstRow]
        let shared = rows.allSatisfy {
            sequences[$0].isGreedy == first.isGreedy && (first.isGreedy || sequences[$0].settings.filter == first.settings.filter)
        }
        if shared {   // one launch for every row
            return try picker(rows: rows.count).pick(logits.slice(0, rows.count * V), greedy: first.isGreedy, filter: first.settings.filter) {
                rows.map { sequences[$0].rng.uniform() }
            }
        }
        var ids: [Int32] = []
        for (i, r) in rows.enumerated() {
            let s = sequences[r]
            ids += try picker(rows: 1).pick(logits.slice(i * V, V), greedy: s.isGreedy, filter: s.settings.filter) {
                [sequences[r].rng.uniform()]
            }
        }
        return ids
    }
}

extension GPT2 {
    /// The one feed-and-stop loop under `Generator` and `BatchGenerator`: every row of `cache`
    /// is fed its sequence's prompt at once, then one token a step, picked by `chooser` from
    /// the row's logits (every row draws, finished or not, so each row's stream is its own) and
    /// kept by the first `live` sequences until each ends; `onToken(row, token)` sees each kept
    /// token as it comes (false stops the loop). One row that fills the context slides: its
    /// most recent half is fed again.
    func decodeLoop(_ sequences: inout [DecodingSequence], live: Int, cache: KVCache, chooser: TokenChooser,
                    onToken: (Int, Int32) -> Bool = { _, _ in true }) throws {
        let T = config.maxSeq
        var logits = try decode(tokens: sequences.flatMap { Array($0.prompt.suffix(T)) }, cache: cache)
        while !sequences.prefix(live).allSatisfy(\.finished) {
            let next = try chooser.choose(logits, &sequences)
            var stopped = false
            for i in 0..<live where !sequences[i].finished {
                sequences[i].accept(next[i])
                if !onToken(i, next[i]) { stopped = true }
            }
            if stopped || sequences.prefix(live).allSatisfy(\.finished) { break }
            if cache.length >= T {
                guard sequences.count == 1 else { throw FoundryError("a batch of sequences cannot slide past the context of \(T) tokens") }
                // Context full: slide the window, keeping the most recent half, and re-feed it.
                cache.reset(keepingWeights: true)
                logits = try decode(tokens: Array((sequences[0].prompt + sequences[0].generated).suffix(T / 2)), cache: cache)
            } else {
                logits = try decode(tokens: next, cache: cache)
            }
        }
    }
}
