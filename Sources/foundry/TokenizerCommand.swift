import ArgumentParser
import Foundation
import FoundryCore
import FoundryData
import FoundryPipeline

struct TokenizerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "tokenizer", abstract: "Train, inspect and apply tokenizers.",
        subcommands: [TokenizerTrain.self, TokenizerEncode.self])
}

struct TokenizerTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a character-level or byte-level BPE tokenizer on a text file.",
        discussion: "Example: foundry tokenizer train --data input.txt --kind bpe --vocab-size 1024 --out tokenizer.json")

    @Option(help: "UTF-8 text file.") var data: String
    @Option(help: "The tokenizer to train.") var kind = TokenizerKind.char
    @Option(help: "Vocabulary size (bpe only; 256 bytes + merges + 4 special tokens: end-of-text, [MASK], <|user|>, <|assistant|>).")
    var vocabSize = TokenizerKind.defaultVocabSize
    @Option(help: "Where to write tokenizer.json.") var out = "tokenizer.json"

    func run() throws {
        let text = try readText(data)
        let tok = try TokenizerIO.train(kind: kind, corpus: text, vocabSize: vocabSize) { done, total in
            if done % 100 == 0 || done == total { print("merges \(done)/\(total)") }
        }
        try tok.save(to: out)
        let n = try tok.encode(text).count
        print("wrote \(out): \(kind), \(tok.vocabSize) tokens; the corpus is \(n) tokens (\(String(format: "%.2f", Double(text.utf8.count) / Double(max(n, 1)))) bytes per token)")
    }
}

struct TokenizerEncode: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "encode", abstract: "Print the token ids of a text, and check the round trip.")
    @Option(help: "tokenizer.json, a model directory, a directory with GPT-2's vocab.json and merges.txt, or a .tiktoken rank file.")
    var tokenizer: String
    @Option(help: "Text to encode.") var text: String?
    @Option(help: "Instead of --text: a UTF-8 file to encode (its ids are printed on one line).") var file: String?

    func validate() throws {
        guard (text == nil) != (file == nil) else { throw ValidationError("give --text or --file (one of them)") }
    }

    func run() throws {
        var path = tokenizer
        var isDir: ObjCBool = false
        if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue,
           FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("tokenizer.json")) {
            path = (path as NSString).appendingPathComponent("tokenizer.json")
        }
        let tok = try TokenizerIO.load(path: path)
        let input = try text ?? readText(file!)
        let ids = try tok.encode(input)
        print(ids.map(String.init).joined(separator: " "))
        print(tok.decode(ids) == input ? "round trip: exact" : "round trip: DIFFERS")
    }
}
