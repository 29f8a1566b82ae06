import ChatAPI
import ChatAuth
import ChatCore
import Foundation
import GRPCCore
import GRPCProtobuf
import Logging
import NGHTTP2Transport
import SwiftProtobuf

/// The chat.v1.ChatService handlers: each translates a call into one registry
/// call. Methods are registered by hand (with the generated descriptors) so
/// that Connect can stream `SharedEvent`s, encoded once per event rather
/// than once per recipient.
public struct ChatService: RegistrableRPCService {
  let registry: ChatRegistry
  let logger: Logger
  /// Larger request messages are RESOURCE_EXHAUSTED.
  let maxRequestBytes: Int
  /// How long a session the server ended (kick, slow consumer, shutdown)
  /// may take to write its last events and status before its stream is reset.
  let endGrace: Duration
  /// Resets the streams of such sessions (nil: a transport without it).
  let streamCloser: StreamCloser?
  let accounts: AccountServices

  public init(
    registry: ChatRegistry, logger: Logger, maxRequestBytes: Int, endGrace: Duration = .seconds(2),
    streamCloser: StreamCloser? = nil, accounts: AccountServices = AccountServices()
  ) {
    self.registry = registry
    self.logger = logger
    self.maxRequestBytes = maxRequestBytes
    self.endGrace = endGrace
    self.streamCloser = streamCloser
    self.accounts = accounts
  }

