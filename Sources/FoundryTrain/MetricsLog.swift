import Foundation
import FoundryCore
import FoundryFiles
import FoundryData

/// metrics.jsonl: one JSON object per line (`JSONValue`'s writer), appended as training goes.
public final class MetricsLog {
    let handle: FileHandle?

    /// `append` keeps the rows already there; `resumingAt` keeps only those up to that step (a
    /// run resumed from step N repeats the steps after N, which must not appear twice).
    public init(path: String?, append: Bool, resumingAt step: Int? = nil) throws {
        guard let path else { handle = nil; return }
        if append, let step, let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let kept = text.split(separator: "\n", omittingEmptySubsequences: true).filter { line in
                guard let s = Self.parse(line)?["step"]?.int else { return true }
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
    public func write(_ fields: [(String, JSONValue)]) {
        guard let handle else { return }
        handle.write(Data(JSONValue.object(fields).encoded() + [0x0A]))
    }

    static func parse(_ line: Substring) -> JSONValue? { try? JSONParser.parse(Data(line.utf8)) }

    /// (step, value) of one figure in the rows of the metrics.jsonl at `path` (none when the file
    /// or the figure is missing): the one reader of Foundry's metrics.
    public static func curve(_ path: String, _ key: String) -> [(step: Double, value: Double)] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            guard let row = parse(line), let s = row["step"]?.number, let v = row[key]?.number else { return nil }
            return (s, v)
        }
    }

    deinit { try? handle?.close() }
}
