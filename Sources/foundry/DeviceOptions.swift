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

    @Option(help: "OpenCL device index, as listed by `foundry devices`.")
    var device: Int = 0

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
        case .opencl: return try OpenCLDevice(index: device)
        }
    }
}
