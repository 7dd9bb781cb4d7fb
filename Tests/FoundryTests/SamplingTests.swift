import XCTest
import FoundryCore
import FoundryCPU
import FoundryModel
import FoundrySample

final class SamplingTests: XCTestCase {
    func probs(_ d: Device, _ logits: [Float], _ f: SamplingFilter) throws -> [Float] {
        let p = try d.makeTensor(count: logits.count)
        d.samplingProbs(logits: try d.upload(logits), probs: p, rows: 1, vocab: logits.count, filter: f)
        return try d.read(p)
    }

    /// softmax([1, 2] / T) in closed form: [1/(1+e^{1/T}), e^{1/T}/(1+e^{1/T})].
    func testTemperatureMatchesClosedForm() throws {
        for d in try TestDevices.all() {
            for (t, want) in [(Float(1), 0.268941), (0.5, 0.119203), (2, 0.377541), (1e-3, 0.0)] {
                let p = try probs(d, [1, 2], SamplingFilter(temperature: t))
                XCTAssertEqual(Double(p[0]), want, accuracy: 1e-6, "\(d.backend) T=\(t)")
                XCTAssertEqual(Double(p[1]), 1 - want, accuracy: 1e-6, "\(d.backend) T=\(t)")
            }
            XCTAssertEqual(try probs(d, [1, 3, 3, 2], SamplingFilter(temperature: 0)), [0, 1, 0, 0], "\(d.backend) greedy takes the first max")
        }
    }

    func testFiltersMatchHandWorkedValues() throws {
        // logits ln(p) for p = [0.5, 0.2, 0.15, 0.1, 0.05].
        let p: [Double] = [0.5, 0.2, 0.15, 0.1, 0.05]
        let x = p.map { Float(log($0)) }
        for d in try TestDevices.all() {
            func close(_ a: [Float], _ b: [Double], _ what: String) {
                for (u, v) in zip(a, b) { XCTAssertEqual(Double(u), v, accuracy: 1e-6, "\(d.backend) \(what)") }
            }
            close(try probs(d, x, SamplingFilter(topK: 2)), [0.5 / 0.7, 0.2 / 0.7, 0, 0, 0], "top-k 2")
            // top-p 0.8: 0.5 + 0.2 = 0.7 < 0.8, + 0.15 = 0.85 ≥ 0.8 → keep three.
            close(try probs(d, x, SamplingFilter(topP: 0.8)), [0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0, 0], "top-p 0.8")
            // min-p 0.25: keep p ≥ 0.125.
            close(try probs(d, x, SamplingFilter(minP: 0.25)), [0.5 / 0.85, 0.2 / 0.85, 0.15 / 0.85, 0, 0], "min-p 0.25")
            // Repetition penalty: positive logits divided, negative multiplied, each token once.
            let l = try d.upload([2, -1, 0.5, 3]), toks = try d.upload(ints: [0, 1, 0, 1])
            d.repetitionPenalty(logits: l, vocab: 4, tokens: toks, count: 4, penalty: 2)
            XCTAssertEqual(try d.read(l), [1, -2, 0.5, 3], d.backend)
        }
    }

    func testDrawFollowsTheDistribution() throws {
        for d in try TestDevices.all() {
            let p = try d.upload([0.1, 0, 0.6, 0.3]), out = try d.makeTensor(count: 1)
            for (u, want) in [(Float(0), Int32(0)), (0.05, 0), (0.1, 2), (0.69, 2), (0.71, 3), (0.9999, 3)] {
                d.sampleDraw(probs: p, uniforms: try d.upload([u]), out: out, rows: 1, vocab: 4)
                XCTAssertEqual(try d.readInts(out)[0], want, "\(d.backend) u=\(u)")
            }
        }
    }

