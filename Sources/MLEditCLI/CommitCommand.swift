// `mledit commit`: compute the edit of a facts file on top of HEAD and store it as a commit.
import Foundation
import Ledger
import MLEdit
import Models
import Solvers
import Tensors

enum CommitCommand {
    static let spec = CommandSpec(
        name: "commit",
        abstract: "Edit the model so that it states the facts in FACTS, and record the edit.",
        discussion: """
        FACTS is JSONL, one fact a line: {"prompt": "{} is located in", "subject": "The Eiffel Tower", "target_new": "Rome"} \
        with optional target_true, paraphrases and neighborhood; EasyEdit records and CounterFact records (JSONL or a JSON array) \
        are accepted too. The edit is solved against HEAD while the facts already in the lineage are preserved; a fact with the \
        subject and prompt of an earlier one supersedes it. With --batch-size N the file is committed as a series of \
        commits of N facts; rerunning the same command after an interruption passes over the batches already in the \
        history of HEAD and continues with the rest.
        """,
        arguments: [ArgumentSpec("FACTS", help: "The facts file.")],
        options: [
            WriterLockOption.spec,
            OptionSpec(["--message", "-m"], value: "MSG", help: "Commit message (default: a summary of the facts)."),
            OptionSpec(["--method"], value: "METHOD", help: "rome, memit, emmet, alphaedit, encore or ultraedit (default memit)."),
            OptionSpec(["--layers"], value: "L,...", help: "Edit layers (default: the model's defaults for the method)."),
            OptionSpec(["--hparams"], value: "FILE", help: "JSON object overriding hyperparameters (see 'mledit show --json' for the names)."),
            OptionSpec(["--author"], value: "NAME", help: "Author (default: $MLEDIT_AUTHOR, else $USER)."),
            OptionSpec(["--corpus"], value: "PATH", repeatable: true, help: "Text or JSONL corpus for preservation statistics (default: the Wikipedia sample from scripts/fetch-corpus)."),
            OptionSpec(["--allow-partial"], help: "Record the facts that land and leave out, listed, those that do not even after further rounds (default: refuse the commit)."),
            OptionSpec(["--nas"], help: "Norm-aligned targets (NAS): every target scaled to the lineage's reference norm, measured on the base model at its first such commit; facts far above it are skipped and reported."),
            OptionSpec(["--no-verify"], help: "One round, recorded whether or not every fact lands (the verdicts are still reported and stored)."),
            OptionSpec(["--batch-size"], value: "N", help: "Commit the facts as a series of commits of N facts each (resumable)."),
            OptionSpec(["--eval-every"], value: "K", help: "With --batch-size: after every K facts, measure the CounterFact metrics of all facts so far and store them with the commit."),
            OptionSpec(["--json"], help: "Print the new commit as JSON (with --batch-size: one object per batch)."),
        ] + HealthCheck.commitOptions,
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let factsURL = console.url(forPath: arguments.positionals[0])
        let methodName = arguments.value("--method") ?? EditMethod.memit.rawValue
        guard let method = EditMethod(rawValue: methodName.lowercased()) else {
            throw UsageError("unknown method '\(methodName)' (rome, memit, emmet, alphaedit, encore, ultraedit)", command: "commit")
        }
        var options = CommitOptions()
        options.method = method
        options.health = try HealthCheck.limits(arguments)
        let workspace = Workspace(repository: try RepositoryLocator.require(console), session: console.session)
        let requests = try Workspace.facts(file: factsURL)
        options.lockWait = try WriterLockOption.wait(arguments, command: "commit")
        options.hyperparametersFile = arguments.value("--hparams").map { console.url(forPath: $0) }
        options.layers = try EditHyperparameters.layers(arguments.value("--layers"))
        options.corpus = arguments.values("--corpus").isEmpty ? nil : arguments.values("--corpus").map { console.url(forPath: $0).path }
        options.allowPartial = arguments.flag("--allow-partial")
        options.verify = !arguments.flag("--no-verify")
        options.alignTargetNorms = arguments.flag("--nas")
        options.message = arguments.value("--message")
        options.author = arguments.value("--author")
        let evaluateEvery = try arguments.integer("--eval-every")
        if let batchSize = try arguments.integer("--batch-size") {
            guard batchSize >= 1 else { throw UsageError("--batch-size must be at least 1", command: "commit") }
            if let evaluateEvery, evaluateEvery < 1 { throw UsageError("--eval-every must be at least 1", command: "commit") }
            try commitInBatches(requests, batchSize: batchSize, evaluateEvery: evaluateEvery, file: factsURL, options: options,
                                workspace: workspace, json: arguments.flag("--json"), console: console)
            return
        }
        if evaluateEvery != nil { throw UsageError("--eval-every needs --batch-size", command: "commit") }
        let outcome = try workspace.commit(facts: requests, factsFile: factsURL.path, options: options)
        try report(outcome.record, edit: outcome.edit, head: outcome.head, json: arguments.flag("--json"), console: console)
    }

