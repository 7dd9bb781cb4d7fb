import FoundryCore

extension GPT2 {
    /// This model with a vocabulary of `size` ≥ its own: every tensor copied, the token embedding
    /// (and so the tied LM head) given new rows equal to the mean of the old ones — a new token
    /// (a chat token added to a pretrained model's tokenizer) starts as an average token, as
    /// TRL's `clone_chat_template` does, instead of as noise.
    public func growingVocabulary(to size: Int) throws -> GPT2 {
        guard size >= config.vocabSize else {
            throw FoundryError("cannot shrink a vocabulary of \(config.vocabSize) to \(size)")
        }
        var c = config
        c.vocabSize = size
        let out = try GPT2(config: c, device: device)
        for e in layout.entries where e.name != ParameterLayout.tokenEmbedding {
            device.copy(param(e.name), to: out.param(e.name))
        }
        let C = config.channels, V = config.vocabSize
        let old = try device.read(weights.tokenEmbedding)
        var mean = [Double](repeating: 0, count: C)
        for r in 0..<V { for j in 0..<C { mean[j] += Double(old[r * C + j]) / Double(V) } }
        let rows = old + (0..<(size - V)).flatMap { _ in mean.map(Float.init) }
        try device.write(rows, to: out.weights.tokenEmbedding)
        return out
    }
}
