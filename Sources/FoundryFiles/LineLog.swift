import Foundation
import FoundryCore

/// An append-only file of lines (JSONL) that people's work is written to — rankings, skips —
/// where every acknowledged line must survive and no line may be glued to a broken one.
///
/// - Each `append` writes one whole line and fsyncs it before returning. A write that fails
///   part-way (a full disk) is rolled back with `ftruncate` to the length before it, and the
///   error names the real cause (errno is read before anything else can change it).
/// - A torn last line (a crash or a failed rollback left bytes without their newline) is moved
///   aside to `PATH.torn` before anything is appended, so the next line starts on its own.
public struct LineLog: Sendable {
    public let path: String
    public var tornPath: String { path + ".torn" }
    /// How bytes reach the file: `write(2)` normally; tests put a failing writer here to act out
    /// a full disk where no small filesystem can be mounted.
    public typealias Writer = @Sendable (Int32, UnsafeRawBufferPointer) -> Int
    let writer: Writer

    /// `writer` nil: write(2).
    public init(path: String, writer: Writer? = nil) {
        self.path = path
        self.writer = writer ?? { fd, bytes in Glibc.write(fd, bytes.baseAddress, bytes.count) }
    }

    /// What a repair did: the bytes of a torn last line moved to `tornPath`, if there was one.
    public struct Repair: Sendable { public let movedBytes: Int }

    /// Moves a last line without its newline to `tornPath` (appended there, fsync'd) and cuts
    /// it from the file. Returns nil when the file is missing, empty or ends in a newline.
    @discardableResult
    public func repairTornTail() throws -> Repair? {
        let fd = open(path, O_RDWR)
        if fd < 0 {
            if errno == ENOENT { return nil }
            throw FoundryError("cannot open \(path): \(String(cString: strerror(errno)))")
        }
        defer { close(fd) }
        return try repair(fd)
    }

    private func repair(_ fd: Int32) throws -> Repair? {
        let size = lseek(fd, 0, SEEK_END)
        guard size > 0 else { return nil }
        var last: UInt8 = 0
        guard pread(fd, &last, 1, size - 1) == 1 else { throw FoundryError("cannot read \(path): \(String(cString: strerror(errno)))") }
        if last == 0x0A { return nil }
        // Find the start of the torn line: one past the last newline (or the file's start).
        var start: off_t = 0
        var at = size, chunk = [UInt8](repeating: 0, count: 4096)
        search: while at > 0 {
            let n = Int(min(off_t(chunk.count), at))
            at -= off_t(n)
            guard pread(fd, &chunk, n, at) == n else { throw FoundryError("cannot read \(path): \(String(cString: strerror(errno)))") }
            for i in stride(from: n - 1, through: 0, by: -1) where chunk[i] == 0x0A { start = at + off_t(i) + 1; break search }
        }
        var torn = [UInt8](repeating: 0, count: Int(size - start))
        guard pread(fd, &torn, torn.count, start) == torn.count else { throw FoundryError("cannot read \(path): \(String(cString: strerror(errno)))") }
        let aside = open(tornPath, O_WRONLY | O_APPEND | O_CREAT, 0o644)
        guard aside >= 0 else { throw FoundryError("cannot open \(tornPath) to keep the torn line of \(path): \(String(cString: strerror(errno)))") }
        defer { close(aside) }
        let keep = torn + [0x0A]
        let wrote = keep.withUnsafeBytes { Glibc.write(aside, $0.baseAddress, $0.count) }
        guard wrote == keep.count, fsync(aside) == 0 else {
            throw FoundryError("cannot write the torn line of \(path) to \(tornPath): \(String(cString: strerror(errno))) (free some disk space)")
        }
        guard ftruncate(fd, start) == 0, fsync(fd) == 0 else {
            throw FoundryError("cannot cut the torn line from \(path): \(String(cString: strerror(errno)))")
        }
        return Repair(movedBytes: torn.count)
    }

    /// Appends `line` and a newline, forced to disk; all or nothing.
    public func append(_ line: [UInt8]) throws {
        let fd = open(path, O_RDWR | O_APPEND | O_CREAT, 0o644)
        guard fd >= 0 else { throw FoundryError("cannot open \(path) to append: \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        try repair(fd)
        let before = lseek(fd, 0, SEEK_END)
        let bytes = line + [0x0A]
        var done = 0, failure: Int32 = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { writer(fd, $0) }
            if n < 0 { if errno == EINTR { continue }; failure = errno; break }
            if n == 0 { failure = ENOSPC; break }   // no progress: the disk is full
            done += n
        }
        if failure == 0 && fsync(fd) != 0 { failure = errno }
        guard failure != 0 else { return }
        // Roll back to the length before this line, so the file never holds part of it.
        let rolledBack = ftruncate(fd, before) == 0 && fsync(fd) == 0
        throw WriteFailure(log: self, code: failure, rolledBack: rolledBack)
    }

    /// A line that could not be written: the errno that stopped it, and whether the file was
    /// cut back to its length before the line.
    public struct WriteFailure: Error, CustomStringConvertible {
        public let log: LineLog
        public let code: Int32
        public let rolledBack: Bool
        public var diskFull: Bool { code == ENOSPC }
        public var description: String {
            "could not write to \(log.path): \(String(cString: strerror(code)))"
                + (diskFull ? " (the disk is full: free some space and send it again)" : "")
                + (rolledBack ? "; nothing of this line was kept" : "; the partial line will be moved to \(log.tornPath) before the next write")
        }
    }
}
