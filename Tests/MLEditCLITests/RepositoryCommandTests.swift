// The everyday repository commands end to end: init (and --relink), log, show, status, checkout,
// branch, tag, fsck and the revision syntax, on repositories created by `mledit init` over the
// tiny-facts-gpt2 fixture, with commits written straight through the Repository API (no solver).
import Foundation
import Ledger
import Tensors
import Testing
@testable import MLEditCLI

/// Repositories for the command tests, and commits written without running the solver.
enum RepositoryFixture {
    static let modelFolder = CLIHarness.fixtures.appendingPathComponent("tiny-facts-gpt2")
    static let modelFile = modelFolder.appendingPathComponent("model.safetensors")
    static let tensor = "blk.1.ffn_down.weight"

    /// A temporary directory with a repository made by `mledit init --model <model>`.
    static func make(model: URL = modelFolder) throws -> URL {
        let directory = try CLIHarness.temporaryDirectory()
        let outcome = CLIHarness.run(["init", "--model", model.path], in: directory)
        try #require(outcome.status == 0, "init failed: \(outcome.stderr)")
        return directory
    }

    /// A copy of the fixture model (weights, config, tokenizer) in `directory`/name, for tests that
    /// move or damage it.
    static func copyModel(into directory: URL, name: String = "model") throws -> URL {
        let folder = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        for file in ["model.safetensors", "config.json", "tokenizer.json", "tokenizer_config.json", "vocab.json", "merges.txt"] {
            try FileManager.default.copyItem(at: modelFolder.appendingPathComponent(file), to: folder.appendingPathComponent(file))
        }
        return folder
    }

    static func fact(_ i: Int) -> Fact {
        Fact(subject: "Subject \(i)", prompt: "{} works as a", targetNew: "baker \(i)", targetTrue: "pilot",
             paraphrases: ["By profession, {} is a"], neighborhood: ["Someone else works as a"])
    }

    /// An edit with a random rank-`facts.count` delta of the fixture's layer-1 MLP output (128 × 512).
    static func draft(parent: String?, facts: [Fact], seed: UInt64, message: String = "edit",
                      efficacy: Double? = 1) -> CommitDraft {
        var generator = SeededGenerator(seed: seed)
        let rank = facts.count
        let u = Matrix<Double>.gaussian(rows: 128, cols: rank, generator: &generator).map { $0 * 0.01 }
        let v = Matrix<Double>.gaussian(rows: 512, cols: rank, generator: &generator).map { $0 * 0.01 }
        let keys = Matrix<Double>.gaussian(rows: 512, cols: rank, generator: &generator)
        let values = Matrix<Double>.gaussian(rows: 128, cols: rank, generator: &generator)
        return CommitDraft(parentID: parent, baseModelID: 1, method: "memit",
                           hyperparameters: .object(["layers": .array([.integer(1)]), "mom2_update_weight": .integer(15000)]),
                           contextPrefixes: ["", "The following is true. "], facts: facts,
                           deltas: [DeltaInput(tensor: tensor, layer: 1, u: u, v: v)],
                           editVectors: [EditVectors(tensor: tensor, layer: 1, keys: keys, values: values)],
                           message: message, author: "tester", efficacy: efficacy)
    }

    /// Writes `count` commits on HEAD of the repository in `directory` (commit i has i + 1 facts).
    @discardableResult
    static func commits(in directory: URL, count: Int, seed: UInt64 = 1) throws -> [CommitRecord] {
        let repository = try Repository.open(at: directory)
        var parent = try repository.head().commitID
        var out: [CommitRecord] = []
        for i in 0..<count {
            let facts = (0...i).map { fact(Int(seed) * 1000 + i * 10 + $0) }
            let record = try repository.writeCommit(draft(parent: parent, facts: facts, seed: seed &+ UInt64(i), message: "edit \(i)"))
            out.append(record)
            parent = record.id
        }
        return out
    }

    static func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8))
    }
}

@Suite("Repository commands")
struct RepositoryCommandTests {
    typealias Fixture = RepositoryFixture

