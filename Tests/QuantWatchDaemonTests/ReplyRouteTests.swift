@testable import QuantWatchDaemon
import Testing

@Suite struct ReplyRouteTests {
    @Test func responseTopicAndCorrelationDataSurviveTheOutbox() {
        let stored = MQTTPublisher.routedTopic(responseTopic: "ops/answers/1", correlation: [0x00, 0x7f, 0xff, 0x0a])
        #expect(stored == ">007fff0a ops/answers/1")
        let route = MQTTPublisher.route(stored)
        #expect(route?.topic == "ops/answers/1" && route?.correlation == [0x00, 0x7f, 0xff, 0x0a])
        #expect(MQTTPublisher.route(">" + " a/b")?.correlation == nil)
        #expect(MQTTPublisher.route("reply/ping") == nil)
        #expect(MQTTPublisher.route("metrics") == nil)
    }
}
