import Foundation
import Glibc
import QuantWatchDaemon
import Testing

/// A datagram socket the test binds (a path, or "@name" in the abstract namespace) and reads from,
/// standing in for systemd's notify socket.
final class NotifySocket {
    let fd: Int32
    let name: String

    init(_ name: String) throws {
        self.name = name
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(name.utf8)
        if name.hasPrefix("@") { bytes[0] = 0 }
        withUnsafeMutableBytes(of: &address.sun_path) { for (i, b) in bytes.enumerated() { $0[i] = b } }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + (name.hasPrefix("@") ? 0 : 1))
        let bound = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) } }
        guard bound == 0 else { throw POSIXError(.init(rawValue: errno)!) }
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit {
        close(fd)
        if !name.hasPrefix("@") { unlink(name) }
    }

    /// The next datagram's text.
    func receive() -> String? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        let n = recv(fd, &buffer, buffer.count, 0)
        return n < 0 ? nil : String(decoding: buffer[0..<n], as: UTF8.self)
    }
}

@Suite struct SystemdNotifierTests {
    @Test func notificationsArriveOnAPathSocket() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("qw-notify-\(UUID().uuidString.prefix(8))").path
        let socket = try NotifySocket(path)
        let notifier = try SystemdNotifier(environment: ["NOTIFY_SOCKET": path])
        #expect(notifier.isEnabled)
        try notifier.ready(status: "model digits 1 loaded; store open")
        #expect(socket.receive() == "READY=1\nSTATUS=model digits 1 loaded; store open")
        try notifier.status("42 frames/s\nsecond line")
        #expect(socket.receive() == "STATUS=42 frames/s second line")
        try notifier.watchdog()
        #expect(socket.receive() == "WATCHDOG=1")
        try notifier.stopping(status: "flushing the buffer")
        #expect(socket.receive() == "STOPPING=1\nSTATUS=flushing the buffer")
    }

    @Test func notificationsArriveOnAnAbstractSocketWithReloadingAndItsMonotonicTime() throws {
        let name = "@quantwatch-test-\(UUID().uuidString.prefix(8))"
        let socket = try NotifySocket(name)
        let notifier = try SystemdNotifier(socket: name)
        let before = SystemdNotifier.monotonicMicroseconds()
        try notifier.reloading()
        let after = SystemdNotifier.monotonicMicroseconds()
        let message = try #require(socket.receive())
        let lines = message.split(separator: "\n")
        #expect(lines.first == "RELOADING=1")
        let usec = try #require(lines.dropFirst().first.flatMap { $0.hasPrefix("MONOTONIC_USEC=") ? UInt64($0.dropFirst(15)) : nil })
        #expect(usec >= before && usec <= after)
        try notifier.ready()
        #expect(socket.receive() == "READY=1")
    }

    @Test func withoutNotifySocketEveryCallDoesNothing() throws {
        let notifier = try SystemdNotifier(environment: [:])
        #expect(!notifier.isEnabled)
        try notifier.ready()
        try notifier.watchdog()
        #expect(throws: SystemdNotifierError.self) { try SystemdNotifier(socket: "relative/path") }
        #expect(throws: SystemdNotifierError.self) { try SystemdNotifier(socket: "/" + String(repeating: "x", count: 200)) }
        // Nobody listening: the error names the socket.
        let gone = try SystemdNotifier(socket: "/nonexistent/notify")
        let error = #expect(throws: SystemdNotifierError.self) { try gone.watchdog() }
        #expect(error?.description.hasPrefix("NOTIFY_SOCKET /nonexistent/notify: sendto failed") == true)
    }

    @Test func theWatchdogIsPingedAtHalfOfWatchdogUsecForThisProcessOnly() {
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000"], pid: 7) == .seconds(15))
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "7"], pid: 7) == .seconds(10))
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "20000000", "WATCHDOG_PID": "8"], pid: 7) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "0"], pid: 7) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: ["WATCHDOG_USEC": "soon"], pid: 7) == nil)
        #expect(SystemdNotifier.watchdogInterval(environment: [:], pid: 7) == nil)
    }
}
