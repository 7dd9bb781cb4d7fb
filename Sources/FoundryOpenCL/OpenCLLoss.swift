import COpenCL
import Foundation
import FoundryCore

/// The Device ops of Kernels/loss.cl.
/// Each wrapper only maps arguments and picks the launch shape; the math is in the kernels.
extension OpenCLDevice {
    public func crossEntropy(logits: TensorRef, targets: TensorRef, losses: TensorRef, dlogits: TensorRef?,
                             rows: Int, vocab: Int, gradScale: Float, rowScales: TensorRef?) {
        launchRows("cross_entropy", rows: rows, [
            .tensor(logits), .tensor(targets), .tensor(losses), .tensor(dlogits ?? TensorRef(dummy)),
            .int(dlogits == nil ? 0 : 1), .int(vocab), .float(gradScale),
            .tensor(rowScales ?? TensorRef(dummy)), .int(rowScales == nil ? 0 : 1),
        ])
    }
}
