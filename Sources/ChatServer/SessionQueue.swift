import Synchronization

/// The outgoing events of one session, bounded in bytes.
///
/// The registry enqueues while holding its lock, so every member of a group
/// sees that group's events in one order; the session's Connect handler takes
/// everything queued at once and writes it as one batch. Nothing here blocks
/// the producer: past the limit the queue closes itself as a slow consumer
/// and the registry ends the session.
public final class SessionQueue: Sendable {
  public enum Next: Sendable {
    case events([EncodedEvent])
    case ended(SessionEnd)
  }

  enum EnqueueResult: Equatable {
    case queued
    /// The queue is closed (now or before); the session must end with this.
    case closed(SessionEnd)
  }

  private struct State {
    var pending: [EncodedEvent] = []
    var pendingBytes = 0
    var waiter: CheckedContinuation<Next, Never>?
    var end: SessionEnd?
  }

  private let state = Mutex(State())
  let limitBytes: Int

  init(limitBytes: Int) {
    self.limitBytes = limitBytes
  }

  /// A parked consumer and what it is to get. Whoever queued or closed
  /// resumes it after releasing its own locks: resuming schedules a task,
  /// which is no work to do while the registry's lock is held.
  struct Wakeup {
    fileprivate let waiter: CheckedContinuation<Next, Never>
    fileprivate let next: Next

    func resume() { waiter.resume(returning: next) }
  }

  /// Queues `event`, or closes the queue as a slow consumer if it would pass
  /// the limit; a consumer waiting for it is returned to be woken.
  func enqueue(_ event: EncodedEvent) -> (result: EnqueueResult, wakeup: Wakeup?) {
    state.withLock { state in
      if let end = state.end { return (.closed(end), nil) }
      let bytes = state.pendingBytes + event.bytes.count
      if bytes > limitBytes {
        // What was queued is dropped with the session, which the registry ends.
        let end = SessionEnd.slowConsumer(queuedBytes: bytes)
        state.end = end
        state.pending = []
        state.pendingBytes = 0
        return (.closed(end), state.waiter.take().map { Wakeup(waiter: $0, next: .ended(end)) })
      }
      // A waiter exists only while nothing is pending: hand it the event directly.
      if let waiter = state.waiter.take() {
        return (.queued, Wakeup(waiter: waiter, next: .events([event])))
      }
      state.pending.append(event)
      state.pendingBytes = bytes
      return (.queued, nil)
    }
  }

  /// Ends the session: the consumer gets what is already queued, then `end`.
  /// A consumer waiting is returned to be woken.
  func close(_ end: SessionEnd) -> Wakeup? {
    state.withLock { state in
      guard state.end == nil else { return nil }
      state.end = end
      return state.waiter.take().map { Wakeup(waiter: $0, next: .ended(end)) }
    }
  }

  /// Everything queued since the last call, or why the session ended; waits
  /// while the queue is empty. Cancelling the waiting task ends the session
  /// as disconnected.
  public func next() async -> Next {
    if let ready = takeReady() { return ready }
    return await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Next, Never>) in
        let ready = state.withLock { state -> Next? in
          if let ready = Self.takeReady(&state) { return ready }
          if Task.isCancelled {
            state.end = .disconnected
            return .ended(.disconnected)
          }
          state.waiter = continuation
          return nil
        }
        if let ready { continuation.resume(returning: ready) }
      }
    } onCancel: {
      close(.disconnected)?.resume()
    }
  }

  /// Bytes queued and not yet taken by the consumer.
  var queuedBytes: Int { state.withLock { $0.pendingBytes } }

  func takeReady() -> Next? {
    state.withLock { Self.takeReady(&$0) }
  }

  private static func takeReady(_ state: inout State) -> Next? {
    if !state.pending.isEmpty {
      let batch = state.pending
      state.pending = []
      state.pendingBytes = 0
      return .events(batch)
    }
    if let end = state.end { return .ended(end) }
    return nil
  }
}
