import Foundation
import FoundryCore

/// metrics.jsonl: one JSON object per line, appended as training goes.
public final class MetricsLog {
    let handle: FileHandle?

    public init(path: String?, append: Bool) throws {
        guard let path else { handle = nil; return }
        if !append || !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw FoundryError("cannot write \(path): check that the output directory is writable")
            }
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw FoundryError("cannot open \(path) for writing") }
        h.seekToEndOfFile()
        handle = h
    }

    public func write(_ fields: [(String, Any)]) {
        guard let handle else { return }
        let body = fields.map { key, value -> String in
            let v: String
            switch value {
            case let d as Double: v = d.isFinite ? String(d) : "null"
            case let f as Float: v = f.isFinite ? String(f) : "null"
            case let s as String: v = "\"\(s)\""
            default: v = "\(value)"
            }
            return "\"\(key)\": \(v)"
        }.joined(separator: ", ")
        handle.write(("{" + body + "}\n").data(using: .utf8)!)
    }

    deinit { try? handle?.close() }
}
