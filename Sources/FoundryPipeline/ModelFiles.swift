import Foundation
import FoundryCore
import FoundryData
import FoundryModel

/// A JSON array of equal-length arrays of token ids.
public func readTokenBatch(_ path: String) throws -> (tokens: [Int32], batch: Int, seq: Int) {
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

/// Reads a UTF-8 text file with one-line errors for the usual mistakes.
public func readText(_ path: String) throws -> String {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
        throw FoundryError.missingFile(path, hint: "pass a UTF-8 text file with --data")
    }
    guard !isDir.boolValue else { throw FoundryError("\(path) is a directory: pass a UTF-8 text file") }
    guard let data = FileManager.default.contents(atPath: path) else { throw FoundryError("cannot read \(path): check its permissions") }
    guard let text = String(data: data, encoding: .utf8) else { throw FoundryError("\(path) is not valid UTF-8 text") }
    guard !text.isEmpty else { throw FoundryError("\(path) is empty: give it some text to train on") }
    return text
}

/// Next-token targets in Hugging Face's convention: position t predicts token t+1; the last
/// position of each row predicts nothing.
public func shiftedTargets(_ tokens: [Int32], batch: Int, seq: Int) -> [Int32] {
    var y = [Int32](repeating: -1, count: tokens.count)
    for b in 0..<batch { for t in 0..<seq - 1 { y[b * seq + t] = tokens[b * seq + t + 1] } }
    return y
}
