import COpenCL
import Foundation
import FoundryCore

final class CLBuffer: DeviceBuffer {
    let count: Int
    let mem: cl_mem
    let account: MemoryAccount
    init(count: Int, mem: cl_mem, account: MemoryAccount) {
        self.count = count; self.mem = mem; self.account = account
        account.allocated(count * 4)
    }
    deinit { clReleaseMemObject(mem); account.freed(count * 4) }
}

/// Bytes of device buffers alive now and at most so far (benchmarks report the peak).
public final class MemoryAccount {
    public private(set) var liveBytes = 0
    public private(set) var peakBytes = 0
    func allocated(_ n: Int) { liveBytes += n; peakBytes = max(peakBytes, liveBytes) }
    func freed(_ n: Int) { liveBytes -= n }
    /// Starts a new peak measurement from what is alive now.
    public func resetPeak() { peakBytes = liveBytes }
}

/// An argument of a kernel launch. A tensor expands to two OpenCL arguments: its buffer and
/// its element offset (see Kernels/common.h).
enum KernelArg {
    case tensor(TensorRef)
    case int(Int)
    case float(Float)
    case mem(cl_mem)
}

/// The OpenCL backend: one context, one in-order queue, one program built from every file in
/// Kernels/ (embedded at build time), kernels looked up by name.
public final class OpenCLDevice: Device {
    public let backend = "opencl"
    /// CPU devices (the runtime's own work-groups) only: see `Device.decodesWithDotProducts`.
    public var decodesWithDotProducts: Bool { workGroups == .runtime }
    public let name: String
    public let info: OpenCLDeviceInfo
    public let params: KernelParams
    /// The compiler options the program was built with.
    public let buildOptions: String
    /// How launches are cut into work-groups.
    public let workGroups: WorkGroupPolicy
    /// Whether the program came from the on-disk cache (for tests and `foundry devices`).
    public private(set) var programFromCache = false

    let context: cl_context
    /// The in-order queue every op is enqueued on (public for benchmarks that call other
    /// OpenCL libraries, such as CLBlast, on the same device).
    public let queue: cl_command_queue
    let program: cl_program
    var kernels: [String: cl_kernel] = [:]
    /// Each kernel's largest work-group on this device (CL_KERNEL_WORK_GROUP_SIZE).
    var groupLimits: [String: Int] = [:]
    /// Kernels whose launch arguments were checked against their declaration (`KernelSignatures`).
    var checkedSignatures: Set<String> = []
    /// Zero-length ops and absent optional tensors bind this instead of a null buffer (made at the
    /// end of `init`, which fails with the allocation's error rather than trapping later).
    private(set) var dummy: CLBuffer!
    /// Working space for ops that need a temporary (the transposed B of a GEMM); grown on
    /// demand. Safe to reuse because the queue is in order.
    var scratchBuffer: CLBuffer?
    /// The gradient norm's 1024 partial sums (`gradNorm`), made at the end of `init`.
    private(set) var normPartials: CLBuffer!
    /// Device memory held by this device's buffers.
    public let memory = MemoryAccount()
    /// Whether launches are timed (the queue was created with profiling enabled).
    public let profiling: Bool
    /// Per-kernel totals when `profiling`: launches and device nanoseconds, by kernel name.
    public private(set) var profile: [String: (launches: Int, nanoseconds: UInt64)] = [:]
    var pendingEvents: [(String, cl_event)] = []
    /// Kernel launches enqueued and blocking host reads made so far (the decode benchmark reports
    /// both per token).
    public private(set) var launchCount = 0, readCount = 0
    /// The first error raised inside an op; ops do not throw, so `read` and `finish` report it.
    var pendingError: FoundryError?

