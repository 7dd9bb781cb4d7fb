import Foundation
import FoundryCore
import FoundryData

/// A model directory's model and tokenizer, with one-line errors for the usual mistakes.
/// A reward model (a backbone with a scalar head) is refused unless `rewardModel`: its backbone
/// is no language model.
public func loadModel(_ dir: String, device: Device, needTokenizer: Bool, rewardModel: Bool = false) throws -> (GPT2, Tokenizer?) {
    if !rewardModel && Checkpoint.architecture(dir) == "GPT2ForSequenceClassification" {
        throw FoundryError("\(dir) is a reward model (a scalar head, not a language model): give the model it was trained from, or use it with --reward-model / `foundry reward score`")
    }
    let model = try Checkpoint.load(dir, device: device)
    let tok = try Checkpoint.loadTokenizer(dir)
    if needTokenizer && tok == nil {
        throw FoundryError("\(dir) has no tokenizer.json: text prompts need one (copy the tokenizer the model was trained with into it)")
    }
    if let tok, tok.vocabSize > model.config.vocabSize {
        throw FoundryError("\(dir): tokenizer.json has \(tok.vocabSize) tokens but the model only \(model.config.vocabSize): they do not belong together")
    }
    return (model, tok)
}
