import ArgumentParser
import Foundation
import FoundryCore
import FoundryModel
import FoundryPipeline

struct Chat: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Talk to a model, turn by turn, in the chat format it was finetuned with (streaming).",
        discussion: """
        Each line you type is a user turn; the reply streams as it is generated. /reset starts a \
        new conversation, /quit (or end of input) leaves. When the conversation outgrows the \
        model's context its earliest turns are dropped, and the chat says so.

        Example: foundry chat --model runs/pipeline/ppo --temperature 0
        """)

    @Option(help: "Model directory (an SFT, PPO, DPO or GRPO checkpoint).") var model: String
    @OptionGroup var sampling: SamplingOptions
    @OptionGroup var deviceOptions: DeviceOptions

    func run() throws {
        let device = try deviceOptions.open()
        let (gpt, tok) = try loadModel(model, device: device, needTokenizer: true)
        let session = try ChatSession(model: gpt, tokenizer: tok!)
        let interactive = isatty(STDIN_FILENO) != 0
        if interactive { print("chatting with \(model) (\(device.backend)); /reset starts over, /quit leaves") }
        var settings = sampling.settings
        while true {
            if interactive { print("you> ", terminator: ""); fflush(stdout) }
            guard let line = readLine() else { break }
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.isEmpty { continue }
            if text == "/quit" { break }
            if text == "/reset" { session.reset(); print("(new conversation)"); continue }
            print("model> ", terminator: ""); fflush(stdout)
            do {
                let r = try session.reply(to: text, settings: settings) { piece in
                    print(piece, terminator: ""); fflush(stdout)
                    return true
                }
                print("")
                if r.dropped > 0 { print("(the conversation outgrew the context: its \(r.dropped) earliest messages were left out)") }
            } catch let e as FoundryError {
                print("")
                FileHandle.standardError.write(Data("error: \(e)\n".utf8))   // the chat goes on
            }
            settings.seed &+= 1   // each reply its own draws, still reproducible from --seed
            fflush(stdout)
        }
    }
}
