import GRPCCore
import Testing

@testable import NGHTTP2Transport

/// The queue carrying a stream's request parts from its event loop to its
/// handler: it must keep `AsyncThrowingStream`'s semantics, which it replaced.
@Suite("A stream's request-part queue (SingleConsumerQueue)")
struct RequestPartQueueTests {
  private typealias Part = (part: RPCRequestPart<[UInt8]>, bytes: Int)

  private static func message(_ byte: UInt8) -> Part { (.message([byte]), 6) }

  private static func bytes(_ item: Part?) -> [UInt8]? {
    guard case .message(let bytes) = item?.part else { return nil }
    return bytes
  }

  @Test("parts come out in order, every one queued before the end, then nil")
  func orderThenEnd() async throws {
    let queue = RequestPartQueue()
    for byte: UInt8 in 1...3 { queue.yield(Self.message(byte)) }
    queue.finish()
    #expect(!queue.yield(Self.message(4)))
    var read: [UInt8] = []
    while let item = try await queue.next() { read += Self.bytes(item) ?? [] }
    #expect(read == [1, 2, 3])
    #expect(try await queue.next() == nil)
  }

  @Test("a reader parked on an empty queue gets the next part, and a finish's error after the parts before it")
  func parkedReaderAndError() async throws {
    let queue = RequestPartQueue()
    async let first = queue.next()
    queue.yield(Self.message(7))
    #expect(Self.bytes(try await first) == [7])
    queue.yield(Self.message(8))
    queue.finish(throwing: RPCError(code: .cancelled, message: "gone"))
    queue.finish()
    #expect(Self.bytes(try await queue.next()) == [8])
    await #expect(throws: RPCError.self) { try await queue.next() }
  }

  @Test("cancelling a parked reader gives it nil and ends the queue")
  func cancelledReader() async throws {
    let queue = RequestPartQueue()
    let reader = Task { try await queue.next() }
    reader.cancel()
    #expect(try await reader.value == nil)
    queue.yield(Self.message(1))
    #expect(try await queue.next() == nil)
  }
}
