import ArgumentParser
import ChatBench
import Foundation

/// `chat-bench`: measures a chat server (see BENCHMARKS.md and scripts/bench.sh).
@main
struct ChatBenchCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "chat-bench",
    abstract: "Measures a chat.v1 server: fan-out, held sessions and direct messages.",
    subcommands: [
      Fanout.self, Sessions.self, Direct.self, CatchUp.self, Presence.self, StoreCost.self, LogAppend.self, Summarize.self,
    ]
  )
}

/// Where the server is, how to report, and the limits every scenario shares.
struct TargetOptions: ParsableArguments {
  @Option(help: ArgumentHelp("A running server.", valueName: "host:port"))
  var server: String?

  @Option(help: ArgumentHelp("Start this chat-server binary on a free port, and stop it after.", valueName: "path"))
  var spawn: String?

  @Option(
    name: .customLong("server-arg"),
    help: ArgumentHelp(
      "An option for the --spawn server, after the benchmark's own (repeat it; e.g. --server-arg=--max-queue-bytes=4194304).",
      valueName: "option"))
  var serverArguments: [String] = []

  @Option(help: "The process id of the --server, when it runs on this machine (for its CPU and memory).")
  var serverPID: Int32?

  @Option(help: "Connect over TLS, trusting this PEM CA certificate (a server run with --tls-cert).")
  var tlsCA: String?

  @Flag(help: "Connect over TLS without verifying the server's certificate (test certificates only).")
  var tlsInsecure = false

  @Flag(help: "Print the report as JSON instead of a table.")
  var json = false

  @Option(help: "At most this many sessions connecting at once.")
  var connectConcurrency = CommonOptions().connectConcurrency

  @Option(help: "Seconds all sessions may take to reach Welcome.")
  var connectTimeout = 120.0

  @Option(help: "Seconds setup (group joins) may take.")
  var setupTimeout = 120.0

  @Option(help: "Seconds deliveries may stall after sending stops before the rest counts as lost.")
  var drainTimeout = 10.0

  func validate() throws {
    guard (server == nil) != (spawn == nil) else {
      throw ValidationError("give exactly one of --server host:port and --spawn path.")
    }
    if let server, BenchTarget(address: server) == nil {
      throw ValidationError("--server \(server) is not host:port.")
    }
    if !serverArguments.isEmpty && spawn == nil {
      throw ValidationError("--server-arg goes with --spawn.")
    }
    if serverPID != nil && spawn != nil {
      throw ValidationError("--server-pid goes with --server; --spawn knows its server's pid.")
    }
    guard connectConcurrency >= 1 else {
      throw ValidationError("--connect-concurrency \(connectConcurrency) must be at least 1.")
    }
    for (name, value) in [("--connect-timeout", connectTimeout), ("--setup-timeout", setupTimeout), ("--drain-timeout", drainTimeout)]
    where !(value > 0) {
      throw ValidationError("\(name) \(value) must be more than 0 seconds.")
    }
  }

  var common: CommonOptions {
    var common = CommonOptions()
    common.connectConcurrency = connectConcurrency
    common.connectTimeout = .seconds(connectTimeout)
    common.setupTimeout = .seconds(setupTimeout)
    common.drainTimeout = .seconds(drainTimeout)
    return common
  }

  /// Resolves the target (starting the server if asked), runs `scenario`,
  /// prints its report, and fails the command if the run was not OK.
  func run(_ scenario: (BenchTarget) async throws -> BenchReport) async throws {
    var spawned: ServerProcess?
    var target: BenchTarget
    if let spawn {
      let process = try await ServerProcess.spawn(path: spawn, extraArguments: serverArguments)
      spawned = process
      target = process.target
    } else {
      target = BenchTarget(address: server!, pid: serverPID)!
    }
    if let tlsCA {
      target.tls = .trusting(caPath: tlsCA)
    } else if tlsInsecure {
      target.tls = .insecure
    }
    var report: BenchReport
    do {
      report = try await scenario(target)
    } catch {
      if let spawned {
        let wasRunning = spawned.isRunning
        let exit = await spawned.stop()
        FileHandle.standardError.write(
          Data("chat-bench: the server was \(wasRunning ? "running" : "gone (\(exit))"); its log: \(spawned.logPath)\n".utf8))
      }
      throw error
    }
    if let spawned {
      report.notes.append("server started as: \(spawn!) \(spawned.arguments.joined(separator: " ")); log: \(spawned.logPath)")
      if !spawned.isRunning { report.notes.append("the server exited during the run: \(spawned.exitDescription)") }
      let exit = await spawned.stop()
      if exit != "exit status 0" { report.notes.append("the server stopped with \(exit)") }
    }
    print(json ? report.json() : report.table())
    if !report.ok { throw ExitCode(1) }
  }
}

