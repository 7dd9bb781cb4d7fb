import Foundation

/// The page at `/`: real files in `Page/` (index.html, page.css, page.js), embedded into the
/// binary at build time by the EmbedKernels plugin (`PageFiles`). No CDN, no build step.
/// Element ids are what the browser tests drive.
enum Page {
    /// The page's files by the path they are served at, with their content types.
    static let assets: [(path: String, file: String, type: String)] = [
        ("/", "index.html", "text/html; charset=utf-8"),
        ("/page.css", "page.css", "text/css; charset=utf-8"),
        ("/page.js", "page.js", "text/javascript; charset=utf-8"),
    ]

    static func text(_ file: String) -> String { PageFiles.files[file] ?? "" }
    static var html: String { text("index.html") }

    /// Whether `path` is one of the page's own files (served without the API key: they hold no data).
    static func isAsset(_ path: String) -> Bool { assets.contains { $0.path == path } }
}
