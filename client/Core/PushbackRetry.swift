import ChatAPI
import GRPCCore

/// Retries a call that the server's rate limit refused, after the wait the
/// server asks for: RESOURCE_EXHAUSTED with the trailing metadata
/// `grpc-retry-pushback-ms` (gRFC A6). A script typed faster than the limit
/// then slows down instead of losing lines. A refused call did nothing, so
/// sending it again sends it once.
///
/// Bounded: past `maxRetries` retries, or a wait that would take the total
/// past `maxTotalWait`, the error is thrown as it is. Any other error,
/// RESOURCE_EXHAUSTED without pushback among them (a limit that waiting does
/// not lift), is thrown at once.
public struct PushbackRetry: Sendable {
  public var maxRetries: Int
  public var maxTotalWait: Duration
  private let sleep: @Sendable (Duration) async throws -> Void

  public init(
    maxRetries: Int = 10,
    maxTotalWait: Duration = .seconds(30),
    sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
  ) {
    self.maxRetries = maxRetries
    self.maxTotalWait = maxTotalWait
    self.sleep = sleep
  }

  public func run<Value>(_ call: () async throws -> Value) async throws -> Value {
    var retries = 0
    var waited = Duration.zero
    while true {
      do {
        return try await call()
      } catch {
        guard retries < maxRetries, let wait = Self.pushback(in: error), waited + wait <= maxTotalWait else {
          throw error
        }
        try await sleep(wait)
        retries += 1
        waited += wait
      }
    }
  }

  /// The wait the server asks for before a retry; nil when it asks for none:
  /// another error, or a pushback that is not a whole number of milliseconds
  /// (gRFC A6: do not retry then).
  public static func pushback(in error: any Error) -> Duration? {
    guard let error = error as? RPCError, error.code == .resourceExhausted,
      let value = error.metadata[stringValues: "grpc-retry-pushback-ms"].first(where: { _ in true }),
      let milliseconds = Int(value), milliseconds >= 0
    else { return nil }
    return .milliseconds(milliseconds)
  }
}

/// `base`, each call retried by `retry`.
public struct RetryingChatCalls: ChatCalls {
  public let base: any ChatCalls
  public let retry: PushbackRetry

  public init(_ base: any ChatCalls, retry: PushbackRetry = PushbackRetry()) {
    self.base = base
    self.retry = retry
  }

  public func createGroup(_ group: String) async throws {
    try await retry.run { try await base.createGroup(group) }
  }

  public func joinGroup(_ group: String) async throws {
    try await retry.run { try await base.joinGroup(group) }
  }

  public func leaveGroup(_ group: String) async throws {
    try await retry.run { try await base.leaveGroup(group) }
  }

  public func listChannels() async throws -> [Chat_V1_Channel] {
    try await retry.run { try await base.listChannels() }
  }

  public func send(_ text: String, to target: ChatTarget) async throws {
    try await retry.run { try await base.send(text, to: target) }
  }

  public func listMembers(_ group: String) async throws -> [Chat_V1_Member] {
    try await retry.run { try await base.listMembers(group) }
  }
}

extension RetryingChatCalls {
  public func history(of target: ChatTarget, beforeSeq: UInt64, limit: Int) async throws -> Chat_V1_HistoryResponse {
    try await retry.run { try await base.history(of: target, beforeSeq: beforeSeq, limit: limit) }
  }

  public func signUp(_ username: String, password: String) async throws -> AccountToken {
    try await retry.run { try await base.signUp(username, password: password) }
  }

  public func signIn(_ username: String, password: String) async throws -> AccountToken {
    try await retry.run { try await base.signIn(username, password: password) }
  }

  public func signOut() async throws {
    try await retry.run { try await base.signOut() }
  }
}
