// `quantwatch run`: frame source → preprocessing → monitoring pipeline → MetricStore → MQTT publisher
// and commands, as services of one ServiceGroup (graceful shutdown on SIGTERM/SIGINT, in reverse
// order: the inference loop flushes its window first, then the publisher sends what it can).
import Documents
import FrameSources
import Foundation
import Logging
import MetricStore
import ModelUpdate
import Monitor
import MQTTLink
import QuantMetrics
import ServiceLifecycle
import Synchronization
import UnixSignals

public enum Daemon {
    /// Runs until SIGTERM/SIGINT (or the end of a frame source that does not loop). `source` says
    /// where the configuration came from (a path, or "the embedded default"). Pushed bundles are
    /// checked and installed by the update coordinator (docs/model-updates.md).
    public static func run(configuration: Configuration, configurationPath: String?, software: String, logger: Logger) async throws {
        let environment = ProcessInfo.processInfo.environment
        let notifier = try SystemdNotifier(environment: environment)
        let now: @Sendable () -> Int64 = { Int64(Date().timeIntervalSince1970 * 1000) }

        // The model pair: the slot an update installed (docs/model-updates.md), else the configured one.
        let update = configuration.update
        let configured = configuration.configuredModel
        let slots = try configuration.lockedModelSlots()
        var (serving, record, notes) = slots.resolve()
        for note in notes { logger.warning("model slots: \(note)") }
        var models: MonitoredModels
        do { models = try UpdateInstaller.load(serving) } catch where serving.slot != .configured {
            logger.error("the installed model does not load; serving the configured one", metadata: ["error": "\(error)"])
            (serving, record) = (configured, nil)
            models = try UpdateInstaller.load(configured)
        } catch {
            throw DaemonError("\(error)")
        }
        let int8URL = URL(fileURLWithPath: serving.int8Path)
        let model = try ModelReference.file(int8URL, name: serving.name,
                                            version: serving.slot == .configured ? configuration.model.version : String(serving.version))
        let buffer = try MetricBuffer(options: configuration.store.options, device: configuration.device.id, model: model)
        if let recovery = await buffer.recovery { logger.warning("metric store was damaged and moved aside", metadata: ["recovery": "\(recovery)"]) }
        let baseline = try await buffer.storedBaseline()
        try await buffer.activate(model: model, path: int8URL.path, atMs: now())
        let monitor = try Monitor(models: models, configuration: configuration.monitor, baseline: baseline)

        let topics = TopicTree(prefix: configuration.mqtt.prefix, device: configuration.device.id, group: configuration.device.group)
        let control = RuntimeControl(shadowPolicy: configuration.monitor.shadow)
        let dispatcher = CommandDispatcher()
        await control.register(on: dispatcher, clock: now)

        let input = models.int8.inputs[0].type
        let policy = try configuration.updatePolicy(pipelineInput: input)
        let probationPolicy = policy.probation
        let recent = RecentFrames(capacity: update.canaryFrames, elementCount: input.elementCount)
        let switchboard = ModelSwitchboard()
        let installer = UpdateInstaller(slots: slots, policy: policy, recent: recent, serving: serving, record: record)
        let coordinator = UpdateCoordinator(installer: installer, switchboard: switchboard, buffer: buffer, logger: logger, clock: now)
        await coordinator.register(on: dispatcher)
        var link = configuration.mqtt.linkConfiguration
        link.will = try await MQTTPublisher.lastWill(buffer: buffer, topics: topics, software: software, model: model, atMs: now())
        let client = try MQTTClient(configuration: link)
        var settings = PublisherSettings(topics: topics, software: software)
        settings.maxInFlight = configuration.mqtt.maxInflight
        // frames.source "mqtt": a local sensor process publishes tensors; the MQTT link hands them to the source.
        let source = try configuration.frames.makeSource()
        var frameSink: (@Sendable (MQTTMessage) -> Void)?
        if let messages = source as? MessageFrameSource {
            messages.expectedTensor = input
            settings.frameTopic = configuration.frames.topic
            let refused = Mutex(0)
            frameSink = { message in
                do { try message.payload.withUnsafeBytes { try messages.push($0) } } catch {
                    let n = refused.withLock { $0 += 1; return $0 }
                    if n & (n - 1) == 0 { logger.warning("frame refused on \(message.topic)", metadata: ["error": "\(error)", "refused": "\(n)"]) }   // 1, 2, 4, …
                }
            }
        }
        let publisher = MQTTPublisher(settings: settings, buffer: buffer, client: client, commands: dispatcher, clock: now, frames: frameSink)
        await publisher.setWill(link.will)
        await publisher.update(model: model, drift: monitor.state, sinceMs: now())
        let receiver = UpdateCommands.receiver(settings: configuration.update.transferSettings, admission: coordinator,
                                               publisher: publisher, logger: logger)
        await UpdateCommands.register(receiver, on: dispatcher)

        let reader = FrameReader(source: source, capacity: configuration.frames.queue)
        let raw = configuration.frames.source == .stdin || configuration.frames.source == .fifo ? configuration.frames.rawFormat : nil
        let pipeline = try FramePipeline(reader: reader, preprocessing: configuration.preprocessing, input: input, format: raw)
        let inference = InferenceService(monitor: monitor, pipeline: pipeline, buffer: buffer, control: control, publisher: publisher,
                                         notifier: notifier, watchdog: SystemdNotifier.watchdogInterval(environment: environment),
                                         model: model, logger: logger,
                                         updates: InferenceUpdates(switchboard: switchboard, recent: recent, keepEvery: 15,
                                                                   probationPolicy: probationPolicy, coordinator: coordinator),
                                         probation: record?.probation.map { Probation(record: $0, policy: probationPolicy) })
        let publishing = PublisherService(publisher: publisher, client: client, buffer: buffer)
        let reload = ReloadService(path: configurationPath, current: configuration, control: control, source: source,
                                   notifier: notifier, logger: logger)
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: publishing), .init(service: TransferService(receiver: receiver, logger: logger)), .init(service: reload),
                       .init(service: inference, successTerminationBehavior: .gracefullyShutdownGroup)],
            gracefulShutdownSignals: [.sigterm, .sigint], logger: logger))
        logger.info("running", metadata: ["config": "\(configurationPath ?? "the embedded default")", "model": "\(model.name) \(model.version)",
                                         "store": "\(configuration.store.path)", "broker": "\(configuration.mqtt.url)", "frames": "\(source.name)"])
        try? notifier.ready(status: "model \(model.name) \(model.version) loaded; store \(configuration.store.path) open; broker \(configuration.mqtt.url)")
        try await group.run()
        try? notifier.stopping(status: "stopped")
    }
}

