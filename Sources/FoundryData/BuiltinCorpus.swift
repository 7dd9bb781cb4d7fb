import Foundation
import FoundryCore

/// Foundry's own training text: short stories, dialogues, letters, quizzes and sums about a
/// small invented world, generated from templates. Each seed builds one world whose facts
/// (where people live, their jobs, pets, likes, friends, ages) stay consistent across the whole
/// text, so a model can learn both grammar and recall. Plain ASCII; no third-party text.
public enum BuiltinCorpus {
    public static func generate(characters: Int = 1_000_000, seed: UInt64 = 1) -> String {
        guard characters > 0 else { return "" }
        var g = CorpusGenerator(seed: seed)
        g.out.reserveCapacity(characters + 4096)
        while g.out.count < characters {
            g.story()
            g.out.append(contentsOf: "\n\n".utf8)
        }
        return String(decoding: g.out[0..<characters], as: UTF8.self)
    }
}

// MARK: - Word lists

private enum Words {
    static let femaleNames = ["Mira", "Anna", "Lena", "Rosa", "Ella", "Nora", "Ivy", "Clara", "Maya", "Lucy",
                              "Hazel", "Ruby", "Alice", "Grace", "Iris", "Julia", "Sara", "Tessa", "Wren", "Zoe",
                              "Fern", "Daisy", "Greta", "Olive"]
    static let maleNames = ["Tom", "Ben", "Sam", "Leo", "Max", "Jack", "Finn", "Owen", "Hugo", "Eli",
                            "Noah", "Theo", "Oscar", "Felix", "Jonas", "Milo", "Peter", "Adam", "Victor", "Basil",
                            "Rufus", "Simon", "Carl", "Dennis"]
    static let towns = ["Oakford", "Riverton", "Millbrook", "Stonehill", "Ashdale", "Greenfield", "Lakeside",
                        "Fairhaven", "Westwood", "Brightwater", "Elmstead", "Redcliff", "Northgate", "Pinecrest"]
    static let jobs = ["baker", "farmer", "teacher", "doctor", "painter", "fisher", "carpenter", "gardener",
                       "tailor", "miller", "nurse", "builder", "cook", "singer", "potter", "writer",
                       "shepherd", "blacksmith", "librarian", "sailor", "weaver", "merchant"]
    static let jobPlace = ["baker": "the bakery", "farmer": "the farm", "teacher": "the school",
                           "doctor": "the clinic", "painter": "the studio", "fisher": "the harbor",
                           "carpenter": "the workshop", "gardener": "the garden", "tailor": "the shop",
                           "miller": "the mill", "nurse": "the clinic", "builder": "the new house",
                           "cook": "the inn", "singer": "the hall", "potter": "the workshop",
                           "writer": "the library", "shepherd": "the hills", "blacksmith": "the forge",
                           "librarian": "the library", "sailor": "the harbor", "weaver": "the mill",
                           "merchant": "the market"]
    static let jobWork = ["baker": "baked bread", "farmer": "fed the cows", "teacher": "taught the children",
                          "doctor": "helped the sick", "painter": "painted a picture", "fisher": "caught fish",
                          "carpenter": "made a table", "gardener": "planted flowers", "tailor": "sewed a coat",
                          "miller": "ground the wheat", "nurse": "cared for the sick", "builder": "built a wall",
                          "cook": "made soup", "singer": "sang a song", "potter": "made a bowl",
                          "writer": "wrote a story", "shepherd": "watched the sheep",
                          "blacksmith": "made a horseshoe", "librarian": "sorted the books",
                          "sailor": "fixed the sails", "weaver": "wove a blanket", "merchant": "sold apples"]
    static let animals = ["dog", "cat", "horse", "goat", "rabbit", "parrot", "duck", "pig", "owl", "turtle",
                          "hen", "pony", "fox", "mouse", "lamb"]
    static let petNames = ["Pip", "Biscuit", "Shadow", "Pepper", "Clover", "Sunny", "Mango", "Patch", "Tiny",
                           "Bear", "Misty", "Rocket", "Button", "Ginger", "Pebble", "Socks", "Nutmeg", "Ziggy"]
    static let foods = ["bread", "soup", "apples", "cheese", "honey", "pie", "rice", "fish", "carrots",
                        "plums", "cake", "eggs", "pears", "beans", "porridge", "cherries", "nuts", "jam"]
    static let colors = ["red", "blue", "green", "yellow", "orange", "purple", "white", "black", "brown",
                         "gray", "pink", "gold", "silver"]
    static let places = ["the market", "the river", "the forest", "the hill", "the bridge", "the garden",
                         "the library", "the lake", "the square", "the station", "the bakery", "the park",
                         "the old tower", "the beach", "the field", "the well", "the harbor", "the mill"]
    static let objects = ["basket", "key", "book", "lamp", "hat", "box", "map", "letter", "coin", "bell",
                          "kite", "rope", "cup", "blanket", "ball", "ring", "shell", "feather", "bottle",
                          "scarf", "clock", "stone", "umbrella", "whistle", "candle", "boot", "jar", "flag"]
    static let adjectives = ["small", "big", "old", "new", "shiny", "heavy", "light", "strange", "pretty",
                             "broken", "tiny", "warm", "round", "soft", "dusty", "bright", "little", "wooden"]
    static let feelings = ["happy", "sad", "tired", "surprised", "proud", "worried", "hungry", "calm",
                           "excited", "cold", "sleepy", "glad", "curious", "angry", "brave", "lonely"]
    static let weather = ["sunny", "rainy", "windy", "cold", "warm", "foggy", "cloudy", "snowy", "bright", "quiet"]
    static let times = ["morning", "afternoon", "evening", "night"]
    static let days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    static let seasons = ["spring", "summer", "autumn", "winter"]
    static let sounds = ["a loud noise", "a soft song", "a bell ringing", "a dog barking", "the wind",
                         "someone calling", "a strange sound", "the rain on the roof", "birds singing"]
    static let moves = ["walked", "ran", "hurried", "went", "wandered", "rode", "climbed", "drove"]
    static let speechVerbs = ["said", "asked", "replied", "answered", "whispered", "shouted", "laughed", "called"]
    static let greetings = ["Hello", "Good morning", "Hi", "Good evening", "Good day"]
    static let adverbs = ["slowly", "quickly", "quietly", "carefully", "happily", "suddenly", "gently", "proudly"]
    static let numbers = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
                          "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
                          "eighteen", "nineteen", "twenty"]
    static let countables = ["apples", "eggs", "coins", "books", "cups", "stones", "pears", "shells", "fish",
                             "flowers", "candles", "cakes", "plums", "buttons", "keys", "feathers"]
    static let connectors = ["Then", "After that", "Later", "Soon", "A little later", "Next", "After a while"]
    static let endings = ["It was a good day.", "The end.", "Everyone was happy.", "And that was that.",
                          "They never forgot that day.", "It had been a long day.", "All was well again."]
}

