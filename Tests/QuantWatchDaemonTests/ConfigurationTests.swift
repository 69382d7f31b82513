import Foundation
import FrameSources
import MQTTLink
import QuantWatchDaemon
import Testing

let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// The smallest valid file.
let minimal = """
    [model]
    int8 = "/m/model.int8.onnx"
    float = "/m/model.fp32.onnx"
    """

func parse(_ text: String, environment: [String: String] = [:]) throws(ConfigurationError) -> Configuration {
    try Configuration.parse(text, file: "/etc/quantwatch/test.toml", baseDirectory: "/etc/quantwatch", environment: environment)
}

/// The error `text` gives (fails the test when it loads).
func error(_ text: String, environment: [String: String] = [:], sourceLocation: SourceLocation = #_sourceLocation) -> ConfigurationError? {
    do {
        _ = try parse(text, environment: environment)
        Issue.record("loaded; expected an error", sourceLocation: sourceLocation)
        return nil
    } catch { return error }
}

@Suite struct ConfigurationTests {
    @Test func theShippedFileLoadsWithEveryDefault() throws {
        let path = repository.appendingPathComponent("Config/quantwatch.toml").path
        let c = try Configuration.load(path: path, environment: [:])
        #expect(c.model.int8 == "/var/lib/quantwatch/models/model.int8.onnx")
        #expect(c.model.name == "model.int8")
        #expect(c.frames == FrameSourceSettings())
        #expect(c.preprocessing == PreprocessingSettings())
        #expect(c.store == Configuration.Store())
        #expect(c.mqtt.prefix == "quantwatch" && c.mqtt.host == "localhost" && c.mqtt.port == 1883 && !c.mqtt.tls)
        #expect(c.mqtt.clientID == "quantwatch-\(c.device.id)")
        #expect(c.log.level == .info)
        #expect(c.monitor.windowMs == 10_000)
    }

