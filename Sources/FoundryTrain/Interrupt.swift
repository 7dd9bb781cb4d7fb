import Foundation

/// Ctrl-C (SIGINT), SIGTERM (`kill`, a job scheduler's stop) and SIGHUP (a closed terminal)
/// during training ask the loop to save a checkpoint and stop; a second signal quits at once.
public enum Interrupt {
    nonisolated(unsafe) static var flag: sig_atomic_t = 0
    static let signals = [SIGINT, SIGTERM, SIGHUP]

    public static var requested: Bool { flag != 0 }

    public static func install() {
        flag = 0
        for s in signals {
            signal(s) { received in
                Interrupt.flag = 1
                signal(received, SIG_DFL)   // the second one ends the process
            }
        }
    }
    public static func uninstall() { for s in signals { signal(s, SIG_DFL) } }

    /// Asks the running loop to save and stop, as a signal would (a server stopping a job; tests).
    public static func request() { flag = 1 }
}
