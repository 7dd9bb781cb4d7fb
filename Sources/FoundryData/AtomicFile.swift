import Foundation
import FoundryCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes files so that a reader never sees a half-written one: the bytes go to
/// `path + ".tmp-<pid>"` first, which is then renamed over `path` (atomic on POSIX).
public enum AtomicFile {
    public static func write(_ data: Data, to path: String) throws {
        let tmp = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
        let url = URL(fileURLWithPath: tmp)
        do {
            try data.write(to: url)
        } catch {
            try? FileManager.default.removeItem(atPath: tmp)
            let dir = (path as NSString).deletingLastPathComponent
            throw FoundryError("cannot write \(path): \(reason(error)) (check that the directory "
                + "\(dir.isEmpty ? "." : dir) exists and is writable)")
        }
        if rename(tmp, path) != 0 {
            let code = errno
            try? FileManager.default.removeItem(atPath: tmp)
            throw FoundryError("cannot write \(path): \(String(cString: strerror(code))) "
                + "(check that the path is a writable file location, not a directory)")
        }
    }

    private static func reason(_ error: Error) -> String {
        let ns = error as NSError
        if let underlying = ns.userInfo[NSUnderlyingErrorKey] as? NSError,
           underlying.domain == NSPOSIXErrorDomain, let code = POSIXErrorCode(rawValue: Int32(underlying.code)) {
            return String(cString: strerror(code.rawValue))
        }
        return ns.localizedDescription
    }
}
