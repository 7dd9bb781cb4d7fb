import Foundation
import FoundryCore
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
    /// A symbolic link is followed (its target is replaced); a device or pipe (/dev/stdout,
    /// /dev/full) is written in place, never renamed over; a directory is refused.
    public static func write(to requested: String, _ body: (FileHandle) throws -> Void) throws {
        let path = URL(fileURLWithPath: requested).resolvingSymlinksInPath().path
        var st = stat()
        if lstat(path, &st) == 0 {
            switch st.st_mode & S_IFMT {
            case S_IFREG: break
            case S_IFDIR: throw FoundryError("cannot write \(requested): it is a directory (give a file path)")
            default: return try writeInPlace(path, requested: requested, body)
            }
        }
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

    /// A device or pipe: opened for writing as it is (no temporary file beside it, no rename).
    private static func writeInPlace(_ path: String, requested: String, _ body: (FileHandle) throws -> Void) throws {
        guard let handle = FileHandle(forWritingAtPath: path) else {
            throw FoundryError("cannot write \(requested): \(String(cString: strerror(errno)))")
        }
        do {
            try body(handle)
            try handle.close()
        } catch {
            try? handle.close()
            throw FoundryError("cannot write \(requested): \(reason(error))")
        }
    }

    /// Creates `path` and its parents, or says in one line why it cannot (a file in the way, no
    /// permission, a read-only file system).
    public static func makeDirectory(_ path: String) throws {
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir) {
            if isDir.boolValue { return }
            throw FoundryError("\(path) is a file, not a directory (choose another path, or move the file)")
        }
        do { try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) } catch {
            throw FoundryError("cannot create the directory \(path): \(reason(error)) (check the path and its permissions)")
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