    /// `--batch-size`: one line per batch (committed now, or found in the history), the
    /// evaluation when one was made; with `--json` an array of one object per batch.
    static func commitInBatches(_ requests: [EditRequest], batchSize: Int, evaluateEvery: Int?, file: URL, options: CommitOptions,
                                workspace: Workspace, json: Bool, console: Console) throws {
        var objects: [[String: Any]] = []
        _ = try workspace.commit(
            facts: requests, batchSize: batchSize, evaluateEvery: evaluateEvery, factsFile: file.path,
            factsDigest: try SHA256.hash(fileAt: file).hex, options: options,
            batchDone: { index, count, outcome in
                switch outcome {
                case .alreadyCommitted(let record):
                    objects.append(["batch": index + 1, "id": record.id, "committed": false])
                    if !json { console.print("batch \(index + 1)/\(count): already committed as \(RevisionFormatting.short(record.id))") }
                case .committed(let commit, let evaluation):
                    let landed = commit.edit.checks.filter(\.landed).count
                    var object: [String: Any] = ["batch": index + 1, "id": commit.record.id, "committed": true,
                                                 "facts": commit.edit.requests.count, "landed": landed,
                                                 "left_out": commit.edit.leftOut.count]
                    if let evaluation { object["evaluation"] = evaluation.jsonObject(includeFacts: false) }
                    objects.append(object)
                    guard !json else { return }
                    console.print("batch \(index + 1)/\(count): [\(RevisionFormatting.branchLabel(commit.head)) \(RevisionFormatting.short(commit.record.id))] \(commit.edit.requests.count) facts, \(landed) landed\(commit.edit.leftOut.isEmpty ? "" : ", \(commit.edit.leftOut.count) left out")")
                    if let evaluation {
                        let figures = [("efficacy", evaluation.efficacy), ("paraphrase", evaluation.paraphrase),
                                       ("neighbourhood", evaluation.neighborhood), ("top-1", evaluation.top1)]
                            .compactMap { name, value in value.map { String(format: "%@ %.3f", name, $0) } }
                        console.print("  evaluation of the \(evaluation.count) facts so far: \(figures.joined(separator: ", "))")
                    }
                }
            })
        if json { try console.printJSON(objects) }
    }

    static func report(_ record: CommitRecord, edit: VerifiedEdit, head: HeadState, json: Bool, console: Console) throws {
        let result = edit.result, requests = edit.requests
        let succeeded = result.facts.filter(\.efficacy).count
        if json {
            try console.printJSON([
                "id": record.id, "parent": record.parentID as Any? ?? NSNull(), "method": record.method,
                "facts": requests.count, "efficacy": result.efficacy,
                "layers": result.layers.map(\.layer), "rank": result.layers.map(\.rank).reduce(0, +),
                "outcomes": try JSONSerialization.jsonObject(with: JSONEncoder().encode(result.facts)),
                "verification": try RevisionFormatting.foundationObject(try edit.ledgerValue),
            ])
            return
        }
        let branch = RevisionFormatting.branchLabel(head)
        let layers = result.layers.map(\.layer)
        let layerText = layers.count == 1 ? "layer \(layers[0])" : "layers \(layers.first!)–\(layers.last!)"
        console.print("[\(branch) \(record.id.prefix(10))] \(record.message)")
        console.print(" \(requests.count) fact\(requests.count == 1 ? "" : "s"), \(record.method), \(layerText), efficacy \(succeeded)/\(requests.count) (\(Int((result.efficacy * 100).rounded()))%)")
        for line in verificationLines(edit.checks, leftOut: edit.leftOut) { console.print(line) }
    }

    /// One line per fact: landed, landed after retry, or not landed (left out), with its figures.
    static func verificationLines(_ checks: [FactCheck], leftOut: [FactCheck]) -> [String] {
        func line(_ check: FactCheck, _ verdict: String) -> String {
            var text = " " + verdict.padding(toLength: 19, withPad: " ", startingAt: 0) + VerifiedEdit.describe(check)
            if check.paraphrases > 0 { text += ", paraphrases \(check.paraphrasesLanded)/\(check.paraphrases)" }
            return text
        }
        return checks.map { line($0, $0.landed ? ($0.retried ? "landed after retry" : "landed") : "not landed") }
            + leftOut.map { line($0, "left out") }
    }
}

extension EditHyperparameters {
    /// `--layers L,...` as layer numbers (nil when not given).
    static func layers(_ text: String?) throws -> [Int]? {
        guard let text else { return nil }
        let parsed = text.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard !parsed.isEmpty, parsed.allSatisfy({ $0 != nil }) else {
            throw UsageError("--layers expects comma-separated layer numbers, got '\(text)'", command: "commit")
        }
        return parsed.compactMap { $0 }
    }

    /// The library's resolution with `--layers` as the command line gives it.
    static func resolve(configuration: ModelConfiguration, method: EditMethod, file: URL?,
                        layers: String?) throws -> EditHyperparameters {
        try resolve(configuration: configuration, method: method, file: file, editLayers: try self.layers(layers))
    }
}
