import XCTest
import Foundation

/// docs/architecture.md's table of targets says what each imports; the sources must agree, so
/// the page stays true as code moves.
final class ArchitectureTests: XCTestCase {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    /// Imports every target may take without saying so (the platform's own).
    static let platform: Set<String> = ["Foundation", "FoundationNetworking", "Glibc", "Darwin", "Dispatch"]

    /// target → the modules its table row names ("Core" is FoundryCore; "—" is none).
    func documentedImports() throws -> [String: Set<String>] {
        let text = try String(contentsOf: Self.root.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        var table: [String: Set<String>] = [:]
        for line in text.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count >= 4 else { continue }
            let target = cells[1].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            guard !target.contains("/") else { continue }   // Kernels/*.cl
            let names = cells[cells.count - 2]
            table[target] = names == "—" ? [] : Set(names.split(separator: ",").map { name -> String in
                let n = name.trimmingCharacters(in: .whitespaces)
                return ["Core", "Files", "CPU", "OpenCL", "Data", "Model", "Sample", "Train", "Report", "Pipeline", "Distributed", "Serve", "Check"]
                    .contains(n) ? "Foundry" + n : n
            })
        }
        return table
    }

    /// The modules the target's Swift files import (itself and the platform's left out).
    func actualImports(_ target: String) throws -> Set<String> {
        let dir = Self.root.appendingPathComponent("Sources/\(target)")
        var found: Set<String> = []
        let files = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil)!
        for case let url as URL in files where url.pathExtension == "swift" {
            for line in try String(contentsOf: url, encoding: .utf8).split(separator: "\n") where line.hasPrefix("import ") {
                found.insert(String(line.dropFirst("import ".count)).trimmingCharacters(in: .whitespaces))
            }
        }
        return found.subtracting(Self.platform).subtracting([target])
    }

    func testEveryTargetImportsWhatTheTableSays() throws {
        let table = try documentedImports()
        let targets = try FileManager.default.contentsOfDirectory(atPath: Self.root.appendingPathComponent("Sources").path)
            .filter { $0.hasPrefix("Foundry") || $0 == "foundry" }
        XCTAssertGreaterThan(targets.count, 10)
        for target in targets {
            guard let documented = table[target] else { XCTFail("docs/architecture.md has no row for \(target)"); continue }
            let actual = try actualImports(target)
            XCTAssertEqual(actual, documented,
                           "\(target) imports \(actual.sorted()) but docs/architecture.md says \(documented.sorted()): "
                           + "missing from the table \(actual.subtracting(documented).sorted()), not imported \(documented.subtracting(actual).sorted())")
        }
    }

    /// The server links no trainer, pipeline or charts (what it needs is in Model and Sample).
    func testTheServerNeedsNoTrainer() throws {
        XCTAssertTrue(try actualImports("FoundryServe").isDisjoint(with: ["FoundryTrain", "FoundryPipeline", "FoundryReport"]))
    }

    /// The stage runner is the one training loop: no other file installs the signal handler or
    /// decides when to save (a trainer with a loop of its own would).
    func testOnlyTheStageRunnerLoops() throws {
        let dir = Self.root.appendingPathComponent("Sources")
        var looping: [String] = []
        let files = FileManager.default.enumerator(at: dir, includingPropertiesForKeys: nil)!
        for case let url as URL in files where url.pathExtension == "swift" {
            let text = try String(contentsOf: url, encoding: .utf8)
            if text.contains("Interrupt.install()") || text.contains(".decide(") { looping.append(url.lastPathComponent) }
        }
        XCTAssertEqual(looping, ["StageRunner.swift"])
    }
}
