import COpenCL
import Foundation
import FoundryCore

/// The Device ops of Kernels/optim.cl: the gradient norm and AdamW.
/// Each wrapper only maps arguments and picks the launch shape; the math is in the kernels.
extension OpenCLDevice {
    public func gradNorm(_ grads: TensorRef, clip: Float, out: TensorRef) {
        precondition(out.count >= 2, "gradNorm writes two values")
        let workers = 1024
        // Runs of a multiple of 8 elements, so every vector load but the last run's is whole.
        let chunk = ((grads.count + workers - 1) / workers + 7) / 8 * 8
        launch("sum_squares_partial", [workers], [.tensor(grads), .int(grads.count), .mem(normPartials.mem), .int(workers), .int(chunk)])
        launch("grad_norm_finish", [1], [.mem(normPartials.mem), .int(workers), .float(clip), .tensor(out)])
    }

    public func adamw(params: TensorRef, grads: TensorRef, m: TensorRef, v: TensorRef, decayCount: Int,
                      lr: Float, beta1: Float, beta2: Float, eps: Float, weightDecay: Float, step: Int, gradScale: TensorRef) {
        let bc1 = 1 - powf(beta1, Float(step)), bc2 = 1 - powf(beta2, Float(step))
        launch("adamw", [params.count], [
            .tensor(params), .tensor(grads), .tensor(m), .tensor(v), .int(params.count), .int(decayCount),
            .float(lr), .float(beta1), .float(beta2), .float(eps), .float(weightDecay), .float(bc1), .float(bc2), .tensor(gradScale),
        ])
    }
}