    /// Opens device `index` of `OpenCLPlatforms.devices()` (nil: the first GPU, see
    /// `OpenCLPlatforms.preferredIndex`). Kernel parameters: `params`, else
    /// $FOUNDRY_KERNEL_PARAMS, else the device's `foundry kernels tune` result, else the
    /// defaults for what the device reports (`OpenCLDeviceInfo.defaultParams`).
    /// `extraBuildOptions` are appended to the compiler options (the kernel suite builds with
    /// -cl-opt-disable to catch code that only links when inlined).
    /// `workGroups`: nil takes $FOUNDRY_WORKGROUP, else the device class's default.
    public init(index: Int? = nil, params: KernelParams? = nil, profiling: Bool? = nil, extraBuildOptions: String = "",
                workGroups: WorkGroupPolicy? = nil) throws {
        info = try OpenCLPlatforms.device(index)
        name = info.name
        if let workGroups {
            self.workGroups = workGroups
        } else if let text = ProcessInfo.processInfo.environment["FOUNDRY_WORKGROUP"], !text.isEmpty {
            guard let w = WorkGroupPolicy(text) else {
                throw FoundryError("$FOUNDRY_WORKGROUP=\(text) is neither 'runtime' nor a work-group size from 1 to 1024 — unset it to use the default")
            }
            self.workGroups = w
        } else {
            self.workGroups = .defaults(isCPU: info.isCPU)
        }
        if let params {
            self.params = params
        } else if let text = ProcessInfo.processInfo.environment["FOUNDRY_KERNEL_PARAMS"], !text.isEmpty {
            do { self.params = try KernelParams.parse(text, base: info.defaultParams) } catch {
                throw FoundryError("$FOUNDRY_KERNEL_PARAMS: \(error) — unset it to use the defaults")
            }
        } else if let tuned = TunedParams.load(for: info) {
            self.params = tuned.params
        } else {
            self.params = info.defaultParams
        }
        var status: cl_int = 0
        var id: cl_device_id? = info.id
        guard let ctx = clCreateContext(nil, 1, &id, nil, nil, &status), status == CL_SUCCESS else {
            throw FoundryError("could not create an OpenCL context on \(info.name): \(clErrorName(status))")
        }
        context = ctx
        // $FOUNDRY_PROFILE=1: time every kernel with OpenCL events (see `profile`).
        self.profiling = profiling ?? ProcessInfo.processInfo.environment["FOUNDRY_PROFILE"].map { !$0.isEmpty && $0 != "0" } ?? false
        let properties = self.profiling ? cl_command_queue_properties(CL_QUEUE_PROFILING_ENABLE) : 0
        guard let q = clCreateCommandQueue(ctx, info.id, properties, &status), status == CL_SUCCESS else {
            clReleaseContext(ctx)
            throw FoundryError("could not create an OpenCL queue on \(info.name): \(clErrorName(status))")
        }
        queue = q
        buildOptions = OpenCLDevice.buildOptions(params: self.params, device: info, extra: extraBuildOptions)
        do {
            (program, programFromCache) = try OpenCLDevice.buildProgram(context: ctx, device: info, options: buildOptions)
        } catch {
            clReleaseCommandQueue(q); clReleaseContext(ctx)
            throw error
        }
        dummy = try makeCLBuffer(count: 1)
        normPartials = try makeCLBuffer(count: 1024)
    }

    deinit {
        for k in kernels.values { clReleaseKernel(k) }
        clReleaseProgram(program)
        clReleaseCommandQueue(queue)
        clReleaseContext(context)
    }

    /// The tile sizes as -D options, fp32 division and square root correctly rounded where the
    /// device offers it (so results match the reference bit for bit on every such device),
    /// then $FOUNDRY_CL_OPTIONS and `extra`.
    public static func buildOptions(params: KernelParams, device: OpenCLDeviceInfo, extra: String = "") -> String {
        var options = params.buildOptions
        if device.correctlyRoundedDivideSqrt { options += " -cl-fp32-correctly-rounded-divide-sqrt" }
        if !extra.isEmpty { options += " " + extra }
        return options
    }

    /// All kernel files in one translation unit, common.h first: what every device compiles
    /// (public for the strict OpenCL C check in the tests).
    public static var source: String {
        let files = KernelSources.files
        var text = files["common.h"] ?? ""
        for (name, body) in files.sorted(by: { $0.key < $1.key }) where name.hasSuffix(".cl") {
            text += "\n// ---- \(name) ----\n" + body
        }
        return text
    }

