// The systemd notify protocol (sd_notify(3)), implemented directly: one datagram of newline-separated
// VARIABLE=value assignments to the AF_UNIX socket named by $NOTIFY_SOCKET. No libsystemd.
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failure to send a notification (the only place this file's C return codes become errors).
public struct SystemdNotifierError: Error, Sendable, Equatable, CustomStringConvertible {
    public let socket: String
    public let message: String
    public var description: String { "NOTIFY_SOCKET \(socket): \(message)" }
}

/// Tells systemd (`Type=notify`) about the daemon's state: `READY=1` once the model is loaded and
/// the store open, `STATUS=` lines, `WATCHDOG=1` keep-alives, `RELOADING=1` (with `MONOTONIC_USEC`)
/// on SIGHUP, `STOPPING=1` on SIGTERM.
///
/// `NOTIFY_SOCKET` is a filesystem path (`/run/systemd/notify`) or, with a leading `@`, a name in
/// the abstract socket namespace. When it is unset (the daemon was not started by systemd), every
/// call does nothing. The socket is opened once; a send allocates nothing but the message's bytes.
public final class SystemdNotifier: @unchecked Sendable {
    /// `NOTIFY_SOCKET` as given, nil when notifications are off.
    public let socket: String?
    private var address = sockaddr_un()
    private var addressLength = socklen_t(0)
    private let descriptor: Int32

    /// From the environment (`NOTIFY_SOCKET`).
    public convenience init(environment: [String: String]) throws(SystemdNotifierError) {
        try self.init(socket: environment["NOTIFY_SOCKET"])
    }

    /// `socket`: a path, `@name` (abstract namespace), or nil/empty (notifications off).
    public init(socket: String?) throws(SystemdNotifierError) {
        guard let socket, !socket.isEmpty else {
            self.socket = nil
            descriptor = -1
            return
        }
        self.socket = socket
        address.sun_family = sa_family_t(AF_UNIX)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        let abstract = socket.hasPrefix("@")
        var bytes = Array(socket.utf8)
        if abstract { bytes[0] = 0 }   // abstract namespace: a leading NUL, no terminator
        guard bytes.count < capacity else {
            throw SystemdNotifierError(socket: socket, message: "the address is \(bytes.count) bytes; an AF_UNIX address holds at most \(capacity - 1)")
        }
        guard abstract || socket.hasPrefix("/") else {
            throw SystemdNotifierError(socket: socket, message: "expected an absolute path or @name (abstract namespace)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            for (i, b) in bytes.enumerated() { path[i] = b }
        }
        let pathOffset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
        addressLength = socklen_t(pathOffset + bytes.count + (abstract ? 0 : 1))
        #if canImport(Glibc)
        let type = Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue)
        #else
        let type = SOCK_DGRAM
        #endif
        descriptor = Glibc.socket(AF_UNIX, type, 0)
        guard descriptor >= 0 else {
            throw SystemdNotifierError(socket: socket, message: "socket(AF_UNIX, SOCK_DGRAM) failed: \(String(cString: strerror(errno)))")
        }
    }

    deinit { if descriptor >= 0 { close(descriptor) } }

    /// Whether notifications go anywhere.
    public var isEnabled: Bool { socket != nil }

    /// Sends newline-separated assignments as one datagram (`"READY=1\nSTATUS=…"`).
    public func notify(_ assignments: String) throws(SystemdNotifierError) {
        guard let socket else { return }
        var message = assignments
        let sent = message.withUTF8 { text in
            withUnsafePointer(to: &address) { pointer in
                pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                    sendto(descriptor, text.baseAddress, text.count, Int32(MSG_NOSIGNAL), sa, addressLength)
                }
            }
        }
        guard sent >= 0 else {
            throw SystemdNotifierError(socket: socket, message: "sendto failed: \(String(cString: strerror(errno)))")
        }
    }

    /// `READY=1`, with a status line: start-up is complete (the model loaded, the store open).
    public func ready(status: String? = nil) throws(SystemdNotifierError) {
        try notify("READY=1" + (status.map { "\nSTATUS=" + Self.line($0) } ?? ""))
    }

    /// `STATUS=…`: one line `systemctl status` shows.
    public func status(_ text: String) throws(SystemdNotifierError) { try notify("STATUS=" + Self.line(text)) }

    /// `WATCHDOG=1`: the keep-alive, sent from the inference loop at `watchdogInterval`.
    public func watchdog() throws(SystemdNotifierError) { try notify("WATCHDOG=1") }

    /// `STOPPING=1` (on SIGTERM, before the buffer is flushed).
    public func stopping(status: String? = nil) throws(SystemdNotifierError) {
        try notify("STOPPING=1" + (status.map { "\nSTATUS=" + Self.line($0) } ?? ""))
    }

    /// `RELOADING=1` with `MONOTONIC_USEC` (CLOCK_MONOTONIC now, as `Type=notify-reload` requires);
    /// send `ready()` when the reload is done.
    public func reloading(status: String? = nil) throws(SystemdNotifierError) {
        try notify("RELOADING=1\nMONOTONIC_USEC=\(Self.monotonicMicroseconds())" + (status.map { "\nSTATUS=" + Self.line($0) } ?? ""))
    }

    /// CLOCK_MONOTONIC in microseconds.
    public static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1000
    }

    /// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, when it is set, a positive integer,
    /// and `WATCHDOG_PID` is unset or this process's id (`pid`). Otherwise nil (no watchdog).
    public static func watchdogInterval(environment: [String: String], pid: Int32 = getpid()) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], !owner.isEmpty {
            guard let id = Int32(owner), id == pid else { return nil }
        }
        return .microseconds(Int64(usec / 2))
    }

    /// A status is one line: newlines would start new assignments.
    static func line(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 })
    }
}
