import GRPCCore
import NIOCore
import Synchronization

/// Where handlers' response parts wait for their connection's event loop.
///
/// Writers (any task) append under the lock and, if the connection has no
/// drain scheduled yet, schedule one: every part written between two event
/// loop turns, on every stream of the connection, goes out in one drain (one
/// nghttp2 send, one write and flush). A stream whose unsent bytes pass
/// `highWater` suspends its writer until the peer takes them (backpressure:
/// the application's own queue then fills, and decides).
///
/// A stream can instead have a source its drain pulls messages from
/// (`attach`): the application signals it has some, and the drain takes
/// them on the event loop while the stream is below `highWater`, with no
/// task woken per message.
final class ConnectionOutbox: Sendable {
  typealias Part = RPCResponsePart<[UInt8]>
  /// Messages ready to send, each a serialized response message.
  typealias Source = @Sendable () -> [[UInt8]]
  typealias Drain = @Sendable () -> Void

  /// A class, not a struct: reading one out of `streams` (every signal,
  /// every drain) then retains one reference instead of copying its arrays
  /// and closure, and a field is changed in place. Only touched under `state`'s lock.
  private final class Stream {
    var parts: [Part] = []
    /// Written and not yet taken by nghttp2 (frame headers included).
    var unsent = 0
    var waiters: [CheckedContinuation<Void, any Error>] = []
    /// Nothing may follow a status.
    var statusWritten = false
    var source: Source?
    /// Signalled and not pulled since.
    var sourceReady = false
  }

  private struct State {
    var streams: [Int32: Stream] = [:]
    /// Streams with parts, in the order they got them.
    var dirty: [Int32] = []
    /// Streams whose sources are ready and have room, in signal order.
    var readySources: [Int32] = []
    var drainScheduled = false
    var drain: Drain?

    /// The drain to call (after unlocking), unless one is scheduled already.
    mutating func scheduleDrain() -> Drain? {
      guard !drainScheduled, let drain else { return nil }
      drainScheduled = true
      return drain
    }
  }

  /// What a drain sends: parts written, and sources to pull.
  struct Pending {
    var parts: [(Int32, [Part])] = []
    var sources: [(Int32, Source)] = []
  }

  private let state = Mutex(State())
  let highWater: Int

  init(highWater: Int) {
    self.highWater = highWater
  }

  /// Set once by the connection; cleared when it closes.
  func setDrain(_ drain: Drain?) {
    state.withLock { $0.drain = drain }
  }

  func open(_ streamID: Int32) {
    state.withLock { $0.streams[streamID] = Stream() }
  }

