import ChatAPI
import GRPCCore

/// Acts on the lines a user types, one at a time, and prints what comes of
/// each: the session's side of the conversation, without the Connect stream
/// (events are printed as they arrive, by whoever reads the stream).
public struct CommandRunner {
  public enum Outcome: Equatable, Sendable {
    case goOn
    case quit
  }

  private let calls: any ChatCalls
  private let output: any SessionOutput
  private let formatter: EventFormatter
  /// The user, as the server spells it (from Welcome).
  private let username: String
  private let authorization: CallAuthorization
  /// Where plain lines go.
  public private(set) var target: ChatTarget?

  public init(
    calls: any ChatCalls, output: any SessionOutput, formatter: EventFormatter, username: String,
    authorization: CallAuthorization
  ) {
    self.calls = calls
    self.output = output
    self.formatter = formatter
    self.username = username
    self.authorization = authorization
  }

  /// Acts on one line; a failure is printed, and the session goes on.
  public mutating func run(_ line: String) async -> Outcome {
    do {
      guard let command = try ClientCommand.parse(line) else { return .goOn }
      switch command {
      case .quit:
        return .quit
      case .help:
        for helpLine in ClientCommand.helpText { output.print(helpLine) }
      case .setTarget(let wanted):
        try await talk(to: wanted)
      case .showTarget:
        let now = target.map { "talking to \($0.description.terminalSafe)" } ?? "talking to nobody: /to #<group> or /to @<user>"
        output.print(formatter.note(now))
      case .text(let text):
        guard let target else {
          throw CommandError("no channel to send to: /to #<group> or /to @<user> first, or /help.")
        }
        // The message comes back on the stream, as everyone else sees it;
        // so do MemberJoined for /create and /join.
        try await calls.send(text, to: target)
      case .send(let text, let to):
        try await calls.send(text, to: to)
      case .create(let group):
        try await calls.createGroup(group)
      case .join(let group):
        try await calls.joinGroup(group)
      case .leave(let group):
        try await leave(group)
      case .list:
        let channels = try await calls.listChannels()
        output.complete(from: Completions(channels: channels))
        output.print(formatter.channels(channels))
      }
    } catch {
      report(error)
    }
    return .goOn
  }

  /// Checks that `wanted` exists before talking to it, so a typo is caught
  /// here rather than at the next line; keeps the old target if not.
  private mutating func talk(to wanted: ChatTarget) async throws {
    let channels = try await calls.listChannels()
    output.complete(from: Completions(channels: channels))
    guard let found = channels.first(where: wanted.matches) else {
      let missing =
        switch wanted {
        case .user(let name): "no connected user '\(name)'"
        case .group(let name): "no group '\(name)'"
        }
      let still = target.map { " (still talking to \($0))" } ?? ""
      throw CommandError("cannot talk to \(wanted): \(missing)\(still).")
    }
    // The server's spelling, as every event shows it.
    let newTarget = wanted.named(found.name)
    target = newTarget
    output.show(target: newTarget)
    output.print(formatter.note("talking to \(newTarget.description.terminalSafe)"))
  }

  private mutating func leave(_ group: String) async throws {
    try await calls.leaveGroup(group)
    let left = ChatTarget.group(group)
    // The last member out deletes the group, which only the list shows. The
    // leave itself succeeded, so a failed list only loses that line.
    let channels = try? await calls.listChannels()
    if let channels { output.complete(from: Completions(channels: channels)) }
    let listed = channels?.first(where: left.matches)
    // The server's spelling, as the others see it: from the list, or from
    // the target if the group is gone.
    let shown = listed?.name ?? target.flatMap { left.matches($0.channel) ? $0.name : nil } ?? group
    // The server tells only the others; say it in the words they see.
    output.print(
      formatter.line(
        for: .with {
          $0.kind = .memberLeft(
            .with {
              $0.username = username
              $0.group = shown
              $0.reason = .left
            })
        }))
    if channels != nil && listed == nil {
      output.print(formatter.note("#\(shown.terminalSafe) was deleted (its last member left)"))
    }
    if let target, left.matches(target.channel) {
      self.target = nil
      output.show(target: nil)
      output.print(formatter.note("no longer talking to \(target.description.terminalSafe)"))
    }
  }

  private func report(_ error: any Error) {
    output.print(formatter.failure(error))
    // The likeliest cause: a server in session mode refuses a username.
    if authorization == .username, let error = error as? RPCError, error.code == .unauthenticated {
      output.print(formatter.hint("if the server runs with --auth session, start chat-client with --auth session"))
    }
  }
}