    @Test func everyKeyIsInTheShippedFileWithItsDefaultAndInTheDocs() throws {
        let file = try String(contentsOf: repository.appendingPathComponent("Config/quantwatch.toml"), encoding: .utf8)
        let docs = try String(contentsOf: repository.appendingPathComponent("docs/configuration.md"), encoding: .utf8)
        let keys = Configuration.keys
        #expect(keys.count > 70)
        #expect(Set(keys.map(\.environmentVariable)).count == keys.count, "environment variable names collide")
        var section = ""
        var lines: [String: String] = [:]   // full key path → the line's text after "key = "
        for raw in file.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.hasPrefix("[") { section = String(line.dropFirst().dropLast()); continue }
            let body = line.hasPrefix("# ") ? String(line.dropFirst(2)) : line
            guard let eq = body.range(of: " = "), !body[..<eq.lowerBound].contains(" ") else { continue }
            lines[section + "." + body[..<eq.lowerBound]] = String(body[eq.upperBound...])
        }
        for key in keys {
            #expect(lines[key.path] != nil, "Config/quantwatch.toml lacks \(key.path)")
            if let value = key.defaultValue, value.hasPrefix("\"") || value.first!.isNumber || value.hasPrefix("[") || value == "true" || value == "false",
               key.path != "mqtt.client_id" {
                #expect(lines[key.path] == value, "Config/quantwatch.toml shows \(key.path) = \(lines[key.path] ?? "nothing"); the default is \(value)")
            }
            #expect(docs.contains("`\(key.path)`"), "docs/configuration.md lacks \(key.path)")
            #expect(docs.contains(key.environmentVariable), "docs/configuration.md lacks \(key.environmentVariable)")
        }
        #expect(Set(Configuration.keys.map(\.path)) == Set(try parse(minimal).entries.map(\.path)))
    }

    @Test func anUnknownKeyIsRejectedNamingItAndTheKeysItsSectionTakes() throws {
        let e = try #require(error(minimal + "\n[frames]\nfsp = 10\n"))
        #expect(e.kind == .unknownKey)
        #expect(e.keyPath == "frames.fsp")
        #expect(e.value == "10")
        #expect(e.file == "/etc/quantwatch/test.toml")
        #expect(e.allowed.contains("fps") && e.allowed.contains("stride"))
        #expect(e.description.hasPrefix("/etc/quantwatch/test.toml: frames.fsp = 10: unknown key; [frames] takes source, path, fps"))
        #expect(ConfigurationError.exitCode == 78)

        let section = try #require(error(minimal + "\n[mqttt]\nurl = \"mqtt://x\"\n"))
        #expect(section.keyPath == "mqttt" && section.kind == .unknownKey && section.allowed.contains("mqtt"))
        let nested = try #require(error(minimal + "\n[monitor.shadow]\nevery = 3\n"))
        #expect(nested.keyPath == "monitor.shadow.every" && nested.allowed.contains("every_nth"))
    }

    @Test func aWrongTypeNamesTheKeyTheValueAndTheExpectedType() throws {
        let e = try #require(error(minimal + "\n[frames]\nwidth = \"640\"\n"))
        #expect(e.kind == .wrongType && e.keyPath == "frames.width" && e.value == "\"640\"")
        #expect(e.allowed.contains("found a string, expected an integer"))
        let p = try #require(error(minimal + "\n[mqtt]\nprotocol = 5\n"))
        #expect(p.keyPath == "mqtt.protocol" && p.allowed.contains("\"5\", \"3.1.1\""))
        let table = try #require(error(minimal + "\n[preprocessing]\ncrop = 3\n"))
        #expect(table.keyPath == "preprocessing.crop" && table.kind == .wrongType)
    }

    @Test func aBadValueNamesWhatIsAllowed() throws {
        let fps = try #require(error(minimal + "\n[frames]\nfps = -1\n"))
        #expect(fps.kind == .badValue && fps.keyPath == "frames.fps" && fps.value == "-1.0" && fps.allowed.contains("≥ 0"))
        let source = try #require(error(minimal + "\n[frames]\nsource = \"camera\"\n"))
        #expect(source.keyPath == "frames.source" && source.allowed.contains("\"directory\""))
        let share = try #require(error(minimal + "\n[monitor.shadow]\ncpu_share = 1.5\n"))
        #expect(share.keyPath == "monitor.shadow.cpu_share" && share.allowed.contains("(0, 1]"))
        // Checked across keys, never a trap in HysteresisThresholds.
        let drift = try #require(error(minimal + "\n[monitor.detectors.sqnr]\nwarning = 10\ndrift = 5\n"))
        #expect(drift.keyPath == "monitor.detectors.sqnr.drift" && drift.allowed.contains("≥ monitor.detectors.sqnr.warning"))
        let stride = try #require(error(minimal + "\n[frames]\nwidth = 704\nstride = 700\n"))
        #expect(stride.keyPath == "frames.stride" && stride.allowed.contains("704"))
        let mean = try #require(error(minimal + "\n[preprocessing]\nmean = [0.1, 0.2]\n"))
        #expect(mean.keyPath == "preprocessing.mean" && mean.allowed.contains("3 for rgb"))
        let url = try #require(error(minimal + "\n[mqtt]\nurl = \"http://broker\"\n"))
        #expect(url.keyPath == "mqtt.url" && url.allowed.contains("mqtts://"))
        let id = try #require(error(minimal + "\n[device]\nid = \"pi/4\"\n"))
        #expect(id.keyPath == "device.id" && id.allowed.contains("no '/'"))
    }

    @Test func missingRequiredKeysAndEveryProblemAreReportedTogether() throws {
        let e = try #require(error("[frames]\nfps = -2\nwidth = \"x\"\n"))
        let all = [e] + e.additional
        #expect(all.contains { $0.keyPath == "model.int8" && $0.kind == .missing })
        #expect(all.contains { $0.keyPath == "model.float" && $0.kind == .missing })
        #expect(all.contains { $0.keyPath == "frames.fps" && $0.kind == .badValue })
        #expect(all.contains { $0.keyPath == "frames.width" && $0.kind == .wrongType })
        #expect(e.description.split(separator: "\n").count == all.count)
    }

    @Test func aSyntaxErrorGivesTheLine() throws {
        let e = try #require(error(minimal + "\n[frames\nfps = 1\n"))
        #expect(e.kind == .syntax && e.line == 4)
        #expect(e.description.hasPrefix("/etc/quantwatch/test.toml:4:"))
    }

    @Test func anUnreadableFileIsAConfigurationError() throws {
        #expect(throws: ConfigurationError.self) { try Configuration.load(path: "/nonexistent/quantwatch.toml", environment: [:]) }
    }

    @Test func environmentVariablesOverrideTheFile() throws {
        let c = try parse(minimal + "\n[mqtt]\nurl = \"mqtt://a\"\n", environment: [
            "QUANTWATCH_MQTT_URL": "mqtts://broker.local:8884", "QUANTWATCH_MONITOR_SHADOW_EVERY_NTH": "3",
            "QUANTWATCH_PREPROCESSING_MEAN": "0.485,0.456,0.406", "QUANTWATCH_FRAMES_LOOP": "false",
            "QUANTWATCH_PREPROCESSING_RESIZE_WIDTH": "224", "QUANTWATCH_PREPROCESSING_RESIZE_HEIGHT": "224",
            "QUANTWATCH_CONFIG": "/elsewhere", "PATH": "/bin",
        ])
        #expect(c.mqtt.url == "mqtts://broker.local:8884" && c.mqtt.host == "broker.local" && c.mqtt.port == 8884 && c.mqtt.tls)
        #expect(c.monitor.shadow.everyNth == 3)
        #expect(c.preprocessing.mean == [0.485, 0.456, 0.406])
        #expect(c.preprocessing.resize == .init(width: 224, height: 224))
        #expect(!c.frames.loop)
        let v6 = try parse(minimal, environment: ["QUANTWATCH_MQTT_URL": "mqtt://[::1]"])
        #expect(v6.mqtt.host == "::1" && v6.mqtt.port == 1883)
        let link = c.mqtt.linkConfiguration
        #expect(link.url == "mqtts://broker.local:8884" && link.clientID == c.mqtt.clientID && link.maxInflight == 32 && link.keepAliveSeconds == 30)

        let bad = try #require(error(minimal, environment: ["QUANTWATCH_FRAMES_FPS": "fast"]))
        #expect(bad.environmentVariable == "QUANTWATCH_FRAMES_FPS" && bad.keyPath == "frames.fps" && bad.value == "\"fast\"")
        #expect(bad.description.hasPrefix("environment QUANTWATCH_FRAMES_FPS (over /etc/quantwatch/test.toml): frames.fps = \"fast\""))
        let typo = try #require(error(minimal, environment: ["QUANTWATCH_MQTT_URLL": "mqtt://x"]))
        #expect(typo.kind == .unknownKey && typo.environmentVariable == "QUANTWATCH_MQTT_URLL" && typo.allowed.contains("QUANTWATCH_MQTT_URL"))
    }

    @Test func relativePathsAreTakenFromTheFilesDirectory() throws {
        let c = try parse("""
            [model]
            int8 = "models/a.int8.onnx"
            float = "../b.onnx"
            [store]
            path = "/data/m.db"
            """)
        #expect(c.model.int8 == "/etc/quantwatch/models/a.int8.onnx")
        #expect(c.model.float == "/etc/b.onnx")
        #expect(c.store.path == "/data/m.db")
    }

    @Test func theEffectiveConfigurationLoadsBackToTheSameConfiguration() throws {
        let c = try parse(minimal + """

            [device]
            id = "pi-7"
            group = "line-2"
            [frames]
            source = "stdin"
            format = "yuv420"
            width = 704
            height = 480
            stride = 768
            queue = 4
            [preprocessing]
            crop = { x = 8, y = 0, width = 640, height = 480 }
            resize = { width = 224, height = 224, bilinear = false }
            color = "bgr"
            scale = 0.00392156862745098
            mean = [0.485, 0.456, 0.406]
            std = [0.229, 0.224, 0.225]
            layout = "nhwc"
            [monitor]
            window_s = 2.5
            class_labels = ["cat", "dog"]
            shadow.every_nth = 7
            detectors.sqnr.drift = 20
            [store]
            byte_cap_mb = 16
            synchronous = "normal"
            [mqtt]
            url = "mqtts://broker:8883"
            username = "pi"
            password_file = "secret"
            ca_file = "/etc/ssl/ca.pem"
            protocol = "3.1.1"
            [log]
            level = "debug"
            """)
        #expect(c.frames.rawFormat == RawFrameFormat(.yuv420, width: 704, height: 480, stride: 768))
        #expect(c.preprocessing.crop == .init(x: 8, y: 0, width: 640, height: 480))
        #expect(c.mqtt.passwordFile == "/etc/quantwatch/secret")
        let again = try parse(c.effectiveTOML)
        #expect(again == c, "\(c.effectiveTOML)")
        #expect(Configuration.changes(from: c, to: again) == ([], []))
    }

    @Test func changesSplitIntoLiveAndRestart() throws {
        let a = try parse(minimal)
        var b = a
        b.monitor.shadow.everyNth = 2
        b.log.level = .debug
        b.frames.fps = 5
        b.mqtt.url = "mqtt://other"
        b.preprocessing.scale = 0.5
        let (live, restart) = Configuration.changes(from: a, to: b)
        #expect(live == ["frames.fps", "monitor.shadow.every_nth", "log.level"])
        #expect(restart == ["preprocessing.scale", "mqtt.url"])
        #expect(Configuration.keys.filter(\.live).map(\.path).contains("monitor.shadow.cpu_share"))
    }
}