// MARK: - World and generator

private struct Person {
    var name: String
    var female: Bool
    var town: String
    var job: String
    var animal: String
    var petName: String
    var petFemale: Bool
    var food: String
    var color: String
    var age: Int
    var friend: Int
    var sibling: Int?
    var subj: String { female ? "she" : "he" }
    var obj: String { female ? "her" : "him" }
    var poss: String { female ? "her" : "his" }
    var petSubj: String { petFemale ? "she" : "he" }
    var petPoss: String { petFemale ? "her" : "his" }
}

private struct CorpusGenerator {
    var rng: RNG
    var out: [UInt8] = []
    var people: [Person] = []

    init(seed: UInt64) {
        rng = RNG(seed: seed)
        buildWorld()
    }

    // MARK: helpers

    mutating func pick<T>(_ a: [T]) -> T { a[rng.below(a.count)] }
    mutating func chance(_ p: Float) -> Bool { rng.uniform() < p }
    mutating func w(_ s: String) { out.append(contentsOf: s.utf8) }
    func cap(_ s: String) -> String { s.prefix(1).uppercased() + s.dropFirst() }
    func an(_ word: String) -> String { "aeiou".contains(word.first ?? "x") ? "an \(word)" : "a \(word)" }
    func num(_ n: Int) -> String { n >= 0 && n < Words.numbers.count ? Words.numbers[n] : String(n) }
    func plural(_ n: Int, _ noun: String) -> String {
        n == 1 ? "\(num(n)) \(noun.hasSuffix("s") && noun != "fish" ? String(noun.dropLast()) : noun)" : "\(num(n)) \(noun)"
    }

    func digits(_ n: Int, _ noun: String) -> String {
        n == 1 && noun.hasSuffix("s") ? "1 \(noun.dropLast())" : "\(n) \(noun)"
    }

