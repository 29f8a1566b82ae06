import GRPCCore
import Synchronization

/// Request bytes that handlers have read, on their way back to the
/// connection's event loop, where nghttp2 turns them into WINDOW_UPDATE.
///
/// Automatic WINDOW_UPDATE is off (`NGHTTP2Session`): a stream's window
/// opens for bytes its handler took, not for bytes the socket delivered, so
/// a client sending faster than its handler reads is held to one stream
/// window of buffered requests. Reads are reported in batches of at least
/// `threshold` bytes per stream (one event-loop hop per batch, none for a
/// unary call's single message); nghttp2 itself waits for half a window.
final class RequestCredit: Sendable {
  private struct State {
    var unreported: [Int32: Int] = [:]
    /// Streams whose unreported bytes reached the threshold since the last `take()`.
    var due: [Int32] = []
    var scheduled = false
    var report: (@Sendable () -> Void)?
  }

  private let state = Mutex(State())
  let threshold: Int

  init(threshold: Int) {
    self.threshold = max(1, threshold)
  }

  /// Set once by the connection; cleared when it closes.
  func setReport(_ report: (@Sendable () -> Void)?) {
    state.withLock { $0.report = report }
  }

  func open(_ streamID: Int32) {
    state.withLock { $0.unreported[streamID] = 0 }
  }

  func close(_ streamID: Int32) {
    _ = state.withLock { $0.unreported.removeValue(forKey: streamID) }
  }

  /// A handler read `count` request bytes (any task).
  func read(_ count: Int, on streamID: Int32) {
    let report = state.withLock { state -> (@Sendable () -> Void)? in
      guard let current = state.unreported[streamID] else { return nil }
      state.unreported[streamID] = current + count
      guard current < threshold, current + count >= threshold else { return nil }
      state.due.append(streamID)
      guard !state.scheduled, let report = state.report else { return nil }
      state.scheduled = true
      return report
    }
    report?()
  }

  /// The bytes read on each due stream since its last report, zeroed (on the event loop).
  func take() -> [(Int32, Int)] {
    state.withLock { state in
      state.scheduled = false
      let due = state.due
      state.due = []
      return due.compactMap { id in
        guard let count = state.unreported[id], count > 0 else { return nil }
        state.unreported[id] = 0
        return (id, count)
      }
    }
  }
}

/// A stream's request parts as its handler reads them: each message's
/// not-yet-consumed bytes go to `RequestCredit` when the handler takes it.
struct CreditedRequestParts: AsyncSequence, Sendable {
  typealias Element = RPCRequestPart<[UInt8]>
  typealias Failure = any Error

  let base: RequestPartQueue
  let credit: RequestCredit
  let streamID: Int32

  struct AsyncIterator: AsyncIteratorProtocol {
    let base: RequestPartQueue
    let credit: RequestCredit
    let streamID: Int32

    mutating func next() async throws -> Element? {
      guard let (part, bytes) = try await base.next() else { return nil }
      if bytes > 0 { credit.read(bytes, on: streamID) }
      return part
    }
  }

  func makeAsyncIterator() -> AsyncIterator {
    AsyncIterator(base: base, credit: credit, streamID: streamID)
  }
}
