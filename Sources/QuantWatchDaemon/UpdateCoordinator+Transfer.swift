// The coordinator as the transfer's admission (TransferReceiver): `admit` at `update_begin`, before any
// payload byte; `install` once every chunk arrived. `Daemon.run` hands it to the receiver.
import Documents
import ModelUpdate

extension UpdateCoordinator: UpdateAdmission {
    public func admit(header: [UInt8], payloadSize: Int) async throws(UpdateRefusal) -> AdmissionInfo {
        let (manifest, signer) = try await admit(headerBytes: header, payloadSize: payloadSize)
        return AdmissionInfo(name: manifest.name, version: manifest.version, keyID: signer)
    }

    public func install(_ completed: CompletedTransfer) async -> UpdateVerdict {
        let outcome = await install(headerBytes: completed.header, payloadPath: completed.payloadPath)
        switch outcome.state {
        case .installed:
            return .installed(details: outcome.json)
        case .refused:
            let step = outcome.step ?? .install
            // The outcome's message is the refusal's description ("step: reason").
            let reason = outcome.message.hasPrefix(step.rawValue + ": ") ? String(outcome.message.dropFirst(step.rawValue.count + 2)) : outcome.message
            return .refused(UpdateRefusal(step, reason))
        }
    }
}
