import ArgumentParser
import Foundation
import FoundryCore
import FoundryCPU
import FoundryOpenCL

enum BackendName: String, ExpressibleByArgument, CaseIterable {
    case cpu, opencl
}

/// --backend and --device, shared by every command that computes.
struct DeviceOptions: ParsableArguments {
    @Option(help: "Compute backend: opencl (any OpenCL device) or cpu (the Swift reference). Default: $FOUNDRY_BACKEND, else opencl.")
    var backend: BackendName?

    @Option(help: "OpenCL device index, as listed by `foundry devices` (default: the first GPU, else device 0).")
    var device: Int?

    var resolvedBackend: BackendName {
        get throws {
            if let backend { return backend }
            if let env = ProcessInfo.processInfo.environment["FOUNDRY_BACKEND"], !env.isEmpty {
                guard let b = BackendName(rawValue: env.lowercased()) else {
                    throw FoundryError("FOUNDRY_BACKEND=\(env) is not a backend: use cpu or opencl")
                }
                return b
            }
            return .opencl
        }
    }

    func open() throws -> Device {
        switch try resolvedBackend {
        case .cpu: return CPUDevice()
        case .opencl:
            let cl = try OpenCLDevice(index: device ?? Launch.localRank.flatMap(Self.device(forLocalRank:)))
            announceChoice(cl.info)
            DeviceOptions.opened = cl
            return cl
        }
    }

    /// Under mpirun without --device: the rank's GPU on its machine (local rank modulo the GPUs),
    /// or nil (the default device) where there is no GPU — ranks then share the CPU device.
    static func device(forLocalRank rank: Int) -> Int? {
        guard let gpus = try? OpenCLPlatforms.devices().filter({ !$0.isCPU }), !gpus.isEmpty else { return nil }
        return gpus[rank % gpus.count].index
    }

    /// The OpenCL device this process opened, for the closing memory figure.
    nonisolated(unsafe) static var opened: OpenCLDevice?

    /// "peak device memory 2.84 GiB" on OpenCL (the buffers Foundry allocated at most at once); nil on the CPU.
    static var peakMemoryLine: String? {
        opened.map { String(format: "peak device memory %.2f GiB (of %.1f GiB)", Double($0.memory.peakBytes) / 1_073_741_824,
                            Double($0.memoryBytes) / 1_073_741_824) }
    }

    /// Says which device was picked when there was a choice and the user made none (stderr, so
    /// the output of `sample` and friends stays clean; one device, as on most machines, says nothing).
    func announceChoice(_ info: OpenCLDeviceInfo) {
        guard device == nil, let count = try? OpenCLPlatforms.devices().count, count > 1 else { return }
        FileHandle.standardError.write(Data("using OpenCL device \(info.index) of \(count): \(info.name) (\(info.type), \(info.platform)); --device N picks another, see `foundry devices`\n".utf8))
    }
}

/// With $FOUNDRY_PROFILE=1 on the opencl backend: the kernels' share of device time, largest first.
func printKernelProfile(_ device: Device, top: Int = 15) {
    guard let cl = device as? OpenCLDevice, cl.profiling else { return }
    try? cl.finish()
    let rows = cl.profile.sorted { $0.value.nanoseconds > $1.value.nanoseconds }
    let total = rows.reduce(0.0) { $0 + Double($1.value.nanoseconds) }
    guard total > 0 else { return }
    print(String(format: "kernel time (FOUNDRY_PROFILE): %.3f s in %d launches", total / 1e9, rows.reduce(0) { $0 + $1.value.launches }))
    for (name, v) in rows.prefix(top) {
        print("  \(name.padding(28)) \(String(format: "%8.3f s  %5.1f%%  %7d launches  %8.1f µs each", Double(v.nanoseconds) / 1e9, 100 * Double(v.nanoseconds) / total, v.launches, Double(v.nanoseconds) / 1e3 / Double(v.launches)))")
    }
}
