import ArgumentParser
import Foundation
import FoundryCore
import FoundryFiles
import FoundryModel
import FoundryPipeline
import FoundryData
import FoundrySample
import FoundryTrain

struct Sample: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Generate text from a model, streaming tokens as they come (KV cache).",
        discussion: """
        Filters apply in transformers' order: repetition penalty, temperature, top-k, top-p, min-p. \
        --temperature 0 or --greedy takes the most likely token. The same seed gives the same text \
        on the same backend.

        Examples:
          foundry sample --model runs/shakespeare --prompt "ROMEO:" --top-k 40
          foundry sample --model runs/pipeline/ppo --chat --prompt "Which is larger: 41 or 14?"
          foundry sample --model runs/sft --prompts task/rl_prompts.jsonl --n 4 --out candidates.jsonl
          foundry sample --logits 1,2 --temperature 1     (prints the distribution: 0.2689 0.7311)
        """)

    @Option(help: "Model directory.") var model: String?
    @Option(help: "Text to continue (default: start from end-of-text).") var prompt = ""
    @Flag(help: "Render --prompt as one chat turn (the template SFT trained on) and print the reply.") var chat = false
    @Option(help: "Instead of --prompt: a prompts file (JSONL with \"prompt\"); with --out, --n responses each as chat replies.")
    var prompts: String?
    @Option(help: "Responses per prompt, with --prompts.") var n = 4
    @Option(help: "With --prompts: where to write {\"prompt\", \"responses\"} rows (candidates to rank).") var out: String?
    @OptionGroup var sampling: SamplingOptions
    @Option(help: "Instead of a model: comma-separated logits whose sampling distribution to print.") var logits: String?
    @OptionGroup var deviceOptions: DeviceOptions

    var filter: SamplingFilter { sampling.settings.filter }
    var settings: SamplingSettings { sampling.settings }

    func validate() throws {
        if prompts != nil {
            guard out != nil else { throw ValidationError("--prompts needs --out FILE for the sampled responses") }
            guard n >= 1 else { throw ValidationError("--n must be 1 or more, not \(n)") }
        }
    }

    func run() throws {
        let device = try deviceOptions.open()
        if let logits {
            let values = logits.split(separator: ",").map { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard !values.isEmpty, values.allSatisfy({ $0 != nil }) else {
                throw FoundryError("--logits must be comma-separated numbers, e.g. --logits 1,2")
            }
            let x = try device.upload(values.map { $0! })
            let p = try device.makeTensor(count: values.count)
            device.samplingProbs(logits: x, probs: p, rows: 1, vocab: values.count, filter: filter)
            print(try device.read(p).map { String(format: "%.4f", $0) }.joined(separator: " "))
            return
        }
        guard let model else { throw FoundryError("give --model DIR (a checkpoint directory), or --logits to inspect a distribution") }
        let (gpt, tokOpt) = try loadModel(model, device: device, needTokenizer: true)
        let tok = tokOpt!
        let gen = try Generator(model: gpt)
        var s = settings
        s.stopTokens = [tok.eosToken]
        if let prompts, let out { return try candidates(gpt, tok, prompts: prompts, out: out) }
        if chat {
            let session = try ChatSession(model: gpt, tokenizer: tok)
            let start = Date()
            var first: Date?
            var count = 0
            try session.reply(to: prompt, settings: s) { piece in
                if first == nil { first = Date() }
                count += 1
                print(piece, terminator: ""); fflush(stdout)
                return true
            }
            print(""); fflush(stdout)
            FileHandle.standardError.write(Data("[\(device.backend) backend, first token after \(String(format: "%.0f", 1000 * (first ?? Date()).timeIntervalSince(start))) ms]\n".utf8))
            return
        }
        let promptIds = prompt.isEmpty ? [tok.eosToken] : try tok.encode(prompt)
        print(prompt, terminator: "")
        var produced: [Int32] = [], shown = ""
        let start = Date()
        var firstToken: Date?   // the rate counts from here: compiling kernels and the prompt are not generation
        try gen.generate(prompt: promptIds, settings: s) { id in
            if firstToken == nil { firstToken = Date() }
            produced.append(id)
            if id == tok.eosToken { return false }
            // Print the decoded text's new tail; a BPE token may end inside a UTF-8 sequence.
            let text = tok.decode(produced)
            if !text.hasSuffix("\u{FFFD}") {
                print(text.dropFirst(shown.count), terminator: "")
                fflush(stdout)
                shown = text
            }
            return true
        }
        let end = Date()
        print("")
        fflush(stdout)   // the text ends before the stats line starts, also when both go to one file
        let rate = produced.count > 1 ? String(format: "%.1f tokens/s", Double(produced.count - 1) / max(end.timeIntervalSince(firstToken!), 1e-9)) : "n/a"
        let first = firstToken.map { String(format: "first token after %.0f ms", 1000 * $0.timeIntervalSince(start)) } ?? "no tokens"
        FileHandle.standardError.write(Data("[\(produced.count) tokens, \(rate), \(first), \(device.backend) backend]\n".utf8))
    }

    /// --n sampled chat replies to each prompt of a file, batched, as rows to rank.
    func candidates(_ gpt: GPT2, _ tok: Tokenizer, prompts path: String, out: String) throws {
        let rows = try Datasets.readPrompts(path: path)
        let data = try StageData(tokenizer: tok, maxSeq: gpt.config.maxSeq)
        let tokenized = try data.prompts(rows)
        let s = settings
        var sampler = RolloutSampler(eos: tok.eosToken, temperature: s.greedy ? 0 : s.filter.temperature, maxNewTokens: s.maxTokens)
        sampler.topK = s.filter.topK
        var rng = RNG(seed: s.seed)
        let indices = rows.indices.flatMap { Array(repeating: $0, count: n) }
        let rollouts = try sampler.sample(gpt, prompts: tokenized, indices: indices, rng: &rng)
        var lines: [String] = []
        for (i, row) in rows.enumerated() {
            let responses = rollouts.filter { $0.promptIndex == i }.map { tok.decode($0.answer) }
            let object: [String: Any] = ["prompt": row.prompt, "responses": responses]
            lines.append(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        }
        try AtomicFile.write(Data(lines.map { $0 + "\n" }.joined().utf8), to: out)
        print("wrote \(out): \(n) responses to each of \(rows.count) prompts")
    }
}
