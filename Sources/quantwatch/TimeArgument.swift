import Documents
import Foundation

/// A point in time on the command line: RFC 3339 (`2026-11-29T03:00:00Z`), Unix milliseconds, or an
/// age (`90s`, `30m`, `2h`, `7d`: that long before now).
enum TimeArgument {
    static func milliseconds(_ text: String, now: Int64 = Int64(Date().timeIntervalSince1970 * 1000)) throws -> Int64 {
        if let ms = Int64(text) { return ms }
        if let unit = text.last, let value = Double(text.dropLast()), value >= 0 {
            let scale: Double? = ["s": 1, "m": 60, "h": 3600, "d": 86400][String(unit)]
            if let scale { return now - Int64(value * scale * 1000) }
        }
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        formatter.formatOptions = [.withInternetDateTime]
        if let date = formatter.date(from: text) { return Int64((date.timeIntervalSince1970 * 1000).rounded()) }
        throw CLIError("'\(text)' is not a time; expected RFC 3339 (2026-11-29T03:00:00Z), Unix milliseconds, or an age such as 30m, 2h, 7d")
    }
}
