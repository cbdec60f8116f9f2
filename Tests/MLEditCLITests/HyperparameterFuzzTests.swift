// Seeded mutation fuzzing of the hyperparameters file of `mledit commit --hparams`
// (`EditHyperparameters.resolve`, on the tiny-facts GPT-2 configuration, every method): JSON
// objects built from the defaults, with fields set to values of other types and at the edges of
// their ranges, unknown and odd keys, and text-level damage. Every case must resolve to
// hyperparameters that validate, or fail with a one-line error naming the file (or, for a bad
// `--layers`, the option) — never trap or hang. MLEDIT_FUZZ_ITERATIONS selects a long run
// (`make fuzz`). Reproducers of what this found are ordinary tests at the end.
import Foundation
import Models
import Solvers
import Tensors
import Testing
@testable import MLEdit
@testable import MLEditCLI

@Suite("Fuzz: hyperparameter files")
struct HyperparameterFuzzTests {
    static var iterations: Int {
        ProcessInfo.processInfo.environment["MLEDIT_FUZZ_ITERATIONS"].flatMap { Int($0) }.map { max(1, $0) } ?? 8000
    }

    static var seed: UInt64 {
        ProcessInfo.processInfo.environment["MLEDIT_FUZZ_SEED"].flatMap { UInt64($0) } ?? 17
    }

    /// Runs `body`, ending the process if it takes longer than `limit` seconds (a hang).
    static func guarding<T>(_ label: String, limit: TimeInterval = 60, _ body: () throws -> T) rethrows -> T {
        let alarm = DispatchWorkItem {
            FileHandle.standardError.write(Data("fuzz case \(label) ran for more than \(limit) s: a hang\n".utf8))
            exit(1)
        }
        DispatchQueue.global().asyncAfter(deadline: .now() + limit, execute: alarm)
        defer { alarm.cancel() }
        return try body()
    }

    static func configuration() throws -> ModelConfiguration {
        try ModelLoader.open(url: RepositoryFixture.modelFolder).0
    }

    /// The JSON names of every hyperparameter.
    static let fields = [
        "layers", "v_lr", "v_num_grad_steps", "v_weight_decay", "kl_factor", "clamp_norm_factor", "v_loss_threshold",
        "v_stop_at_top1", "v_top1_max_nll", "kl_prompt", "mom2_update_weight", "mom2_n_tokens", "mom2_sequence_length",
        "prefix_count", "prefix_length", "prefix_top_k", "seed", "emmet_ridge", "nullspace_threshold", "alphaedit_l2",
    ]

    /// JSON texts of every type, at the edges of Int, UInt64 and Double, and layer lists.
    static let values = [
        "0", "1", "2", "-1", "0.5", "8.0", "1e-320", "1e308", "-1e308", "1e400", "9223372036854775807",
        "9223372036854775808", "18446744073709551615", "18446744073709551616", "-9223372036854775809", "true",
        "false", "null", "\"\"", "\"{}\"", "\"{} is a\"", "\"x\"", "\"\\u0000{}\"", "[]", "[0]", "[3]", "[0,1,2,3]",
        "[1,1]", "[-1]", "[4]", "[99999999999999999999]", "[1.5]", "[\"1\"]", "[[1]]", "{}", "{\"a\":1}",
        String(repeating: "[", count: 5_000), "\"" + String(repeating: "{}", count: 50_000) + "\"",
    ]

    static let odd = ["zz", "", "layers ", "LAYERS", "v_lr\n", "\u{0}", "kl_prompt\"", "__proto__"]

    static let layerOptions = ["0", "1,2", "3", " 1 , 2 ", "", ",", "a", "-1", "4", "1,1", "9223372036854775808"]

