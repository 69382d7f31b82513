// metricstore-bench: MetricStore outbox throughput on this machine (see docs/store.md).
//
//   swift build -c release --product metricstore-bench
//   .build/release/metricstore-bench [--rows N] [--payload BYTES] [--rounds R] [--sync full|normal] [--dir DIR]
//
// First the disk: the latency of 64 fsyncs after a 4 KiB append in DIR (default: the system
// temporary directory), because with synchronous=FULL every commit waits for one.
// Then for each batch size (documents per commit: 1, 10, 100, 1000), R rounds (default 5), each on
// a new file in DIR: commit N documents of about BYTES each (default 20000 of 1024; a tenth of N
// for batch size 1), then deliver them all as a publisher does — `pending(limit: B)` then
// `markDelivered` of those B, for B = the same batch size. Then the cap's steady state: an 8 MiB
// cap, 4× that written in batches of 100, every commit dropping the oldest.
// Rates are rows per second of wall-clock time: the median of the rounds, with their minimum and
// maximum. The WAL is on and synchronous is FULL (one fsync per commit) unless --sync normal.
import Foundation
import MetricStore

struct Arguments {
    var rows = 20_000
    var rounds = 5
    var payload = 1024
    var synchronous = MetricStore.Synchronous.full
    var directory = FileManager.default.temporaryDirectory.path

    init() {
        var iterator = CommandLine.arguments.dropFirst().makeIterator()
        while let argument = iterator.next() {
            switch argument {
            case "--rows": rows = Int(iterator.next() ?? "") ?? rows
            case "--payload": payload = Int(iterator.next() ?? "") ?? payload
            case "--rounds": rounds = max(1, Int(iterator.next() ?? "") ?? rounds)
            case "--sync": synchronous = iterator.next() == "normal" ? .normal : .full
            case "--dir": directory = iterator.next() ?? directory
            default:
                FileHandle.standardError.write(Data("usage: metricstore-bench [--rows N] [--payload BYTES] [--rounds R] [--sync full|normal] [--dir DIR]\n".utf8))
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

/// "median rows/s (min–max)" of per-round rates.
func summary(_ rates: [Double]) -> String {
    let sorted = rates.sorted()
    return String(format: "%.0f (%.0f–%.0f)", sorted[sorted.count / 2], sorted.first!, sorted.last!)
}

/// Milliseconds of `count` fsyncs, each after appending 4 KiB to a file in `directory`.
func fsyncLatencies(_ directory: String, count: Int) -> [Double] {
    let path = directory + "/fsync-probe"
    let descriptor = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    precondition(descriptor >= 0, "cannot create \(path)")
    defer { close(descriptor); unlink(path) }
    let block = [UInt8](repeating: 1, count: 4096)
    return (0..<count).map { _ in
        _ = block.withUnsafeBytes { write(descriptor, $0.baseAddress, 4096) }
        return seconds { fsync(descriptor) } * 1000
    }.sorted()
}

let arguments = Arguments()
let payload = String(repeating: "m", count: max(0, arguments.payload - 50))
let directory = arguments.directory + "/metricstore-bench-\(getpid())"
try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
defer { try? FileManager.default.removeItem(atPath: directory) }

print("MetricStore benchmark: SQLite \(SQLiteLibrary.version), WAL, synchronous=\(arguments.synchronous.rawValue), "
    + "documents of \(arguments.payload) bytes, \(arguments.rounds) rounds, files in \(arguments.directory)")
let fsyncs = fsyncLatencies(directory, count: 64)
print(String(format: "fsync after a 4 KiB append: p50 %.2f ms, p90 %.2f ms, max %.2f ms", fsyncs[32], fsyncs[57], fsyncs[63]))
print("rows/s, median (min–max) of the rounds")
print("batch  insert                    deliver (pending + markDelivered)  markDelivered alone")
for batchSize in [1, 10, 100, 1000] {
    var inserts: [Double] = [], deliveries: [Double] = [], marks: [Double] = []
    let rows = batchSize == 1 ? arguments.rows / 10 : arguments.rows
    let commits = rows / batchSize
    for round in 0..<arguments.rounds {
        let path = "\(directory)/b\(batchSize)-\(round).db"
        let store = try MetricStore(options: .init(path: path, byteCap: 1 << 30, synchronous: arguments.synchronous))
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
        store.close()
        try FileManager.default.removeItem(atPath: path)
        inserts.append(Double(delivered) / insert)
        deliveries.append(Double(delivered) / deliver)
        marks.append(Double(delivered) / markOnly)
    }
    func column(_ text: String, _ width: Int) -> String { text.padding(toLength: width, withPad: " ", startingAt: 0) }
    print(column(String(batchSize), 7) + column(summary(inserts), 26) + column(summary(deliveries), 35) + summary(marks))
}

do {
    let cap: Int64 = 8 << 20
    let path = "\(directory)/cap.db"
    let store = try MetricStore(options: .init(path: path, byteCap: cap, synchronous: arguments.synchronous))
    let batchSize = 100
    let commits = Int(4 * cap) / (batchSize * arguments.payload)
    var dropped = 0
    var largest: Int64 = 0
    let insert = try seconds {
        for index in 0..<commits {
            dropped += try store.commit(batch(batchSize, payload: payload, index: index)).dropped?.count ?? 0
            largest = max(largest, (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int64) ?? 0)
        }
    }
    print("at the cap (\(cap) bytes, 4x written in batches of 100): insert \(String(format: "%.0f", Double(commits * batchSize) / insert)) rows/s, "
        + "\(dropped) of \(commits * batchSize) dropped, largest file \(largest) bytes (cap + \(largest - cap))")
}
