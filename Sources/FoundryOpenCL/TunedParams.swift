import Foundation
import FoundryCore
import FoundryFiles

/// Kernel parameters chosen by `foundry kernels tune`, one small JSON file per device (keyed
/// by platform, device name and driver version) next to the compiled-kernel cache. A device
/// opened without explicit parameters uses its tuned file when there is one, else the defaults.
public enum TunedParams {
    public struct Record: Codable {
        public var device: String
        public var driver: String
        public var params: KernelParams
        /// Geometric mean GEMM GFLOP/s over the tuning shapes, for the record.
        public var gflops: Double
        public var date: String

        public init(device: String, driver: String, params: KernelParams, gflops: Double, date: String) {
            self.device = device; self.driver = driver; self.params = params; self.gflops = gflops; self.date = date
        }
    }

    static var directory: String {
        ((ProgramCache.directory as NSString).deletingLastPathComponent as NSString).appendingPathComponent("tuned")
    }

    public static func path(for info: OpenCLDeviceInfo) -> String {
        let key = ProgramCache.key([info.platform, info.name, info.version, info.driver])
        return (directory as NSString).appendingPathComponent("\(key).json")
    }

    /// The tuned record of a device, if any (an unreadable or invalid file counts as none).
    public static func load(for info: OpenCLDeviceInfo) -> Record? {
        guard let data = FileManager.default.contents(atPath: path(for: info)),
              let r = try? JSONDecoder().decode(Record.self, from: data), (try? r.params.validate()) != nil else { return nil }
        return r
    }

    /// Written atomically (temp file, then rename).
    public static func save(_ r: Record, for info: OpenCLDeviceInfo) throws {
        try AtomicFile.makeDirectory(directory)
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try AtomicFile.write(try enc.encode(r), to: path(for: info))
    }

    public static func remove(for info: OpenCLDeviceInfo) {
        unlink(path(for: info))
    }
}
