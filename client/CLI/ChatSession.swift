import ChatAPI
import ChatClientCore
import GRPCCore
import GRPCNIOTransportHTTP2

/// One user's session: the Connect stream, printed as it arrives, and the
/// commands read from the console, one at a time, each as a unary call.
struct ChatSession: Sendable {
  let chat: Chat_V1_ChatService.Client<HTTP2ClientTransport.Posix>
  let username: String
  let authorization: CallAuthorization
  let console: any Console
  let formatter: EventFormatter

  /// How a session ended.
  enum End {
    /// `/quit` or the end of input.
    case userQuit
    /// The server refused the user (bad or taken name, shutting down) or
    /// could not be reached.
    case refused(any Error)
    /// The server ended the stream (kicked, slow consumer, shutdown) or the
    /// connection broke; nil: the server closed it without an error.
    case streamEnded((any Error)?)
  }

  /// Calls fail at once when the server is unreachable rather than waiting
  /// for it, and a unary call never hangs the input.
  private static let connectOptions: CallOptions = {
    var options = CallOptions.defaults
    options.waitForReady = false
    return options
  }()
  private static let callOptions: CallOptions = {
    var options = connectOptions
    options.timeout = .seconds(10)
    return options
  }()

  func run() async -> End {
    do {
      return try await chat.connect(.with { $0.username = username }, options: Self.connectOptions) { response in
        await withTaskGroup(of: End.self) { group in
          let (welcomes, welcome) = AsyncStream<Chat_V1_Welcome>.makeStream()
          group.addTask { await printEvents(response.messages, welcome: welcome) }
          group.addTask {
            var next = welcomes.makeAsyncIterator()
            // nil: cancelled before Welcome, as the stream failed (and says why).
            guard let welcome = await next.next() else { return .userQuit }
            console.start()
            return await readCommands(metadata: ["authorization": .string(authorization.value(for: welcome))])
          }
          // Whichever ends first ends the session; the other is cancelled.
          let end = await group.next()!
          group.cancelAll()
          return end
        }
      }
    } catch {
      return .refused(error)
    }
  }

  /// Prints events until the stream ends; passes Welcome on to `welcome`.
  private func printEvents(
    _ events: RPCAsyncSequence<Chat_V1_Event, any Error>, welcome: AsyncStream<Chat_V1_Welcome>.Continuation
  ) async -> End {
    var welcomed = false
    do {
      for try await event in events {
        console.print(formatter.line(for: event))
        if !welcomed, case .welcome(let message) = event.kind {
          welcomed = true
          welcome.yield(message)
          welcome.finish()
        }
      }
      return .streamEnded(nil)
    } catch {
      return welcomed ? .streamEnded(error) : .refused(error)
    }
  }

  /// Runs commands until `/quit` or the end of input; `metadata` goes with
  /// every call.
  private func readCommands(metadata: Metadata) async -> End {
    var target: ChatTarget?
    for await line in console.lines {
      if console.echoesInput { console.print(formatter.echo(line)) }
      do {
        guard let command = try ClientCommand.parse(line) else { continue }
        switch command {
        case .quit:
          return .userQuit
        case .help:
          for helpLine in ClientCommand.helpText { console.print(helpLine) }
        case .setTarget(let newTarget):
          target = newTarget
          console.show(target: newTarget)
          console.print(formatter.note("talking to \(newTarget.description.terminalSafe)"))
        case .showTarget:
          let now = target.map { "talking to \($0.description.terminalSafe)" } ?? "talking to nobody: /to #<group> or /to @<user>"
          console.print(formatter.note(now))
        case .text(let text):
          guard let target else {
            throw CommandError("no channel to send to: /to #<group> or /to @<user> first, or /help.")
          }
          try await send(text, to: target, metadata: metadata)
        default:
          try await perform(command, metadata: metadata)
        }
      } catch {
        console.print(formatter.failure(error))
      }
    }
    return .userQuit
  }

  /// The commands that are calls to the server.
  private func perform(_ command: ClientCommand, metadata: Metadata) async throws {
    switch command {
    case .create(let group):
      // The server answers with MemberJoined on the stream.
      _ = try await chat.createGroupChat(.with { $0.group = group }, metadata: metadata, options: Self.callOptions)
    case .join(let group):
      _ = try await chat.joinGroupChat(.with { $0.group = group }, metadata: metadata, options: Self.callOptions)
    case .leave(let group):
      // Only the others are told, so the client says it.
      _ = try await chat.leaveGroupChat(.with { $0.group = group }, metadata: metadata, options: Self.callOptions)
      console.print(formatter.note("you left #\(group.terminalSafe)"))
    case .list:
      let channels = try await chat.listChannels(.init(), metadata: metadata, options: Self.callOptions).channels
      console.complete(from: Completions(channels: channels))
      console.print(formatter.channels(channels))
    case .send(let text, let target):
      try await send(text, to: target, metadata: metadata)
    case .quit, .help, .setTarget, .showTarget, .text:
      preconditionFailure("\(command) is handled by readCommands")
    }
  }

  /// The message comes back on the stream, as everyone else sees it.
  private func send(_ text: String, to target: ChatTarget, metadata: Metadata) async throws {
    _ = try await chat.sendMessage(
      .with {
        $0.to = target.channel
        $0.text = text
      },
      metadata: metadata,
      options: Self.callOptions)
  }
}
