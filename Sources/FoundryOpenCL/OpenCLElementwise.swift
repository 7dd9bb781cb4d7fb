import COpenCL
import Foundation
import FoundryCore

/// The Device ops of Kernels/elementwise.cl (and copies of rows).
/// Each wrapper only maps arguments and picks the launch shape; the math is in the kernels.
extension OpenCLDevice {
    public func copy(_ src: TensorRef, to dst: TensorRef) {
        precondition(src.count == dst.count)
        if src.count == 0 { return }
        let status = clEnqueueCopyBuffer(queue, mem(src), mem(dst), src.offset * 4, dst.offset * 4, src.count * 4, 0, nil, nil)
        if status != CL_SUCCESS, pendingError == nil { pendingError = FoundryError("OpenCL copy failed: \(clErrorName(status))") }
    }

    public func copyRows(_ src: TensorRef, srcStride: Int, to dst: TensorRef, dstStride: Int, rows: Int, cols: Int) {
        launch("copy_rows", [cols, rows], [.tensor(src), .int(srcStride), .tensor(dst), .int(dstStride), .int(rows), .int(cols)])
    }

    public func fill(_ t: TensorRef, value: Float) {
        launch("fill", [t.count], [.tensor(t), .float(value), .int(t.count)])
    }

    public func add(_ a: TensorRef, _ b: TensorRef, out: TensorRef) {
        launch("add", [out.count], [.tensor(a), .tensor(b), .tensor(out), .int(out.count)])
    }

    public func axpy(alpha: Float, x: TensorRef, y: TensorRef) {
        launch("axpy", [y.count], [.float(alpha), .tensor(x), .tensor(y), .int(y.count)])
    }

    public func geluForward(_ inp: TensorRef, out: TensorRef) {
        launch("gelu_forward", [out.count], [.tensor(inp), .tensor(out), .int(out.count)])
    }

    public func geluBackward(_ inp: TensorRef, dout: TensorRef, dinp: TensorRef) {
        launch("gelu_backward", [dinp.count], [.tensor(inp), .tensor(dout), .tensor(dinp), .int(dinp.count)])
    }
}
