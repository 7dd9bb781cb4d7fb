import FoundryData

/// Turns a growing list of token ids into text pieces that are safe to show: nothing that may
/// still change (a byte-level token ending inside a UTF-8 sequence decodes to U+FFFD until the
/// next token completes it) and nothing that may turn out to be the start of a stop string
/// (OpenAI's `stop`: the text ends before it, and the stop string is never shown).
/// Offsets count Unicode scalars, which a later token cannot merge the way it can merge
/// grapheme clusters (a combining accent after "e").
struct TextStream {
    let tokenizer: Tokenizer
    let stops: [String]
    private(set) var ids: [Int32] = []
    private var shown = 0

    init(tokenizer: Tokenizer, stops: [String]) {
        self.tokenizer = tokenizer
        self.stops = stops.filter { !$0.isEmpty }
    }

    /// Adds a token; returns the text it releases and whether a stop string now ends the text.
    mutating func push(_ id: Int32) -> (text: String, stopped: Bool) {
        ids.append(id)
        let text = tokenizer.decode(ids)
        let scalars = Array(text.unicodeScalars)
        if let cut = earliestStop(in: text) {
            let piece = cut > shown ? scalars[shown..<cut] : []
            shown = max(shown, cut)
            return (String(String.UnicodeScalarView(piece)), true)
        }
        var end = scalars.count
        if scalars.last == "\u{FFFD}" { end -= 1 }
        end -= heldForStops(Array(scalars[0..<end]))
        guard end > shown else { return ("", false) }
        let piece = scalars[shown..<end]
        shown = end
        return (String(String.UnicodeScalarView(piece)), false)
    }

    /// What was held back, at the end of generation (no stop string came after all).
    mutating func flush() -> String {
        let scalars = Array(tokenizer.decode(ids).unicodeScalars)
        guard scalars.count > shown else { return "" }
        let piece = scalars[shown...]
        shown = scalars.count
        return String(String.UnicodeScalarView(piece))
    }

    /// The scalar offset where the first stop string begins, if any does.
    private func earliestStop(in text: String) -> Int? {
        var best: Int?
        for s in stops {
            if let r = text.range(of: s) {
                let at = text.unicodeScalars.distance(from: text.unicodeScalars.startIndex, to: r.lowerBound)
                best = min(best ?? at, at)
            }
        }
        return best
    }

    /// The length of the longest tail of `scalars` that begins some stop string.
    private func heldForStops(_ scalars: [Unicode.Scalar]) -> Int {
        var held = 0
        for s in stops {
            let stop = Array(s.unicodeScalars)
            var n = min(stop.count - 1, scalars.count)
            while n > held {
                if Array(scalars[(scalars.count - n)...]) == Array(stop[0..<n]) { held = n; break }
                n -= 1
            }
        }
        return held
    }
}
