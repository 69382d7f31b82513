import Foundation
import Testing

/// Runs a program, returning its exit status and what it printed (stdout + stderr).
func run(_ program: String, _ arguments: [String], in directory: URL? = nil) throws -> (status: Int32, output: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: program)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    let pipe = Pipe()
    process.standardOutput = pipe
    process.standardError = pipe
    try process.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return (process.terminationStatus, String(decoding: data, as: UTF8.self))
}

let systemdAnalyze = ["/usr/bin/systemd-analyze", "/bin/systemd-analyze"].first { FileManager.default.isExecutableFile(atPath: $0) }

@Suite struct DaemonInstallTests {
    @Test func configCheckPrintsOkAndTheEffectiveConfigurationOrTheErrorsWithExitCode78() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qw-config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let good = dir.appendingPathComponent("good.toml"), bad = dir.appendingPathComponent("bad.toml")
        try "[model]\nint8 = \"m.int8.onnx\"\nfloat = \"m.onnx\"\n[mqtt]\nprefix = \"plant/7\"\n".write(to: good, atomically: true, encoding: .utf8)
        try "[model]\nint8 = \"m.int8.onnx\"\nfloat = \"m.onnx\"\n[frames]\nfps = -3\nqueue_len = 4\n".write(to: bad, atomically: true, encoding: .utf8)
        let ok = try CLIRun("config", "check", good.path)
        #expect(ok.status == 0, "\(ok.stderr)")
        #expect(ok.stdout.hasPrefix("ok\n[device]\n"))
        #expect(ok.stdout.contains("int8 = \"\(dir.path)/m.int8.onnx\"") && ok.stdout.contains("prefix = \"plant/7\""))
        let shipped = try CLIRun("config", "check", CLIRun.repository.appendingPathComponent("Config/quantwatch.toml").path)
        #expect(shipped.status == 0, "\(shipped.stderr)")
        let failed = try CLIRun("config", "check", bad.path)
        #expect(failed.status == 78)
        #expect(failed.stderr.contains("\(bad.path): frames.queue_len = 4: unknown key; [frames] takes"))
        #expect(failed.stderr.contains("\(bad.path): frames.fps = -3.0: bad value; frames per second"))
        let missing = try CLIRun("config", "check", dir.appendingPathComponent("absent.toml").path)
        #expect(missing.status == 78 && missing.stderr.contains("cannot read the file"))
    }

    @Test func makeInstallAndUninstallIntoADestdir() throws {
        let root = FileManager.default.temporaryDirectory.appendingPathComponent("qw-install-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: root) }
        let make = try run("/usr/bin/make", ["-s", "-C", CLIRun.repository.path, "install", "DESTDIR=\(root.path)", "BINARY=\(CLIRun.binary.path)"])
        #expect(make.status == 0, "\(make.output)")
        let fm = FileManager.default
        let p = root.path
        #expect(fm.isExecutableFile(atPath: p + "/usr/local/bin/quantwatch"))
        let unit = try String(contentsOfFile: p + "/etc/systemd/system/quantwatch.service", encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/local/bin/quantwatch run --config ${CONFIGURATION_DIRECTORY}/quantwatch.toml"))
        #expect(fm.contents(atPath: p + "/etc/quantwatch/quantwatch.toml") == fm.contents(atPath: CLIRun.repository.path + "/Config/quantwatch.toml"))
        #expect(try String(contentsOfFile: p + "/etc/sysusers.d/quantwatch.conf", encoding: .utf8).contains("m quantwatch video"))
        let state = try fm.attributesOfItem(atPath: p + "/var/lib/quantwatch")
        #expect((state[.posixPermissions] as? Int) == 0o750)

        // An edited configuration survives a reinstall.
        try "# mine\n".write(toFile: p + "/etc/quantwatch/quantwatch.toml", atomically: true, encoding: .utf8)
        #expect(try run("/usr/bin/make", ["-s", "-C", CLIRun.repository.path, "install", "DESTDIR=\(p)", "BINARY=\(CLIRun.binary.path)"]).status == 0)
        #expect(try String(contentsOfFile: p + "/etc/quantwatch/quantwatch.toml", encoding: .utf8) == "# mine\n")

        // PREFIX=/usr: the distribution's places.
        let usr = root.appendingPathComponent("usr-prefix").path
        #expect(try run("/usr/bin/make", ["-s", "-C", CLIRun.repository.path, "install", "DESTDIR=\(usr)", "PREFIX=/usr", "BINARY=\(CLIRun.binary.path)"]).status == 0)
        #expect(try String(contentsOfFile: usr + "/lib/systemd/system/quantwatch.service", encoding: .utf8).contains("ExecStart=/usr/bin/quantwatch run"))
        #expect(fm.fileExists(atPath: usr + "/usr/lib/sysusers.d/quantwatch.conf"))

        let uninstall = try run("/usr/bin/make", ["-s", "-C", CLIRun.repository.path, "uninstall", "DESTDIR=\(p)"])
        #expect(uninstall.status == 0, "\(uninstall.output)")
        #expect(!fm.fileExists(atPath: p + "/usr/local/bin/quantwatch") && !fm.fileExists(atPath: p + "/etc/systemd/system/quantwatch.service"))
        #expect(fm.fileExists(atPath: p + "/etc/quantwatch/quantwatch.toml") && fm.fileExists(atPath: p + "/var/lib/quantwatch"))
    }

    @Test("systemd-analyze verify is clean and security --offline rates the unit 1.5 or lower (skipped only when systemd-analyze is absent: apt-get install systemd)",
          .enabled(if: systemdAnalyze != nil, "systemd-analyze is not installed (scripts/install-deps.sh installs the systemd package)"))
    func theUnitVerifiesCleanAndIsHardened() throws {
        let analyze = systemdAnalyze!
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("qw-unit-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        // verify checks that ExecStart's binary exists: point it at the built one.
        let source = try String(contentsOf: CLIRun.repository.appendingPathComponent("systemd/quantwatch.service"), encoding: .utf8)
        let unit = dir.appendingPathComponent("quantwatch.service")
        try source.replacingOccurrences(of: "/usr/local/bin/quantwatch", with: CLIRun.binary.path).write(to: unit, atomically: true, encoding: .utf8)
        let verify = try run(analyze, ["verify", "--man=false", unit.path])
        #expect(verify.status == 0 && verify.output.isEmpty, "systemd-analyze verify: \(verify.output)")

        let security = try run(analyze, ["security", "--offline=true", "--threshold=15", CLIRun.repository.appendingPathComponent("systemd/quantwatch.service").path])
        #expect(security.status == 0, "\(security.output)")
        let line = try #require(security.output.split(separator: "\n").first { $0.contains("Overall exposure level for quantwatch.service:") })
        let score = try #require(line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) })
        #expect(score <= 1.5, "\(line)")
        for required in ["Type=notify", "RestartPreventExitStatus=78", "Restart=on-failure", "StateDirectory=quantwatch", "ConfigurationDirectory=quantwatch",
                         "SupplementaryGroups=video", "WatchdogSec="] {
            #expect(source.contains(required), "the unit lacks \(required)")
        }
    }
}