  public func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
    typealias Method = Chat_V1_ChatService.Method
    router.registerHandler(
      forMethod: Method.Connect.descriptor,
      deserializer: SizeLimitedDeserializer<Chat_V1_ConnectRequest>(limit: maxRequestBytes),
      serializer: SharedEventSerializer(),
      handler: { request, context in
        let request = try await ServerRequest(stream: request)
        return try connect(
          request.message, credential: AuthInterceptor.credential(in: request.metadata),
          streamHandle: request.metadata[stringValues: StreamCloser.header].first(where: { _ in true }),
          transportStream: context.transportSpecific as? NGHTTP2StreamContext,
          peer: PeerAddress(grpcPeer: context.remotePeer))
      }
    )
    // What changes stored state answers OK once the store has committed it.
    router.registerUnary(Method.CreateGroupChat.descriptor, maxRequestBytes: maxRequestBytes) { (request: Chat_V1_GroupRequest, caller) in
      try await registry.createGroup(request.group, by: caller).wait()
      return Google_Protobuf_Empty()
    }
    router.registerUnary(Method.JoinGroupChat.descriptor, maxRequestBytes: maxRequestBytes) { (request: Chat_V1_GroupRequest, caller) in
      try await registry.joinGroup(request.group, by: caller).wait()
      return Google_Protobuf_Empty()
    }
    router.registerUnary(Method.LeaveGroupChat.descriptor, maxRequestBytes: maxRequestBytes) { (request: Chat_V1_GroupRequest, caller) in
      try await registry.leaveGroup(request.group, by: caller).wait()
      return Google_Protobuf_Empty()
    }
    router.registerUnary(Method.SendMessage.descriptor, maxRequestBytes: maxRequestBytes) { (request: Chat_V1_SendMessageRequest, caller) in
      try await registry.send(request.text, to: request.to.kind(), named: request.to.name, from: caller).durability.wait()
      return Google_Protobuf_Empty()
    }
    router.registerUnary(Method.SignOut.descriptor, maxRequestBytes: maxRequestBytes) { (_: Google_Protobuf_Empty, caller) in
      try await registry.signOut(caller).wait()
      return Google_Protobuf_Empty()
    }
    router.registerUnary(Method.History.descriptor, maxRequestBytes: maxRequestBytes) { (request: Chat_V1_HistoryRequest, caller) in
      let page = try await registry.history(
        request.channel.kind(), named: request.channel.name, before: request.beforeSeq, after: request.afterSeq,
        limit: request.limit, by: caller)
      return Chat_V1_HistoryResponse.with {
        $0.events = page.events.map { Chat_V1_Event($0.event) }
        $0.hasMore_p = page.hasMore
      }
    }
    router.registerAnonymous(Method.SignUp.descriptor, maxRequestBytes: maxRequestBytes) { (request: Chat_V1_Credentials) in
      try await signUp(request)
    }
    router.registerAnonymous(Method.SignIn.descriptor, maxRequestBytes: maxRequestBytes) { (request: Chat_V1_Credentials) in
      try await signIn(request)
    }
    router.registerUnary(Method.ListMembers.descriptor, maxRequestBytes: maxRequestBytes) { (request: Chat_V1_GroupRequest, caller) in
      let members = try registry.listMembers(request.group, by: caller)
      return Chat_V1_ListMembersResponse.with { $0.members = members.map(Chat_V1_Member.init) }
    }
    router.registerUnary(Method.ListChannels.descriptor, maxRequestBytes: maxRequestBytes) { (_: Google_Protobuf_Empty, caller) in
      var response = Chat_V1_ListChannelsResponse()
      response.channels = try registry.listChannels(for: caller).map(Chat_V1_Channel.init)
      return response
    }
  }

  /// Registers the user, then streams its session's events until the session
  /// ends. Registration happens inside the producer, which always runs to its
  /// end, so every session that is registered is also ended.
  func connect(
    _ request: Chat_V1_ConnectRequest, credential: String?, streamHandle: String?,
    transportStream: NGHTTP2StreamContext? = nil, peer: PeerAddress
  ) throws -> StreamingServerResponse<SharedEvent> {
    let identity: ConnectIdentity
    do throws(ChatError) {
      // An account's Connect carries its token; a guest's names its user.
      let resume = request.hasResume ? LogPosition(epoch: request.resume.epoch, seq: request.resume.seq) : nil
      if let credential, AccessToken.looksLikeToken(credential) {
        identity = .account(TokenHash([UInt8](AccessToken.hash(credential))), requested: request.username, resume: resume)
      } else if let credential, accounts.jwt != nil, AccountServices.looksLikeJWT(credential) {
        identity = .jwt(credential, requested: request.username, resume: resume)
      } else {
        identity = .guest(try ChatName.validate(request.username, as: .user))
      }
    } catch {
      logRefusal(error, user: ChatName(request.username)?.display ?? quoted(request.username), peer: peer)
      throw error
    }
    return StreamingServerResponse { writer in
      let session = try await register(identity, peer: peer)
      // When the server ends the session (kick, slow consumer, shutdown),
      // its client has `endGrace` to take the last events and the status;
      // then the stream is reset, which also fails writes stuck behind a
      // client that stopped reading: an ended session holds no stream,
      // buffers or task.
      if let streamCloser, let streamHandle {
        session.queue.onEnd { [endGrace] end in
          guard end != .disconnected else { return }
          streamCloser.reset(streamHandle, after: endGrace, reason: end.label)
        }
      } else if let transportStream {
        // The nghttp2 transport resets its own streams.
        session.queue.onEnd { [endGrace] end in
          guard end != .disconnected else { return }
          transportStream.reset(after: endGrace, reason: end.label)
        }
      }
      // gRPC reports a client that cancels or vanishes through this handler,
      // not by cancelling the task; closing the queue ends the session.
      return try await withRPCCancellationHandler {
        if let transportStream {
          try await pull(session, through: transportStream, finishingWith: writer)
        } else {
          try await pump(session, to: writer)
        }
      } onCancelRPC: {
        session.queue.close(.disconnected)?.resume()
      }
    }
  }

  /// Registers the session. Connect goes through no interceptor (see
  /// `ChatApplication`), so refusals are logged here, as `RequestLogInterceptor`
  /// logs other calls' failures. (Synchronous, to keep the stream's async
  /// frame small: it lives as long as the session.)
  private func register(_ identity: ConnectIdentity, peer: PeerAddress) async throws -> Session {
    do {
      switch identity {
      case .guest(let name):
        return try registry.connect(name, peer: peer.description)
      case .account(let token, let requested, let resume):
        return try await registry.connectAccount(
          token: token, requested: requested, resume: resume, peer: peer.description)
      case .jwt(let token, let requested, let resume):
        let caller = try await accounts.caller(forJWT: token, registry: registry, charge: false)
        return try await registry.connectAccount(
          token: caller.tokenHash!, requested: requested, resume: resume, peer: peer.description)
      }
    } catch {
      let user: String =
        switch identity {
        case .guest(let name): name.display
        case .account(_, let requested, _), .jwt(_, let requested, _):
          requested.isEmpty ? "(account)" : quoted(requested)
        }
      logRefusal(error, user: user, peer: peer)
      throw error
    }
  }

  private enum ConnectIdentity {
    case guest(ChatName)
    case account(TokenHash, requested: String, resume: LogPosition?)
    /// Verified (and its account admitted) when the stream starts.
    case jwt(String, requested: String, resume: LogPosition?)
  }

  private func logRefusal(_ error: any Error, user: String, peer: PeerAddress) {
    let error = RPCError(converting: error)
    logger.info(
      "rpc failed",
      metadata: [
        "method": "Connect", "user": "\(user)", "peer": "\(peer)", "code": "\(error.code.grpcName)",
        "error": "\(error.message)",
      ])
  }

  /// Lets the transport pull the session's events as they are queued (on
  /// its event loop, no task woken per batch) until the session ends.
  private func pull(
    _ session: Session, through stream: NGHTTP2StreamContext, finishingWith writer: RPCWriter<SharedEvent>
  ) async throws -> Metadata {
    let signal = stream.pull { [registry] in
      guard case .events(let batch) = session.queue.takeReady() else { return [] }
      registry.recordWritten(batch, to: session)
      return batch.map { $0.encoded(as: ProtobufEventEncoding.self) }
    }
    session.queue.pullWhenReady(signal)
    _ = await session.queue.ended()
    // The queue is closed: `pump` writes what the transport has not taken,
    // then ends the stream, and the transport pulls nothing after it.
    return try await pump(session, to: writer)
  }

  /// Writes the session's events in batches until the session ends.
  private func pump(_ session: Session, to writer: RPCWriter<SharedEvent>) async throws -> Metadata {
    while true {
      switch await session.queue.next() {
      case .events(let batch):
        do {
          try await writer.write(contentsOf: batch)
          registry.recordWritten(batch, to: session)
        } catch {
          registry.disconnect(session)
          throw error
        }
      case .ended(let end):
        registry.disconnect(session)
        if let error = end.rpcError { throw error }
        return [:]
      }
    }
  }
}

