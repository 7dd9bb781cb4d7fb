import Foundation
import FoundryCore

/// Reads a data file whole. Paths ending in `.gz` are decompressed by the system's `gzip`
/// (run as `gzip -dc FILE`), so Hugging Face dumps such as `hh-rlhf/*.jsonl.gz` load as they are.
public enum DataFile {
    /// The file's bytes (decompressed for `.gz`). `hint` says what the file should be, for the
    /// missing-file error (e.g. "pass a JSONL file, or make one with `foundry data synth`").
    public static func read(_ path: String, hint: String = "") throws -> Data {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw FoundryError.missingFile(path, hint: hint)
        }
        if isDir.boolValue {
            throw FoundryError("\(path) is a directory, not a data file (pass the file inside it)")
        }
        guard FileManager.default.isReadableFile(atPath: path),
              let raw = FileManager.default.contents(atPath: path) else {
            throw FoundryError("cannot read \(path) (check its permissions)")
        }
        guard path.lowercased().hasSuffix(".gz") else { return raw }
        return try gunzip(path: path)
    }

    /// The `gzip` executable on `$PATH` (or in /usr/bin, /bin), if any.
    static func findGzip() -> String? {
        var dirs = (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":").map(String.init)
        dirs += ["/usr/bin", "/bin", "/usr/local/bin", "/opt/homebrew/bin"]
        for d in dirs where !d.isEmpty {
            let p = (d as NSString).appendingPathComponent("gzip")
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    static func gunzip(path: String) throws -> Data {
        guard let gzip = findGzip() else {
            throw FoundryError("cannot read \(path): it is gzip-compressed and no `gzip` program was found on PATH "
                + "(install gzip, e.g. `sudo apt-get install gzip`, or decompress the file yourself with `gunzip -k`)")
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: gzip)
        p.arguments = ["-dc", "--", path]
        let out = Pipe(), err = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = FileHandle.nullDevice
        do { try p.run() } catch {
            throw FoundryError("cannot read \(path): running \(gzip) failed: \(error.localizedDescription) "
                + "(decompress the file yourself with `gunzip -k` and pass the result)")
        }
        // gzip writes little to stderr, so reading stdout to the end first cannot deadlock.
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        if p.terminationReason != .exit || p.terminationStatus != 0 {
            let detail = message.split(separator: "\n").first.map {
                String($0).replacingOccurrences(of: "\(gzip): ", with: "").replacingOccurrences(of: "gzip: ", with: "")
            } ?? "gzip exited with status \(p.terminationStatus)"
            throw FoundryError("cannot decompress \(path): \(detail) "
                + "(the file is corrupt, truncated or not gzip data; download it again, or drop the .gz suffix if it is plain text)")
        }
        return data
    }
}
