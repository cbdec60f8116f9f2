// `mledit report`: one self-contained HTML page about a repository's history and the health of
// its versions (see HealthReportPage). Missing health metrics are measured and stored first,
// which loads the base model; a report of an already measured history reads the ledger only.
import Checkpoints
import Foundation
import MLEdit
import Ledger

enum ReportCommand {
    static let spec = CommandSpec(
        name: "report",
        abstract: "Write an HTML page with the history graph and the health of each version.",
        discussion: """
        The page shows every commit as a node of the history graph (parent edges, branch and tag labels, efficacy and \
        retention), and along the lineage of REV charts of the probe perplexity, the general-knowledge accuracy (facts the \
        base model knew, still known), the cumulative delta norm of each edited tensor, efficacy and retention. It has no external assets: inline CSS and SVG only. Health metrics missing from the \
        ledger are measured (as 'mledit log --health' does) and stored.
        """,
        options: [
            OptionSpec(["--output", "-o"], value: "FILE", help: "Where to write the page (required)."),
            OptionSpec(["--at"], value: "REV", help: "The lineage the charts follow (default HEAD)."),
            OptionSpec(["--force"], help: "Replace FILE even when it is not a page mledit wrote."),
        ],
        run: run)

    static func run(_ arguments: ParsedArguments, _ console: Console) throws {
        guard let output = arguments.value("--output") else { throw UsageError("missing option --output FILE", command: "report") }
        let repository = try RepositoryLocator.require(console)
        let url = console.url(forPath: output)
        try OutputSafety.check(url, kind: .file(isPreviousOutput: HealthReportPage.isPage), repository: repository,
                               models: try OutputSafety.checkpoints(source: nil, repository: repository),
                               force: arguments.flag("--force"))
        let revision = arguments.value("--at") ?? "HEAD"
        let tip: String
        if revision == "HEAD" {
            guard let id = try repository.head().commitID else {
                throw CommandFailure("HEAD has no commits yet: nothing to report")
            }
            tip = id
        } else {
            tip = try RevisionFormatting.resolve(revision, in: repository)
        }
        let commits = try repository.allCommits()
        let lineage = try repository.lineage(of: tip)
        let metrics = try HealthCheck.metrics(of: commits.map(\.id), repository: repository, session: console.session)
        let page = HealthReportPage(commits: commits, lineage: lineage, metrics: metrics,
                                    decorations: try RevisionFormatting.decorations(repository),
                                    repositoryPath: repository.root.path, revision: revision)
        do {
            try AtomicFile.write(Data(page.render().utf8), to: url)
        } catch let error as CheckpointError {
            throw CommandFailure("\(url.path): cannot write the report: \(error)")
        }
        console.print("Wrote \(output): \(commits.count) commit\(commits.count == 1 ? "" : "s"), lineage of \(revision) (\(lineage.count) commit\(lineage.count == 1 ? "" : "s")).")
    }
}