extension RPCRouter {
  /// Registers a unary method whose handler gets the request message and the
  /// authenticated caller (see `AuthInterceptor`).
  fileprivate mutating func registerUnary<Input: SwiftProtobuf.Message, Output: SwiftProtobuf.Message>(
    _ descriptor: MethodDescriptor,
    maxRequestBytes: Int,
    _ body: @escaping @Sendable (Input, Caller) async throws -> Output
  ) {
    registerAnonymous(descriptor, maxRequestBytes: maxRequestBytes) { (input: Input) in
      guard let caller = AuthInterceptor.caller else { throw ChatError.missingAuthorization }
      return try await body(input, caller)
    }
  }

  /// Registers a unary method that needs no caller (SignUp, SignIn).
  fileprivate mutating func registerAnonymous<Input: SwiftProtobuf.Message, Output: SwiftProtobuf.Message>(
    _ descriptor: MethodDescriptor,
    maxRequestBytes: Int,
    _ body: @escaping @Sendable (Input) async throws -> Output
  ) {
    registerHandler(
      forMethod: descriptor,
      deserializer: SizeLimitedDeserializer<Input>(limit: maxRequestBytes),
      serializer: ProtobufSerializer<Output>(),
      handler: { request, _ in
        let input = try await ServerRequest(stream: request).message
        return StreamingServerResponse(single: ServerResponse(message: try await body(input)))
      }
    )
  }
}
