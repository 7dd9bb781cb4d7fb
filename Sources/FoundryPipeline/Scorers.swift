import Foundation
import FoundryCore
import FoundryData
import FoundryModel
import FoundryTrain

/// The reward a policy's samples get: a reward model, or the task's ground-truth checker.
public func makeScorer(rewardModel: String?, checker: Bool, prompts: [RLPrompt], tokenizer: Tokenizer, device: Device) throws
    -> ([Rollout]) throws -> [Double] {
    if let rewardModel {
        let rm = try RewardModel.load(rewardModel, device: device)
        return { rollouts in
            try rm.rewards(SequenceBatch(sequences: rollouts.map(\.scored), pad: tokenizer.eosToken, maxSeq: rm.backbone.config.maxSeq, keepEnd: true))
        }
    }
    guard checker else { throw FoundryError("give --reward-model DIR, or --checker to reward with the task's ground truth") }
    guard prompts.allSatisfy({ $0.answer != nil }) else {
        throw FoundryError("--checker needs an \"answer\" on every prompt row")
    }
    return { rollouts in
        rollouts.map { r in
            let text = tokenizer.decode(r.answer)
            return SynthTask.check(completion: text, answer: prompts[r.promptIndex].answer!) ? 1 : 0
        }
    }
}