    static func buildProgram(context: cl_context, device: OpenCLDeviceInfo, options: String) throws -> (cl_program, Bool) {
        let src = source
        let key = ProgramCache.key([src, device.platform, device.name, device.version, device.driver, options])
        var status: cl_int = 0
        var id: cl_device_id? = device.id
        if let binary = ProgramCache.load(key) {
            var length = binary.count
            var binStatus: cl_int = 0
            let prog: cl_program? = binary.withUnsafeBufferPointer { buf in
                var ptr: UnsafePointer<UInt8>? = buf.baseAddress
                return clCreateProgramWithBinary(context, 1, &id, &length, &ptr, &binStatus, &status)
            }
            if let prog, status == CL_SUCCESS, binStatus == CL_SUCCESS,
               clBuildProgram(prog, 1, &id, options, nil, nil) == CL_SUCCESS {
                return (prog, true)
            }
            if let prog { clReleaseProgram(prog) }   // stale or foreign binary: rebuild from source
        }
        let prog: cl_program? = src.withCString { cstr in
            var p: UnsafePointer<CChar>? = cstr
            return clCreateProgramWithSource(context, 1, &p, nil, &status)
        }
        guard let prog, status == CL_SUCCESS else { throw FoundryError("OpenCL could not load the kernel source: \(clErrorName(status))") }
        let built = clBuildProgram(prog, 1, &id, options, nil, nil)
        if built != CL_SUCCESS {
            let log = buildLog(prog, device.id)
            clReleaseProgram(prog)
            throw FoundryError("OpenCL kernel build failed on \(device.name) (\(clErrorName(built))); build log:\n\(log)")
        }
        var size = 0
        if clGetProgramInfo(prog, cl_program_info(CL_PROGRAM_BINARY_SIZES), MemoryLayout<Int>.size, &size, nil) == CL_SUCCESS, size > 0 {
            var binary = [UInt8](repeating: 0, count: size)
            let ok = binary.withUnsafeMutableBufferPointer { buf -> Bool in
                var ptr: UnsafeMutablePointer<UInt8>? = buf.baseAddress
                return clGetProgramInfo(prog, cl_program_info(CL_PROGRAM_BINARIES), MemoryLayout<UnsafeMutablePointer<UInt8>?>.size, &ptr, nil) == CL_SUCCESS
            }
            if ok { ProgramCache.store(key, binary) }
        }
        return (prog, false)
    }

