import Foundation
import XCTest
import FoundryModel
import FoundryData
import FoundryCore
import FoundryFiles

/// Data-parallel training under Open MPI (`mpirun`; Debian's openmpi-bin, which `.ci/run`
/// installs): 2 ranks each computing half of every batch take the same steps as 1 process
/// computing all of it. Skipped, saying so, where mpirun is missing.
final class DistributedTests: XCTestCase {
    static var mpirun: String? {
        ["/usr/bin/mpirun", "/usr/local/bin/mpirun"].first(where: FileManager.default.isExecutableFile)
    }

    /// `mpirun -np N foundry ARGS` (bounded: a hang fails the test instead of stalling CI).
    func mpi(_ n: Int, _ args: [String]) throws -> (status: Int32, output: String) {
        guard let mpirun = Self.mpirun else { throw XCTSkip("mpirun is not installed (Debian: apt-get install openmpi-bin)") }
        return try output(of: "/usr/bin/timeout", ["-s", "KILL", "300", mpirun, "--oversubscribe", "-np", "\(n)", CLI.binary] + args)
    }

    /// Runs `executable` to its end, Open MPI allowed to run as root (as CI does).
    func output(of executable: String, _ args: [String]) throws -> (status: Int32, output: String) {
        try CLI.output(of: executable, args, environment: ["OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"])
    }

    func losses(_ dir: String) throws -> [Double] { try figures(dir, "loss") }

    /// Each metrics.jsonl row's `key`.
    func figures(_ dir: String, _ key: String) throws -> [Double] {
        try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap((try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?[key] as? Double, key)
        }
    }

