import Foundation

/// Ctrl-C during training asks the loop to save a checkpoint and stop; a second Ctrl-C quits at once.
public enum Interrupt {
    nonisolated(unsafe) static var flag: sig_atomic_t = 0

    public static var requested: Bool { flag != 0 }

    public static func install() {
        flag = 0
        signal(SIGINT) { _ in
            Interrupt.flag = 1
            signal(SIGINT, SIG_DFL)
        }
    }
    public static func uninstall() { signal(SIGINT, SIG_DFL) }
}
