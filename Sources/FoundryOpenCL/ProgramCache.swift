import Foundation
import FoundryCore
import FoundryFiles

/// Compiled kernel binaries on disk, keyed by a hash of the source, the device, the driver and
/// the build options, so a second run skips the (slow, on PoCL) compile.
enum ProgramCache {
    static var directory: String {
        let env = ProcessInfo.processInfo.environment
        if let dir = env["FOUNDRY_CACHE_DIR"], !dir.isEmpty { return dir }
        let base = env["XDG_CACHE_HOME"].flatMap { $0.isEmpty ? nil : $0 }
            ?? (NSHomeDirectory() as NSString).appendingPathComponent(".cache")
        return (base as NSString).appendingPathComponent("foundry/kernels")
    }

    /// 64-bit FNV-1a: stable across runs and platforms (Swift's Hasher is seeded per process).
    static func key(_ parts: [String]) -> String {
        var h: UInt64 = 0xcbf2_9ce4_8422_2325
        for part in parts {
            for byte in part.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
            h = (h ^ 0xff) &* 0x100_0000_01b3
        }
        return String(h, radix: 16)
    }

    static func load(_ key: String) -> [UInt8]? {
        let path = (directory as NSString).appendingPathComponent(key + ".bin")
        guard let data = FileManager.default.contents(atPath: path), !data.isEmpty else { return nil }
        return [UInt8](data)
    }

    /// Best effort: a cache that cannot be written only costs a recompile next time.
    static func store(_ key: String, _ binary: [UInt8]) {
        let dir = directory
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try? AtomicFile.write(Data(binary), to: (dir as NSString).appendingPathComponent(key + ".bin"))
    }
}
