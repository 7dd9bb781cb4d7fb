import Foundation
import FoundryCore

/// metrics.jsonl: one JSON object per line, appended as training goes.
public final class MetricsLog {
    let handle: FileHandle?

    /// `append` keeps the rows already there; `resumingAt` keeps only those up to that step (a
    /// run resumed from step N repeats the steps after N, which must not appear twice).
    public init(path: String?, append: Bool, resumingAt step: Int? = nil) throws {
        guard let path else { handle = nil; return }
        if append, let step, let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let kept = text.split(separator: "\n", omittingEmptySubsequences: true).filter { line in
                guard let row = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                      let s = row["step"] as? Int else { return true }
                return s <= step
            }
            try AtomicFile.write(Data(kept.map { $0 + "\n" }.joined().utf8), to: path)
        } else if !append || !FileManager.default.fileExists(atPath: path) {
            try AtomicFile.write(Data(), to: path)
        }
        guard let h = FileHandle(forWritingAtPath: path) else { throw FoundryError("cannot open \(path) for writing") }
        h.seekToEndOfFile()
        handle = h
    }

    /// One row, its fields in the given order; a non-finite number is written as null.
    public func write(_ fields: [(String, Any)]) {
        guard let handle, let line = try? Self.row(fields) else { return }
        handle.write(Data((line + "\n").utf8))
    }

    /// `{"key": value, ...}` with the keys in the order given (a JSONEncoder object would not
    /// keep it) and every key and value encoded by JSONEncoder (strings escaped).
    static func row(_ fields: [(String, Any)]) throws -> String {
        let encoder = JSONEncoder()
        func json<T: Encodable>(_ v: T) throws -> String { String(decoding: try encoder.encode(v), as: UTF8.self) }
        let parts = try fields.map { name, value -> String in
            let v: String
            switch value {
            case let d as Double: v = d.isFinite ? try json(d) : "null"
            case let f as Float: v = f.isFinite ? try json(f) : "null"
            case let i as Int: v = try json(i)
            case let b as Bool: v = try json(b)
            case let s as String: v = try json(s)
            default: v = try json("\(value)")
            }
            return try json(name) + ": " + v
        }
        return "{" + parts.joined(separator: ", ") + "}"
    }

    deinit { try? handle?.close() }
}
