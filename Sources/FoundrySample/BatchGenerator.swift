import Foundation
import FoundryCore
import FoundryModel

/// Generation for many prompts of the same length at once: one KV cache of `batch` rows, one
/// forward per new token for all of them. This is what RL stages need (hundreds of short
/// samples per step); sampled one by one, each token would cost a full set of kernel launches.
///
/// Row i draws its tokens from `RNG(seed: seeds[i])`, one uniform per token, exactly as
/// `Generator` would with that seed, so a row's sample does not depend on which other rows
/// share its batch (up to float rounding of the batched products). No repetition penalty and no
/// sliding window: every prompt plus `maxTokens` must fit the context.
public final class BatchGenerator {
    public let model: GPT2
    /// Rows per forward at most; more prompts are run in successive batches.
    public let maxBatch: Int
    /// Per padded batch size: the KV cache.
    var caches: [Int: KVCache] = [:]
    let chooser: TokenChooser

    public init(model: GPT2, maxBatch: Int = 64) throws {
        try Generator.requireCausal(model)
        self.model = model
        self.maxBatch = max(1, maxBatch)
        chooser = TokenChooser(model: model)
    }

    /// The new tokens for each prompt (all `prompts` have the same length), each ending at the
    /// first of `settings.stopTokens` (included) or after `settings.maxTokens`.
    public func generate(prompts: [[Int32]], seeds: [UInt64], settings: SamplingSettings) throws -> [[Int32]] {
        precondition(prompts.count == seeds.count)
        guard let n = prompts.first?.count else { return [] }
        guard n > 0 else { throw FoundryError("the prompt is empty: give at least one token (for example the end-of-text token)") }
        guard prompts.allSatisfy({ $0.count == n }) else { throw FoundryError("a batch of prompts must share one length") }
        guard settings.repetitionPenalty == 1 else { throw FoundryError("batched generation has no repetition penalty; use Generator") }
        guard n + settings.maxTokens <= model.config.maxSeq else {
            throw FoundryError("a prompt of \(n) tokens plus \(settings.maxTokens) new ones does not fit the context of \(model.config.maxSeq)")
        }
        var out: [[Int32]] = []
        var start = 0
        while start < prompts.count {
            let end = min(prompts.count, start + maxBatch)
            out += try generateBatch(Array(prompts[start..<end]), Array(seeds[start..<end]), settings)
            start = end
        }
        return out
    }

    func cache(rows: Int) throws -> KVCache {
        if let c = caches[rows] { return c }
        let c = try model.makeCache(batch: rows)
        caches[rows] = c
        return c
    }

    func generateBatch(_ real: [[Int32]], _ realSeeds: [UInt64], _ settings: SamplingSettings) throws -> [[Int32]] {
        // Rows are padded to a power of two (copies of the last prompt, discarded): OpenCL
        // compilers such as PoCL specialise kernels per launch size, and a new size per step
        // would cost more in compiling than the batch saves.
        var B = 1
        while B < real.count { B *= 2 }
        let prompts = real + Array(repeating: real[real.count - 1], count: B - real.count)
        let seeds = realSeeds + Array(repeating: 0, count: B - real.count)
        let kv = try cache(rows: B)
        kv.reset()
        kv.weights = settings.weights
        var sequences = (0..<B).map { DecodingSequence(prompt: prompts[$0], settings: settings, seed: seeds[$0]) }
        try model.decodeLoop(&sequences, live: real.count, cache: kv, chooser: chooser)
        return sequences.prefix(real.count).map(\.generated)
    }
}
