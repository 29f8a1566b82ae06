import ChatAPI
import ChatClientCore
import Foundation
import GRPCCore
import Testing

@Suite("Event formatting")
struct EventFormatterTests {
  /// 2026-11-21 09:07:17 UTC, shown in UTC+1.
  static let when = Date(timeIntervalSince1970: 1_795_252_037)
  let formatter = EventFormatter(timeZone: TimeZone(secondsFromGMT: 3600)!)

  static func makeEvent(_ kind: Chat_V1_Event.OneOf_Kind) -> Chat_V1_Event {
    .with {
      $0.time = .with { $0.seconds = Int64(when.timeIntervalSince1970) }
      $0.kind = kind
    }
  }

  static func makeMessage(_ sender: String, _ type: Chat_V1_ChannelType, _ channel: String, _ text: String) -> Chat_V1_Event {
    makeEvent(
      .message(
        .with {
          $0.id = 7
          $0.sender = sender
          $0.channel = .with {
            $0.type = type
            $0.name = channel
          }
          $0.text = text
        }))
  }

  @Test(
    "each event is one line with the local time",
    arguments: [
      (makeMessage("bob", .group, "general", "hi"), "10:07:17 [#general] bob: hi"),
      (makeMessage("bob", .user, "alice", "hi"), "10:07:17 [@bob → alice] hi"),
      (makeMessage("bob", .user, "alice", "two\nlines\tand a tab"), "10:07:17 [@bob → alice] two\\nlines\\tand a tab"),
      (makeEvent(.memberJoined(.with { $0.group = "general"; $0.username = "carol" })), "10:07:17 * carol joined #general"),
      (makeEvent(.memberLeft(.with { $0.group = "general"; $0.username = "dave"; $0.reason = .kicked })), "10:07:17 * dave left #general (kicked)"),
      (makeEvent(.memberLeft(.with { $0.group = "g"; $0.username = "dave"; $0.reason = .disconnected })), "10:07:17 * dave left #g (disconnected)"),
      (makeEvent(.memberLeft(.with { $0.group = "g"; $0.username = "dave"; $0.reason = .left })), "10:07:17 * dave left #g"),
      (makeEvent(.notice(.with { $0.text = "server restarts at 18:00" })), "10:07:17 * notice from the operator: server restarts at 18:00"),
      (makeEvent(.notice(.with { $0.text = "\u{1B}[2J\u{1B}[31mred" })), "10:07:17 * notice from the operator: \\u{1B}[2J\\u{1B}[31mred"),
      (makeEvent(.welcome(.with { $0.username = "Alice"; $0.sessionID = "s1" })), "10:07:17 * connected as Alice"),
    ] as [(Chat_V1_Event, String)])
  func formats(event: Chat_V1_Event, line: String) {
    #expect(formatter.line(for: event) == line)
  }

  @Test(
    "errors show the status code name and the server's message",
    arguments: [
      (RPCError(code: .notFound, message: "group 'x' does not exist."), "10:07:17 ! NOT_FOUND: group 'x' does not exist."),
      (RPCError(code: .internalError, message: "oops"), "10:07:17 ! INTERNAL: oops"),
      (RPCError(code: .invalidArgument, message: "bad\u{7}"), "10:07:17 ! INVALID_ARGUMENT: bad\\u{7}"),
      (CommandError("usage: /list"), "10:07:17 ! usage: /list"),
    ] as [(any Error & Sendable, String)])
  func failure(error: any Error & Sendable, line: String) {
    #expect(formatter.failure(error, at: Self.when) == line)
  }

  @Test("a refused Connect says so")
  func refused() {
    let taken = RPCError(code: .alreadyExists, message: "user 'BOB' is already connected.")
    #expect(formatter.failure(taken, prefix: "cannot connect", at: Self.when) == "10:07:17 ! cannot connect: ALREADY_EXISTS: user 'BOB' is already connected.")
  }

  @Test("the end of the stream says why")
  func disconnected() {
    let kicked = RPCError(code: .permissionDenied, message: "kicked by the operator: spam")
    #expect(formatter.disconnected(kicked, at: Self.when) == "10:07:17 ! disconnected: PERMISSION_DENIED: kicked by the operator: spam")
    #expect(formatter.disconnected(nil, at: Self.when) == "10:07:17 ! disconnected: the server ended the session.")
  }