    mutating func buildWorld() {
        var names: [(String, Bool)] = Words.femaleNames.map { ($0, true) } + Words.maleNames.map { ($0, false) }
        // Shuffle names, keep a subset so each seed has its own cast.
        for i in stride(from: names.count - 1, to: 0, by: -1) { names.swapAt(i, rng.below(i + 1)) }
        let cast = names.prefix(32)
        for (name, female) in cast {
            people.append(Person(name: name, female: female, town: pick(Words.towns), job: pick(Words.jobs),
                                 animal: pick(Words.animals), petName: pick(Words.petNames), petFemale: chance(0.5),
                                 food: pick(Words.foods), color: pick(Words.colors), age: 8 + rng.below(70),
                                 friend: 0, sibling: nil))
        }
        for i in people.indices {
            var f = rng.below(people.count)
            if f == i { f = (f + 1) % people.count }
            people[i].friend = f
        }
        var i = 0
        while i + 1 < people.count {
            if chance(0.3) { people[i].sibling = i + 1; people[i + 1].sibling = i; people[i + 1].town = people[i].town }
            i += 2
        }
    }

    mutating func person() -> Int { rng.below(people.count) }
    mutating func other(than a: Int) -> Int {
        var b = rng.below(people.count)
        if b == a { b = (b + 1) % people.count }
        return b
    }

    // MARK: stories

    mutating func story() {
        switch rng.below(10) {
        case 0, 1: dayStory()
        case 2, 3: dialogue()
        case 4: profile()
        case 5: quiz()
        case 6: arithmetic()
        case 7: letter()
        case 8: lostAndFound()
        default: visit()
        }
    }

    mutating func profile() {
        let p = people[person()]
        var sentences: [String] = []
        switch rng.below(3) {
        case 0: sentences.append("\(p.name) lives in \(p.town).")
        case 1: sentences.append("\(p.name) is from \(p.town).")
        default: sentences.append("In the town of \(p.town) there lives \(an(p.job)) named \(p.name).")
        }
        var facts: [String] = [
            "\(cap(p.subj)) is \(an(p.job)) and works at \(Words.jobPlace[p.job]!).",
            "\(cap(p.subj)) has \(an(p.animal)) called \(p.petName).",
            "\(cap(p.poss)) favorite color is \(p.color).",
            "\(cap(p.subj)) likes to eat \(p.food) more than anything.",
            "\(cap(p.subj)) is \(p.age) years old.",
            "\(cap(p.poss)) best friend is \(people[p.friend].name).",
        ]
        if let s = p.sibling {
            facts.append("\(cap(p.subj)) has \(people[s].female ? "a sister" : "a brother") named \(people[s].name).")
        }
        for i in stride(from: facts.count - 1, to: 0, by: -1) { facts.swapAt(i, rng.below(i + 1)) }
        sentences += facts.prefix(3 + rng.below(facts.count - 2))
        w(sentences.joined(separator: " "))
    }

    mutating func dayStory() {
        let ai = person(), bi = other(than: ai)
        let a = people[ai], b = people[bi]
        let day = pick(Words.days), wx = pick(Words.weather)
        switch rng.below(3) {
        case 0: w("On a \(wx) \(day) morning, \(a.name) woke up early.")
        case 1: w("It was \(wx) in \(a.town) that \(day), and \(a.name) had the day off.")
        default: w("One \(wx) \(pick(Words.seasons)) day, \(a.name) left \(a.poss) house in \(a.town).")
        }
        let steps = 3 + rng.below(5)
        var place = pick(Words.places)
        for s in 0..<steps {
            w(" ")
            if s > 0 && chance(0.4) { w(pick(Words.connectors) + ", ") ; w(lowerEvent(ai, bi, &place)) }
            else { w(event(ai, bi, &place)) }
        }
        w(" In the \(pick(["evening", "night"])), \(a.name) went home and \(pick(["slept well", "read a book", "ate \(a.food)", "told \(a.petName) about the day", "sat by the fire"])).")
        if chance(0.5) { w(" " + pick(Words.endings)) }
        _ = b
    }

    /// One event sentence starting with a capital letter.
    mutating func event(_ ai: Int, _ bi: Int, _ place: inout String) -> String {
        cap(lowerEvent(ai, bi, &place))
    }

