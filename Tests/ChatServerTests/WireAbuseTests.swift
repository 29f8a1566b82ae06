import ChatTestSupport
import ChatAPI
import ChatCore
import ChatServer
import GRPCCore
import GRPCNIOTransportHTTP2
import NIOHTTP2
import SwiftProtobuf
import Testing

/// Bad input at every layer: each gets an error status or a closed connection,
/// and the server goes on serving a well-behaved client right after.
@Suite("Bad input on the wire", .serialized)
struct WireAbuseTests {
  /// Bytes that are not an HTTP/2 connection preface.
  struct NotHTTP2: Sendable, CustomTestStringConvertible {
    let testDescription: String
    let bytes: [UInt8]
  }

  @Test(
    "a connection that does not speak HTTP/2 is closed",
    arguments: ServerTransportKind.allCases, [
      NotHTTP2(testDescription: "garbage bytes", bytes: (0..<256).map { UInt8(truncatingIfNeeded: $0 &* 167 &+ 13) }),
      NotHTTP2(
        testDescription: "an HTTP/1.1 request",
        bytes: Array("GET /chat.v1.ChatService/ListChannels HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n".utf8)),
      NotHTTP2(
        testDescription: "a TLS ClientHello",
        bytes: [0x16, 0x03, 0x01, 0x00, 0xC8, 0x01, 0x00, 0x00, 0xC4, 0x03, 0x03] + [UInt8](repeating: 0x2A, count: 32)),
    ])
  func notHTTP2(transport: ServerTransportKind, input: NotHTTP2) async throws {
    let server = try await TestServer { $0.transport = transport }
    _ = try await exchangeRawTCP(port: server.port, sending: input.bytes)
    try await expectServed(by: server)
    try await server.stop()
  }

  /// A request body that is not a valid message, sent with grpc-swift's client.
  struct BadMessage: Sendable, CustomTestStringConvertible {
    let testDescription: String
    let method: MethodDescriptor
    let bytes: [UInt8]
    let code: RPCError.Code
    /// What the status message must say (for UNIMPLEMENTED, grpc-swift's
    /// router answers before any of our code runs, without naming the method).
    let naming: String
  }

  @Test(
    "a request that is not a valid message is rejected with a status",
    arguments: ServerTransportKind.allCases, [
      BadMessage(
        testDescription: "invalid protobuf (field 3, a varint cut short)",
        method: Chat_V1_ChatService.Method.SendMessage.descriptor, bytes: [0x18, 0xFF, 0xFF],
        code: .invalidArgument, naming: "Chat_V1_SendMessageRequest"),
      BadMessage(
        testDescription: "invalid protobuf (a length past the end)",
        method: Chat_V1_ChatService.Method.CreateGroupChat.descriptor, bytes: [0x0A, 0x7F, 0x61],
        code: .invalidArgument, naming: "Chat_V1_GroupRequest"),
      BadMessage(
        testDescription: "invalid UTF-8 in SendMessageRequest.text",
        method: Chat_V1_ChatService.Method.SendMessage.descriptor,
        bytes: [0x0A, 0x09, 0x0A, 0x05] + Array("alice".utf8) + [0x10, 0x01] + [0x12, 0x02, 0xC3, 0x28],
        code: .invalidArgument, naming: "Chat_V1_SendMessageRequest"),
      BadMessage(
        testDescription: "invalid UTF-8 in GroupRequest.group",
        method: Chat_V1_ChatService.Method.JoinGroupChat.descriptor, bytes: [0x0A, 0x03, 0x61, 0xFF, 0x62],
        code: .invalidArgument, naming: "Chat_V1_GroupRequest"),
      BadMessage(
        testDescription: "an unknown method of the service",
        method: MethodDescriptor(fullyQualifiedService: "chat.v1.ChatService", method: "DeleteEverything"), bytes: [],
        code: .unimplemented, naming: "isn't implemented"),
      BadMessage(
        testDescription: "an unknown service",
        method: MethodDescriptor(fullyQualifiedService: "chat.v2.ChatService", method: "SendMessage"), bytes: [],
        code: .unimplemented, naming: "isn't implemented"),
    ])
  func badMessage(transport: ServerTransportKind, input: BadMessage) async throws {
    let server = try await TestServer { $0.transport = transport }
    let alice = try await server.user("alice")
    let error = await rpcError {
      _ = try await alice.client.unary(
        request: ClientRequest(message: input.bytes, metadata: alice.auth), descriptor: input.method,
        serializer: RawBytesSerializer(), deserializer: RawBytesDeserializer(), options: .defaults
      ) { try $0.message }
    }
    #expect(error?.code == input.code, "\(String(describing: error))")
    #expect(error?.message.contains(input.naming) == true, "\(String(describing: error))")
    // Only that call failed: the same connection and session go on.
    #expect(try await alice.list().map(\.name) == ["alice"])
    try await expectServed(by: server)
    alice.close()
    try await server.stop()
  }

  @Test("a Connect whose username is invalid UTF-8 is rejected with INVALID_ARGUMENT and registers nobody", arguments: ServerTransportKind.allCases)
  func connectWithInvalidUTF8(transport: ServerTransportKind) async throws {
    let server = try await TestServer { $0.transport = transport }
    let alice = try await server.user("alice")
    let error = await rpcError {
      try await alice.client.serverStreaming(
        request: ClientRequest(message: [0x0A, 0x03, 0x62, 0xC0, 0xAF]),
        descriptor: Chat_V1_ChatService.Method.Connect.descriptor,
        serializer: RawBytesSerializer(), deserializer: RawBytesDeserializer(), options: .defaults
      ) { response in
        for try await _ in response.messages {}
      }
    }
    #expect(error?.code == .invalidArgument, "\(String(describing: error))")
    #expect(try await alice.list().map(\.name) == ["alice"])
    try await expectServed(by: server)
    alice.close()
    try await server.stop()
  }