struct Fanout: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Members in one group; senders post to it; every member times every message.")

  @OptionGroup var target: TargetOptions

  @Option(help: "Members of the group.")
  var members = 1000

  @Option(help: "Connections the members share (default: one per member).")
  var connections: Int?

  @Option(help: "Members that send.")
  var senders = 4

  @OptionGroup var sending: SendingArguments

  func validate() throws {
    try validateCounts([("--members", members), ("--senders", senders)], connections: connections)
    guard senders <= members else { throw ValidationError("--senders \(senders) is more than --members \(members).") }
  }

  func run() async throws {
    var options = FanoutOptions()
    options.members = members
    options.connections = connections
    options.senders = senders
    options.sending = sending.options
    options.common = target.common
    try await target.run { try await ChatBench.fanout(options, target: $0) }
  }
}

struct Sessions: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Sessions connect, all wait for Welcome, and are held: connect time and memory per session.")

  @OptionGroup var target: TargetOptions

  @Option(help: "Sessions to connect.")
  var sessions = 10_000

  @Option(help: "Connections the sessions share (default: one per session).")
  var connections: Int?

  @Option(help: "Seconds to hold the sessions after the last Welcome.")
  var hold = 5.0

  func validate() throws {
    try validateCounts([("--sessions", sessions)], connections: connections)
    guard hold >= 0 else { throw ValidationError("--hold \(hold) must not be negative.") }
  }

  func run() async throws {
    var options = SessionsOptions()
    options.sessions = sessions
    options.connections = connections
    options.hold = .seconds(hold)
    options.common = target.common
    try await target.run { try await ChatBench.sessions(options, target: $0) }
  }
}

struct Direct: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Pairs of users send each other direct messages.")

  @OptionGroup var target: TargetOptions

  @Option(help: "Pairs of users.")
  var pairs = 100

  @Option(help: "Connections the users share (default: one per user).")
  var connections: Int?

  @OptionGroup var sending: SendingArguments

  func validate() throws {
    try validateCounts([("--pairs", pairs)], connections: connections)
  }

  func run() async throws {
    var options = DirectOptions()
    options.pairs = pairs
    options.connections = connections
    options.sending = sending.options
    options.common = target.common
    try await target.run { try await ChatBench.direct(options, target: $0) }
  }
}

struct CatchUp: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "catchup",
    abstract: "An account misses direct messages while offline; its next Connect replays them.")

  @OptionGroup var target: TargetOptions

  @Option(help: "Events the account misses each round.")
  var missed = 1000

  @Option(help: "Rounds (a new account each).")
  var rounds = 5

  func validate() throws {
    try validateCounts([("--missed", missed), ("--rounds", rounds)], connections: nil)
  }

  func run() async throws {
    var options = CatchUpOptions()
    options.missed = missed
    options.rounds = rounds
    options.common = target.common
    try await target.run { try await ChatBench.catchUp(options, target: $0) }
  }
}

struct Presence: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Accounts in groups all reconnect at once: what the PresenceChanged wave costs (see --presence-grace).")

  @OptionGroup var target: TargetOptions

  @Option(help: "Accounts (admitted with HS256 JWTs, so the server needs --jwt-key; --spawn adds it).")
  var accounts = 10_000

  @Option(help: "Accounts per group.")
  var groupSize = 100

  @Option(help: "Connections the sessions share.")
  var connections = 100

  @Option(help: "The HS256 secret file the --server verifies JWTs with (--spawn makes one).")
  var jwtSecret: String?

  func validate() throws {
    try validateCounts([("--accounts", accounts), ("--group-size", groupSize)], connections: connections)
    if target.spawn == nil && jwtSecret == nil {
      throw ValidationError("--server needs --jwt-secret, the file the server's --jwt-key names.")
    }
  }

  func run() async throws {
    var options = PresenceOptions()
    options.accounts = accounts
    options.groupSize = groupSize
    options.connections = connections
    options.common = target.common
    var target = self.target
    if let jwtSecret {
      options.jwtSecret = try Data(contentsOf: URL(fileURLWithPath: jwtSecret))
    } else {
      let file = FileManager.default.temporaryDirectory.appendingPathComponent("chat-bench-\(UUID().uuidString).key")
      options.jwtSecret = Data((0..<48).map { _ in UInt8.random(in: 0...255) })
      try options.jwtSecret.write(to: file)
      target.serverArguments += ["--jwt-key", file.path]
    }
    try await target.run { [options] in try await ChatBench.presence(options, target: $0) }
  }
}

