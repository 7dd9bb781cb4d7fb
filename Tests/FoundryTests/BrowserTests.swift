import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import XCTest
import FoundryCPU
import FoundryData
@testable import FoundryServe

/// The page at `/` in a real browser: headless Chromium driven through chromedriver's
/// WebDriver protocol (Debian's `chromium` and `chromium-driver`, which `.ci/run` installs).
/// Skipped, saying so, where chromedriver is missing. With FOUNDRY_SCREENSHOTS=DIR the two tabs
/// are saved there as PNG (docs/serve.md shows them).
final class BrowserTests: XCTestCase {
    func testChatAndRankInHeadlessChromium() async throws {
        guard let driverPath = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("chromedriver is not installed (Debian: apt-get install chromium chromium-driver)")
        }
        let rankings = CLI.tempDir() + "/rankings.jsonl"
        var options = ServeTests.testOptions
        options.k = 4
        let env = ProcessInfo.processInfo.environment
        let server: FoundryServer
        if let dir = env["FOUNDRY_SCREENSHOT_MODEL"] {
            // For docs/serve.md's pictures: a trained model (and FOUNDRY_SCREENSHOT_REWARD's reward model).
            let prompts = CLI.tempDir() + "/prompts.jsonl"
            try Datasets.write(["Which is larger: 3 or 11?", "Which is larger: 7 or 9?"].map { RLPrompt(prompt: $0) }, to: prompts)
            options.prompts = prompts; options.rankings = rankings; options.rewardModel = env["FOUNDRY_SCREENSHOT_REWARD"]; options.rankTemperature = 1.5
            server = try FoundryServer.prepare(model: dir, device: CPUDevice(), options: options)
        } else {
            server = try ServeTests.server(on: CPUDevice(), options: options, prompts: ["what is 2+3?", "say hi"], rankings: rankings) { _, r in
                r.map { Double($0.count) }
            }
        }
        // The test model's vocabulary is lower-case letters, digits and a few signs.
        let chatPrompt = env["FOUNDRY_SCREENSHOT_MODEL"] != nil ? "Which is larger: 63 or 36?" : "which is larger: 3 or 5?"
        let s = try await ServeTests.start(server)
        let driver = try await WebDriver.start(path: driverPath)
        do {
            try await driver.open("http://127.0.0.1:\(s.port)/")
            try await driver.waitFor("document.getElementById('info').textContent.includes('\(server.model.name)')")

            // Chat at temperature 0: the streamed reply on the page is the API's reply.
            try await driver.run("document.getElementById('temperature').value = '0'; document.getElementById('max_tokens').value = '16'")
            try await driver.type("#chat-input", chatPrompt)
            try await driver.click("#chat-send")
            try await driver.waitFor("document.querySelectorAll('.msg.assistant .tok').length > 0 && !document.getElementById('chat-send').disabled")
            let shown = try await driver.run("return document.querySelector('.msg.assistant .body').textContent") as? String
            let api = try await s.post("/v1/chat/completions", ServeTests.chat(chatPrompt, ["max_tokens": 16]))
            XCTAssertEqual(shown, ServeTests.content(api.json))
            let spans = try await driver.run("return document.querySelectorAll('.msg.assistant .tok').length") as? Int
            XCTAssertGreaterThan(spans ?? 0, 0)

            // The distribution a token was drawn from: 10 rows, probabilities that sum to at most 1.
            try await driver.click(".msg.assistant .tok")
            try await driver.waitFor("document.querySelectorAll('.dist-table tr').length > 1")
            let rows = try await driver.run("return document.querySelectorAll('.dist-table')[0].querySelectorAll('tr').length") as? Int
            XCTAssertEqual(rows, 11, "a header and the 10 most likely tokens")
            let total = try await driver.run("""
                return Array.from(document.querySelectorAll('.dist-table')[0].querySelectorAll('tr')).slice(1)
                  .reduce((s, tr) => s + parseFloat(tr.children[1].textContent), 0)
                """) as? Double ?? 2
            XCTAssertLessThanOrEqual(total, 1.01)
            if let dir = ProcessInfo.processInfo.environment["FOUNDRY_SCREENSHOTS"] { try await driver.screenshot(to: dir + "/serve-chat.png") }

            // Rank: four responses, ordered by clicks (3rd, 1st, 4th; the last one left goes last), submitted.
            try await driver.click("#tab-rank")
            try await driver.waitFor("document.querySelectorAll('.response').length === 4")
            let prompt = try await driver.run("return document.getElementById('rank-prompt').textContent") as? String
            for i in [2, 0, 3] { try await driver.click(".response[data-index='\(i)']") }
            try await driver.waitFor("!document.getElementById('rank-submit').disabled")
            try await driver.click("#rank-submit")
            try await driver.waitFor("document.getElementById('rank-result').textContent.includes(\(options.rewardModel == nil && env["FOUNDRY_SCREENSHOT_MODEL"] != nil ? "'saved'" : "'reward model'"))")
            if let dir = ProcessInfo.processInfo.environment["FOUNDRY_SCREENSHOTS"] { try await driver.screenshot(to: dir + "/serve-rank.png") }
            let rows2 = try Datasets.readRankings(path: rankings)
            XCTAssertEqual(rows2.count, 1)
            XCTAssertEqual(rows2.first?.prompt, prompt)
            XCTAssertEqual(rows2.first?.ranking, [2, 0, 3, 1])
            XCTAssertEqual(rows2.first?.responses.count, 4)
        } catch {
            await driver.quit(); await s.stop()
            throw error
        }
        await driver.quit()
        await s.stop()
    }
}

