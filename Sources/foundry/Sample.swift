import ArgumentParser
import Foundation
import FoundryCore
import FoundryModel
import FoundryPipeline
import FoundrySample

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a model, streaming tokens as they come (KV cache).",
        discussion: """
        Filters apply in transformers' order: repetition penalty, temperature, top-k, top-p, min-p. \
        --temperature 0 or --greedy takes the most likely token. The same seed gives the same text \
        on the same backend.

        Examples:
          foundry sample --model runs/shakespeare --prompt "ROMEO:" --top-k 40
          foundry sample --logits 1,2 --temperature 1     (prints the distribution: 0.2689 0.7311)
        """)

    static let defaults = SamplingSettings()
    @Option(help: "Model directory.") var model: String?
    @Option(help: "Text to continue (default: start from end-of-text).") var prompt = ""
    @Option(help: "Tokens to generate.") var maxTokens = defaults.maxTokens
    @Option(help: "Softmax temperature; 0 = greedy.") var temperature = defaults.filter.temperature
    @Option(help: "Keep only the k most likely tokens (0 = off).") var topK = defaults.filter.topK
    @Option(help: "Keep the smallest set of tokens whose probability reaches p (1 = off).") var topP = defaults.filter.topP
    @Option(help: "Drop tokens less likely than min-p × the top probability (0 = off).") var minP = defaults.filter.minP
    @Option(help: "Penalise tokens already in the context (1 = off; transformers' rule).") var repetitionPenalty = defaults.repetitionPenalty
    @Option(help: "Random seed for the draws.") var seed = defaults.seed
    @Flag(help: "Always take the most likely token.") var greedy = defaults.greedy
    @Option(help: "Instead of a model: comma-separated logits whose sampling distribution to print.") var logits: String?
    @OptionGroup var deviceOptions: DeviceOptions

    var filter: SamplingFilter {
        SamplingFilter(temperature: greedy ? 0 : temperature, topK: topK, topP: topP, minP: minP)
    }

    var settings: SamplingSettings {
        var s = Self.defaults
        s.maxTokens = maxTokens; s.filter = filter; s.repetitionPenalty = repetitionPenalty
        s.seed = seed; s.greedy = greedy
        return s
    }

    func validate() throws { try settings.validate() }

    func run() throws {
        let device = try deviceOptions.open()
        if let logits {
            let values = logits.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
                throw FoundryError("--logits must be comma-separated numbers, e.g. --logits 1,2")
            }
            let x = try device.upload(values.map { $0! })
            let p = try device.makeTensor(count: values.count)
            device.samplingProbs(logits: x, probs: p, rows: 1, vocab: values.count, filter: filter)
            print(try device.read(p).map { String(format: "%.4f", $0) }.joined(separator: " "))
            return
        }
        guard let model else { throw FoundryError("give --model DIR (a checkpoint directory), or --logits to inspect a distribution") }
        let (gpt, tokOpt) = try loadModel(model, device: device, needTokenizer: true)
        let tok = tokOpt!
        let gen = try Generator(model: gpt)
        var s = settings
        s.stopToken = tok.eosToken
        let promptIds = prompt.isEmpty ? [tok.eosToken] : try tok.encode(prompt)
        print(prompt, terminator: "")
        var produced: [Int32] = [], shown = ""
        let start = Date()
        var firstToken: Date?   // the rate counts from here: compiling kernels and the prompt are not generation
        try gen.generate(prompt: promptIds, settings: s) { id in
            if firstToken == nil { firstToken = Date() }
            produced.append(id)
            if id == tok.eosToken { return false }
            // Print the decoded text's new tail; a BPE token may end inside a UTF-8 sequence.
            let text = tok.decode(produced)
            if !text.hasSuffix("\u{FFFD}") {
                print(text.dropFirst(shown.count), terminator: "")
                fflush(stdout)
                shown = text
            }
            return true
        }
        let end = Date()
        print("")
        fflush(stdout)   // the text ends before the stats line starts, also when both go to one file
        let rate = produced.count > 1 ? String(format: "%.1f tokens/s", Double(produced.count - 1) / max(end.timeIntervalSince(firstToken!), 1e-9)) : "n/a"
        let first = firstToken.map { String(format: "first token after %.0f ms", 1000 * $0.timeIntervalSince(start)) } ?? "no tokens"
        FileHandle.standardError.write(Data("[\(produced.count) tokens, \(rate), \(first), \(device.backend) backend]\n".utf8))
    }
}
