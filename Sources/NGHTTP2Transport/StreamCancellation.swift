import GRPCCore
import Synchronization

/// The RPC's cancellation handle, which its task creates after the stream
/// exists: a reset that came first cancels it on arrival.
final class StreamCancellation: Sendable {
  private let state = Mutex<(handle: ServerContext.RPCCancellationHandle?, cancelled: Bool)>((nil, false))

  func attach(_ handle: ServerContext.RPCCancellationHandle) {
    let cancelled = state.withLock { state in
      state.handle = handle
      return state.cancelled
    }
    if cancelled { handle.cancel() }
  }

  func cancel() {
    let handle = state.withLock { state in
      state.cancelled = true
      return state.handle
    }
    handle?.cancel()
  }
}