    /// Case `index`: the hyperparameters file and the `--layers` option (mostly absent).
    static func hyperparameterCase(_ index: Int, defaults: [String: String], seed: UInt64 = seed) -> (bytes: [UInt8], layers: String?) {
        var g = SeededGenerator(seed: seed &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index))
        // Members as raw JSON text, so that numbers and keys can be written as no encoder would.
        var members: [(key: String, json: String)] = defaults.keys.sorted().filter { _ in Bool.random(using: &g) }.map { ($0, defaults[$0] ?? "0") }
        for _ in 0 ..< Int.random(in: 1 ... 4, using: &g) {
            let value = values.randomElement(using: &g) ?? "0"
            switch Int.random(in: 0 ..< 6, using: &g) {
            case 0, 1, 2:
                let key = fields.randomElement(using: &g) ?? "layers"
                members.removeAll { $0.key == key }
                members.append((key, value))
            case 3:
                members.append((odd.randomElement(using: &g) ?? "zz", value))
            case 4 where !members.isEmpty:
                members.append(members[Int.random(in: 0 ..< members.count, using: &g)])  // a duplicate key
            default:
                if !members.isEmpty { members.remove(at: Int.random(in: 0 ..< members.count, using: &g)) }
            }
        }
        let text = "{" + members.map { "\"" + $0.key.replacingOccurrences(of: "\"", with: "\\\"") + "\":" + $0.json }.joined(separator: ",") + "}"
        var bytes = Array(text.utf8)
        if Int.random(in: 0 ..< 4, using: &g) == 0 {
            let damage: [[UInt8]] = [[0x7B], [0x7D], [0x22], [0x2C], [0x0A], [0xFF], [0x00], Array("[1]".utf8), Array("null".utf8)]
            for _ in 0 ..< Int.random(in: 1 ... 3, using: &g) {
                let at = Int.random(in: 0 ... bytes.count, using: &g)
                switch Int.random(in: 0 ..< 3, using: &g) {
                case 0: bytes.insert(contentsOf: damage.randomElement(using: &g) ?? [], at: at)
                case 1: bytes.removeSubrange(at ..< min(bytes.count, at + Int.random(in: 1 ... 8, using: &g)))
                default: bytes.removeSubrange(at...)
                }
            }
        }
        let layers = Int.random(in: 0 ..< 8, using: &g) == 0 ? layerOptions.randomElement(using: &g) : nil
        return (bytes, layers)
    }

    /// The defaults of the fixture's configuration as JSON text per field.
    static func defaultMembers(_ configuration: ModelConfiguration) throws -> [String: String] {
        let encoded = try JSONEncoder().encode(EditHyperparameters.defaults(for: configuration, method: .memit))
        let object = try #require(try JSONSerialization.jsonObject(with: encoded) as? [String: Any])
        var members: [String: String] = [:]
        for (key, value) in object {
            members[key] = String(decoding: try JSONSerialization.data(withJSONObject: value, options: [.fragmentsAllowed]), as: UTF8.self)
        }
        return members
    }

    /// Whether the case resolved, and what went wrong if a promise was broken.
    static func check(_ url: URL, layers: String?, method: EditMethod, configuration: ModelConfiguration) -> (accepted: Bool, problem: String?) {
        do {
            let h = try EditHyperparameters.resolve(configuration: configuration, method: method, file: url, layers: layers)
            do { try h.validate(layerCount: configuration.layerCount) } catch { return (true, "resolved hyperparameters do not validate: \(error)") }
            return (true, nil)
        } catch {
            let message = String(describing: error)
            if message.contains(where: \.isNewline) { return (false, "message is not one line: \(message.debugDescription)") }
            if error is UsageError, layers != nil, message.contains("--layers") { return (false, nil) }
            if layers != nil, message.hasPrefix("hyperparameter 'layers'") { return (false, nil) }
            if !message.hasPrefix(url.path + ":") { return (false, "message does not name the file: \(message)") }
            return (false, nil)
        }
    }

    @Test("the defaults written out resolve to the defaults for every method")
    func defaultsResolve() throws {
        let configuration = try Self.configuration()
        let directory = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(directory) }
        for method in EditMethod.allCases {
            let url = directory.appendingPathComponent("\(method).json")
            try JSONEncoder().encode(EditHyperparameters.defaults(for: configuration, method: method)).write(to: url)
            let h = try EditHyperparameters.resolve(configuration: configuration, method: method, file: url, layers: nil)
            #expect(h == EditHyperparameters.defaults(for: configuration, method: method))
        }
    }

    @Test("mutated hyperparameter files resolve or fail with one line naming the file, within a time bound")
    func mutations() throws {
        let configuration = try Self.configuration()
        let defaults = try Self.defaultMembers(configuration)
        let directory = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(directory) }
        let url = directory.appendingPathComponent("hparams.json")
        var failures: [String] = []
        var accepted = 0, slowest = 0.0
        let start = Date()
        for index in 0 ..< Self.iterations {
            let (bytes, layers) = Self.hyperparameterCase(index, defaults: defaults)
            try Data(bytes).write(to: url)
            let method = EditMethod.allCases[index % EditMethod.allCases.count]
            let began = Date()
            let (wasAccepted, problem) = Self.guarding("hyperparameters \(index) (seed \(Self.seed))") {
                Self.check(url, layers: layers, method: method, configuration: configuration)
            }
            let elapsed = Date().timeIntervalSince(began)
            slowest = max(slowest, elapsed)
            if elapsed > 2 + Double(bytes.count) / 1_000_000 { failures.append("case \(index): took \(elapsed) s for \(bytes.count) bytes") }
            if let problem { failures.append("case \(index) (\(method)\(layers.map { ", --layers '\($0)'" } ?? "")): \(problem)") }
            if wasAccepted { accepted += 1 }
        }
        print("hyperparameters: \(Self.iterations) cases in \(String(format: "%.1f", Date().timeIntervalSince(start))) s, \(accepted) accepted, slowest \(String(format: "%.3f", slowest)) s")
        let clean = failures.isEmpty
        #expect(clean, "\(failures.count) of \(Self.iterations) hyperparameter cases misbehaved; first: \(failures.prefix(5).joined(separator: " | "))")
    }

    // MARK: - Reproducers

    @Test("a value out of range in the file: the error names the file as well as the field")
    func outOfRangeNamesTheFile() throws {
        // Found by mutations (case 47 of seed 17 and every range check after it): validate's
        // message named the field only; resolve now puts the file in front of it.
        let configuration = try Self.configuration()
        let directory = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(directory) }
        let url = directory.appendingPathComponent("hparams.json")
        try Data(#"{"v_lr": -1}"#.utf8).write(to: url)
        let (accepted, problem) = Self.check(url, layers: nil, method: .memit, configuration: configuration)
        #expect(!accepted)
        #expect(problem == nil)
    }
}
