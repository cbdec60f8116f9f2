// mledit's own parallelism. OpenBLAS is pinned to one thread (its split of a product depends on
// its thread count, and so would every result); work is divided at mledit's level instead, into
// pieces whose boundaries depend only on the problem (facts, corpus sequences, column tiles of a
// GEMM), never on how many threads run them. Each piece writes only its own outputs, and pieces
// are combined in index order, so every floating-point reduction happens in the same order
// whatever `count` is: the same inputs give the same bytes, hence the same commit id.
import COpenBLAS
import Foundation
import Synchronization

/// The worker threads mledit computes with.
public enum ComputeThreads {
    /// The environment variable that sets `count` (like `--threads`).
    public static let variable = "MLEDIT_THREADS"

    nonisolated(unsafe) private static var configured: Int?
    private static let pinBLAS: Void = { openblas_set_num_threads(1) }()

    /// Worker threads: the configured count, else every core.
    public static var count: Int { configured ?? ProcessInfo.processInfo.activeProcessorCount }

    /// Sets the worker count (≥ 1) and pins OpenBLAS to one thread. Call before any work starts.
    public static func configure(count: Int?) {
        pinBLASToOneThread()
        configured = count.map { max(1, $0) }
    }

    /// A thread count from `--threads` or MLEDIT_THREADS: a positive integer, or nil.
    public static func parse(_ text: String) -> Int? {
        guard let value = Int(text.trimmingCharacters(in: .whitespaces)), value >= 1, value <= 1024 else { return nil }
        return value
    }

    /// OpenBLAS at one thread, whatever OPENBLAS_NUM_THREADS says; idempotent and cheap.
    @inline(__always) public static func pinBLASToOneThread() { _ = pinBLAS }

    /// Runs `body(i)` for every i in 0..<n on up to `count` threads and returns when all are done.
    /// Pieces are taken in index order by whichever thread is free; `body` must write only what
    /// piece i owns. Inside a piece, a nested call runs its pieces on the calling thread.
    public static func forEach(_ n: Int, _ body: (Int) -> Void) {
        pinBLASToOneThread()
        let workers = min(count, n)
        if workers <= 1 || WorkerPool.insidePiece {
            for i in 0..<n { body(i) }
            return
        }
        if !WorkerPool.shared(helpers: workers - 1).run(n, helpers: workers - 1, body) {
            for i in 0..<n { body(i) }   // the pool serves another thread's call
        }
    }

    /// `forEach` collecting one result per piece, in index order.
    public static func map<T>(_ n: Int, _ body: (Int) -> T) -> [T] {
        let results = UnsafeMutableBufferPointer<T?>.allocate(capacity: n)
        results.initialize(repeating: nil)
        defer {
            results.deinitialize()
            results.deallocate()
        }
        nonisolated(unsafe) let slots = results
        forEach(n) { i in slots[i] = body(i) }
        return results.map { $0! }
    }
}

/// Persistent helper threads for `forEach`. A product of a δ step takes a millisecond or two, so
/// handing pieces to threads must cost microseconds: helpers spin briefly on the generation
/// counter before they sleep, and a job's pieces are claimed through one lock-protected counter
/// tagged with the job's generation, so a late helper can never run a piece of a finished job.
final class WorkerPool: @unchecked Sendable {
    private let lock = NSCondition()
    private let generation = Atomic<Int>(0)
    // Guarded by `lock`.
    private var job: ((Int) -> Void)?
    private var jobGeneration = 0
    private var pieceCount = 0
    private var nextPiece = 0
    private var finishedPieces = 0
    private var admitted = 0          // helpers that may still join the current job
    private var present = 0           // helpers inside the current job
    private var helperCount = 0
    private var busy = false          // a caller's job is running

    nonisolated(unsafe) private static var pool: WorkerPool?
    private static let poolLock = NSLock()
    private static let insideKey = "mledit.compute-threads.inside"

    /// Whether the calling thread is running a piece (nested calls run serially).
    static var insidePiece: Bool { Thread.current.threadDictionary[insideKey] != nil }

    /// The process's pool, grown to at least `helpers` helper threads.
    static func shared(helpers: Int) -> WorkerPool {
        poolLock.lock()
        defer { poolLock.unlock() }
        let pool = self.pool ?? WorkerPool()
        self.pool = pool
        pool.grow(to: helpers)
        return pool
    }

    private func grow(to helpers: Int) {
        lock.lock()
        defer { lock.unlock() }
        while helperCount < helpers {
            helperCount += 1
            let thread = Thread { [unowned self] in self.helperLoop() }
            thread.stackSize = 8 << 20
            thread.start()
        }
    }

    /// Runs pieces 0..<n on the calling thread and up to `helpers` helpers, and returns true; or
    /// returns false at once, running nothing, while the pool serves another thread's call.
    func run(_ n: Int, helpers: Int, _ body: (Int) -> Void) -> Bool {
        withoutActuallyEscaping(body) { body in
            lock.lock()
            if busy {
                lock.unlock()
                return false
            }
            busy = true
            job = body
            jobGeneration += 1
            pieceCount = n
            nextPiece = 0
            finishedPieces = 0
            admitted = helpers
            present = 0
            generation.store(jobGeneration, ordering: .releasing)
            lock.broadcast()
            lock.unlock()
            work(generation: jobGeneration, body)
            // Wait until every piece is done and no helper still holds the job.
            var spins = 0
            while true {
                lock.lock()
                let done = finishedPieces == pieceCount && present == 0
                if done {
                    job = nil
                    admitted = 0
                    busy = false
                }
                lock.unlock()
                if done { break }
                spins += 1
                if spins > 2000 { sched_yield() }
            }
            return true
        }
    }

    /// Claims and runs pieces of job `generation` until none is left.
    private func work(generation: Int, _ body: (Int) -> Void) {
        let dictionary = Thread.current.threadDictionary
        let outer = dictionary[Self.insideKey]
        dictionary[Self.insideKey] = true
        defer { dictionary[Self.insideKey] = outer }
        while true {
            lock.lock()
            guard jobGeneration == generation, nextPiece < pieceCount else {
                lock.unlock()
                return
            }
            let piece = nextPiece
            nextPiece += 1
            lock.unlock()
            body(piece)
            lock.lock()
            finishedPieces += 1
            lock.unlock()
        }
    }

    /// Marks a helper out of the current job (after its reference to the job is released).
    @inline(never)
    private func leave() {
        lock.lock()
        present -= 1
        lock.unlock()
    }

    private func helperLoop() {
        var seen = 0
        while true {
            var spins = 0
            while generation.load(ordering: .acquiring) == seen {
                spins += 1
                if spins > 400_000 {
                    lock.lock()
                    while generation.load(ordering: .acquiring) == seen { lock.wait() }
                    lock.unlock()
                }
            }
            seen = joinCurrentJob()
        }
    }

    /// Runs the current job's pieces when admitted, then leaves it; returns its generation.
    private func joinCurrentJob() -> Int {
        let (current, joined) = runAdmitted()
        if joined { leave() }   // only now: runAdmitted's reference to the job is released
        return current
    }

    /// The caller's closure must not outlive its `run`, so the reference taken here ends with
    /// this function, before `leave` tells `run` the helper is out.
    @inline(never)
    private func runAdmitted() -> (generation: Int, joined: Bool) {
        lock.lock()
        let current = jobGeneration
        guard admitted > 0, let body = job else {
            lock.unlock()
            return (current, false)
        }
        admitted -= 1
        present += 1
        lock.unlock()
        work(generation: current, body)
        return (current, true)
    }
}
