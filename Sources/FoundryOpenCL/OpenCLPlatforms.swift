import COpenCL
import FoundryCore

/// What `foundry devices` shows about one OpenCL device.
public struct OpenCLDeviceInfo {
    public let index: Int
    public let platform: String
    public let name: String
    public let type: String
    public let version: String
    public let driver: String
    public let globalMemory: UInt64
    public let maxAllocation: UInt64
    public let computeUnits: Int
    public let isCPU: Bool
    /// The most work-items a work-group may hold on this device (a kernel may allow fewer).
    public let maxWorkGroupSize: Int
    /// Whether the device can divide and take square roots correctly rounded in fp32 when
    /// asked (-cl-fp32-correctly-rounded-divide-sqrt); without it OpenCL allows 2.5 ulp
    /// (NVIDIA's default) and 3 ulp, and exact-match kernel checks with a division differ.
    public let correctlyRoundedDivideSqrt: Bool
    /// CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT: 16 on AVX-512 CPUs under PoCL, 8 on AVX2, 1 on
    /// most GPUs.
    public let preferredFloatWidth: Int
    let id: cl_device_id

    /// The kernel parameters this device starts with when it has not been tuned.
    public var defaultParams: KernelParams { KernelParams.defaults(isCPU: isCPU, preferredFloatWidth: preferredFloatWidth) }
}

public enum OpenCLPlatforms {
    /// Device `index` of `devices()`, or one error naming the valid range; nil picks
    /// `preferredIndex` (the first GPU).
    public static func device(_ index: Int?) throws -> OpenCLDeviceInfo {
        let all = try devices()
        let index = index ?? preferredIndex(all.map(\.type))
        guard all.indices.contains(index) else {
            throw FoundryError("no OpenCL device \(index): this machine has \(all.count) (0...\(all.count - 1)); see `foundry devices`")
        }
        return all[index]
    }

    /// The device used when none is named: the first GPU, else the first accelerator, else
    /// device 0. Platform order alone would often pick a CPU (PoCL, rusticl) that sits
    /// beside a GPU.
    public static func preferredIndex(_ types: [String]) -> Int {
        types.firstIndex(of: "GPU") ?? types.firstIndex(of: "accelerator") ?? 0
    }

    /// PoCL's CPU device runs work-groups on one worker thread per core; left unpinned, the
    /// scheduler sometimes kept two workers on one core for as long as a whole benchmark row
    /// (a 128 × 384 × 768 product alternated between 157 and 82 GFLOP/s from one set of
    /// buffers to the next; pinned, 151–157 every time). Set before PoCL reads its settings,
    /// and only when the user has not chosen (POCL_AFFINITY=0 restores PoCL's default).
    static let pinPoCLThreads: Void = { setenv("POCL_AFFINITY", "1", 0) }()

    /// Every device of every platform, numbered in platform order (the `--device` index).
    public static func devices() throws -> [OpenCLDeviceInfo] {
        pinPoCLThreads
        var count: cl_uint = 0
        let status = clGetPlatformIDs(0, nil, &count)
        if status == -1001 || count == 0 { throw FoundryError(noOpenCLMessage) }
        try check(status, "clGetPlatformIDs")
        var platforms = [cl_platform_id?](repeating: nil, count: Int(count))
        try check(clGetPlatformIDs(count, &platforms, nil), "clGetPlatformIDs")
        var result: [OpenCLDeviceInfo] = []
        for case let platform? in platforms {
            let pname = platformString(platform, cl_platform_info(CL_PLATFORM_NAME))
            var n: cl_uint = 0
            guard clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), 0, nil, &n) == CL_SUCCESS, n > 0 else { continue }
            var ids = [cl_device_id?](repeating: nil, count: Int(n))
            try check(clGetDeviceIDs(platform, cl_device_type(CL_DEVICE_TYPE_ALL), n, &ids, nil), "clGetDeviceIDs")
            for case let id? in ids {
                let type: cl_device_type = deviceValue(id, cl_device_info(CL_DEVICE_TYPE))
                let isCPU = type & cl_device_type(CL_DEVICE_TYPE_CPU) != 0
                let gpu = type & cl_device_type(CL_DEVICE_TYPE_GPU) != 0
                result.append(OpenCLDeviceInfo(
                    index: result.count, platform: pname,
                    name: deviceString(id, cl_device_info(CL_DEVICE_NAME)),
                    type: isCPU ? "CPU" : gpu ? "GPU" : "accelerator",
                    version: deviceString(id, cl_device_info(CL_DEVICE_VERSION)),
                    driver: deviceString(id, cl_device_info(CL_DRIVER_VERSION)),
                    globalMemory: deviceValue(id, cl_device_info(CL_DEVICE_GLOBAL_MEM_SIZE)),
                    maxAllocation: deviceValue(id, cl_device_info(CL_DEVICE_MAX_MEM_ALLOC_SIZE)),
                    computeUnits: Int(deviceValue(id, cl_device_info(CL_DEVICE_MAX_COMPUTE_UNITS)) as cl_uint),
                    isCPU: isCPU,
                    maxWorkGroupSize: max(1, Int(deviceValue(id, cl_device_info(CL_DEVICE_MAX_WORK_GROUP_SIZE)) as Int)),
                    correctlyRoundedDivideSqrt: (deviceValue(id, cl_device_info(CL_DEVICE_SINGLE_FP_CONFIG)) as cl_device_fp_config)
                        & cl_device_fp_config(CL_FP_CORRECTLY_ROUNDED_DIVIDE_SQRT) != 0,
                    preferredFloatWidth: Int(deviceValue(id, cl_device_info(CL_DEVICE_PREFERRED_VECTOR_WIDTH_FLOAT)) as cl_uint),
                    id: id))
            }
        }
        if result.isEmpty { throw FoundryError(noOpenCLMessage) }
        return result
    }

    static func platformString(_ p: cl_platform_id, _ what: cl_platform_info) -> String {
        infoString { clGetPlatformInfo(p, what, $0, $1, $2) }
    }
    static func deviceString(_ d: cl_device_id, _ what: cl_device_info) -> String {
        infoString { clGetDeviceInfo(d, what, $0, $1, $2) }
    }
    /// A string-valued query: its size first, then its bytes.
    static func infoString(_ get: (Int, UnsafeMutableRawPointer?, UnsafeMutablePointer<Int>?) -> cl_int) -> String {
        var size = 0
        _ = get(0, nil, &size)
        var bytes = [CChar](repeating: 0, count: size + 1)
        _ = bytes.withUnsafeMutableBytes { get(size, $0.baseAddress, nil) }
        return String(cString: bytes).trimmingCharacters(in: .whitespaces)
    }
    static func deviceValue<T: FixedWidthInteger>(_ d: cl_device_id, _ what: cl_device_info) -> T {
        var v: T = 0
        clGetDeviceInfo(d, what, MemoryLayout<T>.size, &v, nil)
        return v
    }
}

import Foundation
