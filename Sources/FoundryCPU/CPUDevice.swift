import Foundation
import FoundryCore

/// Host memory: 4-byte elements viewed as Float or Int32.
final class CPUBuffer: DeviceBuffer {
    let count: Int
    let raw: UnsafeMutableRawPointer
    init(count: Int) {
        self.count = count
        raw = UnsafeMutableRawPointer.allocate(byteCount: max(count, 1) * 4, alignment: 64)
        raw.initializeMemory(as: UInt8.self, repeating: 0, count: max(count, 1) * 4)
    }
    deinit { raw.deallocate() }
}

/// The reference backend. Every op is the textbook loop, in the order a reader expects,
/// with sums of many terms accumulated in Double where that makes the oracle more exact.
/// Work is split across cores only by whole output rows, so results never depend on the
/// number of threads.
public final class CPUDevice: Device {
    public let backend = "cpu"
    /// The reference takes the same decoding path as the CPU devices of the OpenCL backend.
    public let decodesWithDotProducts = true
    public let name = "Swift reference (host CPU)"
    public init() {}

    func f(_ t: TensorRef) -> UnsafeMutablePointer<Float> {
        guard let b = t.buffer as? CPUBuffer else { fatalError("tensor from another device") }
        return b.raw.assumingMemoryBound(to: Float.self) + t.offset
    }
    func i(_ t: TensorRef) -> UnsafeMutablePointer<Int32> {
        guard let b = t.buffer as? CPUBuffer else { fatalError("tensor from another device") }
        return (b.raw + 4 * t.offset).assumingMemoryBound(to: Int32.self)
    }

    public func makeBuffer(count: Int) throws -> DeviceBuffer { CPUBuffer(count: count) }
    public func write(_ values: [Float], to t: TensorRef) throws {
        precondition(values.count <= t.count)
        let p = f(t); values.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: values.count) }
    }
    public func write(ints: [Int32], to t: TensorRef) throws {
        precondition(ints.count <= t.count)
        let p = i(t); ints.withUnsafeBufferPointer { p.update(from: $0.baseAddress!, count: ints.count) }
    }
    public func read(_ t: TensorRef) throws -> [Float] { Array(UnsafeBufferPointer(start: f(t), count: t.count)) }
    public func readInts(_ t: TensorRef) throws -> [Int32] { Array(UnsafeBufferPointer(start: i(t), count: t.count)) }
    public func copy(_ src: TensorRef, to dst: TensorRef) {
        precondition(src.count == dst.count)
        f(dst).update(from: f(src), count: src.count)
    }
    public func finish() throws {}

    /// Runs body(r) for r in 0..<n, split over the cores when the work is big enough.
    func parallelRows(_ n: Int, work: Int, _ body: (Int) -> Void) {
        let threads = ProcessInfo.processInfo.activeProcessorCount
        if threads <= 1 || n < 2 || work < 50_000 {
            for r in 0..<n { body(r) }
            return
        }
        let chunks = min(n, threads * 4)
        withoutActuallyEscaping(body) { body in
            DispatchQueue.concurrentPerform(iterations: chunks) { c in
                let lo = n * c / chunks, hi = n * (c + 1) / chunks
                for r in lo..<hi { body(r) }
            }
        }
    }
}
