import ChatAPI
import ChatTestSupport
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SwiftProtobuf
import Synchronization

/// A stand-in for the server's account side, as the contract describes it, for the client's
/// end-to-end tests until the real one lands: SignUp and SignIn issue tokens, Connect with a
/// token welcomes the account and replays what it missed after `resume`, group messages are
/// logged with a `seq`, History pages, SignOut revokes the token and ends its streams. It can
/// also drop every stream and refuse Connect for a while, as a restarting server does.
final class FakeAccountService: Chat_V1_ChatService.SimpleServiceProtocol {
  static let epoch = "epoch-1"

  private struct Stream {
    var token: String
    var events: AsyncStream<Chat_V1_Event>.Continuation
  }
  private struct State {
    var tokens: [String: String] = [:]  // token → account
    var log: [Chat_V1_Event] = []
    var streams: [UUID: Stream] = [:]
    var connects: [(request: Chat_V1_ConnectRequest, authorization: String?)] = []
    var down = false
    var ending: [UUID: RPCError] = [:]
  }
  private let state = Mutex(State())

  /// Every Connect: its request and its `authorization`.
  var connects: [(request: Chat_V1_ConnectRequest, authorization: String?)] { state.withLock { $0.connects } }
  var issuedTokens: [String] { state.withLock { Array($0.tokens.keys) } }

  /// Ends every stream with UNAVAILABLE and refuses Connect until `comeBack()`.
  func goDown() {
    let streams = state.withLock { state in
      state.down = true
      for id in state.streams.keys { state.ending[id] = RPCError(code: .unavailable, message: "restarting.") }
      return state.streams.values.map(\.events)
    }
    for events in streams { events.finish() }
  }

  func comeBack() { state.withLock { $0.down = false } }

  /// Logs a group message that no stream is sent (as one said while a client was away).
  func logMissed(_ text: String, from sender: String, in group: String) {
    state.withLock { state in _ = Self.append(message(text, from: sender, in: group), to: &state) }
  }

  private func message(_ text: String, from sender: String, in group: String) -> Chat_V1_Event {
    .with {
      $0.time = Google_Protobuf_Timestamp(date: Date())
      $0.message = .with {
        $0.sender = sender
        $0.text = text
        $0.channel = .with {
          $0.type = .group
          $0.name = group
        }
      }
    }
  }

  private static func append(_ event: Chat_V1_Event, to state: inout State) -> Chat_V1_Event {
    var event = event
    event.seq = UInt64(state.log.count + 1)
    if case .message = event.kind { event.message.id = event.seq }
    state.log.append(event)
    return event
  }

  private func account(_ context: ServerContext) throws -> (name: String, token: String) {
    guard let value = CallAuthorizationValue.current,
      value.hasPrefix("Bearer "), let name = state.withLock({ $0.tokens[String(value.dropFirst(7))] })
    else { throw RPCError(code: .unauthenticated, message: "no valid token.") }
    return (name, String(value.dropFirst(7)))
  }

  private func broadcast(_ event: Chat_V1_Event) {
    let streams = state.withLock { state in
      let logged = Self.append(event, to: &state)
      return (logged, state.streams.values.map(\.events))
    }
    for stream in streams.1 { stream.yield(streams.0) }
  }

  func connect(request: Chat_V1_ConnectRequest, response: RPCWriter<Chat_V1_Event>, context: ServerContext) async throws {
    state.withLock { $0.connects.append((request, CallAuthorizationValue.current)) }
    if state.withLock({ $0.down }) { throw RPCError(code: .unavailable, message: "restarting.") }
    let (name, token) = try account(context)
    let id = UUID()
    let (events, continuation) = AsyncStream<Chat_V1_Event>.makeStream()
    let missed: [Chat_V1_Event] = state.withLock { state in
      state.streams[id] = Stream(token: token, events: continuation)
      guard request.hasResume, request.resume.epoch == Self.epoch else { return [] }
      return state.log.filter { $0.seq > request.resume.seq }
    }
    let lastSeq = state.withLock { UInt64($0.log.count) }
    try await response.write(
      .with {
        $0.welcome = .with {
          $0.username = name
          $0.sessionID = id.uuidString
          $0.account = true
          $0.recovered = true
          $0.replayed = UInt32(missed.count)
          $0.position = .with {
            $0.epoch = Self.epoch
            $0.seq = lastSeq
          }
        }
      })
    for event in missed { try await response.write(event) }
    for await event in events { try await response.write(event) }
    let ending = state.withLock { state in
      state.streams[id] = nil
      return state.ending.removeValue(forKey: id)
    }
    if let ending { throw ending }
  }

  func createGroupChat(request: Chat_V1_GroupRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
    let (name, _) = try account(context)
    broadcast(.with { $0.memberJoined = .with { $0.username = name; $0.group = request.group } })
    return .init()
  }

  func joinGroupChat(request: Chat_V1_GroupRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
    try await createGroupChat(request: request, context: context)
  }

