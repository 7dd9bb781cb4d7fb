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
    let chooser: TokenChooser

    public init(model: GPT2) throws {
        try Generator.requireCausal(model)
        self.model = model
        cache = try model.makeCache(batch: 1)
        chooser = TokenChooser(model: model)
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
        var sequence = [DecodingSequence(prompt: prompt, settings: settings)]
        cache.reset()
        cache.weights = settings.weights
        try model.decodeLoop(&sequence, live: 1, cache: cache, chooser: chooser) { _, token in onToken(token) }
        return sequence[0].generated
    }
}