    /// One event sentence that may be preceded by a connector ("Then, ...").
    mutating func lowerEvent(_ ai: Int, _ bi: Int, _ place: inout String) -> String {
        let a = people[ai], b = people[bi]
        switch rng.below(12) {
        case 0:
            place = pick(Words.places)
            return "\(a.name) \(pick(Words.moves)) to \(place)."
        case 1:
            return "\(a.name) met \(b.name) near \(place), and they talked about \(pick(["the weather", "the market", "\(b.poss) \(b.animal)", "the news from \(b.town)", "their work"]))."
        case 2:
            let adj = pick(Words.adjectives), obj = pick(Words.objects)
            return "\(a.name) found \(an(adj + " " + obj)) at \(place)."
        case 3:
            return "\(a.subj) felt \(pick(Words.feelings)), so \(a.subj) \(pick(["sat down for a while", "sang a little song", "called \(a.petName)", "looked at the sky", "drank some water"]))."
        case 4:
            return "\(a.name) bought some \(a.food) at the market because \(a.subj) likes \(a.food)."
        case 5:
            return "\(a.name) heard \(pick(Words.sounds)) and looked around \(pick(Words.adverbs))."
        case 6:
            return "\(a.petName), \(a.poss) \(a.animal), \(pick(["ran ahead", "followed \(a.obj)", "fell asleep in the sun", "chased a leaf", "waited by the door"]))."
        case 7:
            return "\(a.name) went to \(Words.jobPlace[a.job]!) and \(Words.jobWork[a.job]!)."
        case 8:
            let obj = pick(Words.objects)
            return "\(a.name) gave \(b.name) \(an(obj)), and \(b.name) said, \"Thank you!\""
        case 9:
            return "the sky turned \(pick(["dark", "gray", "pink", "orange", "clear"])), and \(a.name) \(pick(Words.moves)) \(pick(Words.adverbs))."
        case 10:
            return "\(a.name) and \(b.name) ate \(b.food) together at \(place)."
        default:
            return "\(a.name) asked \(b.name), \"Do you want to come to \(place) with me?\" \(b.name) said \(pick(["yes", "no", "maybe later"]))."
        }
    }

    mutating func dialogue() {
        let ai = person(), bi = other(than: ai)
        let a = people[ai], b = people[bi]
        w("\"\(pick(Words.greetings)), \(b.name)!\" \(pick(["said", "called"])) \(a.name).\n")
        w("\"\(pick(Words.greetings)), \(a.name),\" \(b.name) \(pick(["replied", "answered", "said"])). \"How are you?\"\n")
        w("\"I am \(pick(Words.feelings)),\" said \(a.name). \"\(pick(["It is \(pick(Words.weather)) today.", "I have been busy.", "I just came from \(pick(Words.places)).", "\(a.petName) kept me awake."]))\"\n")
        var kinds = Array(0..<7)
        for i in stride(from: kinds.count - 1, to: 0, by: -1) { kinds.swapAt(i, rng.below(i + 1)) }
        for k in kinds.prefix(2 + rng.below(4)) {
            let (q, ans) = question(k, about: bi)
            w("\"\(q)\" asked \(a.name).\n")
            // The answer's final period becomes a comma before the speech tag.
            w("\"\(ans.dropLast()),\" \(pick(["said", "replied", "answered"])) \(b.name).\n")
        }
        switch rng.below(3) {
        case 0: w("\"Goodbye, \(b.name)!\" said \(a.name), and \(a.subj) \(pick(Words.moves)) home.")
        case 1: w("\"See you soon,\" said \(b.name).")
        default: w("Then they walked together to \(pick(Words.places)).")
        }
    }

    /// A question to `bi` in the second person and the true answer in the first person.
    func question(_ kind: Int, about bi: Int) -> (String, String) {
        let b = people[bi]
        switch kind {
        case 0: return ("Where do you live?", "I live in \(b.town).")
        case 1: return ("What is your job?", "I am \(an(b.job)).")
        case 2: return ("Do you have a pet?", "Yes, I have \(an(b.animal)). \(cap(b.petPoss)) name is \(b.petName).")
        case 3: return ("What is your favorite color?", "My favorite color is \(b.color).")
        case 4: return ("What do you like to eat?", "I like \(b.food).")
        case 5: return ("How old are you?", "I am \(b.age) years old.")
        default:
            if let s = b.sibling {
                return ("Do you have any family here?", "Yes, my \(people[s].female ? "sister" : "brother") \(people[s].name) lives here too.")
            }
            return ("Who is your best friend?", "My best friend is \(people[b.friend].name).")
        }
    }

