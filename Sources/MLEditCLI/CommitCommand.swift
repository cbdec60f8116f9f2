// `mledit commit`: compute the edit of a facts file on top of HEAD and store it as a commit.
import Foundation
import Ledger
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
        subject and prompt of an earlier one supersedes it.
        """,
        arguments: [ArgumentSpec("FACTS", help: "The facts file.")],
        options: [
            WriterLockOption.spec,
            OptionSpec(["--message", "-m"], value: "MSG", help: "Commit message (default: a summary of the facts)."),
            OptionSpec(["--method"], value: "METHOD", help: "rome, memit, emmet or alphaedit (default memit)."),
            OptionSpec(["--layers"], value: "L,...", help: "Edit layers (default: the model's defaults for the method)."),
            OptionSpec(["--hparams"], value: "FILE", help: "JSON object overriding hyperparameters (see 'mledit show --json' for the names)."),
            OptionSpec(["--author"], value: "NAME", help: "Author (default: $MLEDIT_AUTHOR, else $USER)."),
            OptionSpec(["--corpus"], value: "PATH", repeatable: true, help: "Text or JSONL corpus for preservation statistics (default: the Wikipedia sample from scripts/fetch-corpus)."),
            OptionSpec(["--allow-partial"], help: "Record the facts that land and leave out, listed, those that do not even after the second round (default: refuse the commit)."),
            OptionSpec(["--no-verify"], help: "One round, recorded whether or not every fact lands (the verdicts are still reported and stored)."),
            OptionSpec(["--json"], help: "Print the new commit as JSON."),
        ] + HealthCheck.commitOptions,
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        let factsURL = console.url(forPath: arguments.positionals[0])
        let methodName = arguments.value("--method") ?? EditMethod.memit.rawValue
        guard let method = EditMethod(rawValue: methodName.lowercased()) else {
            throw UsageError("unknown method '\(methodName)' (rome, memit, emmet, alphaedit)", command: "commit")
        }
        let timer = StageTimer(console: console)
        let healthLimits = try HealthCheck.limits(arguments)
        let repository = try RepositoryLocator.require(console)
        let requests = try FactsFile.load(path: factsURL.path)
        let lock = try WriterLockOption.acquire(repository, arguments: arguments, console: console, command: "commit")
        defer { withExtendedLifetime(lock) {} }
        let head = try repository.head()
        timer.mark("open")
        var context = try EditContext.load(repository: repository, parentID: head.commitID, console: console)
        timer.mark("load model")
        let h = try EditHyperparameters.resolve(configuration: context.model.configuration, method: method,
                                                file: arguments.value("--hparams").map { console.url(forPath: $0) },
                                                layers: arguments.value("--layers"))
        try FactBounds.check(requests, file: factsURL.path, tokenizer: context.tokenizer,
                             contextLength: context.model.configuration.contextLength, hyperparameters: h)
        let corpus = arguments.values("--corpus").isEmpty ? nil
            : arguments.values("--corpus").map { console.url(forPath: $0).path }
        let statistics = try context.statistics(layers: h.sortedLayers, hyperparameters: h, corpus: corpus, console: console)
        timer.mark("statistics")

        let superseded = try supersededFacts(requests, repository: repository, parentID: head.commitID)
        for (request, old) in superseded {
            console.note("note: \(request.label) supersedes fact \(old.ordinal) of commit \(old.commitID.prefix(10))")
        }
        let bar = ProgressBar(console: console, label: "edit", total: requests.count * 2 + h.layers.count)
        let context0 = context
        let edit = try VerifiedEdit.solve(
            requests: requests, method: method, hyperparameters: h, statistics: statistics,
            memory: { facts in
                let replaced = try supersededFacts(facts, repository: repository, parentID: head.commitID).map(\.1)
                return try context0.memory(layers: h.sortedLayers, method: method, excluding: Set(replaced))
            },
            model: context.model, tokenizer: context.tokenizer, allowPartial: arguments.flag("--allow-partial"),
            retry: !arguments.flag("--no-verify"),
            progress: { step in
                if step.completed == step.total { timer.mark(step.stage.rawValue) }
                switch step.stage {
                case .targets: bar.update(step.completed)
                case .layers: bar.update(requests.count + step.completed)
                default: break
                }
            })
        bar.finish()
        let result = edit.result
        let author = arguments.value("--author") ?? console.environment["MLEDIT_AUTHOR"] ?? console.environment["USER"] ?? "unknown"
        let message = arguments.value("--message") ?? defaultMessage(edit.requests)
        let draft = try CommitDraft(
            parentID: head.commitID, baseModelID: context.baseModel.id, kind: .edit, method: method.rawValue,
            hyperparameters: JSONValue(encoding: edit.hyperparameters, field: "hyperparameters"), contextPrefixes: result.prefixes,
            facts: edit.requests.map(\.ledgerFact), deltas: result.layers.map(\.deltaInput),
            editVectors: result.layers.map(\.editVectors), editTargets: result.editTargets, message: message, author: author,
            efficacy: result.efficacy, verification: edit.ledgerValue)
        let record = try repository.writeCommit(draft)
        timer.mark("write")
        HealthCheck.afterCommit(context: &context, commitID: record.id, limits: healthLimits, console: console)
        timer.mark("health")
        try report(record, edit: edit, head: head, json: arguments.flag("--json"), console: console)
    }

    /// New facts with the subject and prompt of a fact in force, and the fact each replaces.
    static func supersededFacts(_ requests: [EditRequest], repository: Repository,
                                parentID: String?) throws -> [(EditRequest, FactReference)] {
        guard let parentID else { return [] }
        let superseded = Lineage.superseded(by: requests.map(\.ledgerFact), inForce: try repository.facts(inLineageOf: parentID))
        return zip(requests, superseded).compactMap { request, old in old.map { (request, $0) } }
    }

    static func defaultMessage(_ requests: [EditRequest]) -> String {
        let first = requests[0]
        let subject = "\(first.subject): \(first.targetTrue.map { "\($0) → " } ?? "")\(first.targetNew)"
        return requests.count == 1 ? "Edit \(subject)" : "Edit \(subject) and \(requests.count - 1) more"
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
        let branch: String
        switch head {
        case .branch(let name, _): branch = name.replacingOccurrences(of: "refs/heads/", with: "")
        case .detached: branch = "detached HEAD"
        }
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

extension EditRequest {
    var ledgerFact: Fact {
        Fact(subject: subject, prompt: prompt, targetNew: targetNew, targetTrue: targetTrue,
             paraphrases: paraphrases, neighborhood: neighborhood)
    }
}

extension EditResult {
    /// z after the last edit layer, as the ledger stores it.
    var editTargets: EditTargets? {
        guard let last = layers.last?.layer, targets.cols > 0 else { return nil }
        return EditTargets(layer: last, values: targets.toDouble())
    }
}

extension LayerEdit {
    var deltaInput: DeltaInput {
        DeltaInput(tensor: TensorNaming.mlpOutputWeight(layer: layer), layer: layer, u: u.toDouble(), v: v.toDouble())
    }

    var editVectors: EditVectors {
        EditVectors(tensor: TensorNaming.mlpOutputWeight(layer: layer), layer: layer, keys: keys.toDouble(), values: values.toDouble())
    }
}