/// The inference loop: one frame at a time through the monitor; windows and events to the store.
final class InferenceService: Service, @unchecked Sendable {
    // Confined to `run()`'s task: the monitor, model and probation change only there (between frames).
    var monitor: Monitor
    let pipeline: FramePipeline
    let buffer: MetricBuffer
    let control: RuntimeControl
    let publisher: MQTTPublisher
    let notifier: SystemdNotifier
    let watchdog: Duration?
    var model: ModelReference
    let logger: Logger
    /// Model updates: switches to take, recent frames to keep, the probation to judge.
    let updates: InferenceUpdates?
    var probation: Probation?

    init(monitor: Monitor, pipeline: FramePipeline, buffer: MetricBuffer, control: RuntimeControl, publisher: MQTTPublisher,
         notifier: SystemdNotifier, watchdog: Duration?, model: ModelReference, logger: Logger, updates: InferenceUpdates? = nil,
         probation: Probation? = nil) {
        self.monitor = monitor
        self.pipeline = pipeline
        self.buffer = buffer
        self.control = control
        self.publisher = publisher
        self.notifier = notifier
        self.watchdog = watchdog
        self.model = model
        self.logger = logger
        self.updates = updates
        self.probation = probation
    }

    func run() async throws {
        let thread = InferenceThread(name: "quantwatch-inference")
        defer { thread.stop() }
        try await withTaskExecutorPreference(thread) { try await loop() }
    }

