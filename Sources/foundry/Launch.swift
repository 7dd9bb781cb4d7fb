import ArgumentParser
import Foundation
import FoundryCore
import FoundryDistributed

/// How this process was started: alone, or as one rank of an `mpirun` job (data-parallel
/// training, docs/distributed.md).
enum Launch {
    static let env = ProcessInfo.processInfo.environment

    /// The rank's index among the ranks on its machine, under mpirun.
    static var localRank: Int? { env["OMPI_COMM_WORLD_LOCAL_RANK"].flatMap(Int.init) }
    static var localSize: Int? { env["OMPI_COMM_WORLD_LOCAL_SIZE"].flatMap(Int.init) }
    /// A rank other than 0 (which alone prints, logs and saves).
    static var isFollower: Bool { (env["OMPI_COMM_WORLD_RANK"].flatMap(Int.init) ?? 0) > 0 }

    /// The job: Open MPI's when started by mpirun, else this one process. Ranks other than 0
    /// print nothing on stdout (their errors still reach stderr). Ranks sharing a machine split
    /// its cores when they share a PoCL CPU device (each rank its own thread count, unpinned),
    /// unless POCL_MAX_PTHREAD_COUNT / POCL_AFFINITY say otherwise.
    static func collective() throws -> Collective {
        guard MPICollective.launchedByMPI else { return SingleProcess() }
        if let n = localSize, n > 1 {
            let cores = ProcessInfo.processInfo.activeProcessorCount
            setenv("POCL_MAX_PTHREAD_COUNT", String(max(1, cores / n)), 0)
            setenv("POCL_AFFINITY", "0", 0)
        }
        let c = try MPICollective()
        if c.rank > 0 { _ = freopen("/dev/null", "w", stdout) }
        return c
    }

    /// Only the training commands run data-parallel; any other started by mpirun with several
    /// ranks would do the same work on every rank (and race to write its output), so it is refused.
    static func checkDataParallel(_ command: ParsableCommand) throws {
        guard let size = env["OMPI_COMM_WORLD_SIZE"].flatMap(Int.init), size > 1 else { return }
        guard command is DataParallelCommand else {
            let name = type(of: command)._commandName   // what the user typed: "eval" for Eval
            throw FoundryError("`foundry \(name)` does not run data-parallel (the training commands do: pretrain, sft, reward, dpo, ppo, grpo): run it without mpirun, or with -np 1")
        }
    }

    /// Leaves an MPI job cleanly (every rank, after its last collective).
    static func finish(_ c: Collective) { (c as? MPICollective)?.finish() }
}

/// A command that runs as one rank of a data-parallel job under mpirun (each training stage:
/// `Launch.collective()` gives it its rank).
protocol DataParallelCommand: ParsableCommand {}

extension Pretrain: DataParallelCommand {}
extension SFT: DataParallelCommand {}
extension RewardTrain: DataParallelCommand {}
extension DPO: DataParallelCommand {}
extension PPO: DataParallelCommand {}
extension GRPO: DataParallelCommand {}
