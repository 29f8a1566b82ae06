import Synchronization

/// The outgoing events of one session, bounded in bytes.
///
/// The registry enqueues while holding its lock, so every member of a group
/// sees that group's events in one order; the session's writer takes
/// everything queued at once and writes it as one batch. Nothing here blocks
/// the producer: past the limit the queue closes itself as a slow consumer
/// and the registry ends the session.
public final class SessionQueue: Sendable {
  public enum Next: Sendable {
    case events([SharedEvent])
    case ended(SessionEnd)
  }

  public enum EnqueueResult: Equatable {
    case queued
    /// The queue is closed (now or before); the session must end with this.
    case closed(SessionEnd)
  }

  private struct State {
    var pending: [SharedEvent] = []
    var pendingBytes = 0
    /// Where in `pending` the replay stands, still unsorted: its writer
    /// sorts it when it takes it, outside every lock.
    var unsortedReplay: Range<Int>?
    /// The writer, parked in `next()` while nothing is pending.
    var consumer: CheckedContinuation<Next, Never>?
    /// A writer that pulls instead (`pullWhenReady`): told when events
    /// become pending, once until it takes them.
    var ready: (@Sendable () -> Void)?
    var readySignalled = false
    /// A task waiting in `ended()`.
    var endWaiter: CheckedContinuation<SessionEnd, Never>?
    /// Told once how the session ended (`onEnd`).
    var endHandler: (@Sendable (SessionEnd) -> Void)?
    var end: SessionEnd?

    /// Closes the queue; what must be woken for it.
    mutating func close(_ end: SessionEnd) -> Wakeup? {
      guard self.end == nil else { return nil }
      self.end = end
      ready = nil
      let ending = Wakeup.Ending(
        end: end, consumer: consumer.take(), endHandler: endHandler.take(), endWaiter: endWaiter.take())
      return ending.isEmpty ? nil : Wakeup(.ended(ending))
    }

    /// The pulling writer's signal, if it is due one now that events are pending.
    mutating func signalReady() -> Wakeup? {
      guard let ready, !readySignalled else { return nil }
      readySignalled = true
      return Wakeup(.ready(ready))
    }
  }

  private let state = Mutex(State())
  let limitBytes: Int

  public init(limitBytes: Int) {
    self.limitBytes = limitBytes
  }

  /// Parked tasks and what they are to get. Whoever queued or closed resumes
  /// them after releasing its own locks: resuming schedules a task, which is
  /// no work to do while the registry's lock is held.
  ///
  /// Two words and a tag: the registry collects one per delivery that wakes
  /// a writer, so it is kept small; the rare end boxes what it wakes.
  public struct Wakeup {
    fileprivate enum Kind {
      /// A writer parked in `next()` gets this batch.
      case events(CheckedContinuation<Next, Never>, [SharedEvent])
      /// A pulling writer is told events are pending.
      case ready(@Sendable () -> Void)
      case ended(Ending)
    }

    /// Everything waiting on a session's end.
    fileprivate final class Ending: Sendable {
      let end: SessionEnd
      let consumer: CheckedContinuation<Next, Never>?
      let endHandler: (@Sendable (SessionEnd) -> Void)?
      let endWaiter: CheckedContinuation<SessionEnd, Never>?

      init(
        end: SessionEnd, consumer: CheckedContinuation<Next, Never>?, endHandler: (@Sendable (SessionEnd) -> Void)?,
        endWaiter: CheckedContinuation<SessionEnd, Never>?
      ) {
        self.end = end
        self.consumer = consumer
        self.endHandler = endHandler
        self.endWaiter = endWaiter
      }

      var isEmpty: Bool { consumer == nil && endHandler == nil && endWaiter == nil }
    }

    fileprivate let kind: Kind

    fileprivate init(_ kind: Kind) { self.kind = kind }

    public func resume() {
      switch kind {
      case .events(let continuation, let batch): continuation.resume(returning: .events(batch))
      case .ready(let ready): ready()
      case .ended(let ending):
        ending.consumer?.resume(returning: .ended(ending.end))
        ending.endHandler?(ending.end)
        ending.endWaiter?.resume(returning: ending.end)
      }
    }
  }

  /// Queues `event`, or closes the queue as a slow consumer if it would pass
  /// the limit; a consumer waiting for it is returned to be woken.
  func enqueue(_ event: SharedEvent) -> (result: EnqueueResult, wakeup: Wakeup?) {
    state.withLock { state in
      if let end = state.end { return (.closed(end), nil) }
      let bytes = state.pendingBytes + event.queuedBytes
      if bytes > limitBytes {
        // What was queued is dropped with the session, which the registry ends.
        state.pending = []
        state.pendingBytes = 0
        let end = SessionEnd.slowConsumer(queuedBytes: bytes)
        return (.closed(end), state.close(end))
      }
      // A consumer waits only while nothing is pending: hand it the event directly.
      if let consumer = state.consumer.take() {
        return (.queued, Wakeup(.events(consumer, [event])))
      }
      state.pending.append(event)
      state.pendingBytes = bytes
      return (.queued, state.signalReady())
    }
  }

