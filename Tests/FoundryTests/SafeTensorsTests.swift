import Foundation
import XCTest
import FoundryCore
import FoundryFiles

final class SafeTensorsTests: XCTestCase {
    // MARK: - Helpers

    /// A fresh temporary folder, removed after the test.
    private func makeTempDir() throws -> String {
        let dir = FileManager.default.temporaryDirectory
            .appendingPathComponent("foundry-st-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(atPath: dir) }
        return dir
    }

    /// Tests/FoundryTests/Fixtures/gpt2-tiny (made by Tools/make_fixtures.py).
    private func fixtureDir() throws -> String {
        let besideSource = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Fixtures/gpt2-tiny").path
        if FileManager.default.fileExists(atPath: besideSource) { return besideSource }
        if let bundled = Bundle.module.url(forResource: "Fixtures", withExtension: nil)?
            .appendingPathComponent("gpt2-tiny").path,
           FileManager.default.fileExists(atPath: bundled) {
            return bundled
        }
        throw XCTSkip("fixtures not found; run Tools/make_fixtures.py")
    }

    /// Asserts `body` throws a FoundryError whose one-line description names `path`.
    private func assertFoundryError(naming path: String, containing fragment: String? = nil,
                                    file: StaticString = #filePath, line: UInt = #line,
                                    _ body: () throws -> Void) {
        do {
            try body()
            XCTFail("expected a FoundryError for \(path)", file: file, line: line)
        } catch let error as FoundryError {
            let text = error.description
            XCTAssertTrue(text.contains(path), "error does not name the file: \(text)", file: file, line: line)
            XCTAssertFalse(text.contains("\n"), "error is not one line: \(text)", file: file, line: line)
            if let fragment {
                XCTAssertTrue(text.contains(fragment), "error lacks \"\(fragment)\": \(text)", file: file, line: line)
            }
        } catch {
            XCTFail("expected FoundryError, got \(type(of: error)): \(error)", file: file, line: line)
        }
    }

    /// A safetensors file built by hand: header JSON (padded to 8) followed by raw bytes.
    private func handMade(header: String, data: [UInt8]) -> Data {
        var h = Array(header.utf8)
        while h.count % 8 != 0 { h.append(0x20) }
        var out = Data()
        withUnsafeBytes(of: UInt64(h.count).littleEndian) { out.append(contentsOf: $0) }
        out.append(contentsOf: h)
        out.append(contentsOf: data)
        return out
    }

    private func littleEndianBytes<T: FixedWidthInteger>(_ values: [T]) -> [UInt8] {
        values.flatMap { v in withUnsafeBytes(of: v.littleEndian) { Array($0) } }
    }

    private func sampleTensors() -> [NamedTensor] {
        var rng = SystemRandomNumberGenerator()
        let big = (0..<(7 * 13)).map { _ in Float.random(in: -3...3, using: &rng) }
        return [
            NamedTensor(name: "z.last.written.first", shape: [7, 13], values: big),
            NamedTensor(name: "a.bias", shape: [3], values: [1.5, -0.0, .infinity]),
            NamedTensor(name: "scalar", shape: [], values: [42]),
            NamedTensor(name: "odd \"name\"\\with\tescapes ü", shape: [1, 2, 1],
                        values: [.leastNonzeroMagnitude, -.greatestFiniteMagnitude]),
            NamedTensor(name: "empty", shape: [0, 4], values: []),
        ]
    }

    // MARK: - Round trip

    func testWriteReadRoundTrip() throws {
        let dir = try makeTempDir()
        let path = dir + "/round.safetensors"
        let tensors = sampleTensors()
        try SafeTensors.write(tensors, metadata: ["format": "pt", "step": "12"], to: path)

        let (read, metadata) = try SafeTensors.read(path: path)
        XCTAssertEqual(metadata, ["format": "pt", "step": "12"])
        XCTAssertEqual(Set(read.keys), Set(tensors.map(\.name)))
        for t in tensors {
            let r = try XCTUnwrap(read[t.name])
            XCTAssertEqual(r.name, t.name)
            XCTAssertEqual(r.shape, t.shape, t.name)
            XCTAssertEqual(r.values.map(\.bitPattern), t.values.map(\.bitPattern), t.name)
        }
        // Header padded to a multiple of 8, offsets consecutive in the given order.
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        XCTAssertEqual(headerLength % 8, 0)
        XCTAssertEqual(bytes.count, 8 + headerLength + 4 * tensors.reduce(0) { $0 + $1.values.count })
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + headerLength)))
                                   as? [String: Any])
        var expectedOffset = 0
        for t in tensors {
            let entry = try XCTUnwrap(header[t.name] as? [String: Any])
            XCTAssertEqual(entry["dtype"] as? String, "F32")
            XCTAssertEqual(entry["data_offsets"] as? [Int], [expectedOffset, expectedOffset + 4 * t.values.count])
            expectedOffset += 4 * t.values.count
        }
        // No temporary file left behind.
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["round.safetensors"])
    }

    func testWriteWithoutMetadataAndOverwrite() throws {
        let dir = try makeTempDir()
        let path = dir + "/over.safetensors"
        try SafeTensors.write(sampleTensors(), metadata: [:], to: path)
        let one = [NamedTensor(name: "w", shape: [2, 2], values: [1, 2, 3, 4])]
        try SafeTensors.write(one, metadata: [:], to: path)  // replaces the bigger file atomically
        let (read, metadata) = try SafeTensors.read(path: path)
        XCTAssertEqual(metadata, [:])
        XCTAssertEqual(Array(read.values), one)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["over.safetensors"])
    }

    func testWriteRejectsBadInput() throws {
        let dir = try makeTempDir()
        let path = dir + "/bad.safetensors"
        assertFoundryError(naming: path, containing: "needs 6") {
            try SafeTensors.write([NamedTensor(name: "w", shape: [2, 3], values: [1, 2])], metadata: [:], to: path)
        }
        assertFoundryError(naming: path, containing: "twice") {
            let t = NamedTensor(name: "w", shape: [1], values: [1])
            try SafeTensors.write([t, t], metadata: [:], to: path)
        }
        let noFolder = dir + "/missing/out.safetensors"
        assertFoundryError(naming: noFolder, containing: "does not exist") {
            try SafeTensors.write([], metadata: [:], to: noFolder)
        }
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [])
    }

    // MARK: - Other dtypes, written by hand

    func testReadsOtherDtypes() throws {
        let dir = try makeTempDir()
        let path = dir + "/dtypes.safetensors"
        // F16: 1, -2, 0.5, 65504, smallest subnormal, -inf. BF16: 1, -3.5. F64, I32, I64.
        let f16: [UInt16] = [0x3C00, 0xC000, 0x3800, 0x7BFF, 0x0001, 0xFC00]
        let bf16: [UInt16] = [0x3F80, 0xC060]
        let f64: [UInt64] = [(0.1 as Double).bitPattern, (-1e300 as Double).bitPattern]
        let i32: [Int32] = [-7, 123_456]
        let i64: [Int64] = [-(1 << 40), 50256]
        var data: [UInt8] = []
        data += littleEndianBytes(f16)    // 0..<12
        data += littleEndianBytes(bf16)   // 12..<16
        data += littleEndianBytes(f64)    // 16..<32
        data += littleEndianBytes(i32)    // 32..<40
        data += littleEndianBytes(i64)    // 40..<56
        let header = """
        {"h":{"dtype":"F16","shape":[2,3],"data_offsets":[0,12]},\
        "b":{"dtype":"BF16","shape":[2],"data_offsets":[12,16]},\
        "d":{"dtype":"F64","shape":[2],"data_offsets":[16,32]},\
        "i":{"dtype":"I32","shape":[2,1],"data_offsets":[32,40]},\
        "l":{"dtype":"I64","shape":[2],"data_offsets":[40,56]},\
        "__metadata__":{"format":"pt"}}
        """
        try handMade(header: header, data: data).write(to: URL(fileURLWithPath: path))

        let (t, metadata) = try SafeTensors.read(path: path)
        XCTAssertEqual(metadata, ["format": "pt"])
        XCTAssertEqual(t["h"]?.shape, [2, 3])
        XCTAssertEqual(t["h"]?.values, [1, -2, 0.5, 65504, Float(5.960464477539063e-08), -.infinity])
        XCTAssertEqual(t["b"]?.values, [1, -3.5])
        XCTAssertEqual(t["d"]?.values, [Float(0.1), -.infinity])
        XCTAssertEqual(t["i"]?.shape, [2, 1])
        XCTAssertEqual(t["i"]?.values, [-7, 123_456])
        XCTAssertEqual(t["l"]?.values, [Float(-(1 << 40)), 50256])
    }

    // MARK: - Python-made fixtures

    static let tinyNames: [String] = {
        var names = ["transformer.wte.weight", "transformer.wpe.weight", "transformer.ln_f.weight", "transformer.ln_f.bias"]
        for i in 0..<2 {
            for part in ["ln_1.weight", "ln_1.bias", "attn.c_attn.weight", "attn.c_attn.bias",
                         "attn.c_proj.weight", "attn.c_proj.bias", "ln_2.weight", "ln_2.bias",
                         "mlp.c_fc.weight", "mlp.c_fc.bias", "mlp.c_proj.weight", "mlp.c_proj.bias"] {
                names.append("transformer.h.\(i).\(part)")
            }
        }
        return names
    }()

    func testReadsPythonFixtures() throws {
        let dir = try fixtureDir()
        let (model, modelMeta) = try SafeTensors.read(path: dir + "/model.safetensors")
        XCTAssertEqual(modelMeta["format"], "pt")
        XCTAssertEqual(Set(model.keys), Set(Self.tinyNames))
        XCTAssertEqual(model["transformer.wte.weight"]?.shape, [53, 36])
        XCTAssertEqual(model["transformer.wpe.weight"]?.shape, [19, 36])
        XCTAssertEqual(model["transformer.h.0.attn.c_attn.weight"]?.shape, [36, 108])
        XCTAssertEqual(model["transformer.h.1.mlp.c_proj.weight"]?.shape, [144, 36])
        XCTAssertEqual(model["transformer.h.1.ln_2.bias"]?.shape, [36])
        for t in model.values {
            XCTAssertEqual(t.values.count, t.elementCount, t.name)
            XCTAssertTrue(t.values.allSatisfy(\.isFinite), t.name)
        }
        // LayerNorm weights were set to 1 + 0.1·randn: near 1, not all equal.
        let ln = try XCTUnwrap(model["transformer.h.0.ln_1.weight"]).values
        XCTAssertTrue(ln.allSatisfy { abs($0 - 1) < 0.6 })
        XCTAssertGreaterThan(Set(ln).count, 30)

        let (expected, _) = try SafeTensors.read(path: dir + "/expected.safetensors")
        XCTAssertEqual(expected["logits"]?.shape, [3, 11, 53])
        XCTAssertEqual(expected["loss"]?.shape, [1])
        let loss = try XCTUnwrap(expected["loss"]?.values.first)
        XCTAssertEqual(loss, 3.977345, accuracy: 1e-5)
        for name in Self.tinyNames {
            XCTAssertEqual(expected["grad.\(name)"]?.shape, model[name]?.shape, name)
        }
        XCTAssertEqual(expected.count, 2 + Self.tinyNames.count)
    }

    /// Writing what was read, in the file's order, reproduces Python's file byte for byte.
    func testRewriteMatchesPythonBytes() throws {
        let dir = try fixtureDir()
        let source = dir + "/model.safetensors"
        let (model, metadata) = try SafeTensors.read(path: source)
        let out = try makeTempDir() + "/model.safetensors"
        try SafeTensors.write(model.keys.sorted().map { model[$0]! }, metadata: metadata, to: out)
        let a = try Data(contentsOf: URL(fileURLWithPath: source))
        let b = try Data(contentsOf: URL(fileURLWithPath: out))
        XCTAssertEqual(a.count, b.count)
        XCTAssertTrue(a == b, "rewritten file differs from the Python-made one")
    }

    // MARK: - Damaged files

    func testTruncatedFilesThrow() throws {
        let dir = try makeTempDir()
        let full = dir + "/full.safetensors"
        try SafeTensors.write(sampleTensors(), metadata: ["format": "pt"], to: full)
        let bytes = try Data(contentsOf: URL(fileURLWithPath: full))
        let headerLength = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
        let cuts = [0, 3, 7, 8, 20, 8 + headerLength / 2, 8 + headerLength, 8 + headerLength + 5, bytes.count - 1]
        for cut in cuts {
            let path = dir + "/cut-\(cut).safetensors"
            try bytes.prefix(cut).write(to: URL(fileURLWithPath: path))
            let fragment = cut < 8 ? "shorter than" : (cut < 8 + headerLength ? "larger than the file" : "truncated: tensor")
            assertFoundryError(naming: path, containing: fragment) { _ = try SafeTensors.read(path: path) }
        }
    }

    func testGarbageAndMissingFilesThrow() throws {
        let dir = try makeTempDir()
        let text = dir + "/notes.safetensors"
        try Data("this is certainly not a safetensors file, just some text\n".utf8).write(to: URL(fileURLWithPath: text))
        assertFoundryError(naming: text, containing: "not a safetensors file") { _ = try SafeTensors.read(path: text) }

        let notJSON = dir + "/notjson.safetensors"
        try handMade(header: "{not json at all", data: [1, 2, 3, 4]).write(to: URL(fileURLWithPath: notJSON))
        assertFoundryError(naming: notJSON, containing: "not JSON") { _ = try SafeTensors.read(path: notJSON) }

        let missing = dir + "/nowhere.safetensors"
        assertFoundryError(naming: missing, containing: "not found") { _ = try SafeTensors.read(path: missing) }

        assertFoundryError(naming: dir, containing: "folder") { _ = try SafeTensors.read(path: dir) }
    }

    func testBadHeaderEntriesThrow() throws {
        let dir = try makeTempDir()
        let cases: [(String, String, [UInt8], String)] = [
            ("dtype", #"{"w":{"dtype":"U8","shape":[4],"data_offsets":[0,4]}}"#, [1, 2, 3, 4], "unsupported dtype U8"),
            ("size", #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}}"#, [1, 2, 3, 4], "shape [2] of F32 needs 8"),
            ("beyond", #"{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#, [1, 2, 3, 4],
             "truncated: tensor w needs bytes 0..8 but the file has 4"),
            ("malformed", #"{"w":{"dtype":"F32","shape":"2"}}"#, [], "malformed"),
            ("array", "[1,2,3]", [], "not an object"),
        ]
        for (label, header, data, fragment) in cases {
            let path = dir + "/\(label).safetensors"
            try handMade(header: header, data: data).write(to: URL(fileURLWithPath: path))
            assertFoundryError(naming: path, containing: fragment) { _ = try SafeTensors.read(path: path) }
        }
    }
}
