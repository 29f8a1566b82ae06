import ChatAPI
import ChatCore
import Foundation
import PropertyBased
import SwiftProtobuf
import Testing

@testable import ChatGRPC

@Suite("Event encoding")
struct EventEncodingTests {
  /// Text of every UTF-8 length (1 to 3 bytes a character), long enough for
  /// two-byte length prefixes.
  static let text = Gen.unicodeScalar(in: "\u{1}"..."\u{FFF}").map { Character($0) }.string(of: 0...200)
  static let events = zip(
    Gen.int(in: 0...5), zip(text, text, text), Gen.uint64(in: .min ... .max),
    Gen.double(in: -1e10...4e9), Gen.int(in: 0...2)
  ).map { kind, strings, number, time, choice -> ChatEvent in
    let (a, b, c) = strings
    // Zero for every field that can be, one time in three.
    let seq = choice == 0 ? 0 : number
    let kinds: [ChatEvent.Kind] = [
      .message(ChatMessage(id: seq, sender: a, channel: Channel(choice == 1 ? .user : .group, b), text: c)),
      .memberJoined(group: a, user: b),
      .memberLeft(group: a, user: b, reason: [.left, .disconnected, .kicked][choice]),
      .notice(text: c),
      .presence(user: a, online: choice == 1),
      .message(ChatMessage(id: number, sender: "", channel: Channel(.user, ""), text: "")),
    ]
    return ChatEvent(kinds[kind], at: Date(timeIntervalSince1970: choice == 0 ? 0 : time), seq: seq)
  }

  @Test("every event but Welcome is written byte for byte as SwiftProtobuf writes it, and reads back the same")
  func sameBytesAsSwiftProtobuf() async {
    await propertyCheck(count: 500, input: Self.events) { event in
      let expected: [UInt8] = try Chat_V1_Event(event).serializedBytes()
      let written = try #require(EventProtobufWriter.encode(event))
      #expect(written == expected, "\(event)")
      let decoded = try Chat_V1_Event(serializedBytes: written)
      #expect(decoded == Chat_V1_Event(event))
    }
  }

  @Test("Welcome is left to SwiftProtobuf")
  func welcome() throws {
    var welcome = Welcome(username: "ann", sessionToken: "t", position: LogPosition(epoch: "e", seq: 3))
    welcome.recovered = true
    welcome.replayed = 2
    let event = ChatEvent(.welcome(welcome), at: Date(timeIntervalSince1970: 1_700_000_000.25))
    #expect(EventProtobufWriter.encode(event) == nil)
    #expect(ProtobufEventEncoding.encode(event) == (try Chat_V1_Event(event).serializedBytes()))
  }
}
