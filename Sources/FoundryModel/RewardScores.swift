import FoundryCore
import FoundryData

/// A reward model's scores of `responses` to `prompt`, each rendered as the reward stage saw
/// it: prompt and response in the chat format, without the closing end-of-text.
public func rewardScores(_ rm: RewardModel, tokenizer: Tokenizer, prompt: String, responses: [String]) throws -> [Double] {
    let data = try StageData(tokenizer: tokenizer, maxSeq: rm.backbone.config.maxSeq)
    let sequences = try responses.map { Array(try data.example(prompt: prompt, completion: $0).tokens.dropLast()) }
    return try rm.rewards(SequenceBatch(sequences: sequences, pad: tokenizer.eosToken, maxSeq: rm.backbone.config.maxSeq, keepEnd: true))
}