    func loop() async throws {
        let clock = ContinuousClock()
        let startWall = Int64(Date().timeIntervalSince1970 * 1000), startInstant = clock.now
        // Window stamps from a monotonic clock anchored at start (a wall-clock jump does not reorder windows).
        func now() -> Int64 {
            let (s, a) = (clock.now - startInstant).components
            return startWall + s * 1000 + a / 1_000_000_000_000_000
        }
        var input = [Float](repeating: 0, count: monitor.models.int8.inputs[0].type.elementCount)
        let sinceMs = now()
        var lastPost = clock.now, lastWatchdog = clock.now - .seconds(3600)
        var framesAtPost = 0, rejectedLogged = 0
        pipeline.reader.start()
        defer { pipeline.reader.stop() }
        loop: while !Task.isShuttingDownGracefully, !Task.isCancelled {
            if let change = updates?.switchboard.take() { try await take(change, timeMs: now()) }
            let changes = await control.takeChanges()
            if let policy = changes.policy { try? monitor.updateShadowPolicy(policy) }
            if changes.shadowNext { monitor.shadowNextFrame() }
            let result = input.withUnsafeMutableBufferPointer { pipeline.next(into: $0, timeout: .milliseconds(200)) }
            switch result {
            case .frame:
                let timeMs = now()
                do {
                    let outcome = try input.withUnsafeBufferPointer { try monitor.process(frame: $0, timeMs: timeMs) }
                    if var p = probation {
                        if outcome.shadow == .uniform, let c = outcome.comparison { p.observe(sqnrDb: c.sqnrDb, top1Agree: c.top1Agree) } else { p.ran() }
                        probation = p
                    }
                } catch {
                    probation?.failed()
                    logger.error("frame refused", metadata: ["error": "\(error)"])
                }
                if let updates, monitor.frameCount % updates.keepEvery == 0 { input.withUnsafeBufferPointer { updates.recent.keep($0) } }
                judgeProbation(timeMs: timeMs)
            case let .rejected(error):
                if pipeline.rejected > rejectedLogged * 2 {   // 1, 2, 4, 8 … : reported, never a flood
                    rejectedLogged = pipeline.rejected
                    logger.warning("frame does not fit the model; not fed to it", metadata: ["error": "\(error)", "rejected": "\(pipeline.rejected)"])
                }
            case .timedOut:
                monitor.tick(timeMs: now())
                judgeProbation(timeMs: now())
            case .ended:
                logger.info("frame source ended", metadata: ["frames": "\(monitor.frameCount)"])
                break loop
            }
            try await record()
            if let watchdog, clock.now - lastWatchdog >= watchdog {
                lastWatchdog = clock.now
                try? notifier.watchdog()
            }
            if clock.now - lastPost >= .seconds(1) {
                let elapsed = clock.now - lastPost
                let fps = Double(monitor.frameCount - framesAtPost) / (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
                lastPost = clock.now
                framesAtPost = monitor.frameCount
                await post(fps: fps, sinceMs: sinceMs)
            }
        }
        monitor.flush(timeMs: now())
        try await record()
        await post(fps: nil, sinceMs: sinceMs)
        try? notifier.stopping(status: "stopping: last window stored")
        logger.info("inference stopped; last window stored", metadata: ["frames": "\(monitor.frameCount)", "shadowed": "\(monitor.shadowCount)"])
    }

    func record() async throws {
        let windows = monitor.takeWindows(), events = monitor.takeEvents()
        guard !windows.isEmpty || !events.isEmpty else { return }
        for event in events { logger.notice("\(event.kind.rawValue): \(event.cause)") }
        try await buffer.record(windows: windows, events: events, samples: monitor.takeShadowSamples(), baseline: monitor.baseline)
    }

    /// Takes a new model pair between two frames: the old model's window closes and is stored, the
    /// new monitor starts (with the new model's stored baseline when it had one, e.g. after a rollback).
    func take(_ change: ModelSwitch, timeMs: Int64) async throws {
        monitor.flush(timeMs: timeMs)
        try await record()
        try await buffer.activate(model: change.reference, path: change.serving.int8Path, atMs: timeMs)
        let stored = try? await buffer.storedBaseline()
        let next = try Monitor(models: change.models, configuration: monitor.configuration, baseline: stored)
        try? next.updateShadowPolicy(await control.shadowPolicy)
        let from = model
        monitor = next
        model = change.reference
        probation = change.probation.map { Probation(record: $0, policy: updates?.probationPolicy ?? ProbationPolicy()) }
        updates?.switchboard.setBaseline(stored)
        updates?.switchboard.markTaken()
        logger.notice("inference switched models (\(change.reason))", metadata: ["from": "\(from.name) \(from.version)", "to": "\(model.name) \(model.version)"])
        await publisher.update(model: model, drift: monitor.state, sinceMs: timeMs)
    }

    /// Acts on the probation's verdict (checked every frame, allocating only when it ends): a pass is
    /// recorded, a failure rolls back (off the loop).
    func judgeProbation(timeMs: Int64) {
        guard let p = probation, let updates else { return }
        let verdict = p.verdict(nowMs: timeMs)
        guard verdict != .pending else { return }
        let figures = p.figureValues
        switch verdict {
        case .pending: return
        case let .passed(message):
            probation = nil
            Task { await updates.coordinator?.probationPassed(message, figures: figures) }
        case let .failed(reason):
            probation = nil
            let logger = logger, failing = model
            Task {
                do { try await updates.coordinator?.rollback(reason: "probation failed: " + reason, figures: figures, of: failing) } catch {
                    logger.error("probation failed but no rollback is possible", metadata: ["reason": "\(reason)", "error": "\(error)"])
                }
            }
        }
    }

    func post(fps: Double?, sinceMs: Int64) async {
        updates?.switchboard.setBaseline(monitor.isBaselineReady ? monitor.baseline : nil)
        var state = DeviceState()
        state.model = model
        state.drift = monitor.state
        for d in DetectorName.allCases { state.detectors[d.rawValue] = monitor.state(of: d) }
        state.baselineReady = monitor.isBaselineReady
        state.frames = monitor.frameCount
        state.shadowed = monitor.shadowCount
        state.framesPerSecond = fps
        state.undelivered = try? await buffer.stats().pendingRows
        state.sinceMs = sinceMs
        await control.post(state)
        await publisher.update(model: model, drift: monitor.state, sinceMs: sinceMs)
        try? notifier.status("\(model.name) \(model.version): \(fps.map { String(format: "%.1f fps", $0) } ?? "stopped"), drift \(monitor.state.rawValue), "
            + "\(state.undelivered ?? 0) documents buffered")
    }
}

/// What the inference loop needs for model updates.
struct InferenceUpdates: Sendable {
    let switchboard: ModelSwitchboard
    let recent: RecentFrames
    /// One frame in this many is copied into `recent` (≈ one every few seconds at camera rates).
    let keepEvery: Int
    let probationPolicy: ProbationPolicy
    let coordinator: UpdateCoordinator?
}

/// The MQTT side: the client's connection and the publisher's loop; on shutdown, `offline` and what
/// the outbox still holds go out (a few seconds at most), then the store is closed.
final class PublisherService: Service, Sendable {
    let publisher: MQTTPublisher
    let client: MQTTClient
    let buffer: MetricBuffer

