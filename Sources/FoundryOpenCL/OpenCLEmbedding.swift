import COpenCL
import Foundation
import FoundryCore

/// The Device ops of Kernels/embedding.cl.
/// Each wrapper only maps arguments and picks the launch shape; the math is in the kernels.
extension OpenCLDevice {
    public func embeddingForward(tokens: TensorRef, wte: TensorRef, wpe: TensorRef, out: TensorRef,
                                 batch: Int, seq: Int, channels: Int) {
        launch("embedding_forward", [channels, batch * seq], [.tensor(tokens), .tensor(wte), .tensor(wpe), .tensor(out),
                                                              .int(batch * seq), .int(seq), .int(channels)])
    }

    public func embeddingBackward(dout: TensorRef, tokens: TensorRef, dwte: TensorRef, dwpe: TensorRef,
                                  batch: Int, seq: Int, channels: Int) {
        launch("embedding_backward_wte", [channels], [.tensor(dout), .tensor(tokens), .tensor(dwte),
                                                      .int(batch * seq), .int(channels)])
        launch("embedding_backward_wpe", [channels, seq], [.tensor(dout), .tensor(dwpe), .int(batch), .int(seq), .int(channels)])
    }
}
