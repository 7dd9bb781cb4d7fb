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
