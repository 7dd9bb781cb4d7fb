import FoundryCore

/// Text datasets → token sequences, through the one chat template every stage shares.
public struct StageData {
    public let template: ChatTemplate
    public let maxSeq: Int

    public init(tokenizer: Tokenizer, maxSeq: Int) throws {
        template = try ChatTemplate(tokenizer: tokenizer)
        self.maxSeq = maxSeq
    }

    /// SFT rows; with `completionOnly` false the prompt tokens are trained on too.
    public func sft(_ rows: [SFTExample], completionOnly: Bool) throws -> [TokenizedExample] {
        try rows.map { row in
            let (tokens, mask) = try template.render(row)
            // Position 0 is never a target; the rest of the prompt is one when completionOnly is off.
            let m = completionOnly ? mask : mask.indices.map { $0 > 0 }
            return TokenizedExample(tokens: tokens, lossMask: m)
        }
    }

    public func example(prompt: String, completion: String) throws -> TokenizedExample {
        let (tokens, start) = try template.example(prompt: prompt, completion: completion)
        return TokenizedExample(tokens: tokens, lossMask: tokens.indices.map { $0 >= start })
    }

    public func pairs(_ rows: [PreferenceExample]) throws -> [TokenizedPair] {
        try rows.map { r in
            TokenizedPair(chosen: try example(prompt: r.prompt, completion: r.chosen),
                          rejected: try example(prompt: r.prompt, completion: r.rejected), margin: r.margin ?? 0)
        }
    }

    public func rankings(_ rows: [RankingExample]) throws -> [TokenizedRanking] {
        try rows.map { r in
            TokenizedRanking(responses: try r.responses.map { try example(prompt: r.prompt, completion: $0) }, ranking: r.ranking, ties: r.ties)
        }
    }

    public func prompts(_ rows: [RLPrompt]) throws -> [[Int32]] { try rows.map { try template.prompt($0.prompt) } }
}
