import ChatAPI

/// The calls a session makes for its commands. The CLI makes them over gRPC
/// with the session's authorization; tests fake them.
public protocol ChatCalls: Sendable {
  func createGroup(_ group: String) async throws
  func joinGroup(_ group: String) async throws
  func leaveGroup(_ group: String) async throws
  func listChannels() async throws -> [Chat_V1_Channel]
  func send(_ text: String, to target: ChatTarget) async throws
}

/// Where a session's lines go, and what a terminal shows besides them.
public protocol SessionOutput: Sendable {
  /// Prints one line, above what is being typed.
  func print(_ line: String)
  /// Where plain lines go now, for the prompt.
  func show(target: ChatTarget?)
  /// The names Tab completes.
  func complete(from completions: Completions)
}

extension SessionOutput {
  public func show(target: ChatTarget?) {}
  public func complete(from completions: Completions) {}
}