private func validateCounts(_ counts: [(String, Int)], connections: Int?) throws {
  for (name, value) in counts where value < 1 {
    throw ValidationError("\(name) \(value) must be at least 1.")
  }
  if let connections, connections < 1 {
    throw ValidationError("--connections \(connections) must be at least 1.")
  }
}

/// How the senders of `fanout` and `direct` send (`SendingOptions`).
struct SendingArguments: ParsableArguments {
  @Option(help: "Seconds of sending.")
  var duration = 10.0

  @Option(help: "Messages per second from all senders together (default: as fast as the server accepts).")
  var rate: Double?

  @Option(help: "When flooding, calls each sender keeps in flight.")
  var inFlight = 1

  @Option(help: "Bytes of message text (the send time plus padding).")
  var messageBytes = 64

  func validate() throws {
    try validateCounts([("--in-flight", inFlight)], connections: nil)
    guard duration > 0 else { throw ValidationError("--duration \(duration) must be more than 0 seconds.") }
    if let rate, !(rate > 0) { throw ValidationError("--rate \(rate) must be more than 0 messages per second.") }
    guard (20...4096).contains(messageBytes) else {
      throw ValidationError("--message-bytes \(messageBytes) must be 20 to 4096 (the send time takes up to 20).")
    }
  }
  var options: SendingOptions {
    var options = SendingOptions()
    options.duration = .seconds(duration)
    options.rate = rate
    options.inFlight = inFlight
    options.messageBytes = messageBytes
    return options
  }
}

struct StoreCost: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "store-cost",
    abstract:
      "In process, no transport: the CPU per accepted direct message of the registry on the memory store and on the SQLite store, rounds interleaved."
  )

  @Option(help: "Pairs of guests sending each other direct messages.")
  var pairs = 100

  @Option(help: "Messages per round (all senders together).")
  var messages = 100_000

  @Option(help: "Rounds on each store.")
  var rounds = 5

  @Option(help: "Messages per second from all senders together (default: as fast as the registry accepts).")
  var rate: Double?

  @Option(help: "Where the SQLite rounds make their data directories (default: the temporary directory).")
  var directory: String?

  @Option(help: "Run only this store's rounds (memory or sqlite; for profiling one side).")
  var only: String?

  @Flag(help: "Print the report as JSON instead of a table.")
  var json = false

  func validate() throws {
    if let only, !["memory", "sqlite"].contains(only) {
      throw ValidationError("--only \(only) is neither memory nor sqlite.")
    }
    try validateCounts([("--pairs", pairs), ("--messages", messages), ("--rounds", rounds)], connections: nil)
    if messages < pairs * 2 { throw ValidationError("--messages \(messages) must be at least 2 × --pairs (\(pairs * 2)).") }
    if let rate, !(rate > 0) { throw ValidationError("--rate \(rate) must be more than 0.") }
  }

  func run() async throws {
    var options = StoreCostOptions()
    options.pairs = pairs
    options.messages = messages
    options.rounds = rounds
    options.rate = rate
    if let directory { options.directory = directory }
    if let only { options.stores = [only] }
    let report = try await ChatBench.storeCost(options)
    print(json ? report.json() : report.table)
  }
}

struct LogAppend: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "log-append",
    abstract:
      "In process: the time of one append to the SQLite store's message log with the CPU's caches evicted before it, and right after one."
  )

  @Option(help: "Appends (the first tenth warms up and is not counted); every other one runs cold.")
  var appends = 40_000

  @Option(help: "Channels the records go to in turn.")
  var channels = 100

  @Option(help: "Bytes of each record's payload.")
  var payloadBytes = 150

  @Option(help: "MiB of memory rewritten before each cold append.")
  var evictMib = 4

  @Option(help: "Where the store's data directory is made (default: the temporary directory).")
  var directory: String?

  func validate() throws {
    try validateCounts(
      [("--appends", appends), ("--channels", channels), ("--payload-bytes", payloadBytes), ("--evict-mib", evictMib)],
      connections: nil)
    if appends < 20 { throw ValidationError("--appends \(appends) must be at least 20.") }
  }

  func run() async throws {
    var options = LogAppendOptions()
    options.appends = appends
    options.channels = channels
    options.payloadBytes = payloadBytes
    options.evictBytes = evictMib << 20
    if let directory { options.directory = directory }
    print(try await ChatBench.logAppend(options).table)
  }
}

struct Summarize: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Medians of repeated runs' JSON reports (NAME-RUN.json), as a Markdown table.")

  @Argument(help: "JSON reports written with --json.")
  var files: [String]

  func run() throws {
    let (table, skipped) = BenchSummary.markdown(files: files)
    for file in skipped {
      FileHandle.standardError.write(Data("chat-bench: skipped \(file): not a chat-bench JSON report\n".utf8))
    }
    print(table)
  }
}
