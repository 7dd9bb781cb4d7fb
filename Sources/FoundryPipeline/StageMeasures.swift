import Foundation
import FoundryCore
import FoundryData
import FoundryModel
import FoundryTrain

/// Before/after figures a post-training stage reports: task accuracy on held-out prompts and
/// the pretraining validation loss (forgetting).
public struct ForgettingAndAccuracy {
    let model: GPT2, tokenizer: Tokenizer, data: StageData
    let prompts: [RLPrompt], pretrainTokens: [Int32]?

    public init(model: GPT2, tokenizer: Tokenizer, data: StageData, evalPath: String?, pretrainPath: String?) throws {
        self.model = model; self.tokenizer = tokenizer; self.data = data
        prompts = try evalPath.map { try Datasets.readPrompts(path: $0) } ?? []
        pretrainTokens = try pretrainPath.map { try tokenizer.encode(try readText($0)) }
    }

    /// One line "label: task accuracy …, pretraining val loss …" (nothing when there is nothing to measure).
    public func measure(_ label: String) throws -> String? {
        var parts: [String] = []
        if !prompts.isEmpty {
            let acc = try taskAccuracy(model: model, tokenizer: tokenizer, data: data, prompts: prompts)
            parts.append(String(format: "task accuracy %.1f%% (greedy), %.1f%% (T=%.1f)", 100 * acc.greedyAccuracy,
                                100 * acc.sampledAccuracy, Double(EvalOptions().temperature)))
        }
        if let t = pretrainTokens {
            parts.append(String(format: "pretraining val loss %.4f", try pretrainValLoss(model: model, tokens: t)))
        }
        return parts.isEmpty ? nil : "\(label): " + parts.joined(separator: ", ")
    }
}

/// Mean next-token loss on the last 10% of a pretraining corpus (its validation split).
public func pretrainValLoss(model: GPT2, tokens: [Int32], maxTokens: Int = 16_384) throws -> Double {
    try windowedLoss(model: model, tokens: Array(tokens[Int(Double(tokens.count) * 0.9)...]), seq: model.config.maxSeq,
                     batch: 8, maxTokens: maxTokens)
}

/// Greedy and sampled accuracy on prompts with answers, checked by the synthetic task's checker.
public func taskAccuracy(model: GPT2, tokenizer: Tokenizer, data: StageData, prompts: [RLPrompt],
                         reward: RewardModel? = nil, reference: GPT2? = nil, options: EvalOptions = EvalOptions()) throws -> EvalResult {
    let tokens = try data.prompts(prompts)
    return try Evaluator.evaluate(policy: model, prompts: tokens, eos: tokenizer.eosToken, options: options,
                                  correct: { i, response in
                                      guard let answer = prompts[i].answer else { return false }
                                      return SynthTask.check(completion: tokenizer.decode(response), answer: answer)
                                  }, reward: reward, reference: reference)
}
