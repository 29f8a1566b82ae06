import ChatAPI
import ChatCore
import ChatServer
import GRPCCore
import GRPCNIOTransportHTTP2
import ChatTestSupport
import InMemoryLogging
import Logging
import Synchronization
import Testing

extension TestServer {
  func user(_ name: String) async throws -> TestUser {
    try await TestUser.connect(name, port: port)
  }
}

/// One user on its own HTTP/2 connection: a Connect stream whose events are
/// buffered for the test, and the unary calls with `authorization` set.
final class TestUser: Sendable {
  let name: String
  /// An account's bearer token; nil for a guest.
  let token: String?
  let client: GRPCClient<HTTP2ClientTransport.Posix>
  let chat: Chat_V1_ChatService.Client<HTTP2ClientTransport.Posix>
  private let inbox: Inbox
  private let clientTask: Task<Void, any Error>
  private let streamTask: Task<RPCError?, Never>

  private init(
    name: String, port: Int, security: HTTP2ClientTransport.Posix.TransportSecurity,
    config: HTTP2ClientTransport.Posix.Config, token: String? = nil, resume: Chat_V1_StreamPosition? = nil
  ) throws {
    self.name = name
    self.token = token
    let metadata: Metadata = token.map { ["authorization": .string("Bearer \($0)")] } ?? [:]
    client = GRPCClient(
      transport: try .http2NIOPosix(
        target: .ipv4(address: "127.0.0.1", port: port), transportSecurity: security, config: config))
    chat = Chat_V1_ChatService.Client(wrapping: client)
    clientTask = Task { [client] in try await client.runConnections() }
    let inbox = Inbox()
    self.inbox = inbox
    streamTask = Task { [chat] in
      defer { inbox.finish() }
      do {
        let request = Chat_V1_ConnectRequest.with {
          $0.username = name
          if let resume { $0.resume = resume }
        }
        try await chat.connect(request, metadata: metadata) { response in
          for try await event in response.messages { inbox.append(event) }
        }
        return nil
      } catch let error as RPCError {
        return error
      } catch {
        return RPCError(code: .unknown, message: "\(error)")
      }
    }
  }

  /// How long a Welcome may take: it waits for the connection too (TCP, a
  /// TLS handshake in a debug build, HTTP/2's preface), which the whole
  /// suite's load on 2 cores has stretched past 5 s, and in the run's first
  /// 40 s on a slow host, when every test still started at once, past 20 s.
  static let welcomeTimeout: Double = 60

  /// Connects and waits for Welcome.
  static func connect(
    _ name: String, port: Int, security: HTTP2ClientTransport.Posix.TransportSecurity = .plaintext,
    config: HTTP2ClientTransport.Posix.Config = .defaults
  ) async throws -> TestUser {
    try await connectWelcomed(name, port: port, security: security, config: config).user
  }

  /// Connects and returns the user with its Welcome (whose session id `--auth session` needs).
  static func connectWelcomed(
    _ name: String, port: Int, security: HTTP2ClientTransport.Posix.TransportSecurity = .plaintext,
    config: HTTP2ClientTransport.Posix.Config = .defaults
  ) async throws -> (user: TestUser, welcome: Chat_V1_Welcome) {
    let user = try TestUser(name: name, port: port, security: security, config: config)
    let event = try await user.next(Self.welcomeTimeout)
    guard case .welcome(let welcome)? = event.kind else {
      throw RPCError(code: .internalError, message: "first event is not Welcome: \(event)")
    }
    return (user, welcome)
  }

  /// Connects a session of an account with its token and waits for Welcome.
  static func connectAccount(
    _ name: String, token: String, port: Int, resume: Chat_V1_StreamPosition? = nil
  ) async throws -> (user: TestUser, welcome: Chat_V1_Welcome) {
    let user = try TestUser(
      name: name, port: port, security: .plaintext, config: .defaults, token: token, resume: resume)
    let event = try await user.next(Self.welcomeTimeout)
    guard case .welcome(let welcome)? = event.kind else {
      throw RPCError(code: .internalError, message: "first event is not Welcome: \(event)")
    }
    return (user, welcome)
  }

  /// An account's Connect that must fail; returns its error.
  static func failingAccountConnect(_ name: String, token: String, port: Int) async -> RPCError? {
    guard let user = try? TestUser(name: name, port: port, security: .plaintext, config: .defaults, token: token)
    else { return nil }
    defer { user.close() }
    return await user.streamEnd()
  }

  /// Starts a Connect that must fail; returns its error.
  static func failingConnect(
    _ name: String, port: Int, security: HTTP2ClientTransport.Posix.TransportSecurity = .plaintext
  ) async throws -> RPCError? {
    let user = try TestUser(name: name, port: port, security: security, config: .defaults)
    defer { user.close() }
    return await user.streamEnd()
  }

  /// The next event, within `seconds`.
  func next(_ seconds: Double = 5) async throws -> Chat_V1_Event {
    let event = try await withTimeout(seconds, "an event for \(name)") { [inbox] in await inbox.next() }
    guard let event else { throw RPCError(code: .aborted, message: "\(name)'s stream ended") }
    return event
  }

