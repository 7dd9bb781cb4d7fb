import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files so that a reader never sees a half-written one: the bytes go to
/// `path + ".tmp-<pid>"` first, which is then renamed over `path` (atomic on POSIX). Every
/// file Foundry writes goes through here: checkpoints, tokenizers, reports, plots, data files,
/// tuned parameters and the kernel cache. A failure (full disk, read-only folder) leaves the
/// old file as it was and says which file and why.
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        try write(to: path) { try $0.write(contentsOf: data) }
    }

    /// Streams a file through `body` (a multi-gigabyte safetensors need not exist whole in memory).
    public static func write(to path: String, _ body: (FileHandle) throws -> Void) throws {
        let tmp = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        let dir = (path as NSString).deletingLastPathComponent
        let hint = "check that the directory \(dir.isEmpty ? "." : dir) exists and is writable, and that the disk is not full"
        guard FileManager.default.createFile(atPath: tmp, contents: nil) else {
            throw FoundryError("cannot write \(path): cannot create \(tmp) (\(hint))")
        }
        do {
            let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: tmp))
            do {
                try body(handle)
                try handle.synchronize()
                try handle.close()
            } catch {
                try? handle.close()
                throw error
            }
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            throw FoundryError("cannot write \(path): \(reason(error)) (\(hint))")
        }
        if rename(tmp, path) != 0 {
            let code = errno
            try? FileManager.default.removeItem(atPath: tmp)
            throw FoundryError("cannot write \(path): \(String(cString: strerror(code))) "
                + "(check that the path is a writable file location, not a directory)")
        }
    }

    private static func reason(_ error: Error) -> String {
        if let e = error as? FoundryError { return "\(e)" }
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain, let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        if ns.domain == NSPOSIXErrorDomain, let code = POSIXErrorCode(rawValue: Int32(ns.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return ns.localizedDescription
    }
}
