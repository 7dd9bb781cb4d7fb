import ArgumentParser
import Foundation
import FoundryCore
import FoundryCPU
import FoundryModel
import FoundryPipeline

/// The formats `foundry export` writes.
enum ExportFormat: String, ExpressibleByArgument, CaseIterable {
    case gguf
}

extension GGUF.Precision: ExpressibleByArgument {}

struct Export: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write a checkpoint in another tool's format: GGUF for llama.cpp.",
        discussion: """
        GGUF: GPT-2 architecture with llama.cpp's tensor names, matrices in F32 or F16, the \
        tokenizer as GPT-2 byte-level BPE metadata. Tools/check_gguf.py reads it back with the \
        gguf package and compares every tensor.

        Example: foundry export --format gguf --model runs/pipeline/ppo --out ppo.gguf --precision f16
        """)

    @Option(help: "The format to write.") var format = ExportFormat.gguf
    @Option(help: "Model directory.") var model: String
    @Option(help: "Output file.") var out: String
    @Option(help: "Matrices in F32 or F16 (vectors stay F32).") var precision = GGUF.Precision.f32

    func run() throws {
        let device = CPUDevice()   // reading weights needs no accelerator
        let (gpt, tok) = try loadModel(model, device: device, needTokenizer: true)
        switch format {
        case .gguf:
            try GGUF.write(gpt, tokenizer: tok!, precision: precision, name: URL(fileURLWithPath: model).lastPathComponent, to: out)
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: out)[.size] as? Int) ?? 0
        print("wrote \(out): \(format.rawValue), \(precision.rawValue), \(gpt.config.parameterCount) parameters, \(String(format: "%.1f MiB", Double(size) / 1_048_576))")
    }
}
