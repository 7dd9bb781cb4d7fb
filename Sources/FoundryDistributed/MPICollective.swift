import Foundation
import FoundryCore
#if canImport(Glibc)
import Glibc
#endif

/// `Collective` over Open MPI, loaded at run time: the foundry binary has no MPI build or run
/// dependency, and only a run started by `mpirun` loads libmpi (Debian: openmpi-bin pulls in
/// libopenmpi3). Open MPI's handles (MPI_COMM_WORLD, MPI_FLOAT, MPI_SUM, …) are the addresses
/// of global objects in libmpi, which is how they are found here.
public final class MPICollective: Collective {
    public let rank: Int
    public let size: Int
    /// The rank's index among the ranks on its own machine (its device by default).
    public let localRank: Int

    typealias InitFn = @convention(c) (UnsafeMutableRawPointer?, UnsafeMutableRawPointer?) -> Int32
    typealias CommIntFn = @convention(c) (UnsafeMutableRawPointer, UnsafeMutablePointer<Int32>) -> Int32
    typealias AllreduceFn = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer, Int32, UnsafeMutableRawPointer,
                                            UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Int32
    typealias ReduceScatterFn = @convention(c) (UnsafeRawPointer?, UnsafeMutableRawPointer, Int32, UnsafeMutableRawPointer,
                                                UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Int32
    typealias AllgatherFn = @convention(c) (UnsafeRawPointer?, Int32, UnsafeMutableRawPointer, UnsafeMutableRawPointer, Int32,
                                            UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Int32
    typealias SetErrhandlerFn = @convention(c) (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> Int32
    typealias ErrorStringFn = @convention(c) (Int32, UnsafeMutablePointer<CChar>, UnsafeMutablePointer<Int32>) -> Int32
    typealias FinalizeFn = @convention(c) () -> Int32
    typealias AbortFn = @convention(c) (UnsafeMutableRawPointer, Int32) -> Int32

    let world: UnsafeMutableRawPointer, float: UnsafeMutableRawPointer, double: UnsafeMutableRawPointer, opSum: UnsafeMutableRawPointer
    let allreduce: AllreduceFn, reduceScatterFn: ReduceScatterFn, allgather: AllgatherFn, errorString: ErrorStringFn, finalize: FinalizeFn, abortFn: AbortFn
    /// MPI_IN_PLACE in Open MPI.
    static let inPlace = UnsafeRawPointer(bitPattern: 1)

    /// Whether this process was started by Open MPI's launcher (mpirun / mpiexec).
    public static var launchedByMPI: Bool { ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_SIZE"] != nil }

    /// Loads libmpi and joins the job.
    public init() throws {
        let names = ["libmpi.so.40", "libmpi.so"]
        // RTLD_GLOBAL: Open MPI's own plugins look up libmpi's symbols.
        guard let lib = names.lazy.compactMap({ dlopen($0, RTLD_NOW | RTLD_GLOBAL) }).first else {
            throw FoundryError("started by mpirun, but Open MPI's library (libmpi.so.40) cannot be loaded: install it (Debian: apt-get install openmpi-bin)")
        }
        func symbol(_ name: String) throws -> UnsafeMutableRawPointer {
            guard let p = dlsym(lib, name) else {
                throw FoundryError("libmpi has no \(name): Foundry needs Open MPI 4 or later (Debian's openmpi-bin); MPICH is not supported")
            }
            return p
        }
        func fn<T>(_ name: String, _: T.Type) throws -> T { unsafeBitCast(try symbol(name), to: T.self) }
        world = try symbol("ompi_mpi_comm_world")
        float = try symbol("ompi_mpi_float")
        double = try symbol("ompi_mpi_double")
        opSum = try symbol("ompi_mpi_op_sum")
        let errorsReturn = try symbol("ompi_mpi_errors_return")
        allreduce = try fn("MPI_Allreduce", AllreduceFn.self)
        reduceScatterFn = try fn("MPI_Reduce_scatter_block", ReduceScatterFn.self)
        allgather = try fn("MPI_Allgather", AllgatherFn.self)
        errorString = try fn("MPI_Error_string", ErrorStringFn.self)
        finalize = try fn("MPI_Finalize", FinalizeFn.self)
        abortFn = try fn("MPI_Abort", AbortFn.self)
        let initialize = try fn("MPI_Init", InitFn.self)
        let commRank = try fn("MPI_Comm_rank", CommIntFn.self), commSize = try fn("MPI_Comm_size", CommIntFn.self)
        let setErrhandler = try fn("MPI_Comm_set_errhandler", SetErrhandlerFn.self)
        guard initialize(nil, nil) == 0 else { throw FoundryError("MPI_Init failed: is this process part of an mpirun job?") }
        // Errors come back as codes (and so as one clear message each) instead of aborting inside MPI.
        _ = setErrhandler(world, errorsReturn)
        var r: Int32 = 0, s: Int32 = 0
        _ = commRank(world, &r); _ = commSize(world, &s)
        rank = Int(r); size = Int(s)
        localRank = Int(ProcessInfo.processInfo.environment["OMPI_COMM_WORLD_LOCAL_RANK"] ?? "") ?? 0
    }

    func check(_ code: Int32, _ what: String) throws {
        guard code != 0 else { return }
        var buffer = [CChar](repeating: 0, count: 512), length: Int32 = 0
        _ = errorString(code, &buffer, &length)
        let text = String(decoding: buffer.prefix(Int(length)).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        throw FoundryError("MPI \(what) failed on rank \(rank) of \(size): \(text) (a rank may have died; its own message says why)")
    }

    public func sum(_ values: inout [Float]) throws { try sumInPlace(&values, float, "floats") }
    public func sum(_ values: inout [Double]) throws { try sumInPlace(&values, double, "numbers") }

    /// values ← their element-wise sum over the ranks, in MPI type `type`. Open MPI's reduction
    /// algorithm depends only on the size and count, so the order of the additions (and every
    /// bit of the result) repeats run after run.
    func sumInPlace<T>(_ values: inout [T], _ type: UnsafeMutableRawPointer, _ what: String) throws {
        guard size > 1, !values.isEmpty else { return }
        let count = Int32(values.count)
        let code = values.withUnsafeMutableBytes { buf in
            allreduce(Self.inPlace, buf.baseAddress!, count, type, opSum, world)
        }
        try check(code, "all-reduce of \(values.count) \(what)")
    }

    public func reduceScatter(_ values: [Float], block: Int) throws -> [Float] {
        precondition(values.count == block * size, "reduceScatter: \(values.count) values are not \(size) blocks of \(block)")
        guard size > 1 else { return values }
        var out = [Float](repeating: 0, count: block)
        let code = values.withUnsafeBytes { send in
            out.withUnsafeMutableBytes { recv in
                reduceScatterFn(send.baseAddress, recv.baseAddress!, Int32(block), float, opSum, world)
            }
        }
        try check(code, "reduce-scatter of \(values.count) floats")
        return out
    }

    public func allGather(_ block: [Float]) throws -> [Float] {
        guard size > 1 else { return block }
        var out = [Float](repeating: 0, count: block.count * size)
        let n = Int32(block.count)
        let code = block.withUnsafeBytes { send in
            out.withUnsafeMutableBytes { recv in
                allgather(send.baseAddress, n, float, recv.baseAddress!, n, float, world)
            }
        }
        try check(code, "all-gather of \(block.count) floats a rank")
        return out
    }

    public func abort(_ message: String) -> Never {
        FileHandle.standardError.write(Data("rank \(rank): \(message)\n".utf8))
        _ = abortFn(world, 1)
        exit(1)
    }

    /// Leaves the job (after the last collective).
    public func finish() { _ = finalize() }
}
