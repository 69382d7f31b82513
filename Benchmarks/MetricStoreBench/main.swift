// metricstore-bench: MetricStore outbox throughput on this machine (see docs/store.md).
//
//   swift build -c release --product metricstore-bench
//   .build/release/metricstore-bench [--rows N] [--payload BYTES] [--sync full|normal] [--dir DIR]
//
// For each batch size (documents per commit: 1, 10, 100, 1000) on a new file in DIR (default: the
// system temporary directory): commit N documents of about BYTES each (default 20000 of 1024; a
// tenth of N for batch size 1), then deliver them all as a publisher does — `pending(limit: B)`
// then `markDelivered` of those B — for B = the same batch size. Then the cap's steady state:
// a 8 MiB cap, 4× that written in batches of 100, every commit dropping the oldest.
// Rates are rows per second of wall-clock time, one run each; the WAL is on and synchronous is FULL
// (one fsync per commit) unless --sync normal.
import Foundation
import MetricStore

struct Arguments {
    var rows = 20_000
    var payload = 1024
    var synchronous = MetricStore.Synchronous.full
    var directory = FileManager.default.temporaryDirectory.path

    init() {
        var iterator = CommandLine.arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--rows": rows = Int(iterator.next() ?? "") ?? rows
            case "--payload": payload = Int(iterator.next() ?? "") ?? payload
            case "--sync": synchronous = iterator.next() == "normal" ? .normal : .full
            case "--dir": directory = iterator.next() ?? directory
            default:
                FileHandle.standardError.write(Data("usage: metricstore-bench [--rows N] [--payload BYTES] [--sync full|normal] [--dir DIR]\n".utf8))
                exit(2)
            }
        }
    }
}

func seconds(_ body: () throws -> Void) rethrows -> Double {
    let start = DispatchTime.now().uptimeNanoseconds
    try body()
    return Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9
}

func batch(_ documents: Int, payload: String, index: Int) -> MetricStore.Batch {
    let ms = MetricStore.wallClockMilliseconds()
    return MetricStore.Batch(
        window: .init(startMs: ms - 1000, endMs: ms, modelSHA256: "bench", json: #"{"window":\#(index)}"#),
        documents: (0..<documents).map { _ in
            MetricStore.Document(topic: "metrics", tsMs: ms) { seq in #"{"seq":\#(seq),"ts_ms":\#(ms),"data":"\#(payload)"}"# }
        })
}

func rate(_ rows: Int, _ seconds: Double) -> String {
    String(format: "%9.0f rows/s  (%d rows in %.2f s)", Double(rows) / seconds, rows, seconds)
}

let arguments = Arguments()
let payload = String(repeating: "m", count: max(0, arguments.payload - 50))
let directory = arguments.directory + "/metricstore-bench-\(getpid())"
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }

print("MetricStore benchmark: SQLite \(SQLiteLibrary.version), WAL, synchronous=\(arguments.synchronous.rawValue), "
    + "documents of \(arguments.payload) bytes, files in \(arguments.directory)")
for batchSize in [1, 10, 100, 1000] {
    let path = "\(directory)/b\(batchSize).db"
    let store = try MetricStore(options: .init(path: path, byteCap: 1 << 30, synchronous: arguments.synchronous))
    let rows = batchSize == 1 ? arguments.rows / 10 : arguments.rows
    let commits = rows / batchSize
    let insert = try seconds {
        for index in 0..<commits { try store.commit(batch(batchSize, payload: payload, index: index)) }
    }
    var markOnly = 0.0
    var delivered = 0
    let deliver = try seconds {
        while true {
            let pending = try store.pending(limit: batchSize)
            if pending.isEmpty { break }
            markOnly += try seconds { delivered += try store.markDelivered(pending.map(\.seq)) }
        }
    }
    precondition(delivered == commits * batchSize)
    print("batch \(String(batchSize).padding(toLength: 4, withPad: " ", startingAt: 0))"
        + "  insert \(rate(commits * batchSize, insert))"
        + "  deliver \(rate(delivered, deliver))  markDelivered alone \(String(format: "%.0f", Double(delivered) / markOnly)) rows/s")
    store.close()
}

do {
    let cap: Int64 = 8 << 20
    let store = try MetricStore(options: .init(path: "\(directory)/cap.db", byteCap: cap, synchronous: arguments.synchronous))
    let batchSize = 100
    let commits = Int(4 * cap) / (batchSize * arguments.payload)
    var dropped = 0
    var largest: Int64 = 0
    let insert = try seconds {
        for index in 0..<commits {
            dropped += try store.commit(batch(batchSize, payload: payload, index: index)).dropped?.count ?? 0
            largest = max(largest, (try? FileManager.default.attributesOfItem(atPath: "\(directory)/cap.db")[.size] as? Int64) ?? 0)
        }
    }
    print("at the cap (8 MiB, 4x written, batch 100): insert \(rate(commits * batchSize, insert)), "
        + "\(dropped) dropped, largest file \(largest) bytes")
}
