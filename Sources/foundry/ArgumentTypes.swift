import ArgumentParser
import FoundryCore
import FoundryData
import FoundryModel
import FoundryPipeline
import FoundryTrain

// The libraries' choice enums (they do not depend on ArgumentParser) as argument types: `--help`
// lists their values, and a wrong one is refused with that list before anything loads.
extension Losses.DPOKind: ExpressibleByArgument {}
extension Losses.KLEstimator: ExpressibleByArgument {}
extension Objective: ExpressibleByArgument {}
extension RewardObjective: ExpressibleByArgument {}
extension DatasetFormat: ExpressibleByArgument {}
extension TokenizerKind: ExpressibleByArgument {}
extension DecodeWeights: ExpressibleByArgument {}
extension SynthTask.Family: ExpressibleByArgument {}
extension PipelinePreset.Name: ExpressibleByArgument {}
extension PipelineRun.Skippable: ExpressibleByArgument {}

/// Several values of a choice enum in one comma-separated argument (`--skip ppo,dpo`).
struct CommaList<Element: ExpressibleByArgument & CaseIterable & RawRepresentable>: ExpressibleByArgument
    where Element.RawValue == String {
    var values: [Element]

    init(_ values: [Element]) { self.values = values }

    init?(argument: String) {
        let parts = argument.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        let parsed = parts.compactMap(Element.init(rawValue:))
        guard parsed.count == parts.count else { return nil }
        values = parsed
    }

    static var allValueStrings: [String] { Element.allCases.map(\.rawValue) }
    var defaultValueDescription: String { values.map(\.rawValue).joined(separator: ",") }
}

/// The tokenizer a pretraining run uses: one trained on its text (char or bpe), or a
/// tokenizer.json given by path.
enum TokenizerChoice: ExpressibleByArgument {
    case train(TokenizerKind)
    case file(String)

    init?(argument: String) {
        self = TokenizerKind(rawValue: argument).map(TokenizerChoice.train) ?? .file(argument)
    }

    var defaultValueDescription: String {
        switch self {
        case .train(let kind): kind.rawValue
        case .file(let path): path
        }
    }
}
