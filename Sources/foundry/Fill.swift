import ArgumentParser
import Foundation
import FoundryCore
import FoundryModel
import FoundryPipeline

struct Fill: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Show a masked model's predictions for each [MASK] in a text.",
        discussion: "Example: foundry fill --model runs/masked --text \"to be or [MASK]ot to be\"")

    @Option(help: "A model trained with --objective masked.") var model: String
    @Option(help: "Text containing one or more [MASK] tokens.") var text: String
    @Option(help: "Predictions to list per mask.") var top = 5

    func validate() throws {
        guard top >= 1 else { throw ValidationError("--top must be 1 or more, not \(top)") }
    }
    @OptionGroup var deviceOptions: DeviceOptions

    func run() throws {
        let device = try deviceOptions.open()
        let (gpt, tokOpt) = try loadModel(model, device: device, needTokenizer: true)
        let tok = tokOpt!
        guard gpt.config.objective == .masked else {
            throw FoundryError("\(model) is a causal model: `foundry fill` needs one trained with --objective masked (use `foundry sample` for this one)")
        }
        let ids = try tok.encode(text)
        let masks = ids.indices.filter { ids[$0] == tok.maskToken }
        guard !masks.isEmpty else { throw FoundryError("the text has no [MASK] token to fill") }
        guard ids.count <= gpt.config.maxSeq else {
            throw FoundryError("the text is \(ids.count) tokens, longer than the model's context (\(gpt.config.maxSeq))")
        }
        try gpt.forward(tokens: ids, batch: 1, seq: ids.count)
        let V = gpt.config.vocabSize
        let probs = try device.makeTensor(count: ids.count * V)
        device.softmax(gpt.logits, out: probs, rows: ids.count, cols: V, temperature: 1)
        let p = try device.read(probs)
        var filled = ids
        for pos in masks {
            let row = Array(p[pos * V..<(pos + 1) * V])
            // Special tokens are never a fill.
            let ranked = row.indices.filter { $0 != Int(tok.maskToken) && $0 != Int(tok.eosToken) }
                .sorted { row[$0] > row[$1] }.prefix(top)
            filled[pos] = Int32(ranked.first!)
            let list = ranked.map { String(format: "%@ %.3f", String(reflecting: tok.decode([Int32($0)])), row[$0]) }
            print("position \(pos): " + list.joined(separator: ", "))
        }
        print("filled: \(tok.decode(filled))")
    }
}
