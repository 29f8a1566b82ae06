import GRPCCore
import GRPCProtobuf
import SwiftProtobuf

/// Refuses a request message over `limit` bytes with RESOURCE_EXHAUSTED before
/// decoding it. The transport's own limit sits well above (it resets the
/// stream without a status, which clients read as UNAVAILABLE); it only stops
/// announced sizes too large to buffer.
struct SizeLimitedDeserializer<Message: SwiftProtobuf.Message>: MessageDeserializer {
  let limit: Int

  func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> Message {
    guard bytes.count <= limit else {
      throw RPCError(
        code: .resourceExhausted,
        message: "request of \(bytes.count) bytes is larger than the server's limit of \(limit) bytes.")
    }
    return try ProtobufDeserializer<Message>().deserialize(bytes)
  }
}
