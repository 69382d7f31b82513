import CMosquitto

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif

/// What went wrong on the MQTT link: the code libmosquitto, the broker or the system gave, and a
/// message naming the broker URL (or the file, or the setting) and what happened.
public struct MQTTError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Where the number in an error comes from.
    public enum Code: Sendable, Equatable {
        /// A libmosquitto return code (`MOSQ_ERR_*`), e.g. `MOSQ_ERR_NO_CONN`.
        case library(Int32)
        /// The broker's refusal in CONNACK: an MQTT 5 reason code (e.g. 134, bad user name or
        /// password) or an MQTT 3.1.1 return code (e.g. 4).
        case connack(Int32)
        /// An MQTT 5 reason code the broker sent in DISCONNECT or in a PUBACK (≥ 128 is a failure).
        case reason(Int32)
        /// A system error (`errno`), e.g. ECONNREFUSED.
        case system(Int32)
        /// The configuration is wrong (a URL, a file, a setting); nothing was sent.
        case configuration
    }

    public var code: Code
    /// What happened, for a person: names the broker URL, file or setting.
    public var message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }

    public var description: String { message }

    /// Whether this is libmosquitto's "not connected" (`MOSQ_ERR_NO_CONN`): the message was not
    /// taken, keep it buffered and publish it after the next `.connected` event.
    public var isNotConnected: Bool { code == .library(MOSQ_ERR_NO_CONN.rawValue) }

    /// A configuration error.
    static func configuration(_ message: String) -> MQTTError { MQTTError(.configuration, message) }
}

/// What a libmosquitto number is, for `mqttError`.
enum MosquittoStatus {
    /// A return code of a libmosquitto call, or the `rc` of its on_disconnect callback.
    /// `MOSQ_ERR_ERRNO` is read together with the `errno` the call left (pass it in `errno`).
    case returnCode(Int32, errno: Int32 = 0)
    /// The reason / return code of a refused CONNACK (MQTT 5 reason codes or 3.1.1 return codes).
    case connack(Int32, MQTTProtocolVersion)
    /// An MQTT 5 reason code from a DISCONNECT or PUBACK.
    case reason(Int32)
}

/// The one place where libmosquitto's numbers become `MQTTError`s (return codes through
/// `mosquitto_strerror`, CONNACK codes through `mosquitto_reason_string` /
/// `mosquitto_connack_string`, MQTT 5 reason codes through `mosquitto_reason_string`).
///
/// - Parameters:
///   - status: the number and what kind of number it is.
///   - url: the broker URL, named in every message.
///   - doing: what we were doing, e.g. "connecting", "publishing to quantwatch/dev1/metrics".
///   - detail: what libmosquitto logged at error level just before (OpenSSL's reason for a TLS failure).
///   - caFile: the CA file in use, named in a TLS verification failure.
func mqttError(_ status: MosquittoStatus, url: String, doing: String, detail: String? = nil, caFile: String? = nil) -> MQTTError {
    let prefix = "MQTT \(url): \(doing) failed"
    switch status {
    case .returnCode(let rc, let savedErrno):
        if rc == MOSQ_ERR_ERRNO.rawValue {
            let text = String(cString: strerror(savedErrno))
            return MQTTError(.system(savedErrno), "\(prefix): \(text) (errno \(savedErrno))")
        }
        if rc == MOSQ_ERR_TLS.rawValue {
            let reason = detail.map { " (\($0))" } ?? ""
            let verification = detail.map { $0.contains("verify") || $0.contains("certificate") } ?? true
            let what = verification
                ? "TLS verification failed\(reason): the broker's certificate is not trusted by "
                    + (caFile.map { "the CA in \($0)" } ?? "the system's CA certificates")
                    + " or does not name the host"
                : "TLS handshake failed\(reason)"
            return MQTTError(.library(rc), "\(prefix): \(what)")
        }
        if rc >= 128 {  // on_disconnect passes the MQTT 5 reason code of a broker's DISCONNECT
            return mqttError(.reason(rc), url: url, doing: doing)
        }
        var text = String(cString: mosquitto_strerror(rc))
        if let detail { text += " (\(detail))" }
        return MQTTError(.library(rc), "\(prefix): \(text) (libmosquitto error \(rc))")
    case .connack(let code, let version):
        let text = String(cString: version == .v5 ? mosquitto_reason_string(code) : mosquitto_connack_string(code))
        return MQTTError(.connack(code), "\(prefix): the broker refused the connection: \(text) (CONNACK \(code))")
    case .reason(let code):
        let text = String(cString: mosquitto_reason_string(code))
        return MQTTError(.reason(code), "\(prefix): \(text) (MQTT reason code \(code))")
    }
}
