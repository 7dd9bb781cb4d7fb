import Foundation
import FoundryCore
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Several files published as one unit — a checkpoint's model, optimizer, trainer state,
/// tokenizer and config. Each file is first written in full beside its final name
/// (`<name>.next`); then a journal naming them (`commit.json`) is written atomically; then each
/// is renamed into place and the journal removed. Whoever finds a journal (the next run, or a
/// reader when no writer is alive) finishes the renames, since every file it names is complete;
/// `.next` files without a journal are a write that never committed and are removed. So a kill
/// at any moment leaves one step's files, the old step's or the new one's, never a mix.
public struct FileSet {
    public static let journal = "commit.json"
    private var writers: [(name: String, write: (FileHandle) throws -> Void)] = []
    public var names: [String] { writers.map(\.name) }

    public init() {}

    public mutating func add(_ name: String, _ data: Data) { writers.append((name, { try $0.write(contentsOf: data) })) }
    public mutating func add(_ name: String, writer: @escaping (FileHandle) throws -> Void) { writers.append((name, writer)) }

    /// Writes every file into `dir` (created if needed) and publishes them together.
    public func commit(to dir: String) throws {
        try AtomicFile.makeDirectory(dir)
        try FileSet.recover(dir)
        // A name may sit in a subdirectory (a checkpoint's adapter/): make it first.
        for name in names where name.contains("/") {
            try AtomicFile.makeDirectory(FileSet.path(dir, (name as NSString).deletingLastPathComponent))
        }
        for (name, write) in writers { try AtomicFile.write(to: FileSet.path(dir, name + ".next"), write) }
        let journal = try JSONEncoder().encode(Journal(files: names))
        try AtomicFile.write(journal, to: FileSet.path(dir, FileSet.journal))
        try FileSet.finish(dir, names)
    }

    struct Journal: Codable { var files: [String] }

    /// Finishes or discards what a killed writer left in `dir`: a journal's renames are completed,
    /// uncommitted `.next` files and the temporary files of dead processes are removed. A
    /// writer calls it before writing; a reader calls it with `reading: true`, which only
    /// completes a journal, and only when no live process holds the directory's `RunLock`.
    public static func recover(_ dir: String, reading: Bool = false) throws {
        let fm = FileManager.default
        let journalPath = path(dir, journal)
        if fm.fileExists(atPath: journalPath) {
            if reading, RunLock.holder(of: dir) != nil { return }   // its writer is finishing it now
            guard let data = fm.contents(atPath: journalPath), let j = try? JSONDecoder().decode(Journal.self, from: data) else {
                throw FoundryError("\(journalPath) is damaged: the last save in \(dir) may be incomplete; delete it to keep the files as they are")
            }
            try finish(dir, j.files)
        }
        if reading { return }
        for name in (try? fm.contentsOfDirectory(atPath: dir)) ?? [] {
            if name.hasSuffix(".next") { try? fm.removeItem(atPath: path(dir, name)) }
            if let r = name.range(of: ".tmp-", options: .backwards), let pid = Int32(name[r.upperBound...]), !RunLock.alive(pid) {
                try? fm.removeItem(atPath: path(dir, name))
            }
        }
    }

    static func finish(_ dir: String, _ names: [String]) throws {
        for name in names {
            let from = path(dir, name + ".next"), to = path(dir, name)
            if rename(from, to) != 0 && errno != ENOENT {   // ENOENT: already moved by an earlier finish
                throw FoundryError("cannot publish \(to): \(String(cString: strerror(errno))) (check that \(dir) is writable)")
            }
        }
        if unlink(path(dir, journal)) != 0 && errno != ENOENT {
            throw FoundryError("cannot remove \(path(dir, journal)): \(String(cString: strerror(errno)))")
        }
    }

    static func path(_ dir: String, _ name: String) -> String { (dir as NSString).appendingPathComponent(name) }
}

/// One writer per run directory: `.foundry.lock` holds the writer's process id, is removed when
/// it finishes, and a lock whose process is gone (killed) is taken over.
public final class RunLock {
    public static let file = ".foundry.lock"
    public let directory: String
    private var held = true

    public init(_ dir: String) throws {
        directory = dir
        try AtomicFile.makeDirectory(dir)
        let p = FileSet.path(dir, RunLock.file)
        for _ in 0..<3 {
            let fd = open(p, O_WRONLY | O_CREAT | O_EXCL, 0o644)
            if fd >= 0 {
                let text = "\(getpid())\n"
                _ = text.withCString { write(fd, $0, strlen($0)) }
                close(fd)
                return
            }
            guard errno == EEXIST else {
                throw FoundryError("cannot lock \(dir): \(String(cString: strerror(errno))) (check that it is writable)")
            }
            if let pid = RunLock.holder(of: dir) {
                throw FoundryError("another foundry process (pid \(pid)) is writing \(dir): wait for it to finish or stop it, or choose another --out")
            }
            unlink(p)   // stale: its process is gone
        }
        throw FoundryError("cannot lock \(dir): its lock file keeps reappearing")
    }

    /// The live process holding `dir`'s lock, if any (not counting this one's own lock).
    public static func holder(of dir: String) -> Int32? {
        guard let text = try? String(contentsOfFile: FileSet.path(dir, file), encoding: .utf8),
              let pid = Int32(text.trimmingCharacters(in: .whitespacesAndNewlines)), pid != getpid(), alive(pid) else { return nil }
        return pid
    }

    /// A process that exists and has not exited: a zombie (exited, not yet reaped — in a
    /// container whose first process reaps nobody, it may stay one) holds nothing.
    static func alive(_ pid: Int32) -> Bool {
        guard pid > 0, kill(pid, 0) == 0 || errno == EPERM else { return false }
        if let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
           let close = stat.lastIndex(of: ")"), stat[stat.index(after: close)...].trimmingCharacters(in: .whitespaces).hasPrefix("Z") {
            return false
        }
        return true
    }

    public func release() {
        guard held else { return }
        held = false
        unlink(FileSet.path(directory, RunLock.file))
    }

    deinit { release() }
}