  /// Queues what a new session replays before live events, in channel
  /// slices not yet merged by seq (the writer sorts them as it takes them):
  /// bounded by `--max-replay`, so not held to the byte limit.
  func enqueueReplay(_ slices: [ArraySlice<SharedEvent>]) {
    // Replays are queued while the session registers, before any writer
    // waits or pulls: nothing is woken.
    state.withLock { state in
      let start = state.pending.count
      for slice in slices {
        state.pending.append(contentsOf: slice)
        state.pendingBytes += slice.reduce(0) { $0 + $1.queuedBytes }
      }
      if slices.count > 1 { state.unsortedReplay = start..<state.pending.count }
    }
  }

  /// Ends the session: the consumer gets what is already queued, then `end`.
  /// Returns the parked tasks to wake.
  public func close(_ end: SessionEnd) -> Wakeup? {
    state.withLock { $0.close(end) }
  }

  /// Everything queued since the last call, or why the session ended; waits
  /// while the queue is empty. Cancelling the waiting task ends the session
  /// as disconnected.
  public func next() async -> Next {
    if let ready = takeReady() { return ready }
    return await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Next, Never>) in
        let (ready, unsorted, wakeup) = state.withLock { state -> (Next?, Range<Int>?, Wakeup?) in
          let (ready, unsorted) = Self.takeReady(&state)
          if let ready { return (ready, unsorted, nil) }
          if Task.isCancelled { return (.ended(.disconnected), nil, state.close(.disconnected)) }
          state.consumer = continuation
          return (nil, nil, nil)
        }
        wakeup?.resume()
        if let ready { continuation.resume(returning: Self.ordered(ready, unsorted)) }
      }
    } onCancel: {
      close(.disconnected)?.resume()
    }
  }

  /// Makes the session's writer one that pulls (`takeReady()`) rather than
  /// waits in `next()`: `ready` is called whenever events become pending,
  /// once until they are taken, on the thread that queued them after the
  /// registry's lock is released (so it must be quick: a transport schedules
  /// its pull). Called at once if events are already pending.
  public func pullWhenReady(_ ready: @escaping @Sendable () -> Void) {
    let wakeup = state.withLock { state -> Wakeup? in
      guard state.end == nil else { return nil }
      state.ready = ready
      state.readySignalled = false
      return state.pending.isEmpty ? nil : state.signalReady()
    }
    wakeup?.resume()
  }

  /// How the session ended, once it has (for a writer that pulls).
  /// Cancelling the waiting task ends the session as disconnected.
  public func ended() async -> SessionEnd {
    await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<SessionEnd, Never>) in
        let (ended, wakeup) = state.withLock { state -> (SessionEnd?, Wakeup?) in
          if let end = state.end { return (end, nil) }
          if Task.isCancelled { return (.disconnected, state.close(.disconnected)) }
          state.endWaiter = continuation
          return (nil, nil)
        }
        wakeup?.resume()
        if let ended { continuation.resume(returning: ended) }
      }
    } onCancel: {
      close(.disconnected)?.resume()
    }
  }

  /// Calls `handler` once with how the session ended, when it does (at once
  /// if it has): after the registry's lock is released, on the thread that
  /// ended it, so it must be quick.
  public func onEnd(_ handler: @escaping @Sendable (SessionEnd) -> Void) {
    let ended = state.withLock { state -> SessionEnd? in
      if let end = state.end { return end }
      state.endHandler = handler
      return nil
    }
    if let ended { handler(ended) }
  }

  /// Events waiting for the writer.
  public var pendingCount: Int { state.withLock { $0.pending.count } }

  public func takeReady() -> Next? {
    let (ready, unsorted) = state.withLock { Self.takeReady(&$0) }
    return ready.map { Self.ordered($0, unsorted) }
  }

  private static func takeReady(_ state: inout State) -> (Next?, unsortedReplay: Range<Int>?) {
    if !state.pending.isEmpty {
      let batch = state.pending
      state.pending = []
      state.pendingBytes = 0
      state.readySignalled = false
      defer { state.unsortedReplay = nil }
      return (.events(batch), state.unsortedReplay)
    }
    if let end = state.end { return (.ended(end), nil) }
    return (nil, nil)
  }

  /// Merges a replay taken from several channels by seq (outside the locks).
  private static func ordered(_ next: Next, _ unsorted: Range<Int>?) -> Next {
    guard case .events(var batch) = next, let unsorted else { return next }
    batch[unsorted].sort { $0.seq < $1.seq }
    return .events(batch)
  }
}