    @Test("init records the base model and refuses a second repository")
    func initRecordsBaseModel() throws {
        let directory = try Fixture.make()
        defer { CLIHarness.cleanUp(directory) }
        let repository = try Repository.open(at: directory)
        let base = try #require(try repository.baseModels().first)
        #expect(base.path == Fixture.modelFile.standardizedFileURL.path)
        #expect(base.sha256 == (try SHA256.hash(fileAt: Fixture.modelFile).hex))
        #expect(base.format == "safetensors")
        #expect(base.architecture == "gpt2")
        #expect(base.configuration["hidden_size"] == .integer(128))
        #expect(base.configuration["layer_count"] == .integer(4))
        #expect(try repository.head() == .branch("refs/heads/main", commitID: nil))

        let again = CLIHarness.run(["init", "--model", Fixture.modelFolder.path], in: directory)
        #expect(again.status == 1)
        #expect(again.stderr.hasPrefix("Error: a repository already exists at"))
        let missing = CLIHarness.run(["init"], in: directory)
        #expect(missing.status == 64)
        let nonexistent = CLIHarness.run(["init", "--model", "no/such/model.gguf", "--dir", "elsewhere"], in: directory)
        #expect(nonexistent.status == 1)
        #expect(nonexistent.stderr.contains("no such file"))
        #expect(!FileManager.default.fileExists(atPath: directory.appendingPathComponent("elsewhere/.mledit").path))
    }

