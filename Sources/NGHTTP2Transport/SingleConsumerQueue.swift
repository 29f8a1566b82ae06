import GRPCCore
import Synchronization

/// One stream's request parts, from its connection's event loop to its
/// handler (a part and the request bytes reading it consumes).
typealias RequestPartQueue = SingleConsumerQueue<(part: RPCRequestPart<[UInt8]>, bytes: Int)>

/// Values from event loops to one reading task, per RPC: each stream's
/// request parts, and the accepted streams on their way to `listen`.
///
/// It replaces `AsyncStream` and `AsyncThrowingStream`, whose generic storage
/// (compiled in the Concurrency library, never specialized for our types)
/// looked up its type metadata at run time on every yield, next and finish;
/// this one is specialized in the module. Semantics are the streams': values
/// yielded before `finish` are all read, then the end (nil, or the error); a
/// cancelled reader gets nil and ends the queue.
final class SingleConsumerQueue<Item: Sendable>: Sendable {

  private struct State {
    var items: [Item] = []
    /// Items before this index were read (the array is reset once drained).
    var head = 0
    /// Set once by `finish`: nil for a clean end.
    var end: (any Error)??
    var reader: CheckedContinuation<Item?, any Error>?

    mutating func take() -> Item? {
      guard head < items.count else { return nil }
      let item = items[head]
      head += 1
      if head == items.count {
        items.removeAll(keepingCapacity: true)
        head = 0
      }
      return item
    }
  }

  private let state = Mutex(State())

  private enum YieldOutcome { case finished, queued, handed(CheckedContinuation<Item?, any Error>) }
  private enum NextOutcome { case item(Item), end((any Error)?), parked }

  /// Queues `item`; false (and dropped) once the queue is finished.
  @discardableResult
  func yield(_ item: Item) -> Bool {
    let outcome = state.withLock { state -> YieldOutcome in
      guard state.end == nil else { return .finished }
      if let reader = state.reader.take() { return .handed(reader) }
      state.items.append(item)
      return .queued
    }
    switch outcome {
    case .finished: return false
    case .queued: return true
    case .handed(let reader):
      reader.resume(returning: item)
      return true
    }
  }

  /// Ends the queue after what it holds: the reader then gets nil, or
  /// `error`. Only the first call counts.
  func finish(throwing error: (any Error)? = nil) {
    let reader = state.withLock { state -> CheckedContinuation<Item?, any Error>? in
      guard state.end == nil else { return nil }
      state.end = .some(error)
      return state.reader.take()
    }
    guard let reader else { return }
    if let error { reader.resume(throwing: error) } else { reader.resume(returning: nil) }
  }

  /// The next part, nil at a clean end; waits while the queue is empty.
  func next() async throws -> Item? {
    if let ready = try takeReady() { return ready }
    return try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Item?, any Error>) in
        let outcome = state.withLock { state -> NextOutcome in
          if let item = state.take() { return .item(item) }
          if let end = state.end { return .end(end) }
          if Task.isCancelled {
            state.end = .some(nil)
            return .end(nil)
          }
          state.reader = continuation
          return .parked
        }
        switch outcome {
        case .item(let item): continuation.resume(returning: item)
        case .end(nil): continuation.resume(returning: nil)
        case .end(let error?): continuation.resume(throwing: error)
        case .parked: break
        }
      }
    } onCancel: {
      finish()
    }
  }

  /// A part already queued, or the end; nil while waiting would be needed.
  private func takeReady() throws -> Item?? {
    let outcome = state.withLock { state -> (item: Item?, end: (any Error)??) in
      if let item = state.take() { return (item, nil) }
      return (nil, state.end)
    }
    if let item = outcome.item { return .some(item) }
    guard let end = outcome.end else { return nil }
    if let error = end { throw error }
    return .some(nil)
  }
}