  /// Events until (and including) the first that matches.
  func next(until match: @Sendable (Chat_V1_Event) -> Bool) async throws -> [Chat_V1_Event] {
    var seen: [Chat_V1_Event] = []
    while true {
      let event = try await next()
      seen.append(event)
      if match(event) { return seen }
    }
  }

  /// How the Connect stream ended (nil: status OK), within `seconds`.
  func streamEnd(_ seconds: Double = 5) async -> RPCError? {
    do {
      return try await withTimeout(seconds, "\(name)'s stream to end") { [streamTask] in await streamTask.value }
    } catch {
      return RPCError(code: .deadlineExceeded, message: "\(error)")
    }
  }

  var auth: Metadata { ["authorization": .string(token.map { "Bearer \($0)" } ?? name)] }

  func create(_ group: String) async throws {
    _ = try await chat.createGroupChat(.with { $0.group = group }, metadata: auth)
  }

  func join(_ group: String) async throws {
    _ = try await chat.joinGroupChat(.with { $0.group = group }, metadata: auth)
  }

  func leave(_ group: String) async throws {
    _ = try await chat.leaveGroupChat(.with { $0.group = group }, metadata: auth)
  }

  func send(_ text: String, to name: String, _ type: Chat_V1_ChannelType) async throws {
    _ = try await chat.sendMessage(
      .with {
        $0.to.name = name
        $0.to.type = type
        $0.text = text
      }, metadata: auth)
  }

  func history(
    _ name: String, _ type: Chat_V1_ChannelType, before: UInt64 = 0, after: UInt64 = 0, limit: UInt32 = 0
  ) async throws -> Chat_V1_HistoryResponse {
    try await chat.history(
      .with {
        $0.channel.name = name
        $0.channel.type = type
        $0.beforeSeq = before
        $0.afterSeq = after
        $0.limit = limit
      }, metadata: auth)
  }

  func signOut() async throws {
    _ = try await chat.signOut(.init(), metadata: auth)
  }

  func members(_ group: String) async throws -> [Chat_V1_Member] {
    try await chat.listMembers(.with { $0.group = group }, metadata: auth).members
  }

  func list() async throws -> [Chat_V1_Channel] {
    try await chat.listChannels(.init(), metadata: auth).channels
  }

  /// Cancels the stream and closes the connection, as a client that quits.
  func close() {
    streamTask.cancel()
    client.beginGracefulShutdown()
    clientTask.cancel()
  }
}

/// The RPCError `body` throws, if any.
func rpcError(_ body: () async throws -> Void) async -> RPCError? {
  do {
    try await body()
    return nil
  } catch let error as RPCError {
    return error
  } catch {
    return RPCError(code: .unknown, message: "\(error)")
  }
}

extension Chat_V1_Event {
  var hasWelcome: Bool {
    if case .welcome? = kind { return true }
    return false
  }

  var hasMessage: Bool {
    if case .message? = kind { return true }
    return false
  }
}

/// Events received and not yet read by the test; `next()` waits for one.
final class Inbox: Sendable {
  private struct State {
    var events: [Chat_V1_Event] = []
    /// Index of the next unread event (the array is compacted when drained).
    var head = 0
    var finished = false
    var waiter: CheckedContinuation<Chat_V1_Event?, Never>?
  }
  private let state = Mutex(State())

  func append(_ event: Chat_V1_Event) {
    let waiter = state.withLock { state -> CheckedContinuation<Chat_V1_Event?, Never>? in
      if let waiter = state.waiter.take() { return waiter }
      state.events.append(event)
      return nil
    }
    waiter?.resume(returning: event)
  }

  func finish() {
    let waiter = state.withLock { state in
      state.finished = true
      return state.waiter.take()
    }
    waiter?.resume(returning: nil)
  }

  /// The next event; nil once the stream ended or the waiting task is cancelled.
  func next() async -> Chat_V1_Event? {
    await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        let ready: Chat_V1_Event?? = state.withLock { state in
          if state.head < state.events.count {
            let event = state.events[state.head]
            state.head += 1
            if state.head == state.events.count {
              state.events.removeAll(keepingCapacity: true)
              state.head = 0
            }
            return .some(event)
          }
          if state.finished || Task.isCancelled { return .some(nil) }
          state.waiter = continuation
          return .none
        }
        if case .some(let event) = ready { continuation.resume(returning: event) }
      }
    } onCancel: {
      let waiter = state.withLock { $0.waiter.take() }
      waiter?.resume(returning: nil)
    }
  }
}

/// Polls `condition` until it holds, for state that announces no event
/// (the registry's contents as a raw client changes them).
func eventually(
  _ what: String, within seconds: Double = 5, _ condition: @escaping @Sendable () -> Bool
) async throws {
  try await withTimeout(seconds, what) {
    while !condition() { try await Task.sleep(for: .milliseconds(5)) }
  }
}
