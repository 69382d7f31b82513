import CMosquitto

/// The libmosquitto library this build links against (the MQTT client).
public enum MosquittoLibrary {
    /// The runtime library's version, e.g. "2.0.11".
    public static var version: String {
        var major: Int32 = 0, minor: Int32 = 0, revision: Int32 = 0
        _ = mosquitto_lib_version(&major, &minor, &revision)
        return "\(major).\(minor).\(revision)"
    }
}