  @Test("every status code has its canonical name")
  func codeNames() {
    let codes: [RPCError.Code] = [
      .cancelled, .unknown, .invalidArgument, .deadlineExceeded, .notFound, .alreadyExists, .permissionDenied,
      .resourceExhausted, .failedPrecondition, .aborted, .outOfRange, .unimplemented, .internalError, .unavailable,
      .dataLoss, .unauthenticated,
    ]
    #expect(codes.map(\.canonicalName) == [
      "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
      "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED",
      "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED",
    ])
  }

  @Test("a /list answer is one line, users then groups")
  func channels() {
    let list: [Chat_V1_Channel] = [
      .with { $0.name = "alice"; $0.type = .user },
      .with { $0.name = "bob"; $0.type = .user },
      .with { $0.name = "general"; $0.type = .group },
    ]
    #expect(formatter.channels(list, at: Self.when) == "10:07:17 * users: @alice, @bob; groups: #general")
    #expect(formatter.channels([], at: Self.when) == "10:07:17 * users: none; groups: none")
    let groups: [Chat_V1_Channel] = [.with { $0.name = "books"; $0.type = .group }] + list
    #expect(
      formatter.channels(groups, joined: ["general"], at: Self.when)
        == "10:07:17 * users: @alice, @bob; groups: #books, #general (joined)")
  }

  @Test("a /members answer is a count, then each member: account or guest, online, or when last seen")
  func members() {
    let members: [Chat_V1_Member] = [
      .with { $0.username = "alice"; $0.online = true },
      .with { $0.username = "bob"; $0.online = true; $0.account = true },
      .with {
        $0.username = "carol"; $0.account = true
        $0.lastSeen = .init(date: Self.when.addingTimeInterval(-7_500))
      },
    ]
    #expect(
      formatter.members(of: "general", members, at: Self.when) == [
        "10:07:17 * #general: 3 members, 2 online",
        "10:07:17 *   alice (online)",
        "10:07:17 *   bob (account, online)",
        "10:07:17 *   carol (account, offline, last seen 2h05m ago)",
      ])
  }

  @Test("last seen reads as a short time ago", arguments: [
    (0.0, "0s ago"), (59, "59s ago"), (60, "1m ago"), (3_599, "59m ago"), (3_600, "1h00m ago"), (86_399, "23h59m ago"),
    (86_400, "1d ago"), (-5, "0s ago"),
  ])
  func ago(seconds: Double, text: String) {
    #expect(EventFormatter.ago(seconds) == text)
  }

  @Test("presence changes read as online and offline")
  func presence() {
    let online = Chat_V1_Event.with { $0.presence = .with { $0.username = "bob"; $0.online = true } }
    let offline = Chat_V1_Event.with { $0.presence = .with { $0.username = "bob"; $0.online = false } }
    #expect(formatter.line(for: online).hasSuffix(" * bob is online"))
    #expect(formatter.line(for: offline).hasSuffix(" * bob went offline"))
  }

  @Test("scripted input is echoed, escaped")
  func echo() {
    #expect(formatter.echo("/join g", at: Self.when) == "10:07:17 > /join g")
    #expect(formatter.echo("a\u{1B}b", at: Self.when) == "10:07:17 > a\\u{1B}b")
  }
}

@Suite("Terminal-safe text")
struct TerminalSafeTests {
  @Test(
    "characters that drive a terminal are shown escaped",
    arguments: [
      ("plain text", "plain text"),
      ("héllo wörld 👋 日本", "héllo wörld 👋 日本"),
      ("back\\slash", "back\\slash"),
      ("line\nbreak", "line\\nbreak"),
      ("tab\there", "tab\\there"),
      ("car\rriage", "car\\rriage"),
      ("\u{1B}[31mred\u{1B}[0m", "\\u{1B}[31mred\\u{1B}[0m"),
      ("bell\u{7}", "bell\\u{7}"),
      ("nul\u{0}", "nul\\u{0}"),
      ("del\u{7F}", "del\\u{7F}"),
      ("csi\u{9B}2J", "csi\\u{9B}2J"),
      ("rtl\u{202E}txt.exe", "rtl\\u{202E}txt.exe"),
      ("isolate\u{2066}x\u{2069}", "isolate\\u{2066}x\\u{2069}"),
      ("line\u{2028}separator", "line\\u{2028}separator"),
    ])
  func escapes(text: String, shown: String) {
    #expect(text.terminalSafe == shown)
  }

  @Test("no escaped string contains a control character")
  func noControlsLeft() {
    let every = String(String.UnicodeScalarView((0..<0x100).compactMap(Unicode.Scalar.init)))
    let safe = every.terminalSafe
    #expect(!safe.unicodeScalars.contains { $0.properties.generalCategory == .control })
  }
}

@Suite("Call authorization")
struct CallAuthorizationTests {
  @Test(
    "the authorization value names the user or the session",
    arguments: [(CallAuthorization.username, "Alice"), (.session, "Bearer 5d1c")])
  func value(mode: CallAuthorization, expected: String) {
    let welcome = Chat_V1_Welcome.with {
      $0.username = "Alice"
      $0.sessionID = "5d1c"
    }
    #expect(mode.value(for: welcome) == expected)
  }
}
