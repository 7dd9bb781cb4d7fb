import Foundation
import FoundryCore
import Hummingbird

/// The port a server listens on, set once it runs (port 0 asks for any free one).
final class BoundPort: @unchecked Sendable {
    private let lock = NSLock()
    private var port = 0
    var value: Int {
        get { lock.withLock { port } }
        set { lock.withLock { port = newValue } }
    }
}

/// What makes a request to the page's own endpoints (the Rank tab's session, next and submit)
/// one the page sent, not another web page open in the same browser:
///
/// - a POST must carry `Content-Type: application/json`, which a cross-site form or a "simple"
///   `fetch` cannot send without a CORS preflight (which this server never grants);
/// - `Origin`, when the browser sends one, must be this server itself, and `Sec-Fetch-Site`
///   must not say cross-site;
/// - `Host` must name this server (a loopback name, or `--host`, with its port), which stops
///   DNS rebinding (a hostile name resolving to 127.0.0.1 keeps its own name in `Host`).
///
/// Together with the ranker token the page holds, a cross-site request cannot submit or skip.
struct PageRequestCheck: Sendable {
    let host: String
    let port: BoundPort

    func check(_ request: Request) throws {
        if request.method == .post {
            let type = request.headers[.contentType]?.split(separator: ";").first.map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
            guard type == "application/json" else {
                throw APIError(415, "the page's endpoints take 'Content-Type: application/json' only", code: "unsupported_media_type")
            }
        }
        let given = request.head.authority ?? ""
        guard let (name, port) = Self.split(given), allowed(name), port == nil || port == self.port.value else {
            throw APIError(403, "the Host header '\(given)' does not name this server: open the page at the address `foundry serve` printed",
                           code: "wrong_host")
        }
        if let site = Self.header(request, "sec-fetch-site"), site != "same-origin", site != "none" {
            throw APIError(403, "refused a \(site) request: only the page served here may rank", code: "cross_site")
        }
        if let origin = Self.header(request, "origin") {
            guard origin == "http://" + given || origin == "https://" + given else {
                throw APIError(403, "refused a request from \(origin): only the page served here may rank", code: "cross_site")
            }
        }
    }

    static func header(_ request: Request, _ lowercasedName: String) -> String? {
        request.headers.first { $0.name.rawName.lowercased() == lowercasedName }?.value
    }

    func allowed(_ name: String) -> Bool {
        let n = name.lowercased()
        return n == host.lowercased() || ServeOptions.isLoopback(n)
    }

    /// "name:port" or "[v6]:port" → (name, port).
    static func split(_ host: String) -> (String, Int?)? {
        guard !host.isEmpty else { return nil }
        if host.hasPrefix("[") {
            guard let close = host.firstIndex(of: "]") else { return nil }
            let name = String(host[...close]), rest = host[host.index(after: close)...]
            if rest.isEmpty { return (name, nil) }
            guard rest.hasPrefix(":"), let p = Int(rest.dropFirst()) else { return nil }
            return (name, p)
        }
        let parts = host.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count <= 2 else { return nil }
        if parts.count == 1 { return (host, nil) }
        guard let p = Int(parts[1]) else { return nil }
        return (String(parts[0]), p)
    }
}