    init(publisher: MQTTPublisher, client: MQTTClient, buffer: MetricBuffer) {
        self.publisher = publisher
        self.client = client
        self.buffer = buffer
    }

    func run() async throws {
        client.start()
        let loop = Task { await publisher.run() }
        await withGracefulShutdownHandler {
            while !Task.isShuttingDownGracefully, !Task.isCancelled { try? await Task.sleep(for: .milliseconds(100)) }
        } onGracefulShutdown: {}
        await publisher.finish(timeout: .seconds(5))
        // Stop the loop (wake its waiter, end the client's event stream), wait for it, then close.
        loop.cancel()
        await buffer.changed()
        client.stop()
        await loop.value
        await publisher.flushAcknowledgedNow()
        await buffer.close()
    }
}

/// SIGHUP: reads the configuration again, applies what can change live, logs what needs a restart.
final class ReloadService: Service, @unchecked Sendable {
    let path: String?
    var current: Configuration   // touched only by run()'s task
    let control: RuntimeControl
    let source: any FrameSource
    let notifier: SystemdNotifier
    let logger: Logger

    init(path: String?, current: Configuration, control: RuntimeControl, source: any FrameSource, notifier: SystemdNotifier, logger: Logger) {
        self.path = path
        self.current = current
        self.control = control
        self.source = source
        self.notifier = notifier
        self.logger = logger
    }

    func run() async throws {
        let signals = await UnixSignalsSequence(trapping: .sighup)
        await withGracefulShutdownHandler {
            for await _ in signals.cancelOnGracefulShutdown() {
                guard let path else {
                    logger.notice("SIGHUP: no configuration file to reload (running the embedded default)")
                    continue
                }
                try? notifier.reloading(status: "reloading \(path)")
                do {
                    let next = try Configuration.load(path: path)
                    let (live, restart) = Configuration.changes(from: current, to: next)
                    if live.contains(where: { $0.hasPrefix("monitor.shadow") }) { try await control.setShadowPolicy(next.monitor.shadow) }
                    if live.contains("frames.fps"), let directory = source as? DirectorySource { directory.fps = next.frames.fps }
                    if !restart.isEmpty { logger.warning("SIGHUP: these settings change only after a restart", metadata: ["keys": "\(restart.joined(separator: ", "))"]) }
                    logger.notice("SIGHUP: configuration reloaded", metadata: ["applied": "\(live.joined(separator: ", "))"])
                    var applied = current
                    applied.monitor.shadow = next.monitor.shadow
                    applied.frames.fps = next.frames.fps
                    applied.log = next.log
                    current = applied
                } catch {
                    logger.error("SIGHUP: configuration not reloaded; the running one stays", metadata: ["error": "\(error)"])
                }
                try? notifier.ready(status: "running")
            }
        } onGracefulShutdown: {}
    }
}
