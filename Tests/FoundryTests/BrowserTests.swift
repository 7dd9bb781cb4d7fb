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
    /// chromedriver's path, or a skip saying how to install it.
    static func driverPath() throws -> String {
        guard let path = ["/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"].first(where: FileManager.default.isExecutableFile) else {
            throw XCTSkip("chromedriver is not installed (Debian: apt-get install chromium chromium-driver)")
        }
        return path
    }

    func testChatAndRankInHeadlessChromium() async throws {
        let driverPath = try Self.driverPath()
        let rankings = CLI.tempDir() + "/rankings.jsonl"
        var options = ServeTests.testOptions
        options.k = 4
        let env = ProcessInfo.processInfo.environment
        var server: FoundryServer
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
        let s: ServeTests.Running, chatPrompt: String
        if env["FOUNDRY_SCREENSHOT_MODEL"] != nil {
            s = try await ServeTests.start(server); chatPrompt = "Which is larger: 63 or 36?"
        } else {
            (server, s, chatPrompt) = try await Self.chattyServer(options: options, prompts: ["what is 2+3?", "say hi"], rankings: rankings) { _, r in
                r.map { Double($0.count) }
            }
        }
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

extension BrowserTests {
    /// A running test server whose random model gives a non-empty greedy chat reply to the
    /// returned prompt (a random model may end every greedy reply at once with a special token).
    static func chattyServer(options: ServeOptions, prompts: [String], rankings: String,
                             score: (@Sendable (String, [String]) async throws -> [Double])? = nil) async throws
        -> (FoundryServer, ServeTests.Running, String) {
        for seed in UInt64(7)..<40 {
            let server = try ServeTests.server(on: CPUDevice(), options: options, prompts: prompts, rankings: rankings, seed: seed, score: score)
            let s = try await ServeTests.start(server)
            let p = "which is larger: 3 or 5?"
            let r = try await s.post("/v1/chat/completions", ServeTests.chat(p, ["max_tokens": 16, "temperature": 0]))
            if let c = ServeTests.content(r.json), c.count >= 2 { return (server, s, p) }
            await s.stop()
            try? FileManager.default.removeItem(atPath: rankings)
        }
        throw FoundryTestError("no test model seed gives a greedy reply")
    }

    /// The Rank tab as people use it: the mouse, then the keyboard only, a reload in the middle
    /// of a ranking, ties, and a phone's width. Every action must send exactly one request.
    func testRankTabWithKeyboardReloadTiesAndPhoneWidth() async throws {
        let driverPath = try Self.driverPath()
        let rankings = CLI.tempDir() + "/rankings.jsonl"
        var options = ServeTests.testOptions
        options.k = 3
        let (_, s, chatPrompt) = try await Self.chattyServer(options: options, prompts: (0..<6).map { "question \($0)?" }, rankings: rankings)
        let driver = try await WebDriver.start(path: driverPath)
        func submits() async throws -> Int { try await driver.run("return window.__submits || 0") as? Int ?? -1 }
        func rows() throws -> [RankingExample] { FileManager.default.fileExists(atPath: rankings) ? try Datasets.readRankings(path: rankings) : [] }
        func skips() throws -> Int {
            FileManager.default.fileExists(atPath: rankings + ".skipped")
                ? try String(contentsOfFile: rankings + ".skipped", encoding: .utf8).split(separator: "\n").count : 0
        }
        /// Waits for a new prompt (other than `old`) with its cards on screen; returns its text.
        func nextPrompt(after old: String?) async throws -> String {
            try await driver.waitFor("document.querySelectorAll('.response').length >= 2 && document.getElementById('rank-prompt').textContent !== \(WebDriver.quote(old ?? ""))")
            return try await driver.run("return document.getElementById('rank-prompt').textContent") as? String ?? ""
        }
        let countSubmits = """
            if (!window.__submits) { window.__submits = 0; const f = window.fetch;
              window.fetch = (u, o) => { if (String(u).includes('/foundry/rank/submit')) window.__submits++; return f(u, o); }; }
            """
        do {
            try await driver.open("http://127.0.0.1:\(s.port)/#rank")
            var prompt = try await nextPrompt(after: nil)
            try await driver.run(countSubmits)

            // 1. A mouse click on Skip, then 1, 2 and Enter: one skip and one ranking, nothing else.
            try await driver.click("#rank-skip")
            prompt = try await nextPrompt(after: prompt)
            try await driver.keys(["1", "2", WebDriver.enter])
            try await driver.waitFor("document.getElementById('rank-progress').textContent.startsWith('ranked 1 ')")
            prompt = try await nextPrompt(after: prompt)
            let v1 = try await submits()
            XCTAssertEqual(v1, 2, "one skip and one submission")
            XCTAssertEqual(try rows().count, 1); XCTAssertEqual(try skips(), 1)
            XCTAssertEqual(try rows().first?.ranking, [0, 1, 2])

            // 2. Keyboard only: Tab from the prompt reaches a card, Enter picks it; Tab to Submit and Enter sends once.
            try await driver.run("document.getElementById('rank-prompt').focus()")
            try await driver.keys([WebDriver.tab])
            let v2 = try await driver.run("return document.activeElement.className") as? String
            XCTAssertEqual(v2, "response")
            try await driver.keys([WebDriver.enter, WebDriver.tab, WebDriver.enter])   // picks the 1st, then the 2nd (3rd placed for us)
            try await driver.waitFor("!document.getElementById('rank-submit').disabled")
            try await driver.run("document.getElementById('rank-submit').focus()")
            try await driver.keys([WebDriver.enter])
            try await driver.waitFor("document.getElementById('rank-progress').textContent.startsWith('ranked 2 ')")
            prompt = try await nextPrompt(after: prompt)
            let v3 = try await submits()
            XCTAssertEqual(v3, 3)
            XCTAssertEqual(try rows().count, 2)
            XCTAssertEqual(try rows().last?.ranking, [0, 1, 2])
            let result = try await driver.run("return document.getElementById('rank-result').textContent") as? String ?? ""
            XCTAssertFalse(result.contains("Not saved"), result)

            // 3. A reload in the middle: the tab, the prompt and the pick made are still there.
            try await driver.keys(["3"])
            try await driver.run("location.reload()")
            try await driver.waitFor("document.querySelectorAll('.response.ranked').length === 1")
            let v4 = try await driver.run("return document.getElementById('rank').classList.contains('hidden')") as? Bool
            XCTAssertEqual(v4, false)
            let v5 = try await driver.run("return document.getElementById('rank-prompt').textContent") as? String
            XCTAssertEqual(v5, prompt)
            let v6 = try await driver.run("return document.querySelector('.response.ranked').dataset.index") as? String
            XCTAssertEqual(v6, "2")

            // 4. Ties: 3 (kept), 1, then 2 placed for us; '=' ties the last two.
            try await driver.run(countSubmits)
            try await driver.keys(["1", "="])
            try await driver.waitFor("document.querySelectorAll('.place.tied').length === 2")
            try await driver.keys([WebDriver.enter])
            try await driver.waitFor("document.getElementById('rank-progress').textContent.startsWith('ranked 3 ')")
            prompt = try await nextPrompt(after: prompt)
            XCTAssertEqual(try rows().last?.ranking, [2, 0, 1])
            XCTAssertEqual(try rows().last?.ties, [[0, 1]])

            // 5. A phone's width: no horizontal scroll on either tab, with a chat reply and its distribution open.
            try await driver.setWindow(width: 390, height: 844)
            let v7 = try await driver.run("return window.innerWidth") as? Int ?? 0
            XCTAssertLessThanOrEqual(v7, 400)
            let fits = "return document.documentElement.scrollWidth <= window.innerWidth"
            let v8 = try await driver.run(fits) as? Bool
            XCTAssertEqual(v8, true, "Rank tab at 390 px")
            try await driver.click("#tab-chat")
            try await driver.run("document.getElementById('temperature').value = '0'; document.getElementById('max_tokens').value = '12'")
            try await driver.type("#chat-input", chatPrompt)
            try await driver.click("#chat-send")
            try await driver.waitFor("document.querySelectorAll('.msg.assistant .tok').length > 0 && !document.getElementById('chat-send').disabled")
            // Chat tokens are reachable with the keyboard: focus one, Enter opens its distribution.
            try await driver.run("document.querySelector('.msg.assistant .tok').focus()")
            let v9 = try await driver.run("return document.activeElement.tabIndex") as? Int
            XCTAssertEqual(v9, 0)
            try await driver.keys([WebDriver.enter])
            try await driver.waitFor("document.querySelectorAll('.dist-table tr').length > 1")
            let v10 = try await driver.run(fits) as? Bool
            XCTAssertEqual(v10, true, "Chat tab at 390 px")
            if let dir = ProcessInfo.processInfo.environment["FOUNDRY_SCREENSHOTS"] { try await driver.screenshot(to: dir + "/serve-phone.png") }
            // A reload keeps the conversation and the tab.
            let before = try await driver.run("return document.querySelectorAll('.msg').length") as? Int
            try await driver.run("location.reload()")
            try await driver.waitFor("document.querySelectorAll('.msg').length === \(before ?? -1) && !document.getElementById('chat').classList.contains('hidden')")
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
                // chromedriver answers "Connection: close" but leaves the socket open: read to Content-Length.
                done.resume(with: Result { try RawHTTP.exchange(port: port, request, until: RawHTTP.hasWholeBody) })
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

    static let enter = "\u{E007}", tab = "\u{E004}"

    /// Presses keys as a person would, on whatever has focus (WebDriver actions).
    func keys(_ keys: [String]) async throws {
        var actions: [[String: Any]] = []
        for k in keys { actions += [["type": "keyDown", "value": k], ["type": "keyUp", "value": k]] }
        try await send("/actions", "POST", ["actions": [["type": "key", "id": "keyboard", "actions": actions]]])
        try await send("/actions", "DELETE")
    }

    func setWindow(width: Int, height: Int) async throws { try await send("/window/rect", "POST", ["width": width, "height": height]) }

    /// A JavaScript string literal of `s`.
    static func quote(_ s: String) -> String {
        String(decoding: try! JSONSerialization.data(withJSONObject: [s]), as: UTF8.self).dropFirst().dropLast().description
    }
    func type(_ css: String, _ text: String) async throws { try await send("/element/\(try await element(css))/value", "POST", ["text": text]) }

    @discardableResult
    func run(_ script: String) async throws -> Any? { try await send("/execute/sync", "POST", ["script": script, "args": []]) }

    /// Polls `condition` (a JavaScript expression) until it is true, for up to 60 s.
    func waitFor(_ condition: String) async throws {
        for _ in 0..<600 {
            if try await run("return !!(\(condition))") as? Bool == true { return }
            try await Task.sleep(nanoseconds: 100_000_000)
        }
        let page = (try? await run("return document.body.innerText.slice(0, 600)")) as? String ?? ""
        throw FoundryTestError("timed out waiting for \(condition); the page shows: \(page)")
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

/// One HTTP exchange over a plain blocking socket to 127.0.0.1 (for chromedriver, and for
/// requests URLSession will not send as written, such as a Host of the test's choosing).
enum RawHTTP {
    static func exchange(port: Int, _ request: [UInt8], until done: ([UInt8]) -> Bool) throws -> [UInt8] {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var addr = sockaddr_in(); addr.sin_family = sa_family_t(AF_INET); addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        let ok = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        guard ok == 0 else { throw FoundryTestError("cannot connect to port \(port)") }
        var sent = 0
        while sent < request.count {
            let n = request[sent...].withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, 0) }
            guard n > 0 else { throw FoundryTestError("send to port \(port) failed") }
            sent += n
        }
        var out: [UInt8] = [], chunk = [UInt8](repeating: 0, count: 65536)
        while !done(out) {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { break }
            out += chunk[0..<n]
        }
        return out
    }

    /// Whether `out` holds the head and as many body bytes as its Content-Length says.
    static func hasWholeBody(_ out: [UInt8]) -> Bool {
        guard let split = out.firstRange(of: Array("\r\n\r\n".utf8)) else { return false }
        let head = String(decoding: out[0..<split.lowerBound], as: UTF8.self).lowercased()
        guard let line = head.split(separator: "\r\n").first(where: { $0.hasPrefix("content-length:") }),
              let length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) else { return false }
        return out.count - split.upperBound >= length
    }

    /// The status of an answer's first line.
    static func status(_ out: [UInt8]) -> Int {
        let line = String(decoding: out.prefix(64), as: UTF8.self).split(separator: " ")
        return line.count > 1 ? Int(line[1]) ?? 0 : 0
    }
}

struct FoundryTestError: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}
