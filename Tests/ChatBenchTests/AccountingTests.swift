import ChatAPI
import Foundation
import SwiftProtobuf
import Testing

@testable import ChatBench

@Suite("reading events and counting deliveries")
struct AccountingTests {
  @Test("a Message event yields its id and the send time at the start of its text")
  func messageEvent() throws {
    let event = Chat_V1_Event.with {
      $0.time = Google_Protobuf_Timestamp(date: Date())
      $0.message = .with {
        $0.id = 300
        $0.sender = "alice"
        $0.channel = .with {
          $0.name = "room"
          $0.type = .group
        }
        $0.text = BenchText.make(sentAt: 1_234_567_890_123, bytes: 64)
      }
    }
    let decoded = try decode(event)
    #expect(decoded.kind == .message)
    #expect(decoded.messageID == 300)
    #expect(decoded.sentAt == 1_234_567_890_123)
    #expect(event.message.text.utf8.count == 64)
  }

  @Test(
    "each kind of event is recognised",
    arguments: [
      (Chat_V1_Event.OneOf_Kind.welcome(.with { $0.username = "bob" }), BenchEvent.Kind.welcome),
      (.memberJoined(.with { $0.username = "bob" }), .memberJoined),
      (.memberLeft(.with { $0.username = "bob" }), .memberLeft),
      (.notice(.with { $0.text = "hi" }), .notice),
    ])
  func kinds(_ kind: Chat_V1_Event.OneOf_Kind, _ expected: BenchEvent.Kind) throws {
    let event = Chat_V1_Event.with {
      $0.time = Google_Protobuf_Timestamp(date: Date())
      $0.kind = kind
    }
    #expect(try decode(event).kind == expected)
  }

  @Test("a MemberLeft event yields who left")
  func memberLeft() throws {
    let event = Chat_V1_Event.with {
      $0.memberLeft = .with {
        $0.group = "room"
        $0.username = "Carol.B"
        $0.reason = .disconnected
      }
    }
    #expect(try decode(event).username == "Carol.B")
  }

  @Test("text that does not start with a time has none")
  func foreignText() throws {
    let event = Chat_V1_Event.with { $0.message = .with { $0.text = "hello 123" } }
    #expect(try decode(event).sentAt == 0)
  }

  @Test("truncated bytes are refused")
  func truncated() throws {
    let bytes: [UInt8] = try Chat_V1_Event.with { $0.message = .with { $0.text = "12345" } }.serializedBytes()
    #expect(throws: MalformedEvent.self) {
      try bytes.dropLast().withUnsafeBytes { try BenchEvent(wire: $0) }
    }
  }

  @Test("a member that left early is expected to get what a survivor got before its MemberLeft")
  func expectedAfterDeparture() {
    var survivor = SessionTally(index: 0, startedAt: 1)
    survivor.welcomedAt = 2
    survivor.messages = 10
    survivor.departures = [Departure(username: "u1", afterMessages: 4)]
    var leaver = SessionTally(index: 1, startedAt: 1)
    leaver.welcomedAt = 2
    leaver.messages = 3
    leaver.outcome = .ended(code: "resourceExhausted", message: "slow consumer")
    let (expected, exact) = fanoutExpected([survivor, leaver], accepted: 10) { "u\($0)" }
    #expect(expected == [10, 4])
    #expect(exact)
  }

  @Test("without a survivor the expected count is an upper bound")
  func expectedWithoutSurvivor() {
    var leaver = SessionTally(index: 0, startedAt: 1)
    leaver.welcomedAt = 2
    leaver.outcome = .ended(code: "unavailable", message: "shutting down")
    let (expected, exact) = fanoutExpected([leaver], accepted: 7) { "u\($0)" }
    #expect(expected == [7])
    #expect(!exact)
  }

  @Test("the server's address is read from its complete `listening on` line only")
  func listeningLine() {
    let line = "2026-01-01T00:00:00.000Z notice listening on 127.0.0.1:40123 host=127.0.0.1 port=40123\n"
    #expect(ServerProcess.listeningAddress(in: "x\n" + line) == "127.0.0.1:40123")
    #expect(ServerProcess.listeningAddress(in: "… notice listening on 127.0.0.1:401") == nil)
    #expect(ServerProcess.listeningAddress(in: "nothing yet\n") == nil)
  }

  @Test("CPU time is read after the command name, even one with spaces and parentheses")
  func procStat() {
    let ticks = Double(sysconf(Int32(_SC_CLK_TCK)))
    let stat = "4242 (chat (server) x) S 1 4242 4242 0 -1 4194304 100 0 0 0 250 50 0 0 20 0 3 0 1000 0 0"
    #expect(ProcessSample.cpuSeconds(stat: stat) == 300 / ticks)
  }

  @Test(
    "a target address must be host:port",
    arguments: [("127.0.0.1:50051", true), ("localhost:1", true), ("127.0.0.1", false), (":80", false), ("h:0", false)])
  func targetAddress(_ address: String, _ valid: Bool) {
    #expect((BenchTarget(address: address) != nil) == valid)
  }

  private func decode(_ event: Chat_V1_Event) throws -> BenchEvent {
    let bytes: [UInt8] = try event.serializedBytes()
    return try BenchEventDeserializer().deserialize(bytes)
  }
}
