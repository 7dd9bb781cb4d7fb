import ArgumentParser
import FoundryCore
import FoundrySample

/// The sampling flags `sample` and `chat` share; defaults and checks are `SamplingSettings`'.
struct SamplingOptions: ParsableArguments {
    static let defaults = SamplingSettings()
    @Option(help: "Tokens to generate.") var maxTokens = defaults.maxTokens
    @Option(help: "Softmax temperature; 0 = greedy.") var temperature = defaults.filter.temperature
    @Option(help: "Keep only the k most likely tokens (0 = off).") var topK = defaults.filter.topK
    @Option(help: "Keep the smallest set of tokens whose probability reaches p (1 = off).") var topP = defaults.filter.topP
    @Option(help: "Drop tokens less likely than min-p × the top probability (0 = off).") var minP = defaults.filter.minP
    @Option(help: "Penalise tokens already in the context (1 = off; transformers' rule).") var repetitionPenalty = defaults.repetitionPenalty
    @Option(help: "Random seed for the draws.") var seed = defaults.seed
    @Flag(help: "Always take the most likely token.") var greedy = defaults.greedy
    @Option(help: ArgumentHelp("Precision the weights are read in while decoding: f16 rounds them to half once (sums stay float), half the bytes a token reads (1.6–1.9× the tokens/s on a 2-core CPU); f32 is exactly the trained model.", valueName: "precision"))
    var decodeWeights = defaults.weights

    var settings: SamplingSettings {
        var s = Self.defaults
        s.maxTokens = maxTokens; s.repetitionPenalty = repetitionPenalty; s.seed = seed; s.greedy = greedy; s.weights = decodeWeights
        s.filter = SamplingFilter(temperature: greedy ? 0 : temperature, topK: topK, topP: topP, minP: minP)
        return s
    }

    func validate() throws { try settings.validate() }
}
