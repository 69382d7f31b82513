// metricstore-stress: the child process MetricStoreTests' kill test SIGKILLs at random moments.
//
//   metricstore-stress DB_PATH [SEED]
//   metricstore-stress --open DB_PATH      (opens the store once and prints `recovery <reason> <moved to>`
//                                           or `no recovery`: the permission test runs it as another user)
//
// Opens the store and commits batches in a loop, forever: a window row, 1–4 documents, sometimes
// an event, a shadow sample (the store keeps 20). After each commit returns it prints
// `C <first seq> <last seq>`; every fifth commit it marks the 3 oldest pending documents
// delivered, printing `d <last seq>` before and `D <last seq>` after. Each line is written with
// write(2) before the next store call, so what the parent reads was committed (for `d`: may have been).
#if canImport(Glibc)
import Glibc
#endif
import MetricStore

/// Writes a line straight to a file descriptor (no stdio buffer: it is out before the next call).
func emit(_ line: String, to descriptor: Int32 = 1) {
    var text = line + "\n"
    text.withUTF8 { bytes in _ = write(descriptor, bytes.baseAddress, bytes.count) }
}

/// SplitMix64.
struct Generator {
    var state: UInt64

    mutating func next(_ bound: Int) -> Int {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return Int((z ^ (z >> 31)) % UInt64(bound))
    }
}

func run(path: String, seed: UInt64) throws -> Never {
    var random = Generator(state: seed)
    let store = try MetricStore(options: .init(path: path, shadowSampleLimit: 20))
    if let recovery = store.recovery {
        // The parent treats this as a failure: a SIGKILL must never damage the file.
        emit("recovered: \(recovery)", to: 2)
        exit(3)
    }
    emit("open \(try store.nextSeq)")
    var commits = 0
    while true {
        let ms = MetricStore.wallClockMilliseconds()
        let filler = String(repeating: "x", count: random.next(600))
        let documents = (0..<(1 + random.next(4))).map { index in
            MetricStore.Document(topic: index == 0 ? "metrics" : "layers", tsMs: ms) { seq in
                #"{"seq":\#(seq),"ts_ms":\#(ms),"pad":"\#(filler)"}"#
            }
        }
        let batch = MetricStore.Batch(
            window: .init(startMs: ms - 1000, endMs: ms, modelSHA256: "stress", json: #"{"frames":\#(random.next(100))}"#),
            documents: documents,
            events: random.next(3) == 0 ? [.init(tsMs: ms, kind: "drift", json: "{}")] : [],
            shadowSamples: [.init(tsMs: ms, modelSHA256: "stress", json: "{}", data: [UInt8](repeating: 7, count: random.next(2000)))])
        let result = try store.commit(batch)
        emit("C \(result.seqs.lowerBound) \(result.seqs.upperBound - 1)")
        commits += 1
        if commits % 5 == 0 {
            let pending = try store.pending(limit: 3)
            if let last = pending.last?.seq {
                emit("d \(last)")
                try store.markDelivered(pending.map(\.seq))
                emit("D \(last)")
            }
        }
    }
}

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    emit("usage: metricstore-stress DB_PATH [SEED] | --open DB_PATH", to: 2)
    exit(2)
}
do {
    if arguments[1] == "--open", arguments.count == 3 {
        let store = try MetricStore(options: .init(path: arguments[2]))
        emit(store.recovery.map { "recovery \($0.reason.rawValue) \($0.movedTo)" } ?? "no recovery")
        try store.commit(.init(documents: [.init(topic: "metrics", tsMs: 0) { "\($0)" }]))
        exit(0)
    }
    try run(path: arguments[1], seed: arguments.count >= 3 ? UInt64(arguments[2]) ?? 1 : 1)
} catch {
    emit("metricstore-stress: \(error)", to: 2)
    exit(1)
}
