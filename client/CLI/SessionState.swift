import ChatAPI
import ChatClientCore
import GRPCCore
import Synchronization

/// Who the session is, shared by the task that holds the Connect stream and the one that runs
/// commands: the identity (and a generation that changes with it, which the stream's task
/// waits on), the last Welcome, and where a reconnect resumes.
final class SessionState: Sendable {
  enum Identity: Sendable, Equatable {
    /// Not connected: only /signup, /signin, /help and /quit do anything.
    case none
    case guest(String)
    case account(AccountToken)
  }

  private struct State {
    var identity: Identity
    var generation = 0
    var changeWaiter: (generation: Int, continuation: CheckedContinuation<Void, Never>)?
    var welcome: Chat_V1_Welcome?
    var position = ResumePosition()
    /// A SignOut call is under way: the stream it ends is no reason to exit or reconnect.
    var signingOut = false
  }
  private let state: Mutex<State>
  /// How a guest's calls prove who they are.
  let guestAuthorization: CallAuthorization

  init(identity: Identity, guestAuthorization: CallAuthorization) {
    state = Mutex(State(identity: identity))
    self.guestAuthorization = guestAuthorization
  }

  var identity: (identity: Identity, generation: Int) {
    state.withLock { ($0.identity, $0.generation) }
  }

  /// A new identity; the stream's task drops its stream and connects as it.
  func change(to identity: Identity) {
    let waiter = state.withLock { state in
      state.identity = identity
      state.generation += 1
      state.welcome = nil
      state.position = ResumePosition()
      state.signingOut = false
      return state.changeWaiter.take()
    }
    waiter?.continuation.resume()
  }

  /// Returns once the identity changes after `generation`, or the task is cancelled.
  func waitForChange(after generation: Int) async {
    await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        let now = state.withLock { state in
          guard state.generation == generation, !Task.isCancelled else { return true }
          state.changeWaiter = (generation, continuation)
          return false
        }
        if now { continuation.resume() }
      }
    } onCancel: {
      state.withLock { $0.changeWaiter.take() }?.continuation.resume()
    }
  }

  func welcomed(_ welcome: Chat_V1_Welcome) {
    state.withLock { state in
      state.welcome = welcome
      state.position.welcomed(welcome)
    }
  }

  func printed(_ event: Chat_V1_Event) {
    state.withLock { $0.position.printed(event) }
  }

  var resume: Chat_V1_StreamPosition? { state.withLock { $0.position.resume } }

  var signingOut: Bool {
    get { state.withLock { $0.signingOut } }
    set { state.withLock { $0.signingOut = newValue } }
  }

  var currentUsername: String? {
    state.withLock { state in
      if let welcome = state.welcome { return welcome.username }
      switch state.identity {
      case .none: return nil
      case .guest(let name): return name
      case .account(let token): return token.username
      }
    }
  }

  var account: AccountToken? {
    state.withLock { state in
      if case .account(let token) = state.identity { return token }
      return nil
    }
  }

  /// The `authorization` metadata a call carries now; throws when there is no one to be.
  func callMetadata() throws -> Metadata {
    let value: String? = state.withLock { state in
      switch state.identity {
      case .none: nil
      case .account(let token): token.authorizationValue
      case .guest(let name): state.welcome.map { guestAuthorization.value(for: $0) } ?? name
      }
    }
    guard let value else {
      throw CommandError(
        "not connected: /signup <name> or /signin <name> first, or start chat-client with a name to join as a guest.")
    }
    return ["authorization": .string(value)]
  }
}
