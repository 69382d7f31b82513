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
        await install(headerBytes: completed.header, payloadPath: completed.payloadPath)
    }
}