    /// `args` run by 1 process and by 2 ranks (`--out` added for each): both log `steps` losses,
    /// equal within 1e-5 step for step. Returns the process's losses and the ranks' output.
    func oneProcessAndTwoRanks(_ args: [String], steps: Int, _ label: String) throws -> (losses: [Double], output: String) {
        let one = CLI.tempDir() + "/one", two = CLI.tempDir() + "/two"
        let plain = try CLI.run(args + ["--out", one])
        XCTAssertEqual(plain.status, 0, plain.stderr)
        let ranks = try mpi(2, args + ["--out", two])
        XCTAssertEqual(ranks.status, 0, ranks.output)
        let a = try losses(one), b = try losses(two)
        XCTAssertEqual(a.count, steps, label); XCTAssertEqual(b.count, steps, label)
        for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5, label) }
        return (a, ranks.output)
    }

    /// A small chat-capable model (10 pretraining steps on the built-in corpus) in `dir`.
    func smallBase(_ dir: String) throws -> String {
        let base = dir + "/base"
        let made = try CLI.run(["pretrain", "--out", base, "--steps", "10", "--layers", "2", "--heads", "2", "--embd", "32", "--context", "48",
                                "--batch", "4", "--eval-every", "0", "--backend", "cpu"])
        XCTAssertEqual(made.status, 0, made.stderr)
        return base
    }

    /// 20 pretraining steps: 2 ranks × batch 2 = 1 process × batch 4, within 1e-5, on both backends.
    func testTwoRanksTrainLikeOneProcessWithTheWholeBatch() throws {
        for backend in ["cpu", "opencl"] {
            let args = ["pretrain", "--steps", "20", "--layers", "2", "--heads", "2", "--embd", "32", "--context", "32", "--batch", "4",
                        "--eval-every", "0", "--save-every", "0", "--backend", backend]
            let (a, output) = try oneProcessAndTwoRanks(args, steps: 20, backend)
            XCTAssertTrue(output.contains("2 ranks of 2 rows each"), output)
            XCTAssertEqual(output.components(separatedBy: "done: 20 steps").count, 2, "rank 0 alone reports: \(output)")
            XCTAssertGreaterThan(a.first! - a.last!, 0.05, "the run trained")
        }
    }

    /// 20 SFT steps from a small pretrained model: 2 ranks × 4 examples = 1 process × 8, within
    /// 1e-5, on both backends (shards padded to their own longest example).
    func testTwoRanksFinetuneLikeOneProcess() throws {
        let work = CLI.tempDir()
        let base = try smallBase(work), data = work + "/sft.jsonl"
        let rows = (0..<40).map { i in "{\"prompt\": \"the king \(i % 7)\", \"completion\": \" is \(String(repeating: i % 2 == 0 ? "good" : "old", count: 1 + i % 3)).\"}" }
        try rows.joined(separator: "\n").write(toFile: data, atomically: true, encoding: .utf8)
        for backend in ["cpu", "opencl"] {
            let args = ["sft", "--model", base, "--data", data, "--epochs", "10", "--max-steps", "20", "--batch", "8", "--lr", "3e-3", "--backend", backend]
            let a = try oneProcessAndTwoRanks(args, steps: 20, backend).losses
            XCTAssertLessThan(a.last!, a.first! * 0.7, "the run trained")
        }
    }

    /// The reward model (Bradley–Terry on pairs) and DPO: 2 ranks × 4 pairs = 1 process × 8 over
    /// 10 steps, within 1e-5 (CPU).
    func testRewardModelAndDPOOnTwoRanks() throws {
        let work = CLI.tempDir()
        let base = try smallBase(work), data = work + "/prefs.jsonl"
        let rows = (0..<40).map { i in
            "{\"prompt\": \"the king \(i % 7)\", \"chosen\": \" is \(i % 2 == 0 ? "good" : "old").\", \"rejected\": \" was \(String(repeating: "bad", count: 1 + i % 3))\"}"
        }
        try rows.joined(separator: "\n").write(toFile: data, atomically: true, encoding: .utf8)
        for command in ["reward", "dpo"] {
            let args = [command, "--model", base, "--data", data, "--epochs", "10", "--max-steps", "10", "--batch", "8", "--backend", "cpu"]
            let a = try oneProcessAndTwoRanks(args, steps: 10, command).losses
            XCTAssertNotEqual(a.first, a.last, "\(command) trained")
        }
    }

    /// PPO and GRPO through the command line: 2 ranks each sampling and training on half of
    /// every step's prompts = 1 process with all of them, over 6 steps, within 1e-5 (CPU).
    func testPPOAndGRPOOnTwoRanks() throws {
        let work = CLI.tempDir()
        let base = try smallBase(work), prefs = work + "/prefs.jsonl", prompts = work + "/prompts.jsonl"
        let rows = (0..<16).map { i in
            "{\"prompt\": \"the king \(i % 7)\", \"chosen\": \" is \(i % 2 == 0 ? "good" : "old").\", \"rejected\": \" was bad\"}"
        }
        try rows.joined(separator: "\n").write(toFile: prefs, atomically: true, encoding: .utf8)
        try (0..<16).map { "{\"prompt\": \"the king \($0)\"}" }.joined(separator: "\n").write(toFile: prompts, atomically: true, encoding: .utf8)
        let reward = work + "/reward"
        let rm = try CLI.run(["reward", "--model", base, "--data", prefs, "--max-steps", "4", "--backend", "cpu", "--out", reward])
        XCTAssertEqual(rm.status, 0, rm.stderr)
        for command in ["ppo", "grpo"] {
            var args = [command, "--model", base, "--reward-model", reward, "--prompts", prompts, "--steps", "6", "--lr", "1e-2",
                        "--max-new-tokens", "4", "--backend", "cpu"]
            args += command == "ppo" ? ["--batch", "4"] : ["--prompts-per-step", "2", "--group-size", "4"]
            let one = CLI.tempDir() + "/one", two = CLI.tempDir() + "/two"
            let plain = try CLI.run(args + ["--out", one])
            XCTAssertEqual(plain.status, 0, plain.stderr)
            let ranks = try mpi(2, args + ["--out", two])
            XCTAssertEqual(ranks.status, 0, ranks.output)
            let key = command == "ppo" ? "loss/policy_avg" : "reward"
            let a = try figures(one, key), b = try figures(two, key)
            XCTAssertEqual(a.count, 6, command); XCTAssertEqual(b.count, 6, command)
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5, command) }
            XCTAssertGreaterThan(Set(a).count, 1, "\(command): the figures move")
        }
    }

    /// 10 steps on 2 ranks, saved (--stop-at), then 10 more resumed = 20 straight on 2 ranks; and
    /// the same checkpoint resumed by 1 process (the global batch unchanged) within 1e-5.
    func testResumeAcrossRanks() throws {
        let args = ["pretrain", "--steps", "20", "--layers", "2", "--heads", "2", "--embd", "32", "--context", "32", "--batch", "4",
                    "--eval-every", "0", "--save-every", "0", "--backend", "cpu"]
        let straight = CLI.tempDir() + "/straight", halves = CLI.tempDir() + "/halves"
        XCTAssertEqual(try mpi(2, args + ["--out", straight]).status, 0)
        let first = try mpi(2, args + ["--out", halves, "--stop-at", "10"])
        XCTAssertEqual(first.status, 0, first.output)
        let single = CLI.tempDir() + "/single"
        try FileManager.default.copyItem(atPath: halves, toPath: single)
        let second = try mpi(2, args + ["--out", halves, "--resume"])
        XCTAssertEqual(second.status, 0, second.output)
        XCTAssertEqual(try losses(halves), try losses(straight), "2 ranks resumed = 2 ranks straight, bit for bit")
        let alone = try CLI.run(args + ["--out", single, "--resume"])
        XCTAssertEqual(alone.status, 0, alone.stderr)
        for (x, y) in zip(try losses(single), try losses(straight)) { XCTAssertEqual(x, y, accuracy: 1e-5) }
    }

    /// ZeRO-1 (the moments sharded, gradients reduce-scattered, weights all-gathered) takes the
    /// steps plain data parallelism takes, within 1e-5, on both backends; its checkpoint (the
    /// moments gathered whole) resumes under ZeRO-1 to the straight run's losses, bit for bit.
    func testZeroOneTrainsLikePlainDataParallel() throws {
        for backend in ["cpu", "opencl"] {
            let args = ["pretrain", "--steps", "20", "--layers", "2", "--heads", "2", "--embd", "32", "--context", "32", "--batch", "4",
                        "--eval-every", "0", "--save-every", "0", "--backend", backend]
            let plain = CLI.tempDir() + "/plain", zero = CLI.tempDir() + "/zero", halves = CLI.tempDir() + "/halves"
            XCTAssertEqual(try mpi(2, args + ["--out", plain]).status, 0)
            let z = try mpi(2, args + ["--out", zero, "--zero", "1"])
            XCTAssertEqual(z.status, 0, z.output)
            XCTAssertTrue(z.output.contains("ZeRO-1: each rank keeps the optimizer's moments of 1/2"), z.output)
            let a = try losses(plain), b = try losses(zero)
            XCTAssertEqual(b.count, 20)
            for (x, y) in zip(a, b) { XCTAssertEqual(x, y, accuracy: 1e-5, backend) }
            XCTAssertEqual(try mpi(2, args + ["--out", halves, "--zero", "1", "--stop-at", "10"]).status, 0)
            let resumed = try mpi(2, args + ["--out", halves, "--zero", "1", "--resume"])
            XCTAssertEqual(resumed.status, 0, resumed.output)
            XCTAssertEqual(try losses(halves), b, "\(backend): ZeRO-1 resumed = ZeRO-1 straight")
        }
    }

    /// The processes whose command line mentions `marker` and whose environment says rank `rank`.
    func ranks(_ marker: String, rank: Int) -> [Int32] {
        let procs = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return procs.compactMap(Int32.init).filter { pid in
            guard let cmd = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline"),
                  String(decoding: cmd, as: UTF8.self).contains(marker),
                  let env = FileManager.default.contents(atPath: "/proc/\(pid)/environ") else { return false }
            return env.split(separator: 0).contains { String(decoding: $0, as: UTF8.self) == "OMPI_COMM_WORLD_RANK=\(rank)" }
        }
    }

    /// Rank 1 killed mid-run: every rank ends, non-zero, within a bounded time, and the
    /// checkpoint directory holds one whole saved step that loads and resumes.
    func testAKilledRankEndsTheJobAndLeavesTheCheckpointWhole() throws {
        guard let mpirun = Self.mpirun else { throw XCTSkip("mpirun is not installed (Debian: apt-get install openmpi-bin)") }
        let out = CLI.tempDir() + "/killed"
        let args = ["pretrain", "--steps", "100000", "--layers", "2", "--heads", "2", "--embd", "32", "--context", "32", "--batch", "4",
                    "--eval-every", "0", "--save-every", "3", "--backend", "cpu", "--out", out]
        let p = Process()
        p.executableURL = URL(fileURLWithPath: mpirun)
        p.arguments = ["--oversubscribe", "-np", "2", CLI.binary] + args
        var env = ProcessInfo.processInfo.environment
        env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"; env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
        p.environment = env
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        // Until a few checkpoints have been written.
        let started = Date()
        while Date().timeIntervalSince(started) < 120 {
            if let text = try? String(contentsOfFile: out + "/metrics.jsonl", encoding: .utf8), text.split(separator: "\n").count >= 12 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        let victims = ranks(out, rank: 1)
        XCTAssertEqual(victims.count, 1, "rank 1's process")
        for pid in victims { kill(pid, SIGKILL) }
        let killed = Date()
        while p.isRunning && Date().timeIntervalSince(killed) < 60 { Thread.sleep(forTimeInterval: 0.1) }
        if p.isRunning { kill(p.processIdentifier, SIGKILL); for pid in ranks(out, rank: 0) { kill(pid, SIGKILL) } }
        XCTAssertLessThan(Date().timeIntervalSince(killed), 60, "the job ended within a minute of the kill")
        p.waitUntilExit()
        XCTAssertNotEqual(p.terminationStatus, 0)
        Thread.sleep(forTimeInterval: 0.5)
        XCTAssertTrue(ranks(out, rank: 0).isEmpty, "rank 0 ended too")
        // The killed job's processes may take a moment to be gone (rank 0 exits as mpirun ends it).
        let waited = Date()
        while RunLock.holder(of: out) != nil && Date().timeIntervalSince(waited) < 10 { Thread.sleep(forTimeInterval: 0.1) }
        XCTAssertNil(RunLock.holder(of: out), "no live process holds the run directory")
        // One whole step on disk: it resumes (the loader checks the model's and the state's steps agree).
        let resumed = try CLI.run(["pretrain", "--steps", "100000", "--stop-at", "1", "--layers", "2", "--heads", "2", "--embd", "32",
                                   "--context", "32", "--batch", "4", "--eval-every", "0", "--backend", "cpu", "--out", out, "--resume"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssertTrue(resumed.stdout.contains("resuming at step"), resumed.stdout + resumed.stderr)
    }

    /// Runs a shell command line, returning its status and output.
    @discardableResult
    func shell(_ line: String) throws -> (status: Int32, output: String) { try output(of: "/bin/sh", ["-c", line]) }

    /// Two "machines" on this one: network namespaces joined by a veth pair (their own subnet, no
    /// other route), Open MPI starting the far rank through `ip netns exec` as its ssh, and TCP
    /// as the only transport. 2 ranks there train like 1 process. Needs root (or CAP_NET_ADMIN)
    /// and iproute2; skipped, saying so, without them.
    func testTwoHostsOverNetworkNamespaces() throws {
        guard let mpirun = Self.mpirun else { throw XCTSkip("mpirun is not installed (Debian: apt-get install openmpi-bin)") }
        let tag = String(getpid() % 10000), net = "10.77.\(getpid() % 200 + 20)"
        let a = "fdA\(tag)", b = "fdB\(tag)"
        guard try shell("ip netns add \(a) && ip netns add \(b)").status == 0 else {
            _ = try? shell("ip netns del \(a); ip netns del \(b)")
            throw XCTSkip("cannot make network namespaces here (needs root or CAP_NET_ADMIN, and iproute2)")
        }
        defer { _ = try? shell("ip netns del \(a); ip netns del \(b)") }
        let setup = try shell([
            "ip link add va\(tag) type veth peer name vb\(tag)", "ip link set va\(tag) netns \(a)", "ip link set vb\(tag) netns \(b)",
            "ip netns exec \(a) ip addr add \(net).1/24 dev va\(tag)", "ip netns exec \(b) ip addr add \(net).2/24 dev vb\(tag)",
            "ip netns exec \(a) ip link set va\(tag) up", "ip netns exec \(b) ip link set vb\(tag) up",
            "ip netns exec \(a) ip link set lo up", "ip netns exec \(b) ip link set lo up",
        ].joined(separator: " && "))
        XCTAssertEqual(setup.status, 0, setup.output)
        let dir = CLI.tempDir()
        let agent = dir + "/netns-agent.sh", hosts = dir + "/hosts"
        let script = [
            "#!/bin/sh",
            "# Open MPI's \"ssh\": the host is a namespace's address.",
            "while [ $# -gt 0 ]; do case \"$1\" in -*) shift;; *) break;; esac; done",
            "host=$1; shift",
            "case \"$host\" in \(net).1) ns=\(a);; \(net).2) ns=\(b);; *) echo \"unknown host $host\" >&2; exit 1;; esac",
            "exec ip netns exec \"$ns\" sh -c \"$*\"",
        ].joined(separator: "\n") + "\n"
        try script.write(toFile: agent, atomically: true, encoding: .utf8)
        chmod(agent, 0o755)
        try "\(net).1 slots=1\n\(net).2 slots=1\n".write(toFile: hosts, atomically: true, encoding: .utf8)
        let args = ["pretrain", "--steps", "20", "--layers", "2", "--heads", "2", "--embd", "32", "--context", "32", "--batch", "4",
                    "--eval-every", "0", "--save-every", "0", "--backend", "cpu"]
        let one = dir + "/one", two = dir + "/two"
        XCTAssertEqual(try CLI.run(args + ["--out", one]).status, 0)
        let line = (["timeout", "-s", "KILL", "300", "ip", "netns", "exec", a, "env", "OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
                     mpirun, "--hostfile", hosts, "--mca", "plm_rsh_agent", agent, "--mca", "btl", "tcp,self",
                     "--mca", "btl_tcp_if_include", "\(net).0/24", "-np", "2", "--map-by", "node", CLI.binary] + args + ["--out", two])
            .joined(separator: " ")
        let r = try shell(line)
        XCTAssertEqual(r.status, 0, r.output)
        XCTAssertTrue(r.output.contains("2 ranks of 2 rows each"), r.output)
        for (x, y) in zip(try losses(one), try losses(two)) { XCTAssertEqual(x, y, accuracy: 1e-5) }
        XCTAssertEqual(try losses(two).count, 20)
    }

    /// A command that does not run data-parallel is refused under mpirun, not run twice.
    func testOtherCommandsRefuseSeveralRanks() throws {
        let r = try mpi(2, ["eval", "--model", "/nonexistent", "--task", "/nonexistent"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertTrue(r.output.contains("`foundry eval` does not run data-parallel"), r.output)
    }

    /// A global batch that does not split over the ranks: one clear message, non-zero, no hang.
    func testBatchThatDoesNotSplitIsRefused() throws {
        let r = try mpi(2, ["pretrain", "--steps", "2", "--layers", "1", "--heads", "1", "--embd", "8", "--context", "8", "--batch", "3",
                            "--eval-every", "0", "--backend", "cpu", "--out", CLI.tempDir() + "/x"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertNotEqual(r.status, 137, "killed by the timeout: the ranks hung")
        XCTAssertTrue(r.output.contains("--batch 3 does not split evenly over 2 ranks"), r.output)
    }

    /// GRPO splits the step's prompts (each with its group): an odd --prompts-per-step is named.
    func testGRPOPromptsThatDoNotSplitAreRefused() throws {
        let work = CLI.tempDir()
        let base = try smallBase(work), prompts = work + "/prompts.jsonl"
        try (0..<8).map { "{\"prompt\": \"the king \($0)\", \"answer\": \"\($0)\"}" }.joined(separator: "\n")
            .write(toFile: prompts, atomically: true, encoding: .utf8)
        let r = try mpi(2, ["grpo", "--model", base, "--prompts", prompts, "--checker", "--prompts-per-step", "3", "--steps", "1",
                            "--backend", "cpu", "--out", work + "/grpo"])
        XCTAssertNotEqual(r.status, 0)
        XCTAssertNotEqual(r.status, 137, "killed by the timeout: the ranks hung")
        XCTAssertTrue(r.output.contains("--prompts-per-step 3 does not split evenly over 2 ranks"), r.output)
    }
}
