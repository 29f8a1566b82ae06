import GRPCCore

/// A handler's response writer: parts go to the connection's outbox.
struct StreamWriter: ClosableRPCWriterProtocol {
  typealias Element = RPCResponsePart<[UInt8]>

  let outbox: ConnectionOutbox
  let streamID: Int32

  func write(_ element: Element) async throws {
    try await outbox.write([element], to: streamID)
  }

  func write(contentsOf elements: some Sequence<Element>) async throws {
    try await outbox.write(Array(elements), to: streamID)
  }

  /// GRPCCore writes a status before finishing; the transport checks after
  /// the handler returns that one was written (`endIfUnfinished`).
  func finish() async {}

  func finish(throwing error: any Error) async {
    let status: Status
    if let error = error as? RPCError {
      status = Status(code: Status.Code(error.code), message: error.message)
    } else {
      status = Status(code: .unknown, message: "The handler failed.")
    }
    try? await outbox.write([.status(status, [:])], to: streamID)
  }
}
