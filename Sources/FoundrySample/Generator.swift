import Foundation
import FoundryCore
import FoundryModel

/// How to pick each next token. transformers' order: repetition penalty, temperature, top-k,
/// top-p, min-p, then a categorical draw. Temperature 0 (or `greedy`) takes the argmax.
public struct SamplingSettings: Sendable {
    public var maxTokens = 200
    public var filter = SamplingFilter(temperature: 0.8, topK: 0, topP: 1, minP: 0)
    public var repetitionPenalty: Float = 1
    public var seed: UInt64 = 1337
    public var greedy = false
    /// The precision decoding steps read the weights in (`DecodeWeights`).
    public var weights = DecodeWeights.f32
    /// Stop when the model produces one of these tokens (end-of-text; a chat reply also stops
    /// at any other special token, `ChatTemplate.turnEnders`). The stopping token is returned
    /// with the others but is never part of the reply's text.
    public var stopTokens: Set<Int32> = []
    public init() {}

    /// The setting mistakes a user can make, named by their command-line flags.
    public func validate() throws {
        guard maxTokens >= 0 else { throw FoundryError("--max-tokens must be 0 or more, not \(maxTokens)") }
        guard filter.topK >= 0 else { throw FoundryError("--top-k must be ≥ 0 (0 = off)") }
        guard filter.topP > 0 && filter.topP <= 1 else { throw FoundryError("--top-p must be in (0, 1] (1 = off)") }
        guard filter.minP >= 0 && filter.minP < 1 else { throw FoundryError("--min-p must be in [0, 1) (0 = off)") }
        guard repetitionPenalty > 0 else { throw FoundryError("--repetition-penalty must be > 0 (1 = off)") }
        guard filter.temperature >= 0 && filter.temperature.isFinite else { throw FoundryError("--temperature must be ≥ 0 (0 = greedy)") }
    }
}

/// Autoregressive generation with a KV cache: the prompt is fed once, then one token per step.
public final class Generator {
    public let model: GPT2
    let cache: KVCache
    let picker: TokenPicker

    public init(model: GPT2) throws {
        try Generator.requireCausal(model)
        self.model = model
        cache = try model.makeCache(batch: 1)
        picker = try TokenPicker(device: model.device, rows: 1, vocab: model.config.vocabSize)
    }

    /// Generation needs a left-to-right model; a masked one gets a message naming `foundry fill`.
    static func requireCausal(_ model: GPT2) throws {
        guard model.config.objective == .causal else {
            throw FoundryError("this is a masked (bidirectional) model: it fills blanks, it cannot generate text left to right; use `foundry fill`")
        }
    }

    /// Generates up to `settings.maxTokens` tokens after `prompt`, calling `onToken` with each
    /// one as soon as it exists (return false to stop). Returns the new tokens.
    @discardableResult
    public func generate(prompt: [Int32], settings: SamplingSettings, onToken: (Int32) -> Bool = { _ in true }) throws -> [Int32] {
        guard !prompt.isEmpty else { throw FoundryError("the prompt is empty: give at least one token (for example the end-of-text token)") }
        let d = model.device, V = model.config.vocabSize, T = model.config.maxSeq
        var rng = RNG(seed: settings.seed)
        var context = prompt
        var generated: [Int32] = []
        cache.reset()
        cache.weights = settings.weights
        var logits = try model.decode(tokens: Array(context.suffix(T)), cache: cache)
        let greedy = settings.greedy || settings.filter.temperature <= 0
        while generated.count < settings.maxTokens {
            if settings.repetitionPenalty != 1 {
                let window = Array(context.suffix(T))
                d.repetitionPenalty(logits: logits, vocab: V, tokens: try d.upload(ints: window), count: window.count,
                                    penalty: settings.repetitionPenalty)
            }
            let next = try picker.pick(logits, greedy: greedy, filter: settings.filter) { [rng.uniform()] }[0]
            generated.append(next)
            context.append(next)
            if !onToken(next) || settings.stopTokens.contains(next) { break }
            if generated.count == settings.maxTokens { break }
            if cache.length >= T {
                // Context full: slide the window, keeping the most recent half, and re-feed it.
                cache.reset(keepingWeights: true)
                logits = try model.decode(tokens: Array(context.suffix(T / 2)), cache: cache)
            } else {
                logits = try model.decode(tokens: [next], cache: cache)
            }
        }
        return generated
    }
}