  @Test("the largest request the server accepts is maxRequestBytes; one byte more is refused and not delivered", arguments: ServerTransportKind.allCases)
  func requestSizeLimit(transport: ServerTransportKind) async throws {
    let server = try await TestServer { $0.transport = transport }
    let limit = ChatServerConfiguration().maxRequestBytes
    let alice = try await server.user("alice")
    // A valid SendMessageRequest followed by an unknown field (15, length-delimited:
    // a tag byte, a 2-byte length, zeros) that pads it to exactly `size` bytes.
    @Sendable func request(ofSize size: Int) throws -> [UInt8] {
      let message = Chat_V1_SendMessageRequest.with {
        $0.to = .with { $0.name = "alice"; $0.type = .user }
        $0.text = String(repeating: "x", count: 4096)
      }
      let base: [UInt8] = try message.serializedBytes()
      let padding = size - base.count - 3
      return base + [0x7A, UInt8(padding & 0x7F | 0x80), UInt8(padding >> 7)] + [UInt8](repeating: 0, count: padding)
    }
    @Sendable func send(_ bytes: [UInt8]) async throws {
      _ = try await alice.client.unary(
        request: ClientRequest(message: bytes, metadata: alice.auth),
        descriptor: Chat_V1_ChatService.Method.SendMessage.descriptor,
        serializer: RawBytesSerializer(), deserializer: RawBytesDeserializer(), options: .defaults
      ) { try $0.message }
    }

    try await send(request(ofSize: limit))
    #expect(try await alice.next().message.text.utf8.count == 4096)
    let error = await rpcError { try await send(try request(ofSize: limit + 1)) }
    #expect(error != nil)
    #expect(error?.code == .resourceExhausted, "\(String(describing: error))")
    #expect(error?.message == "request of \(limit + 1) bytes is larger than the server's limit of \(limit) bytes.")
    // Refused, not delivered: the next message alice gets is the one sent after.
    try await alice.send("after", to: "alice", .user)
    #expect(try await alice.next().message.text == "after")
    try await expectServed(by: server)
    alice.close()
    try await server.stop()
  }

  /// A broken gRPC frame on a raw HTTP/2 stream, and what that stream must get.
  struct BadFrame: Sendable, CustomTestStringConvertible {
    enum Answer: Sendable {
      case status(Status.Code)
      case reset(HTTP2ErrorCode)
    }
    let testDescription: String
    let body: [UInt8]
    let endStream: Bool
    let answer: Answer
    /// Where the nghttp2 transport answers differently.
    var nghttp2Answer: Answer? = nil
  }

  @Test(
    "a broken gRPC frame fails its own stream, and the connection carries on",
    arguments: ServerTransportKind.allCases, [
      BadFrame(
        testDescription: "a truncated frame (length 100, 10 bytes, END_STREAM) is INTERNAL",
        body: grpcFrame([UInt8](repeating: 0x41, count: 10), declaredLength: 100), endStream: true,
        answer: .status(.internalError)),
      // No END_STREAM: the server must decide on the prefix alone. Past the
      // transport's limit (four times maxRequestBytes) grpc-swift-nio-transport
      // resets the stream without a status (RST_STREAM CANCEL); the nghttp2
      // transport answers RESOURCE_EXHAUSTED. Neither buffers anything.
      BadFrame(
        testDescription: "a huge length prefix (0xFFFFFFF0) is refused at once, without waiting for the bytes it announces",
        body: grpcFrame([UInt8](repeating: 0x41, count: 16), declaredLength: 0xFFFF_FFF0), endStream: false,
        answer: .reset(.cancel), nghttp2Answer: .status(.resourceExhausted)),
    ])
  func badFrame(transport: ServerTransportKind, input: BadFrame) async throws {
    let server = try await TestServer { $0.transport = transport }
    let alice = try await server.user("alice")
    let connection = try await RawHTTP2Connection.connect(port: server.port)
    let outcome = try await connection.call(
      "/chat.v1.ChatService/SendMessage", metadata: [("authorization", "alice")], body: input.body,
      endStream: input.endStream)
    switch transport == .nghttp2 ? input.nghttp2Answer ?? input.answer : input.answer {
    case .status(let code): #expect(outcome.code == code, "\(outcome)")
    case .reset(let code): #expect(outcome == .reset(code), "\(outcome)")
    }
    // The connection itself survives a bad stream.
    let next = try await connection.call(
      "/chat.v1.ChatService/ListChannels", metadata: [("authorization", "alice")], body: grpcFrame([]))
    #expect(next.code == .ok, "\(next)")
    await connection.close()
    try await expectServed(by: server)
    alice.close()
    try await server.stop()
  }

  /// A new client connects, lists, and messages itself.
  private func expectServed(by server: TestServer) async throws {
    let user = try await server.user("after")
    #expect(try await user.list().contains { $0.name == "after" })
    try await user.send("served", to: "after", .user)
    #expect(try await user.next().message.text == "served")
    user.close()
  }
}