    /// The KV-cache path must produce the same logits as a full forward over the whole prefix.
    func testKVCacheMatchesFullForward() throws {
        for d in try TestDevices.all() {
            let model = try Checkpoint.load(Fixtures.path("gpt2-tiny"), device: d)
            let tokens: [Int32] = [3, 17, 42, 8, 0, 51, 9, 9, 30]
            let cache = try model.makeCache(batch: 1)
            var incremental: [[Float]] = []
            incremental.append(try d.read(try model.decode(tokens: Array(tokens[0..<4]), cache: cache)))  // a prompt, fed at once
            for t in tokens[4...] { incremental.append(try d.read(try model.decode(tokens: [t], cache: cache))) }
            for (i, n) in (4...tokens.count).enumerated() {
                try model.forward(tokens: Array(tokens[0..<n]), batch: 1, seq: n)
                let full = try d.read(model.logits)
                let last = Array(full[(n - 1) * 53..<n * 53])
                let err = zip(last, incremental[i]).map { abs($0 - $1) }.max()!
                XCTAssertLessThan(err, 1e-4, "\(d.backend) prefix \(n)")
            }
        }
    }

    /// Decoding reads transposed copies of the layer weights taken at `reset()`: a model trained
    /// (here re-initialised) between two generations must be read afresh; a sliding-window reset
    /// of an unchanged model keeps the copies and gives what it gave before.
    func testKVCacheTakesTheWeightsAgainAfterReset() throws {
        for d in try TestDevices.all() {
            let model = try Checkpoint.load(Fixtures.path("gpt2-tiny"), device: d)
            let tokens: [Int32] = [3, 17, 42]
            let cache = try model.makeCache(batch: 1)
            let before = try d.read(try model.decode(tokens: tokens, cache: cache))
            cache.reset(keepingWeights: true)
            XCTAssertEqual(try d.read(try model.decode(tokens: tokens, cache: cache)), before, d.backend)
            try model.initialise(seed: 99)
            cache.reset()
            let after = try d.read(try model.decode(tokens: tokens, cache: cache))
            try model.forward(tokens: tokens, batch: 1, seq: 3)
            let full = Array(try d.read(model.logits)[2 * 53..<3 * 53])
            XCTAssertLessThan(zip(after, full).map { abs($0 - $1) }.max()!, 1e-4, d.backend)
            XCTAssertGreaterThan(zip(after, before).map { abs($0 - $1) }.max()!, 1e-2, d.backend)
        }
    }

    /// Decoding from half weights (`DecodeWeights.f16`: packed halves, LayerNorms inside the
    /// products, residual adds and GELU in their epilogues, a 4-token prompt and single tokens)
    /// against the full forward of the same model with every weight matrix rounded to half
    /// first, so the rounding is exact and only the order of sums differs; and on the model as
    /// trained, within a few per cent of the float logits but not equal to them (the halves are
    /// really what is read).
    func testHalfWeightsDecodeMatchesTheForwardOfRoundedWeights() throws {
        for d in try TestDevices.all() {
            let model = try Checkpoint.load(Fixtures.path("gpt2-tiny"), device: d)
            let tokens: [Int32] = [3, 17, 42, 8, 0, 51, 9]
            func decodeAll(_ weights: DecodeWeights) throws -> [[Float]] {
                let cache = try model.makeCache(batch: 1)
                cache.weights = weights
                var out = [try d.read(try model.decode(tokens: Array(tokens[0..<4]), cache: cache))]
                for t in tokens[4...] { out.append(try d.read(try model.decode(tokens: [t], cache: cache))) }
                return out
            }
            let float = try decodeAll(.f32), half = try decodeAll(.f16)
            let scale = float.flatMap { $0 }.map(abs).max()!
            let drift = zip(float.flatMap { $0 }, half.flatMap { $0 }).map { abs($0 - $1) }.max()!
            XCTAssertLessThan(drift, 0.03 * scale, d.backend)
            XCTAssertGreaterThan(drift, 0, d.backend)

            let matrices = model.weights.blocks.flatMap { block in BlockTensor.matrices.map { block[$0] } } + [model.weights.tokenEmbedding]
            for t in matrices { try d.write(try d.read(t).map { Float(Float16($0)) }, to: t) }
            let rounded = try decodeAll(.f16)
            for (i, n) in (4...tokens.count).enumerated() {
                try model.forward(tokens: Array(tokens[0..<n]), batch: 1, seq: n)
                let full = Array(try d.read(model.logits)[(n - 1) * 53..<n * 53])
                XCTAssertLessThan(zip(full, rounded[i]).map { abs($0 - $1) }.max()!, 1e-4, "\(d.backend) prefix \(n)")
            }
        }
    }

