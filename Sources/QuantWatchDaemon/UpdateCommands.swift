// The model-update transfer over MQTT (docs/model-updates.md): `update_begin`, `update_status`,
// `update_abort` as JSON commands, `update_chunk` as a binary one (no JSON, no reply per chunk), and the
// progress and verdict of a transfer on `reply/update` with the begin's id. The transfer itself is
// ModelUpdate's TransferReceiver; the checks and the install are the injected UpdateAdmission.
import Documents
import Foundation
import Logging
import ModelUpdate
import ServiceLifecycle

public enum UpdateCommands {
    /// `update_begin` carries the header (≤ 64 KiB) and 19 bytes per chunk hash: 64 MiB in 1 KiB chunks
    /// is 1.2 MiB of hashes.
    public static let maxBeginBytes = 2 << 20

    /// A receiver whose progress and verdicts go out through `publisher` as `reply/update` documents.
    public static func receiver(settings: TransferSettings, admission: any UpdateAdmission, publisher: MQTTPublisher,
                                logger: Logger? = nil) -> TransferReceiver {
        TransferReceiver(settings: settings, admission: admission, onEvent: { event in
            let p = event.progress
            if let logger, p.state != .receiving {
                logger.notice("update \(p.transfer?.hex ?? "?"): \(p.state.rawValue)", metadata: p.refusal.map { ["reason": "\($0)"] } ?? [:])
            }
            await publisher.send(reply(to: event))
        })
    }

    /// The `reply/update` document of a progress event or verdict: `refused` is not ok, with the reason.
    public static func reply(to event: TransferEvent) -> CommandReply {
        let p = event.progress
        return CommandReply(name: "update", id: event.replyID, ok: p.state != .refused, error: p.refusal.map { "\($0)" }, result: p.json)
    }

    /// Registers `update_begin`, `update_status`, `update_abort` and the binary `update_chunk`.
    public static func register(_ receiver: TransferReceiver, on dispatcher: CommandDispatcher) async {
        await dispatcher.register("update_begin", maxPayloadBytes: maxBeginBytes) { request in
            let begin: UpdateBegin
            do throws(UpdateRefusal) { begin = try UpdateBegin(json: request.payload) } catch { throw failure(error, transfer: request.body["transfer"]?.string) }
            do throws(UpdateRefusal) { return try await receiver.begin(begin, replyID: request.id).json } catch { throw failure(error, transfer: begin.transfer.hex) }
        }
        await dispatcher.register("update_status") { request in
            var transfer: TransferID?
            if let text = request.body["transfer"]?.string {
                guard let id = TransferID(hex: text) else { throw CommandFailure("transfer '\(text)' is not 32 hex digits") }
                transfer = id
            } else if request.body["transfer"] != nil {
                throw CommandFailure("transfer must be a string of 32 hex digits")
            }
            do throws(UpdateRefusal) { return try await receiver.status(transfer: transfer).json } catch { throw failure(error, transfer: transfer?.hex) }
        }
        await dispatcher.register("update_abort") { request in
            guard let text = request.body["transfer"]?.string else { throw CommandFailure("missing \"transfer\" (32 hex digits): the transfer to abort") }
            guard let transfer = TransferID(hex: text) else { throw CommandFailure("transfer '\(text)' is not 32 hex digits") }
            do throws(UpdateRefusal) { return try await receiver.abort(transfer: transfer).json } catch { throw failure(error, transfer: text) }
        }
        let gate = ErrorGate()
        await dispatcher.registerBinary("update_chunk") { _, payload in
            do throws(UpdateRefusal) {
                try await receiver.receive(chunk: payload)
                return nil
            } catch {
                // A flood of bad chunks (a pusher still sending an aborted transfer) gets one reply a second.
                guard let suppressed = await gate.allow() else { return nil }
                return CommandFailure("\(error)" + (suppressed > 0 ? " (and \(suppressed) more chunk errors not answered)" : ""),
                                      result: TransferProgress(transfer: nil, state: .refused).json.merging(step: error))
            }
        }
    }

    static func failure(_ refusal: UpdateRefusal, transfer: String?) -> CommandFailure {
        var result: [String: JSONValue] = ["state": .string(TransferState.refused.rawValue), "step": .string(refusal.step.rawValue),
                                           "reason": .string(refusal.message)]
        if let transfer { result["transfer"] = .string(transfer) }
        return CommandFailure("\(refusal)", result: .object(result))
    }

    /// At most one answer per interval; counts what it held back.
    actor ErrorGate {
        let interval: Duration
        private var last: ContinuousClock.Instant?
        private var suppressed = 0
        init(interval: Duration = .seconds(1)) { self.interval = interval }

        /// The number held back since the last allowed one, or nil when this one is held back.
        func allow() -> Int? {
            let now = ContinuousClock.now
            if let last, now - last < interval {
                suppressed += 1
                return nil
            }
            last = now
            defer { suppressed = 0 }
            return suppressed
        }
    }
}

extension JSONValue {
    /// The object with a refusal's step and reason added.
    func merging(step refusal: UpdateRefusal) -> JSONValue {
        guard case var .object(o) = self else { return self }
        o["step"] = .string(refusal.step.rawValue)
        o["reason"] = .string(refusal.message)
        return .object(o)
    }
}

/// Loads what a previous run left (resuming a transfer, or verifying one that had arrived completely)
/// and deletes partial transfers that went stale, every so often.
final class TransferService: Service, Sendable {
    let receiver: TransferReceiver
    let logger: Logger

    init(receiver: TransferReceiver, logger: Logger) {
        self.receiver = receiver
        self.logger = logger
    }

    func run() async throws {
        do { try await receiver.start() } catch { logger.error("model updates: \(error)") }
        if let current = await receiver.current {
            logger.notice("update \(current.transfer?.hex ?? "?"): resuming, \(current.received)/\(current.total) chunks on disk")
        }
        let every = min(60, max(1, receiver.settings.expirySeconds / 10))
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                try await Task.sleep(for: .milliseconds(Int(every * 1000)))
                if let expired = await self.receiver.expireStale() {
                    self.logger.notice("update \(expired.hex): partial transfer expired (no chunk for \(Int(self.receiver.settings.expirySeconds)) s); deleted")
                }
            }
        }
        await receiver.close()
    }
}