  func leaveGroupChat(request: Chat_V1_GroupRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
    throw RPCError(code: .unimplemented, message: "not in the fake.")
  }

  func sendMessage(request: Chat_V1_SendMessageRequest, context: ServerContext) async throws -> Google_Protobuf_Empty {
    let (name, _) = try account(context)
    broadcast(message(request.text, from: name, in: request.to.name))
    return .init()
  }

  func listChannels(request: Google_Protobuf_Empty, context: ServerContext) async throws -> Chat_V1_ListChannelsResponse {
    _ = try account(context)
    let groups = state.withLock { state in
      Set(state.log.compactMap { event -> String? in
        if case .memberJoined(let joined) = event.kind { return joined.group }
        return nil
      })
    }
    return .with { $0.channels = groups.sorted().map { name in .with { $0.type = .group; $0.name = name } } }
  }

  func signUp(request: Chat_V1_Credentials, context: ServerContext) async throws -> Chat_V1_AuthToken {
    let token = "ct_" + UUID().uuidString.replacingOccurrences(of: "-", with: "")
    state.withLock { $0.tokens[token] = request.username }
    return .with {
      $0.token = token
      $0.expiresAt = Google_Protobuf_Timestamp(date: Date().addingTimeInterval(3600))
    }
  }

  func signIn(request: Chat_V1_Credentials, context: ServerContext) async throws -> Chat_V1_AuthToken {
    try await signUp(request: request, context: context)
  }

  func signOut(request: Google_Protobuf_Empty, context: ServerContext) async throws -> Google_Protobuf_Empty {
    let (_, token) = try account(context)
    let streams = state.withLock { state in
      state.tokens[token] = nil
      let ids = state.streams.filter { $0.value.token == token }.map(\.key)
      for id in ids { state.ending[id] = RPCError(code: .unauthenticated, message: "signed out") }
      return ids.compactMap { state.streams[$0]?.events }
    }
    for events in streams { events.finish() }
    return .init()
  }

  func history(request: Chat_V1_HistoryRequest, context: ServerContext) async throws -> Chat_V1_HistoryResponse {
    _ = try account(context)
    let limit = request.limit == 0 ? 50 : Int(request.limit)
    return state.withLock { state in
      let older = state.log
        .filter { event in
          let group: String? =
            switch event.kind {
            case .message(let message): message.channel.name
            case .memberJoined(let joined): joined.group
            default: nil
            }
          return group == request.channel.name && (request.beforeSeq == 0 || event.seq < request.beforeSeq)
        }
        .sorted { $0.seq > $1.seq }
      return .with {
        $0.events = Array(older.prefix(limit))
        $0.hasMore_p = older.count > limit
      }
    }
  }

  func listMembers(request: Chat_V1_GroupRequest, context: ServerContext) async throws -> Chat_V1_ListMembersResponse {
    throw RPCError(code: .unimplemented, message: "not in the fake.")
  }
}

/// `FakeAccountService` served on 127.0.0.1 and a free port.
final class FakeAccountServer: Sendable {
  let service = FakeAccountService()
  let port: Int
  private let server: GRPCServer<HTTP2ServerTransport.Posix>
  private let serving: Task<Void, any Error>

  init() async throws {
    let transport = HTTP2ServerTransport.Posix(address: .ipv4(host: "127.0.0.1", port: 0), transportSecurity: .plaintext)
    let server = GRPCServer(transport: transport, services: [service], interceptors: [AuthorizationInterceptor()])
    self.server = server
    serving = Task { try await server.serve() }
    port = try await withTimeout(10, "the fake server to listen") {
      guard let ipv4 = try await transport.listeningAddress.ipv4 else { throw CancellationError() }
      return ipv4.port
    }
  }

  func stop() async throws {
    service.goDown()
    server.beginGracefulShutdown()
    try await withTimeout(10, "the fake server to stop") { [serving] in try await serving.value }
  }
}

/// The call's `authorization` metadata, which the simple service protocol's handlers do not see.
enum CallAuthorizationValue {
  @TaskLocal static var current: String?
}

/// Sets `CallAuthorizationValue.current` for the handler, streaming ones included (whose body
/// runs in the response's producer, after `next` returns).
struct AuthorizationInterceptor: ServerInterceptor {
  func intercept<Input: Sendable, Output: Sendable>(
    request: StreamingServerRequest<Input>,
    context: ServerContext,
    next: @Sendable (StreamingServerRequest<Input>, ServerContext) async throws -> StreamingServerResponse<Output>
  ) async throws -> StreamingServerResponse<Output> {
    let value = request.metadata[stringValues: "authorization"].first(where: { _ in true })
    var response = try await CallAuthorizationValue.$current.withValue(value) { try await next(request, context) }
    if case .success(var contents) = response.accepted {
      let producer = contents.producer
      contents.producer = { writer in
        try await CallAuthorizationValue.$current.withValue(value) { try await producer(writer) }
      }
      response.accepted = .success(contents)
    }
    return response
  }
}
