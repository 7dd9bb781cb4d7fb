import Foundation
import FoundryCore
import FoundryData
import FoundryModel

/// A model directory's model and tokenizer, with one-line errors for the usual mistakes.
func loadModel(_ dir: String, device: Device, needTokenizer: Bool) throws -> (GPT2, Tokenizer?) {
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

/// A JSON array of equal-length arrays of token ids.
func readTokenBatch(_ path: String) throws -> (tokens: [Int32], batch: Int, seq: Int) {
    guard let data = FileManager.default.contents(atPath: path) else {
        throw FoundryError.missingFile(path, hint: "pass a JSON array of equal-length arrays of token ids")
    }
    guard let rows = (try? JSONSerialization.jsonObject(with: data)) as? [[Any]], !rows.isEmpty else {
        throw FoundryError("\(path) is not a JSON array of arrays of token ids, e.g. [[1, 2, 3], [4, 5, 6]]")
    }
    let seq = rows[0].count
    var tokens: [Int32] = []
    for (r, row) in rows.enumerated() {
        guard row.count == seq, seq > 0 else {
            throw FoundryError("\(path): row \(r) has \(row.count) tokens but row 0 has \(seq): all rows must have the same non-zero length")
        }
        for v in row {
            guard let n = v as? NSNumber, let d = Double(exactly: n.doubleValue), d.rounded() == d,
                  let i = Int32(exactly: d) else {
                throw FoundryError("\(path): row \(r) holds \(v), which is not an integer token id")
            }
            tokens.append(i)
        }
    }
    return (tokens, rows.count, seq)
}