    func testSameSeedSameText() throws {
        for d in try TestDevices.all() {
            let gen = try Generator(model: try Checkpoint.load(Fixtures.path("gpt2-tiny"), device: d))
            var s = SamplingSettings(); s.maxTokens = 30; s.filter = SamplingFilter(temperature: 1.0, topK: 20, topP: 0.9)
            let a = try gen.generate(prompt: [1, 2, 3], settings: s)
            let b = try gen.generate(prompt: [1, 2, 3], settings: s)
            XCTAssertEqual(a, b)
            XCTAssertEqual(a.count, 30)
            s.seed += 1
            XCTAssertNotEqual(try gen.generate(prompt: [1, 2, 3], settings: s), a)
            // Greedy equals repeated argmax of the full forward.
            s.greedy = true; s.maxTokens = 5
            let g = try gen.generate(prompt: [1, 2, 3], settings: s)
            var ctx: [Int32] = [1, 2, 3]
            for _ in 0..<5 {
                try gen.model.forward(tokens: ctx, batch: 1, seq: ctx.count)
                let l = try d.read(gen.model.logits).suffix(53)
                ctx.append(Int32(l.firstIndex(of: l.max()!)! - l.startIndex))
            }
            XCTAssertEqual(g, Array(ctx[3...]))
        }
    }

    /// Batched sampling (what RL stages use) against the one-prompt generator: each row, with
    /// its seed, gives the one-at-a-time sample, whatever else shares its batch; it stops at the
    /// stop token; more rows than a batch holds are run in several batches.
    func testBatchedSamplingMatchesOneAtATime() throws {
        for d in try TestDevices.all() {
            let model = try Checkpoint.load(Fixtures.path("gpt2-tiny"), device: d)
            let single = try Generator(model: model), batched = try BatchGenerator(model: model, maxBatch: 4)
            let prompts: [[Int32]] = [[1, 2, 3], [7, 7, 7], [40, 2, 9], [1, 2, 3], [0, 5, 50], [12, 13, 14]]
            let seeds: [UInt64] = [11, 12, 13, 14, 15, 16]
            for greedy in [false, true] {
                var s = SamplingSettings(); s.maxTokens = 6; s.greedy = greedy
                s.filter = SamplingFilter(temperature: 0.9, topK: 0)
                s.stopTokens = [9]
                let want = try zip(prompts, seeds).map { p, seed -> [Int32] in
                    var t = s; t.seed = seed
                    return try single.generate(prompt: p, settings: t)
                }
                let got = try batched.generate(prompts: prompts, seeds: seeds, settings: s)
                XCTAssertEqual(got, want, "\(d.backend) greedy \(greedy)")
                // A row's sample does not depend on its neighbours.
                let alone = try batched.generate(prompts: [prompts[4]], seeds: [seeds[4]], settings: s)
                XCTAssertEqual(alone[0], want[4], "\(d.backend)")
                for r in got { XCTAssertTrue(r.count == 6 || r.last == 9, "\(r)") }
                XCTAssertTrue(got.allSatisfy { !$0.dropLast().contains(9) }, "nothing after the stop token")
            }
            XCTAssertThrowsError(try batched.generate(prompts: [[1, 2], [1, 2, 3]], seeds: [1, 2], settings: SamplingSettings()))
        }
    }

    func testLogitsCommandPrintsTheDistribution() throws {
        for backend in ["cpu", "opencl"] {
            if backend == "opencl" { _ = try TestDevices.openCL() }
            let r = try CLI.run(["sample", "--logits", "1,2", "--temperature", "1", "--backend", backend])
            XCTAssertEqual(r.status, 0, r.stderr)
            XCTAssertEqual(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines), "0.2689 0.7311")
        }
    }
}
