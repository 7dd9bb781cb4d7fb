import ArgumentParser
import FoundryTrain

extension LoRATarget: ExpressibleByArgument {}

/// The LoRA flags every post-training command shares; defaults and checks are `LoRAOptions`'.
struct LoRAFlags: ParsableArguments {
    static let defaults = LoRAOptions()
    @Option(help: "Train LoRA adapters of this rank instead of every parameter (0: off). Saves the merged model and, in adapter/, the adapters in PEFT's format.")
    var loraRank = defaults.rank
    @Option(help: "LoRA's scale numerator: updates are (alpha / rank)·A·B. (default: twice the rank)")
    var loraAlpha: Float?
    @Option(help: "The matrices that get adapters: attn (c_attn, attn.c_proj), mlp (c_fc, mlp.c_proj), or both.")
    var loraTargets = CommaList(defaults.targets)
    @Option(help: "Start from a LoRA adapter (a run's adapter/ directory, or one peft saved) on --model, instead of A random and B zero.")
    var initFrom: String?

    var options: LoRAOptions {
        var o = Self.defaults
        o.rank = loraRank; o.alpha = loraAlpha; o.targets = loraTargets.values; o.initFrom = initFrom
        return o
    }

    func validate() throws { try options.validate() }
}
