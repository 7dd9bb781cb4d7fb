import Foundation
import FoundryCore

// Kernels/embedding.cl's ops: token plus position embeddings and their gradients.
extension CPUDevice {
    public func embeddingForward(tokens: TensorRef, wte: TensorRef, wpe: TensorRef, out: TensorRef,
                                 batch: Int, seq: Int, channels: Int) {
        let tok = i(tokens), te = f(wte), pe = f(wpe), o = f(out)
        for b in 0..<batch {
            for t in 0..<seq {
                let id = Int(tok[b * seq + t])
                let orow = o + (b * seq + t) * channels
                for c in 0..<channels { orow[c] = te[id * channels + c] + pe[t * channels + c] }
            }
        }
    }

    public func embeddingBackward(dout: TensorRef, tokens: TensorRef, dwte: TensorRef, dwpe: TensorRef,
                                  batch: Int, seq: Int, channels: Int) {
        let tok = i(tokens), d = f(dout), dte = f(dwte), dpe = f(dwpe)
        for b in 0..<batch {
            for t in 0..<seq {
                let id = Int(tok[b * seq + t])
                let drow = d + (b * seq + t) * channels
                for c in 0..<channels {
                    dte[id * channels + c] += drow[c]
                    dpe[t * channels + c] += drow[c]
                }
            }
        }
    }
}