  /// Appends `parts`; suspends while the stream has more than `highWater` unsent.
  func write(_ parts: [Part], to streamID: Int32) async throws {
    let bytes = parts.reduce(0) { total, part in
      if case .message(let message) = part { return total + message.count + 5 }
      return total
    }
    enum Outcome { case closed, written(drain: (@Sendable () -> Void)?, wait: Bool) }
    let outcome = state.withLock { state -> Outcome in
      guard let stream = state.streams[streamID], !stream.statusWritten else { return .closed }
      if parts.contains(where: { if case .status = $0 { true } else { false } }) {
        state.streams[streamID]!.statusWritten = true
      }
      if state.streams[streamID]!.parts.isEmpty { state.dirty.append(streamID) }
      state.streams[streamID]!.parts.append(contentsOf: parts)
      state.streams[streamID]!.unsent += bytes
      let wait = state.streams[streamID]!.unsent > highWater
      return .written(drain: state.scheduleDrain(), wait: wait)
    }
    guard case .written(let drain, let wait) = outcome else { throw Self.closedError }
    drain?()
    guard wait else { return }
    try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
      let parked = state.withLock { state -> Bool in
        guard let stream = state.streams[streamID] else { return false }
        guard stream.unsent > highWater else {
          return false
        }
        state.streams[streamID]!.waiters.append(continuation)
        return true
      }
      if !parked {
        let open = state.withLock { $0.streams[streamID] != nil }
        if open { continuation.resume() } else { continuation.resume(throwing: Self.closedError) }
      }
    }
  }

  /// Makes `source` the stream's: the drain pulls it after each `signal`.
  func attach(_ source: @escaping Source, to streamID: Int32) {
    state.withLock { $0.streams[streamID]?.source = source }
  }

  /// The stream's source has messages: a drain pulls them once the stream
  /// has room (now, or when nghttp2 takes enough of what it has).
  func signal(_ streamID: Int32) {
    let drain = state.withLock { state -> Drain? in
      guard let stream = state.streams[streamID], stream.source != nil, !stream.sourceReady else { return nil }
      state.streams[streamID]!.sourceReady = true
      guard stream.unsent <= highWater else { return nil }
      state.readySources.append(streamID)
      return state.scheduleDrain()
    }
    drain?()
  }

  /// Everything written since the last drain, by stream, and the sources
  /// to pull (on the event loop).
  func takeAll() -> Pending {
    state.withLock { state in
      state.drainScheduled = false
      var pending = Pending()
      if !state.dirty.isEmpty {
        let dirty = state.dirty
        state.dirty = []
        pending.parts = dirty.compactMap { id in
          guard let parts = state.streams[id]?.parts, !parts.isEmpty else { return nil }
          state.streams[id]!.parts = []
          return (id, parts)
        }
      }
      if !state.readySources.isEmpty {
        let ready = state.readySources
        state.readySources.removeAll(keepingCapacity: true)
        pending.sources.reserveCapacity(ready.count)
        for id in ready {
          // Listed twice, or refilled past the mark since: skipped (`consumed` lists it again).
          guard let stream = state.streams[id], stream.sourceReady, stream.unsent <= highWater, let source = stream.source
          else { continue }
          state.streams[id]!.sourceReady = false
          pending.sources.append((id, source))
        }
      }
      return pending
    }
  }

  /// The drain pulled this many bytes (frame prefixes included) from these streams' sources.
  func pulled(_ counts: [(Int32, Int)]) {
    guard !counts.isEmpty else { return }
    state.withLock { state in
      for (id, count) in counts where state.streams[id] != nil { state.streams[id]!.unsent += count }
    }
  }

  /// nghttp2 took these bytes: writers below the mark go on, and ready
  /// sources that were held back are pulled.
  func consumed(_ counts: [(Int32, Int)]) {
    guard !counts.isEmpty else { return }
    let (woken, drain) = state.withLock { state -> ([CheckedContinuation<Void, any Error>], Drain?) in
      var woken: [CheckedContinuation<Void, any Error>] = []
      var sourcesReady = false
      for (id, count) in counts where state.streams[id] != nil {
        let wasOver = state.streams[id]!.unsent > highWater
        state.streams[id]!.unsent -= count
        guard state.streams[id]!.unsent <= highWater else { continue }
        if !state.streams[id]!.waiters.isEmpty {
          woken += state.streams[id]!.waiters
          state.streams[id]!.waiters = []
        }
        if wasOver, state.streams[id]!.sourceReady {
          state.readySources.append(id)
          sourcesReady = true
        }
      }
      return (woken, sourcesReady ? state.scheduleDrain() : nil)
    }
    for continuation in woken { continuation.resume() }
    drain?()
  }

  /// After the handler returned: a stream it left without a status ends
  /// UNKNOWN rather than staying open.
  func endIfUnfinished(_ streamID: Int32) async {
    let unfinished = state.withLock { $0.streams[streamID].map { !$0.statusWritten } ?? false }
    guard unfinished else { return }
    try? await write([.status(Status(code: .unknown, message: "The handler ended without a status."), [:])], to: streamID)
  }

  /// The stream is gone: later writes fail, parked writers fail now.
  func close(_ streamID: Int32) {
    let waiters = state.withLock { state in
      state.streams.removeValue(forKey: streamID)?.waiters ?? []
    }
    for continuation in waiters { continuation.resume(throwing: Self.closedError) }
  }

  /// The connection is gone.
  func closeAll() {
    let waiters = state.withLock { state in
      let waiters = state.streams.values.flatMap(\.waiters)
      state.streams = [:]
      state.dirty = []
      state.readySources = []
      state.drain = nil
      return waiters
    }
    for continuation in waiters { continuation.resume(throwing: Self.closedError) }
  }

  static let closedError = RPCError(code: .unavailable, message: "The stream is closed.")
}
