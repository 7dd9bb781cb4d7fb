import COpenCL
import Foundation
import FoundryCore

/// The Device ops of Kernels/norm.cl and norm_rows.cl: LayerNorm (with the residual add) and softmax.
/// Each wrapper only maps arguments and picks the launch shape; the math is in the kernels.
extension OpenCLDevice {
    public func residualLayerNormForward(_ a: TensorRef, _ b: TensorRef, sum: TensorRef, weight: TensorRef, bias: TensorRef,
                                         out: TensorRef, mean: TensorRef, rstd: TensorRef, rows: Int, cols: Int, eps: Float) {
        let tensors: [KernelArg] = [.tensor(a), .tensor(b), .tensor(sum), .tensor(weight), .tensor(bias), .tensor(out), .tensor(mean), .tensor(rstd)]
        if rowsAsGroups {
            launchRows("residual_layernorm_forward_rows", rows: rows, tensors + [.int(cols), .float(eps)])
        } else {
            launch("residual_layernorm_forward", [rows], tensors + [.int(rows), .int(cols), .float(eps)])
        }
    }

    public func layerNormForward(_ inp: TensorRef, weight: TensorRef, bias: TensorRef, out: TensorRef,
                                 mean: TensorRef, rstd: TensorRef, rows: Int, cols: Int, eps: Float) {
        let tensors: [KernelArg] = [.tensor(inp), .tensor(weight), .tensor(bias), .tensor(out), .tensor(mean), .tensor(rstd)]
        if rowsAsGroups {
            launchRows("layernorm_forward_rows", rows: rows, tensors + [.int(cols), .float(eps)])
        } else {
            launch("layernorm_forward", [rows], tensors + [.int(rows), .int(cols), .float(eps)])
        }
    }

    public func layerNormBackward(dout: TensorRef, inp: TensorRef, weight: TensorRef, mean: TensorRef, rstd: TensorRef,
                                  dinp: TensorRef, dweight: TensorRef, dbias: TensorRef, rows: Int, cols: Int) {
        let tensors: [KernelArg] = [.tensor(dout), .tensor(inp), .tensor(weight), .tensor(mean), .tensor(rstd), .tensor(dinp)]
        if rowsAsGroups {
            launchRows("layernorm_backward_input_rows", rows: rows, tensors + [.int(cols)])
        } else {
            launch("layernorm_backward_input", [rows], tensors + [.int(rows), .int(cols)])
        }
        let params: [KernelArg] = [.tensor(dout), .tensor(inp), .tensor(mean), .tensor(rstd), .tensor(dweight), .tensor(dbias),
                                   .int(rows), .int(cols)]
        if rowsAsGroups { launchColumns("layernorm_backward_params_cols", cols: cols, params) }
        else { launch("layernorm_backward_params", [cols], params) }
    }

    public func softmax(_ inp: TensorRef, out: TensorRef, rows: Int, cols: Int, temperature: Float) {
        launchRows("softmax_rows", rows: rows, [.tensor(inp), .tensor(out), .int(cols), .float(temperature)])
    }
}