    static func buildLog(_ prog: cl_program, _ device: cl_device_id) -> String {
        var size = 0
        clGetProgramBuildInfo(prog, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), 0, nil, &size)
        var bytes = [CChar](repeating: 0, count: size + 1)
        clGetProgramBuildInfo(prog, device, cl_program_build_info(CL_PROGRAM_BUILD_LOG), size, &bytes, nil)
        return String(cString: bytes)
    }

    // MARK: memory

    /// Source of non-blocking zero writes; immutable and alive for the whole process.
    static let zeroPageSize = 1 << 20
    nonisolated(unsafe) static let zeroPage = UnsafeRawPointer(calloc(zeroPageSize, 1)!)

    func makeCLBuffer(count: Int) throws -> CLBuffer {
        let bytes = max(count, 1) * 4
        if UInt64(bytes) > info.maxAllocation {
            throw FoundryError("out of device memory: a \(bytes >> 20) MiB buffer exceeds \(info.name)'s largest allocation (\(info.maxAllocation >> 20) MiB); use a smaller --batch/--context/model, or --backend cpu")
        }
        var status: cl_int = 0
        guard let mem = clCreateBuffer(context, cl_mem_flags(CL_MEM_READ_WRITE), bytes, nil, &status), status == CL_SUCCESS else {
            throw FoundryError("out of device memory allocating \(bytes >> 20) MiB on \(info.name) (\(clErrorName(status))); use a smaller --batch/--context/model, or --backend cpu")
        }
        // Zero it by copying from a zero page: oclgrind (21.10) does not count
        // clEnqueueFillBuffer as initialising memory and would report every later read.
        var at = 0
        while at < bytes {
            let n = min(OpenCLDevice.zeroPageSize, bytes - at)
            let status = clEnqueueWriteBuffer(queue, mem, cl_bool(CL_FALSE), at, n, OpenCLDevice.zeroPage, 0, nil, nil)
            if status != CL_SUCCESS {
                clReleaseMemObject(mem)
                throw FoundryError("out of device memory initialising \(bytes >> 20) MiB on \(info.name) (\(clErrorName(status))); use a smaller --batch/--context/model, or --backend cpu")
            }
            at += n
        }
        return CLBuffer(count: count, mem: mem, account: memory)
    }

    public func makeBuffer(count: Int) throws -> DeviceBuffer { try makeCLBuffer(count: count) }

    /// The OpenCL buffer behind a tensor (its element offset is `t.offset`).
    public func mem(_ t: TensorRef) -> cl_mem {
        guard let b = t.buffer as? CLBuffer else { fatalError("tensor from another device") }
        return b.mem
    }

    func writeBytes(_ src: UnsafeRawPointer, count: Int, to t: TensorRef) throws {
        precondition(count <= t.count)
        if count == 0 { return }
        try check(clEnqueueWriteBuffer(queue, mem(t), cl_bool(CL_TRUE), t.offset * 4, count * 4, src, 0, nil, nil), "write to device")
    }
    public func write(_ values: [Float], to t: TensorRef) throws {
        try values.withUnsafeBytes { try writeBytes($0.baseAddress!, count: values.count, to: t) }
    }
    public func write(ints: [Int32], to t: TensorRef) throws {
        try ints.withUnsafeBytes { try writeBytes($0.baseAddress!, count: ints.count, to: t) }
    }
    func readBytes(_ t: TensorRef, into dst: UnsafeMutableRawPointer) throws {
        if let e = pendingError { pendingError = nil; throw e }
        if t.count == 0 { return }
        readCount += 1
        try check(clEnqueueReadBuffer(queue, mem(t), cl_bool(CL_TRUE), t.offset * 4, t.count * 4, dst, 0, nil, nil), "read from device")
        if profiling { collectProfile() }
    }
    public func read(_ t: TensorRef) throws -> [Float] {
        var out = [Float](repeating: 0, count: t.count)
        try out.withUnsafeMutableBytes { try readBytes(t, into: $0.baseAddress!) }
        return out
    }
    public func readInts(_ t: TensorRef) throws -> [Int32] {
        var out = [Int32](repeating: 0, count: t.count)
        try out.withUnsafeMutableBytes { try readBytes(t, into: $0.baseAddress!) }
        return out
    }
    public func finish() throws {
        if let e = pendingError { pendingError = nil; throw e }
        try check(clFinish(queue), "clFinish")
        collectProfile()
    }

    /// Adds the finished launches' times to `profile`.
    func collectProfile() {
        for (name, event) in pendingEvents {
            var start: cl_ulong = 0, end: cl_ulong = 0
            clWaitForEvents(1, [event])
            clGetEventProfilingInfo(event, cl_profiling_info(CL_PROFILING_COMMAND_START), 8, &start, nil)
            clGetEventProfilingInfo(event, cl_profiling_info(CL_PROFILING_COMMAND_END), 8, &end, nil)
            let old = profile[name] ?? (0, 0)
            profile[name] = (old.launches + 1, old.nanoseconds + (end > start ? end - start : 0))
            clReleaseEvent(event)
        }
        pendingEvents.removeAll(keepingCapacity: true)
    }

    public func resetProfile() { collectProfile(); profile = [:] }

    /// A scratch tensor of at least `count` elements, or nil (with the error kept) when the
    /// device is out of memory.
    func scratch(count: Int) -> TensorRef? {
        if let s = scratchBuffer, s.count >= count { return TensorRef(s, offset: 0, count: count) }
        scratchBuffer = nil
        do {
            let s = try makeCLBuffer(count: max(count, 1 << 16))
            scratchBuffer = s
            return TensorRef(s, offset: 0, count: count)
        } catch let e as FoundryError {
            if pendingError == nil { pendingError = e }
        } catch {
            if pendingError == nil { pendingError = FoundryError("\(error)") }
        }
        return nil
    }

    // MARK: launching

    func kernel(_ name: String) throws -> cl_kernel {
        if let k = kernels[name] { return k }
        var status: cl_int = 0
        guard let k = clCreateKernel(program, name, &status), status == CL_SUCCESS else {
            throw FoundryError("OpenCL kernel \(name) missing from the program: \(clErrorName(status))")
        }
        var limit = 0
        if clGetKernelWorkGroupInfo(k, info.id, cl_kernel_work_group_info(CL_KERNEL_WORK_GROUP_SIZE), MemoryLayout<Int>.size, &limit, nil) != CL_SUCCESS {
            limit = info.maxWorkGroupSize
        }
        kernels[name] = k
        groupLimits[name] = max(1, min(limit, info.maxWorkGroupSize))
        return k
    }

    /// The largest work-group `name` may run in on this device (the device's limit if the
    /// kernel cannot be created; its launch then reports that).
    func groupLimit(for name: String) -> Int {
        _ = try? kernel(name)
        return groupLimits[name] ?? info.maxWorkGroupSize
    }

    /// The largest element count one tensor argument may have: kernels index inside a tensor
    /// with 32-bit ints (offsets into a buffer are 64-bit).
    public var maxTensorElements: Int { Int(Int32.max) }
    public var memoryBytes: Int { Int(clamping: info.globalMemory) }

    /// Enqueues a row kernel: one work-group of `params.rowGroup` work-items per row (the
    /// kernel's local arrays are sized by it), whatever `workGroups` says.
    func launchRows(_ name: String, rows: Int, _ args: [KernelArg]) {
        launch(name, [rows * params.rowGroup], args,
               local: ([params.rowGroup], "set a smaller row group, e.g. FOUNDRY_KERNEL_PARAMS=RG=32"))
    }

    /// Enqueues `name` over `global` work-items (1 or 2 dimensions), grouped as `workGroups`
    /// says unless `local` gives the kernel's own work-group shape (and the fix to name when
    /// the device cannot run groups that large). Errors are kept for the next `read` or `finish`.
    func launch(_ name: String, _ global: [Int], _ args: [KernelArg], local fixedLocal: (sizes: [Int], fix: String)? = nil) {
        if global.contains(0) { return }
        do {
            let k = try kernel(name)
            if !checkedSignatures.contains(name) {
                try KernelSignatures.check(name, args)
                checkedSignatures.insert(name)
            }
            var index: cl_uint = 0
            func set<T>(_ value: T) throws {
                var v = value
                try check(clSetKernelArg(k, index, MemoryLayout<T>.size, &v), "set argument \(index) of \(name)")
                index += 1
            }
            for arg in args {
                switch arg {
                case .tensor(let t):
                    guard t.count <= maxTensorElements else {
                        throw FoundryError("\(name): a tensor of \(t.count) elements is past the OpenCL kernels' limit of 2^31 − 1 elements per tensor (32-bit indices); use a smaller --batch or --context, or --backend cpu")
                    }
                    try set(mem(t) as cl_mem?); try set(cl_long(t.offset))
                case .int(let v):
                    guard let x = cl_int(exactly: v) else {
                        throw FoundryError("\(name): the size \(v) does not fit the kernels' 32-bit integers; use a smaller --batch or --context, or --backend cpu")
                    }
                    try set(x)
                case .float(let v): try set(v)
                case .mem(let m): try set(m as cl_mem?)
                }
            }
            let sizes: [Int], local: [Int]?
            if let fixed = fixedLocal {
                guard fixed.sizes.reduce(1, *) <= groupLimits[name] ?? 1 else {
                    throw FoundryError("\(name) needs work-groups of \(fixed.sizes.reduce(1, *)) on \(info.name), which allows \(groupLimits[name] ?? 1); \(fixed.fix)")
                }
                (sizes, local) = (global, fixed.sizes)
            } else if case .fixed(let target) = workGroups {
                let shape = LaunchGeometry(global: global, groupLimit: groupLimits[name] ?? 1, target: target)
                (sizes, local) = (shape.global, shape.local)
            } else {
                (sizes, local) = (global, nil)   // .runtime: the OpenCL runtime picks
            }
            var event: cl_event?
            var g = sizes, l = local ?? []
            try withUnsafeMutablePointer(to: &event) { e in
                try g.withUnsafeMutableBufferPointer { gp in
                    try l.withUnsafeMutableBufferPointer { lp in
                        try check(clEnqueueNDRangeKernel(queue, k, cl_uint(gp.count), nil, gp.baseAddress, local == nil ? nil : lp.baseAddress,
                                                         0, nil, profiling ? e : nil), "launch \(name)")
                    }
                }
            }
            launchCount += 1
            if let event {
                pendingEvents.append((name, event))
                if pendingEvents.count > 4096 { collectProfile() }
            }
        } catch let e as FoundryError {
            if pendingError == nil { pendingError = e }
        } catch {
            if pendingError == nil { pendingError = FoundryError("\(error)") }
        }
    }
}
