import Documents
import Monitor
import QuantWatchDaemon
import Testing

@Suite struct CommandDispatcherTests {
    func dispatcher() async -> (CommandDispatcher, RuntimeControl) {
        let d = CommandDispatcher(maxPayloadBytes: 1024)
        var policy = ShadowPolicy()
        policy.everyNth = 10
        let control = RuntimeControl(shadowPolicy: policy)
        await control.register(on: d, clock: { 1234 })
        return (d, control)
    }

    func send(_ d: CommandDispatcher, _ name: String, _ json: String) async -> CommandReply {
        await d.dispatch(name: name, topic: "quantwatch/pi/cmd/\(name)", payload: Array(json.utf8), responseTopic: nil, correlationData: nil)
    }

    @Test func pingAnswersWithItsId() async {
        let (d, _) = await dispatcher()
        let reply = await send(d, "ping", #"{"id":"a1"}"#)
        #expect(reply.ok && reply.id == .string("a1") && reply.result?["pong"]?.number == 1234)
        let numeric = await send(d, "ping", #"{"id":7}"#)
        #expect(numeric.id == .number(7))
    }

    @Test func garbageOversizeUnknownAndMissingIdGetErrorsAndChangeNothing() async {
        let (d, control) = await dispatcher()
        let garbage = await send(d, "shadow", "{every_nth: 2")
        #expect(!garbage.ok && garbage.error!.contains("not JSON"))
        let array = await send(d, "shadow", "[1,2]")
        #expect(!array.ok && array.error!.contains("not a JSON object"))
        let noID = await send(d, "shadow", #"{"every_nth":2}"#)
        #expect(!noID.ok && noID.error!.contains("\"id\""))
        let unknown = await send(d, "reboot", #"{"id":"x"}"#)
        #expect(!unknown.ok && unknown.error!.contains("unknown command 'reboot'") && unknown.error!.contains("ping"))
        let big = await send(d, "shadow", #"{"id":"x","pad":""# + String(repeating: "a", count: 2000) + #""}"#)
        #expect(!big.ok && big.error!.contains("at most 1024 bytes"))
        let badValue = await send(d, "shadow", #"{"id":"x","every_nth":0}"#)
        #expect(!badValue.ok && badValue.error!.contains("shadow.every_nth is 0"))
        let mixed = await send(d, "shadow", #"{"id":"x","every_nth":3,"cpu_share":7}"#)
        #expect(!mixed.ok)
        #expect(await control.shadowPolicy.everyNth == 10)   // all or nothing
        let (policy, next) = await control.takeChanges()
        #expect(policy == nil && !next)
    }

    @Test func shadowAndConfigChangeTheRuntimePolicy() async {
        let (d, control) = await dispatcher()
        let rate = await send(d, "shadow", #"{"id":"1","every_nth":3}"#)
        #expect(rate.ok && rate.result?["every_nth"]?.number == 3)
        let next = await send(d, "shadow", #"{"id":"2","next":true}"#)
        #expect(next.ok)
        var (policy, shadowNext) = await control.takeChanges()
        #expect(policy?.everyNth == 3 && shadowNext)
        let config = await send(d, "config", #"{"id":"3","key":"shadow.triggered","value":false}"#)
        #expect(config.ok)
        (policy, shadowNext) = await control.takeChanges()
        #expect(policy?.triggered == false && !shadowNext)
        let refused = await send(d, "config", #"{"id":"4","key":"store.path","value":"/tmp/x"}"#)
        #expect(!refused.ok && refused.error!.contains("cannot be changed at run time"))
    }

    @Test func statusReportsThePostedState() async {
        let (d, control) = await dispatcher()
        var state = DeviceState()
        state.frames = 42
        state.drift = .warning
        await control.post(state)
        let reply = await send(d, "status", #"{"id":"s"}"#)
        #expect(reply.ok && reply.result?["frames"]?.number == 42 && reply.result?["drift"]?.string == "warning")
        #expect(reply.result?["shadow"]?["every_nth"]?.number == 10)
    }
}
