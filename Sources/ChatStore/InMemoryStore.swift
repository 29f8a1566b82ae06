import Foundation
import Synchronization

/// `--store memory`: today's behaviour, nothing outlives the process, and a
/// new epoch at every start. It still keeps what it is given (with the same
/// retention as SQLite), so the registry's tests and the store's contract
/// tests can read back what would have been persisted. Every acknowledgement
/// is already complete.
public final class InMemoryStore: Store {
  private struct State {
    var tables: Tables
    var closed = false
  }

  /// The tables, keyed for cheap updates; `StoredState` is built on `load`.
  struct Tables {
    var accounts: [String: AccountRecord] = [:]
    var tokens: [Data: TokenRecord] = [:]
    var groups: [String: GroupRecord] = [:]
    var memberships: Set<Membership> = []
    var positions: [String: UInt64] = [:]
    /// Per channel, ascending by seq.
    var log: [String: [LogRecord]] = [:]
    var messageCounts: [String: Int] = [:]
    let retention: Retention

    mutating func apply(_ operation: StoreOperation) {
      switch operation {
      case .log(let record):
        log[record.channel, default: []].append(record)
        if record.kind == .message {
          let count = messageCounts[record.channel, default: 0] + 1
          messageCounts[record.channel] = count
          if count > retention.messagesPerChannel + retention.slack { prune(record.channel) }
        }
      case .putAccount(let account):
        accounts[account.nameKey] = account
      case .deleteAccount(let name):
        accounts[name] = nil
        tokens = tokens.filter { $0.value.account != name }
        memberships = memberships.filter { $0.account != name }
        positions[name] = nil
      case .putToken(let token):
        tokens[token.hash] = token
      case .deleteToken(let hash):
        tokens[hash] = nil
      case .putGroup(let group):
        groups[group.key] = group
      case .deleteGroup(let key):
        groups[key] = nil
      case .addMember(let group, let account, let since):
        memberships.insert(Membership(group: group, account: account, since: since))
      case .deleteChannel(let channel):
        log[channel] = nil
        messageCounts[channel] = nil
      case .endMember(let group, let account, let until):
        for current in memberships where current.group == group && current.account == account && current.until == nil {
          memberships.remove(current)
          var ended = current
          ended.until = until
          memberships.insert(ended)
        }
      case .setPosition(let account, let seq):
        positions[account] = seq
      }
    }

    /// Keeps the newest `messagesPerChannel` messages and what was logged after the oldest of them.
    private mutating func prune(_ channel: String) {
      guard var records = log[channel] else { return }
      var kept = 0
      var cut = 0
      for index in records.indices.reversed() where records[index].kind == .message {
        kept += 1
        if kept == retention.messagesPerChannel {
          cut = index
          break
        }
      }
      records.removeFirst(cut)
      log[channel] = records
      messageCounts[channel] = retention.messagesPerChannel
    }

    func snapshot(epoch: String) -> StoredState {
      var state = StoredState(epoch: epoch)
      state.accounts = accounts.values.sorted { $0.nameKey < $1.nameKey }
      state.tokens = tokens.values.sorted { $0.hash.lexicographicallyPrecedes($1.hash) }
      state.groups = groups.values.sorted { $0.key < $1.key }
      state.memberships = memberships.sorted { ($0.group, $0.account, $0.since) < ($1.group, $1.account, $1.since) }
      state.positions = positions
      state.log = log.values.joined().sorted { $0.seq < $1.seq }
      return state
    }
  }

  public let epoch: String
  private let state: Mutex<State>

  public init(retention: Retention = Retention()) {
    epoch = makeEpoch()
    state = Mutex(State(tables: Tables(retention: retention)))
  }

  public func load() throws(StoreError) -> StoredState {
    state.withLock { $0.tables.snapshot(epoch: epoch) }
  }

  public func enqueue(_ operations: [StoreOperation]) -> StoreSubmission {
    StoreSubmission(acknowledgement: submit(operations), needsWake: false)
  }

  public func wakeWriter() {}

  public func submit(_ operations: [StoreOperation]) -> Acknowledgement {
    let closed = state.withLock { state in
      if state.closed { return true }
      for operation in operations { state.tables.apply(operation) }
      return false
    }
    return closed ? .failed(.closed) : .committed
  }

  public func close() async {
    state.withLock { $0.closed = true }
  }
}