/// Just enough of the W3C WebDriver protocol to drive a page.
struct WebDriver {
    let process: Process
    let base: String
    let session: String
    static let elementKey = "element-6066-11e4-a52e-4f735466cecf"

    static func start(path: String) async throws -> WebDriver {
        // A free port: bind to 0, read it, let go.
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in(); addr.sin_family = sa_family_t(AF_INET); addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        close(fd)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: path)
        p.arguments = ["--port=\(port)"]
        p.standardOutput = FileHandle.nullDevice; p.standardError = FileHandle.nullDevice
        try p.run()
        let base = "http://127.0.0.1:\(port)"
        for _ in 0..<100 {
            if let (_, v) = try? await call(base + "/status", "GET", nil), (v as? [String: Any])?["ready"] as? Bool == true { break }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let binary = ["/usr/bin/chromium", "/usr/lib/chromium/chromium"].first(where: FileManager.default.isExecutableFile) ?? "/usr/bin/chromium"
        let caps: [String: Any] = ["capabilities": ["alwaysMatch": ["browserName": "chrome", "goog:chromeOptions": [
            "binary": binary, "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,800"]]]]]
        let (status, value) = try await call(base + "/session", "POST", caps)
        guard status == 200, let id = (value as? [String: Any])?["sessionId"] as? String else {
            kill(p.processIdentifier, SIGKILL)
            throw FoundryTestError("chromedriver gave no session (\(status)): \(String(describing: value))")
        }
        return WebDriver(process: p, base: base + "/session/" + id, session: id)
    }

    /// One request over a plain socket (HTTP/1.1, `Connection: close`): libcurl under
    /// URLSession fails some of chromedriver's answers with "Failed writing header".
    static func call(_ url: String, _ method: String, _ body: Any?) async throws -> (Int, Any?) {
        let u = URL(string: url)!
        let payload = try body.map { try JSONSerialization.data(withJSONObject: $0) } ?? Data()
        var head = "\(method) \(u.path.isEmpty ? "/" : u.path) HTTP/1.1\r\nHost: 127.0.0.1:\(u.port!)\r\nConnection: close\r\n"
        if body != nil { head += "Content-Type: application/json\r\n" }
        head += "Content-Length: \(payload.count)\r\n\r\n"
        let request = Array(head.utf8) + Array(payload)
        let port = u.port!
        // Blocking socket calls run on a Dispatch thread: on the cooperative pool (two threads on a
        // two-core machine) they could starve the server's own handlers that the browser waits on.
        let reply: [UInt8] = try await withCheckedThrowingContinuation { (done: CheckedContinuation<[UInt8], Error>) in
          DispatchQueue.global().async {
           done.resume(with: Result {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            defer { close(fd) }
            var addr = sockaddr_in(); addr.sin_family = sa_family_t(AF_INET); addr.sin_addr.s_addr = inet_addr("127.0.0.1")
            addr.sin_port = in_port_t(UInt16(port).bigEndian)
            let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
            guard ok == 0 else { throw FoundryTestError("cannot connect to \(url)") }
            var sent = 0
            while sent < request.count {
                let n = request[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
                guard n > 0 else { throw FoundryTestError("send to \(url) failed") }
                sent += n
            }
            var out: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 65536)
            // chromedriver answers "Connection: close" but leaves the socket open: read to Content-Length.
            while true {
                let n = recv(fd, &chunk, chunk.count, 0)
                if n <= 0 { break }
                out += chunk[0..<n]
                if let split = out.firstRange(of: Array("\r\n\r\n".utf8)) {
                    let head = String(decoding: out[0..<split.lowerBound], as: UTF8.self).lowercased()
                    if let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
                       let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)),
                       out.count - split.upperBound >= length { break }
                }
            }
            return out
           })
          }
        }
        guard let split = reply.firstRange(of: Array("\r\n\r\n".utf8)) else { throw FoundryTestError("no HTTP answer from \(url)") }
        let status = Int(String(decoding: reply[0..<split.lowerBound], as: UTF8.self).split(separator: " ")[1]) ?? 0
        let json = try? JSONSerialization.jsonObject(with: Data(reply[split.upperBound...])) as? [String: Any]
        return (status, json?["value"] ?? nil)
    }

    @discardableResult
    func send(_ path: String, _ method: String = "POST", _ body: Any? = [String: Any]()) async throws -> Any? {
        let (status, value) = try await Self.call(base + path, method, method == "GET" || method == "DELETE" ? nil : body)
        guard status == 200 else { throw FoundryTestError("WebDriver \(method) \(path): \(status) \(String(describing: value))") }
        return value
    }

    func open(_ url: String) async throws { try await send("/url", "POST", ["url": url]) }

    func element(_ css: String) async throws -> String {
        let v = try await send("/element", "POST", ["using": "css selector", "value": css])
        guard let id = (v as? [String: Any])?[Self.elementKey] as? String else { throw FoundryTestError("no element \(css)") }
        return id
    }

    func click(_ css: String) async throws { try await send("/element/\(try await element(css))/click") }
    func type(_ css: String, _ text: String) async throws { try await send("/element/\(try await element(css))/value", "POST", ["text": text]) }

    @discardableResult
    func run(_ script: String) async throws -> Any? { try await send("/execute/sync", "POST", ["script": script, "args": []]) }

    /// Polls `condition` (a JavaScript expression) until it is true, for up to 60 s.
    func waitFor(_ condition: String) async throws {
        for _ in 0..<600 {
            if try await run("return !!(\(condition))") as? Bool == true { return }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        throw FoundryTestError("timed out waiting for \(condition)")
    }

    func screenshot(to path: String) async throws {
        guard let b64 = try await send("/screenshot", "GET") as? String, let png = Data(base64Encoded: b64) else { throw FoundryTestError("no screenshot") }
        try png.write(to: URL(fileURLWithPath: path))
    }

    func quit() async {
        _ = try? await send("", "DELETE")
        // SIGKILL: the test process may ignore SIGTERM (signal handlers installed with SIG_IGN),
        // and chromedriver inherits that.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

struct FoundryTestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