    mutating func quiz() {
        let n = 3 + rng.below(4)
        for k in 0..<n {
            let p = people[person()]
            let qa: (String, String)
            switch rng.below(7) {
            case 0: qa = ("Where does \(p.name) live?", "\(p.name) lives in \(p.town).")
            case 1: qa = ("What is \(p.name)'s job?", "\(p.name) is \(an(p.job)).")
            case 2: qa = ("What pet does \(p.name) have?", "\(p.name) has \(an(p.animal)) named \(p.petName).")
            case 3: qa = ("What is \(p.name)'s favorite color?", "It is \(p.color).")
            case 4: qa = ("What does \(p.name) like to eat?", "\(p.name) likes \(p.food).")
            case 5: qa = ("How old is \(p.name)?", "\(p.name) is \(p.age) years old.")
            default: qa = ("Who is \(p.name)'s best friend?", "\(p.name)'s best friend is \(people[p.friend].name).")
            }
            w("Q: \(qa.0)\nA: \(qa.1)")
            if k + 1 < n { w("\n") }
        }
    }

    mutating func arithmetic() {
        let ai = person(), bi = other(than: ai)
        let a = people[ai], b = people[bi]
        let thing = pick(Words.countables)
        let start = 2 + rng.below(12)
        switch rng.below(3) {
        case 0:
            let more = 1 + rng.below(8)
            w("\(a.name) had \(plural(start, thing)). \(b.name) gave \(a.obj) \(plural(more, thing)) more. ")
            w("Now \(a.name) has \(plural(start + more, thing)).")
        case 1:
            let less = 1 + rng.below(start - 1)
            w("\(a.name) had \(plural(start, thing)). \(cap(a.subj)) gave \(plural(less, thing)) to \(b.name). ")
            w("Now \(a.subj) has \(plural(start - less, thing)) left, and \(b.name) has \(plural(less, thing)).")
        default:
            let x = 1 + rng.below(9), y = 1 + rng.below(9)
            w("\(a.name) counted \(digits(x, thing)) in one basket and \(digits(y, thing)) in another. ")
            w("\"How many is that?\" asked \(b.name). \"\(x) and \(y) make \(x + y),\" said \(a.name).")
        }
    }

    mutating func letter() {
        let ai = person(), bi = other(than: ai)
        let a = people[ai], b = people[bi]
        w("Dear \(b.name),\n")
        w("I hope you are well. Here in \(a.town) it has been \(pick(Words.weather)) all week. ")
        w("\(a.petName) is \(pick(["well", "getting fat", "as naughty as ever", "sleeping a lot"])), ")
        w("and I have been busy at \(Words.jobPlace[a.job]!). Yesterday I \(Words.jobWork[a.job]!). ")
        if chance(0.5) { w("Please come and visit me. We can eat \(a.food) and walk to \(pick(Words.places)). ") }
        else { w("Please tell me how things are in \(b.town). ") }
        w("\n\(pick(["Your friend", "With love", "Best wishes", "Yours"])),\n\(a.name)")
    }

    mutating func lostAndFound() {
        let ai = person(), bi = other(than: ai)
        let a = people[ai], b = people[bi]
        let obj = pick(Words.objects), color = pick(Words.colors), place = pick(Words.places)
        w("\(a.name) lost \(a.poss) \(color) \(obj). \(cap(a.subj)) looked for it at home, but it was not there. ")
        w("\(cap(a.subj)) \(pick(Words.moves)) to \(place) and asked \(b.name), \"Have you seen my \(color) \(obj)?\" ")
        if chance(0.5) {
            w("\"Yes,\" said \(b.name). \"I saw it near \(pick(Words.places)).\" \(a.name) went there and found it. ")
            w("\(cap(a.subj)) was very \(pick(["happy", "glad", "relieved"])).")
        } else {
            w("\"No, I am sorry,\" said \(b.name). In the end, \(a.petName) the \(a.animal) found the \(obj) under a bed. ")
            w("\(a.name) laughed and gave \(a.petName) some \(pick(Words.foods)).")
        }
    }

    mutating func visit() {
        let ai = person(), bi = other(than: ai)
        let a = people[ai], b = people[bi]
        let time = pick(Words.times)
        w("One \(time), \(a.name) traveled from \(a.town) to \(b.town) to visit \(b.name). ")
        if a.town == b.town { w("It was a short trip, because they live in the same town. ") }
        else { w("The road was long, and \(a.name) was \(pick(["tired", "hungry", "cold", "happy"])) when \(a.subj) arrived. ") }
        w("\(b.name) made \(b.food) for dinner. ")
        w("\(b.petName), \(b.poss) \(b.animal), \(pick(["sat under the table", "wanted some food too", "played with \(a.name)", "slept by the fire"])). ")
        w("They talked about \(pick(["their work", "the old days", "\(a.town)", "the coming \(pick(Words.seasons))", "their friends"])) until late.")
    }
}
