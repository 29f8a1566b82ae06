import GRPCCore
import Synchronization

/// Lets a handler have its stream reset some time after an event it names,
/// if the stream has not closed by then: a client that stopped reading would
/// otherwise keep a finished call's stream, the events buffered for it and
/// its status (which waits behind them in flow control) forever.
///
/// `StreamResettingTransport` gives each stream of the methods it covers
/// one; the handler finds it in a task local and calls `resetWhen`.
public final class StreamReset: Sendable {
  @TaskLocal static var current: StreamReset?

  private enum State {
    case waiting(CheckedContinuation<Armed?, Never>?)
    case armed(Armed)
    case handlerFinished
  }

  struct Armed: Sendable {
    let grace: Duration
    let trigger: @Sendable () async -> Bool
  }

  private let state = Mutex(State.waiting(nil))

  /// Once `trigger` returns true, the stream is reset if it is still open
  /// `grace` later (the handler, if it still runs, is cancelled).
  static func resetCurrentStream(after grace: Duration, when trigger: @escaping @Sendable () async -> Bool) {
    current?.arm(Armed(grace: grace, trigger: trigger))
  }

  private func arm(_ armed: Armed) {
    let waiter = state.withLock { state -> CheckedContinuation<Armed?, Never>? in
      guard case .waiting(let waiter) = state else { return nil }
      state = .armed(armed)
      return waiter
    }
    waiter?.resume(returning: armed)
  }

  /// The handler returned: a watcher still waiting for `resetWhen` stops.
  fileprivate func handlerFinished() {
    let waiter = state.withLock { state -> CheckedContinuation<Armed?, Never>? in
      guard case .waiting(let waiter) = state else { return nil }
      state = .handlerFinished
      return waiter
    }
    waiter?.resume(returning: nil)
  }

  /// What the handler armed, once it has; nil if it returned without.
  fileprivate func armed() async -> Armed? {
    await withCheckedContinuation { continuation in
      let ready = state.withLock { state -> Armed?? in
        switch state {
        case .armed(let armed): return .some(armed)
        case .handlerFinished: return .some(nil)
        case .waiting:
          state = .waiting(continuation)
          return .none
        }
      }
      if case .some(let armed) = ready { continuation.resume(returning: armed) }
    }
  }
}

/// Wraps a server transport so that handlers of `methods` can have their
/// stream reset (see `StreamReset`).
///
/// grpc-swift's HTTP/2 transport waits, after a handler returns, until the
/// stream has sent its status; a stream whose task is cancelled it closes at
/// once instead, resetting it (RST_STREAM) and dropping what it buffered. So
/// this runs the handler in a child task beside a watcher: when an armed
/// reset is due, it cancels the handler (whose writes, stuck behind a client
/// that does not read, then return) and the stream's own task, which only the
/// closure the transport calls can reach. A stream that closed normally is
/// unaffected. Once graceful shutdown begins, graces are cut to
/// `shutdownGrace`, so that a shutdown is not held up by them.
public struct StreamResettingTransport<Inner: ServerTransport>: ServerTransport {
  public typealias Bytes = Inner.Bytes

  public let inner: Inner
  private let methods: Set<MethodDescriptor>
  private let shutdown = ShutdownSignal()
  private let shutdownGrace: Duration

  public init(_ inner: Inner, methods: Set<MethodDescriptor>, shutdownGrace: Duration = .milliseconds(250)) {
    self.inner = inner
    self.methods = methods
    self.shutdownGrace = shutdownGrace
  }

  public func configure(context: GRPCServerContext) {
    inner.configure(context: context)
  }

  public func listen(
    streamHandler: @escaping @Sendable (_ stream: RPCStream<Inbound, Outbound>, _ context: ServerContext) async -> Void
  ) async throws {
    try await inner.listen { [methods, shutdown, shutdownGrace] stream, context in
      guard methods.contains(context.descriptor) else {
        await streamHandler(stream, context)
        return
      }
      let reset = StreamReset()
      let due = await withTaskGroup(of: Bool.self) { group in
        group.addTask {
          await StreamReset.$current.withValue(reset) { await streamHandler(stream, context) }
          reset.handlerFinished()
          return false
        }
        group.addTask {
          guard let armed = await reset.armed(), await armed.trigger() else { return false }
          await Self.wait(armed.grace, orShutdown: shutdown, then: shutdownGrace)
          return !Task.isCancelled
        }
        var due = false
        for await fired in group where fired {
          due = true
          group.cancelAll()
        }
        return due
      }
      if due { withUnsafeCurrentTask { $0?.cancel() } }
    }
  }

  public func beginGracefulShutdown() {
    shutdown.signal()
    inner.beginGracefulShutdown()
  }

  private static func wait(_ grace: Duration, orShutdown shutdown: ShutdownSignal, then shutdownGrace: Duration) async {
    await withTaskGroup(of: Void.self) { group in
      group.addTask { try? await Task.sleep(for: grace) }
      group.addTask {
        await shutdown.wait()
        try? await Task.sleep(for: shutdownGrace)
      }
      await group.next()
      group.cancelAll()
    }
  }
}

/// Wakes every waiter once, when graceful shutdown begins.
final class ShutdownSignal: Sendable {
  private struct State {
    var signalled = false
    var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    var nextID = 0
  }

  private let state = Mutex(State())

  func signal() {
    let waiters = state.withLock { state in
      state.signalled = true
      defer { state.waiters = [:] }
      return Array(state.waiters.values)
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Returns once signalled, or when the waiting task is cancelled.
  func wait() async {
    let id = state.withLock { state in
      defer { state.nextID += 1 }
      return state.nextID
    }
    await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let ready = state.withLock { state in
          if state.signalled || Task.isCancelled { return true }
          state.waiters[id] = continuation
          return false
        }
        if ready { continuation.resume() }
      }
    } onCancel: {
      state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
    }
  }
}
