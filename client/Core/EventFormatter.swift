import ChatAPI
import Foundation
import GRPCCore

/// The lines the client prints, each starting with a short local time:
///
///     09:07:17 [#general] bob: hi
///     09:07:18 [@bob → alice] hi
///     09:07:19 * carol joined #general
///     09:07:20 * dave left #general (kicked)
///     09:07:21 * notice from the operator: server restarts at 18:00
///     09:07:22 ! NOT_FOUND: no group 'nowhere'.
///
/// `*` marks what happened, `!` what went wrong.
/// Everything the server sends is made `terminalSafe` first.
public struct EventFormatter: Sendable {
  private let calendar: Calendar

  public init(timeZone: TimeZone = .current) {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = timeZone
    self.calendar = calendar
  }

  /// One event, stamped with the server's time for it.
  public func line(for event: Chat_V1_Event) -> String {
    let date =
      event.hasTime
      ? Date(timeIntervalSince1970: Double(event.time.seconds) + Double(event.time.nanos) / 1e9) : Date()
    return stamped(describe(event), at: date)
  }

  /// A line of the client's own, stamped now.
  public func note(_ text: String, at date: Date = Date()) -> String {
    stamped("* \(text)", at: date)
  }

  /// A failed call or a line the client could not act on, after `prefix`
  /// if there is one: `! cannot connect: UNAVAILABLE: …`.
  public func failure(_ error: any Error, prefix: String? = nil, at date: Date = Date()) -> String {
    stamped("! \(prefix.map { "\($0): " } ?? "")\(Self.explain(error))", at: date)
  }

  /// What may help after a failure: `! hint: …`.
  public func hint(_ text: String, at date: Date = Date()) -> String {
    stamped("! hint: \(text)", at: date)
  }

  /// Why the Connect stream ended; nil if the server closed it without an error.
  public func disconnected(_ error: (any Error)?, at date: Date = Date()) -> String {
    let why = error.map(Self.explain) ?? "the server ended the session."
    return stamped("! disconnected: \(why)", at: date)
  }

  /// The `/list` answer: `* users: @alice, @bob; groups: #general (joined), #books`.
  public func channels(_ channels: [Chat_V1_Channel], joined: Set<String> = [], at date: Date = Date()) -> String {
    func names(_ type: Chat_V1_ChannelType, _ sigil: String) -> String {
      let names = channels.filter { $0.type == type }.map {
        sigil + $0.name.terminalSafe + (type == .group && joined.contains($0.name) ? " (joined)" : "")
      }
      return names.isEmpty ? "none" : names.joined(separator: ", ")
    }
    return note("users: \(names(.user, "@")); groups: \(names(.group, "#"))", at: date)
  }

  /// The `/members` answer: a count, then one member a line.
  ///
  ///     * #general: 3 members, 2 online
  ///     *   alice (online)
  ///     *   bob (account, online)
  ///     *   carol (account, offline, last seen 2h05m ago)
  public func members(of group: String, _ members: [Chat_V1_Member], at date: Date = Date()) -> [String] {
    let online = members.count(where: \.online)
    let header = "#\(group.terminalSafe): \(members.count) member\(members.count == 1 ? "" : "s"), \(online) online"
    return [note(header, at: date)]
      + members.map { member in
        var about = member.account ? ["account"] : []
        about.append(member.online ? "online" : "offline")
        if !member.online, member.hasLastSeen {
          about.append("last seen \(Self.ago(date.timeIntervalSince(member.lastSeen.date)))")
        }
        return note("  \(member.username.terminalSafe) (\(about.joined(separator: ", ")))", at: date)
      }
  }

  /// `45s ago`, `12m ago`, `2h05m ago`, `3d ago`.
  public static func ago(_ seconds: TimeInterval) -> String {
    let whole = max(0, Int(seconds))
    if whole < 60 { return "\(whole)s ago" }
    if whole < 3600 { return "\(whole / 60)m ago" }
    if whole < 86_400 {
      let minutes = (whole % 3600) / 60
      return "\(whole / 3600)h\(minutes < 10 ? "0" : "")\(minutes)m ago"
    }
    return "\(whole / 86_400)d ago"
  }

  /// A line that came in as typed, for transcripts of scripted sessions.
  public func echo(_ line: String, at date: Date = Date()) -> String {
    stamped("> \(line.terminalSafe)", at: date)
  }

  /// `HH:mm:ss` in the formatter's time zone.
  public func clock(_ date: Date) -> String {
    let time = calendar.dateComponents([.hour, .minute, .second], from: date)
    func twoDigits(_ value: Int?) -> String {
      let value = value ?? 0
      return value < 10 ? "0\(value)" : "\(value)"
    }
    return "\(twoDigits(time.hour)):\(twoDigits(time.minute)):\(twoDigits(time.second))"
  }

  private func stamped(_ text: String, at date: Date) -> String {
    "\(clock(date)) \(text)"
  }

  private func describe(_ event: Chat_V1_Event) -> String {
    switch event.kind {
    case .welcome(let welcome):
      // Not the session id: with --auth session it is a credential, and screens end up in transcripts.
      return "* connected as \(welcome.username.terminalSafe)"
    case .message(let message):
      let sender = message.sender.terminalSafe
      let channel = message.channel.name.terminalSafe
      let text = message.text.terminalSafe
      switch message.channel.type {
      case .group: return "[#\(channel)] \(sender): \(text)"
      case .user: return "[@\(sender) → \(channel)] \(text)"
      default: return "[?\(channel)] \(sender): \(text)"
      }
    case .memberJoined(let joined):
      return "* \(joined.username.terminalSafe) joined #\(joined.group.terminalSafe)"
    case .memberLeft(let left):
      let why: String =
        switch left.reason {
        case .left: ""
        case .disconnected: " (disconnected)"
        case .kicked: " (kicked)"
        default: " (for a reason this client does not know)"
        }
      return "* \(left.username.terminalSafe) left #\(left.group.terminalSafe)\(why)"
    case .notice(let notice):
      return "* notice from the operator: \(notice.text.terminalSafe)"
    case .presence(let presence):
      return "* \(presence.username.terminalSafe) \(presence.online ? "is online" : "went offline")"
    case nil:
      return "* (an event this client does not know)"
    }
  }

  /// `NOT_FOUND: group 'x' does not exist.` for a gRPC error.
  private static func explain(_ error: any Error) -> String {
    switch error {
    case let error as RPCError: "\(error.code.canonicalName): \(error.message.terminalSafe)"
    case let error as CommandError: error.message.terminalSafe
    default: "\(error)".terminalSafe
    }
  }
}