    @Test("init --dir creates the repository there; commands find it from subfolders and through MLEDIT_DIR")
    func initDirAndDiscovery() throws {
        let directory = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(directory) }
        let outcome = CLIHarness.run(["init", "--model", Fixture.modelFile.path, "--dir", "repo"], in: directory)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        let root = directory.appendingPathComponent("repo")
        #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent(".mledit/ledger.sqlite").path))
        let nested = root.appendingPathComponent("a/b")
        try FileManager.default.createDirectory(at: nested, withIntermediateDirectories: true)
        #expect(CLIHarness.run(["status"], in: nested).status == 0)
        #expect(CLIHarness.run(["status"], in: directory, environment: ["MLEDIT_DIR": root.path]).status == 0)
        let outside = CLIHarness.run(["log"], in: directory)
        #expect(outside.status == 1)
        #expect(outside.stderr.contains("not an mledit repository"))
    }

    @Test("init --relink accepts the moved file and refuses a different one")
    func relink() throws {
        let directory = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(directory) }
        let model = try Fixture.copyModel(into: directory)
        let root = directory.appendingPathComponent("repo")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        #expect(CLIHarness.run(["init", "--model", model.path], in: root).status == 0)
        let moved = directory.appendingPathComponent("moved")
        try FileManager.default.moveItem(at: model, to: moved)

        let broken = CLIHarness.run(["status"], in: root)
        #expect(broken.status == 1)
        #expect(broken.stdout.contains("MISSING"))
        #expect(broken.stderr.contains("is missing; if it moved, run 'mledit init --relink NEW_PATH'"))

        let wrong = CLIHarness.run(["init", "--relink", CLIHarness.fixtures.appendingPathComponent("tiny-gpt2").path], in: root)
        #expect(wrong.status == 1)
        #expect(wrong.stderr.contains("matches no base model of this repository"))

        let fixed = CLIHarness.run(["init", "--relink", moved.path], in: root)
        #expect(fixed.status == 0, "\(fixed.stderr)")
        #expect(fixed.stdout.contains("relinked base model"))
        let status = CLIHarness.run(["status"], in: root)
        #expect(status.status == 0)
        #expect(status.stdout.contains("present, SHA-256 matches"))
        #expect(try Repository.open(at: root).baseModels().first?.path == moved.appendingPathComponent("model.safetensors").path)
    }

    @Test("log: empty repository, git-like text, --oneline, -n, REV~N and --json with evaluations")
    func log() throws {
        let directory = try Fixture.make()
        defer { CLIHarness.cleanUp(directory) }
        let empty = CLIHarness.run(["log"], in: directory)
        #expect(empty.status == 0)
        #expect(empty.stdout == "No commits yet on branch main.\n")

        let commits = try Fixture.commits(in: directory, count: 3)
        let text = CLIHarness.run(["log"], in: directory)
        #expect(text.status == 0)
        let headers = text.stdout.split(separator: "\n").filter { $0.hasPrefix("commit ") }
        #expect(headers.map { String($0.split(separator: " ")[1]) } == commits.reversed().map(\.id))
        #expect(headers.first?.hasSuffix("(HEAD -> main)") == true)
        #expect(text.stdout.contains("Parent:   \(commits[1].id)"))
        #expect(text.stdout.contains("Parent:   (root)"))
        #expect(text.stdout.contains("Author:   tester"))
        #expect(text.stdout.contains("Changes:  3 facts, 1 tensor (total rank 3,"))
        #expect(text.stdout.contains("Tensors:  blk.1.ffn_down.weight"))
        #expect(text.stdout.contains("Efficacy: 100% at commit"))
        #expect(text.stdout.contains("    edit 2"))

        let oneline = CLIHarness.run(["log", "--oneline"], in: directory)
        let lines = oneline.stdout.split(separator: "\n")
        #expect(lines.count == 3)
        #expect(lines.first == "\(commits[2].id.prefix(10)) (HEAD -> main) edit 2 [memit, 3 facts]")
        #expect(lines.last == "\(commits[0].id.prefix(10)) edit 0 [memit, 1 fact]")

        #expect(CLIHarness.run(["log", "--oneline", "-n", "2"], in: directory).stdout.split(separator: "\n").count == 2)
        let fromAncestor = CLIHarness.run(["log", "--oneline", "HEAD~1"], in: directory)
        #expect(fromAncestor.stdout.split(separator: "\n").count == 2)
        #expect(fromAncestor.stdout.hasPrefix(String(commits[1].id.prefix(10))))

        let repository = try Repository.open(at: directory)
        try repository.putEvaluation(commit: commits[2].id, datasetDigest: SHA256.hash("dataset").hex,
                                     metrics: .object(["efficacy": .number(0.75), "paraphrase": .number(0.5)]))
        let json = CLIHarness.run(["log", "--json"], in: directory)
        #expect(json.status == 0)
        let entries = try #require(try Fixture.json(json.stdout) as? [[String: Any]])
        #expect(entries.count == 3)
        let newest = entries[0]
        #expect(newest["id"] as? String == commits[2].id)
        #expect(newest["parent"] as? String == commits[1].id)
        #expect(newest["facts"] as? Int == 3)
        #expect(newest["total_rank"] as? Int == 3)
        #expect(newest["kind"] as? String == "edit")
        #expect(newest["method"] as? String == "memit")
        #expect(newest["tensors"] as? [String] == [Fixture.tensor])
        let stored = try repository.deltas(of: commits[2].id).map(\.storedBytes).reduce(0, +)
        #expect(newest["stored_bytes"] as? Int == stored)
        #expect(newest["efficacy_at_commit"] as? Double == 1)
        #expect((newest["efficacy_evaluated"] as? [String: Any])?["efficacy"] as? Double == 0.75)
        #expect(entries[2]["parent"] is NSNull)
        #expect(CLIHarness.run(["log", "--text"], in: directory).status == 64)
    }

    @Test("show: facts, method, hyperparameters, prefixes, deltas; a revert names the reverted commit")
    func show() throws {
        let directory = try Fixture.make()
        defer { CLIHarness.cleanUp(directory) }
        let commits = try Fixture.commits(in: directory, count: 2)
        let outcome = CLIHarness.run(["show", String(commits[1].id.prefix(8))], in: directory)
        #expect(outcome.status == 0, "\(outcome.stderr)")
        #expect(outcome.stdout.hasPrefix("commit \(commits[1].id) (HEAD -> main)"))
        #expect(outcome.stdout.contains("Facts (2):"))
        #expect(outcome.stdout.contains("0. Subject 1010 works as a → baker 1010 (was pilot) [1 paraphrase; 1 neighborhood prompt]"))
        #expect(outcome.stdout.contains("Method: memit"))
        #expect(outcome.stdout.contains("  mom2_update_weight: 15000"))
        #expect(outcome.stdout.contains("Context prefixes: 2"))
        let deltaLine = try #require(outcome.stdout.split(separator: "\n").first { $0.contains("blk.1.ffn_down.weight  128×512") })
        #expect(deltaLine.contains("  2  "))

        let json = CLIHarness.run(["show", "HEAD", "--json"], in: directory)
        let object = try #require(try Fixture.json(json.stdout) as? [String: Any])
        #expect((object["fact_list"] as? [[String: Any]])?.count == 2)
        #expect((object["context_prefixes"] as? [String])?.count == 2)
        #expect((object["hyperparameters"] as? [String: Any])?["layers"] as? [Int] == [1])
        let delta = try #require((object["deltas"] as? [[String: Any]])?.first)
        #expect(delta["shape"] as? [Int] == [128, 512])
        #expect(delta["rank"] as? Int == 2)
        #expect(delta["layer"] as? Int == 1)
        let record = try #require(try Repository.open(at: directory).deltas(of: commits[1].id).first)
        #expect(delta["norm"] as? Double == record.norm)

        // A revert commit (no facts) refers to the commit it takes out.
        let repository = try Repository.open(at: directory)
        var revert = Fixture.draft(parent: commits[1].id, facts: [Fixture.fact(1)], seed: 99, message: "revert edit 0")
        revert.kind = .revert
        revert.facts = []
        revert.editVectors = []
        revert.revertedCommitID = commits[0].id
        let reverted = try repository.writeCommit(revert)
        let shown = CLIHarness.run(["show"], in: directory)
        #expect(shown.stdout.contains("Reverts:  \(commits[0].id)"))
        #expect(shown.stdout.contains("Reverted commit \(commits[0].id.prefix(10)): edit 0 [memit]"))
        #expect(shown.stdout.contains("Facts (0):"))
        let revertJSON = try #require(try Fixture.json(CLIHarness.run(["show", reverted.id, "--json"], in: directory).stdout) as? [String: Any])
        #expect((revertJSON["referenced_commit"] as? [String: Any])?["id"] as? String == commits[0].id)
        #expect(CLIHarness.run(["status"], in: directory).stdout.contains("Facts in force: 2"))
    }

    @Test("status: branch, HEAD, base model, commits and facts in force; detached HEAD")
    func status() throws {
        let directory = try Fixture.make()
        defer { CLIHarness.cleanUp(directory) }
        let empty = CLIHarness.run(["status"], in: directory)
        #expect(empty.status == 0)
        #expect(empty.stdout.contains("On branch main\nNo commits yet\n"))
        let commits = try Fixture.commits(in: directory, count: 3)
        let text = CLIHarness.run(["status"], in: directory)
        #expect(text.stdout.contains("HEAD: \(commits[2].id) edit 2"))
        #expect(text.stdout.contains("Base model: \(Fixture.modelFile.path) (safetensors, gpt2)"))
        #expect(text.stdout.contains("  file: present, SHA-256 matches"))
        #expect(text.stdout.contains("Commits: 3 in the lineage of HEAD, 3 in the repository"))
        #expect(text.stdout.contains("Facts in force: 6"))

        #expect(CLIHarness.run(["checkout", "HEAD~2"], in: directory).status == 0)
        let json = try #require(try Fixture.json(CLIHarness.run(["status", "--json"], in: directory).stdout) as? [String: Any])
        #expect(json["detached"] as? Bool == true)
        #expect(json["branch"] is NSNull)
        #expect(json["head"] as? String == commits[0].id)
        #expect(json["commits_in_lineage"] as? Int == 1)
        #expect(json["commits_in_repository"] as? Int == 3)
        #expect(json["facts_in_force"] as? Int == 1)
        #expect((json["base_model"] as? [String: Any])?["file"] as? String == "ok")
    }

    @Test("checkout: a branch attaches HEAD, anything else detaches it; -b creates and switches")
    func checkout() throws {
        let directory = try Fixture.make()
        defer { CLIHarness.cleanUp(directory) }
        let commits = try Fixture.commits(in: directory, count: 3)
        let repository = try Repository.open(at: directory)

        let detach = CLIHarness.run(["checkout", String(commits[1].id.prefix(6))], in: directory)
        #expect(detach.status == 0, "\(detach.stderr)")
        #expect(detach.stdout == "HEAD is now at \(commits[1].id.prefix(10)) edit 1\n")
        #expect(try repository.head() == .detached(commits[1].id))

        let attach = CLIHarness.run(["checkout", "main"], in: directory)
        #expect(attach.stdout == "Switched to branch 'main'\n")
        #expect(try repository.head() == .branch("refs/heads/main", commitID: commits[2].id))
        #expect(CLIHarness.run(["checkout", "main"], in: directory).stdout == "Already on 'main'\n")

        // main~1 names a commit, not a branch: it detaches.
        #expect(CLIHarness.run(["checkout", "main~1"], in: directory).status == 0)
        #expect(try repository.head() == .detached(commits[1].id))

        let create = CLIHarness.run(["checkout", "-b", "side", "HEAD~1"], in: directory)
        #expect(create.status == 0, "\(create.stderr)")
        #expect(try repository.head() == .branch("refs/heads/side", commitID: commits[0].id))
        let again = CLIHarness.run(["checkout", "-b", "side"], in: directory)
        #expect(again.status == 1)
        #expect(again.stderr == "Error: a branch named 'side' already exists\n")

        let unknown = CLIHarness.run(["checkout", "nowhere"], in: directory)
        #expect(unknown.status == 1)
        #expect(unknown.stderr.contains("unknown revision 'nowhere'"))
        #expect(CLIHarness.run(["checkout"], in: directory).status == 64)
        #expect(try repository.reflog("HEAD").count >= 5)
    }

    @Test("checkout -b on an unborn HEAD switches to a new unborn branch")
    func checkoutUnborn() throws {
        let directory = try Fixture.make()
        defer { CLIHarness.cleanUp(directory) }
        #expect(CLIHarness.run(["checkout", "-b", "first"], in: directory).status == 0)
        let repository = try Repository.open(at: directory)
        #expect(try repository.head() == .branch("refs/heads/first", commitID: nil))
        let commits = try Fixture.commits(in: directory, count: 1)
        #expect(try repository.refCommit("refs/heads/first") == commits[0].id)
        #expect(try repository.refCommit("refs/heads/main") == nil)
    }

    @Test("branch: list with *, create at a revision, delete; the current branch cannot be deleted")
    func branch() throws {
        let directory = try Fixture.make()
        defer { CLIHarness.cleanUp(directory) }
        #expect(CLIHarness.run(["branch"], in: directory).stdout == "* main (no commits yet)\n")
        let noHead = CLIHarness.run(["branch", "early"], in: directory)
        #expect(noHead.status == 1)
        #expect(noHead.stderr.contains("HEAD has no commits yet"))

        let commits = try Fixture.commits(in: directory, count: 2)
        #expect(CLIHarness.run(["branch", "old", "HEAD~1"], in: directory).stdout == "Created branch old at \(commits[0].id.prefix(10)).\n")
        #expect(CLIHarness.run(["branch", "new"], in: directory).status == 0)
        let list = CLIHarness.run(["branch"], in: directory)
        #expect(list.stdout == """
            * main  \(commits[1].id.prefix(10)) edit 1
              new   \(commits[1].id.prefix(10)) edit 1
              old   \(commits[0].id.prefix(10)) edit 0

            """)
        let json = try #require(try Fixture.json(CLIHarness.run(["branch", "--json"], in: directory).stdout) as? [[String: Any]])
        #expect(json.map { $0["name"] as? String } == ["main", "new", "old"])
        #expect(json.map { $0["current"] as? Bool } == [true, false, false])
        #expect(json.last?["commit"] as? String == commits[0].id)

        let duplicate = CLIHarness.run(["branch", "old"], in: directory)
        #expect(duplicate.status == 1)
        let current = CLIHarness.run(["branch", "-d", "main"], in: directory)
        #expect(current.status == 1)
        #expect(current.stderr.contains("is the current branch"))
        let deleted = CLIHarness.run(["branch", "-d", "old"], in: directory)
        #expect(deleted.stdout == "Deleted branch old (was \(commits[0].id.prefix(10))).\n")
        #expect(CLIHarness.run(["branch", "-d", "old"], in: directory).status == 1)
        let invalid = CLIHarness.run(["branch", "bad name"], in: directory)
        #expect(invalid.status == 1)
        #expect(invalid.stderr.contains("invalid ref name 'bad name'"))
    }

    @Test("tag: create at a revision, list, delete; tags resolve as revisions")
    func tag() throws {
        let directory = try Fixture.make()
        defer { CLIHarness.cleanUp(directory) }
        let commits = try Fixture.commits(in: directory, count: 3)
        #expect(CLIHarness.run(["tag", "v1", String(commits[0].id.prefix(5))], in: directory).status == 0)
        #expect(CLIHarness.run(["tag", "v2"], in: directory).stdout == "Tagged \(commits[2].id.prefix(10)) as v2.\n")
        #expect(CLIHarness.run(["tag"], in: directory).stdout == "v1\nv2\n")
        #expect(CLIHarness.run(["tag", "v1"], in: directory).status == 1)
        let oneline = CLIHarness.run(["log", "--oneline"], in: directory).stdout
        #expect(oneline.contains("(HEAD -> main, tag: v2) edit 2"))
        #expect(oneline.contains("(tag: v1) edit 0"))
        #expect(CLIHarness.run(["log", "--oneline", "v2~1"], in: directory).stdout.hasPrefix(String(commits[1].id.prefix(10))))
        #expect(CLIHarness.run(["checkout", "v1"], in: directory).status == 0)
        #expect(try Repository.open(at: directory).head() == .detached(commits[0].id))
        let json = try #require(try Fixture.json(CLIHarness.run(["tag", "--json"], in: directory).stdout) as? [[String: Any]])
        #expect(json.map { $0["commit"] as? String } == [commits[0].id, commits[2].id])
        #expect(CLIHarness.run(["tag", "-d", "v1"], in: directory).stdout == "Deleted tag v1 (was \(commits[0].id.prefix(10))).\n")
        #expect(CLIHarness.run(["tag"], in: directory).stdout == "v2\n")
        #expect(CLIHarness.run(["tag", "-d", "v1"], in: directory).status == 1)
    }

    @Test("revisions: prefixes, ambiguity, out-of-range ancestors give one-line errors")
    func revisions() throws {
        let directory = try Fixture.make()
        defer { CLIHarness.cleanUp(directory) }
        let commits = try Fixture.commits(in: directory, count: 3)
        let full = CLIHarness.run(["show", commits[0].id, "--json"], in: directory)
        #expect((try Fixture.json(full.stdout) as? [String: Any])?["id"] as? String == commits[0].id)
        let short = CLIHarness.run(["log", "abc"], in: directory)
        #expect(short.status == 1)
        #expect(short.stderr.contains("unknown revision 'abc'"))
        let far = CLIHarness.run(["log", "HEAD~5"], in: directory)
        #expect(far.status == 1)
        #expect(far.stderr.contains("asked for ancestor 5 but the lineage has only 2"))
        #expect(far.stderr.split(separator: "\n").count == 1)
    }

    @Test("fsck prints ok on a sound repository")
    func fsckSound() throws {
        let directory = try Fixture.make()
        defer { CLIHarness.cleanUp(directory) }
        try Fixture.commits(in: directory, count: 2)
        let outcome = CLIHarness.run(["fsck"], in: directory)
        #expect(outcome.status == 0)
        #expect(outcome.stdout == "ok\n")
        let json = try #require(try Fixture.json(CLIHarness.run(["fsck", "--json"], in: directory).stdout) as? [String: Any])
        #expect(json["ok"] as? Bool == true)
        #expect((json["problems"] as? [Any])?.isEmpty == true)
    }

    @Test("the real binary: init, log, status, branch and exit codes")
    func binary() throws {
        let directory = try CLIHarness.temporaryDirectory()
        defer { CLIHarness.cleanUp(directory) }
        let created = try CLIHarness.runBinary(["init", "--model", RepositoryFixture.modelFolder.path], in: directory)
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.hasPrefix("Initialized empty mledit repository in \(directory.path)/.mledit"))
        let empty = try CLIHarness.runBinary(["log"], in: directory)
        #expect(empty.status == 0)
        #expect(empty.stdout == "No commits yet on branch main.\n")
        let commits = try Fixture.commits(in: directory, count: 2)
        let log = try CLIHarness.runBinary(["log", "--oneline"], in: directory)
        #expect(log.stdout.split(separator: "\n").count == 2)
        #expect(log.stdout.hasPrefix(String(commits[1].id.prefix(10))))
        let status = try CLIHarness.runBinary(["status", "--json"], in: directory)
        #expect((try Fixture.json(status.stdout) as? [String: Any])?["facts_in_force"] as? Int == 3)
        let bad = try CLIHarness.runBinary(["branch", "-d"], in: directory)
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("See 'mledit branch --help'"))
        let fsck = try CLIHarness.runBinary(["fsck"], in: directory)
        #expect(fsck.status == 0)
        #expect(fsck.stdout == "ok\n")
    }
}
